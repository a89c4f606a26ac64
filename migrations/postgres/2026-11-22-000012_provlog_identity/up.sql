-- Which user or group a log entry is about, as the request named it: a failed create has no
-- resource id to go by.
ALTER TABLE provisioning_log ADD COLUMN resource_name TEXT;
ALTER TABLE provisioning_log ADD COLUMN external_id TEXT;
