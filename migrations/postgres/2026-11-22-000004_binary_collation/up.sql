-- Columns that filters compare by range (gt/ge/lt/le, sw) and that lists sort by use byte order,
-- as SQLite does, so the same filter gives the same answer on both backends and the comparisons
-- (written with COLLATE "C") can use these columns' indexes.
ALTER TABLE users ALTER COLUMN user_name_norm TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN external_id TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN created TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN last_modified TYPE TEXT COLLATE "C";
ALTER TABLE groups ALTER COLUMN display_name_norm TYPE TEXT COLLATE "C";
ALTER TABLE groups ALTER COLUMN external_id TYPE TEXT COLLATE "C";
ALTER TABLE groups ALTER COLUMN created TYPE TEXT COLLATE "C";
ALTER TABLE groups ALTER COLUMN last_modified TYPE TEXT COLLATE "C";
