ALTER TABLE scim_tokens DROP COLUMN last_used;
