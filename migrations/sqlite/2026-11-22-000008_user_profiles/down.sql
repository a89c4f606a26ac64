DROP TABLE user_profiles;
ALTER TABLE directory_connections DROP COLUMN fixed_values;
ALTER TABLE directory_connections DROP COLUMN attribute_mapping;
