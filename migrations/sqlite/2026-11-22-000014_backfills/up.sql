-- Derived data that SQL cannot compute (it needs Roster's own logic, such as attribute mapping)
-- is filled in by the server after the migration that needs it: one row per backfill, marked
-- done once it has run to the end. A fresh database has nothing to backfill.
CREATE TABLE backfills (
    name TEXT PRIMARY KEY NOT NULL,
    done TEXT
);
-- Profiles (migration 000008) of users written before profiles existed.
INSERT INTO backfills (name) VALUES ('user_profiles');
