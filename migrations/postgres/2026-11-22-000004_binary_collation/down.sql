ALTER TABLE users ALTER COLUMN user_name_norm TYPE TEXT COLLATE "default";
ALTER TABLE users ALTER COLUMN external_id TYPE TEXT COLLATE "default";
ALTER TABLE users ALTER COLUMN created TYPE TEXT COLLATE "default";
ALTER TABLE users ALTER COLUMN last_modified TYPE TEXT COLLATE "default";
ALTER TABLE groups ALTER COLUMN display_name_norm TYPE TEXT COLLATE "default";
ALTER TABLE groups ALTER COLUMN external_id TYPE TEXT COLLATE "default";
ALTER TABLE groups ALTER COLUMN created TYPE TEXT COLLATE "default";
ALTER TABLE groups ALTER COLUMN last_modified TYPE TEXT COLLATE "default";
