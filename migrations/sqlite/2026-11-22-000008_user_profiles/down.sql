DROP INDEX accounts_user;
ALTER TABLE accounts DROP COLUMN user_id;
DROP TABLE user_events;
DROP TABLE user_profiles;
ALTER TABLE directory_connections DROP COLUMN status_policy;
ALTER TABLE directory_connections DROP COLUMN fixed_values;
ALTER TABLE directory_connections DROP COLUMN attribute_mapping;
