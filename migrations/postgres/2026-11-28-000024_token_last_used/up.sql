ALTER TABLE scim_tokens ADD COLUMN last_used TEXT;
