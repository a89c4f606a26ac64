ALTER TABLE provisioning_log DROP COLUMN external_id;
ALTER TABLE provisioning_log DROP COLUMN resource_name;
