ALTER TABLE group_members ADD COLUMN display TEXT;
