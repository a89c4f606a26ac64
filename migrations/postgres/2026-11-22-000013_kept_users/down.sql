DROP INDEX user_profiles_org_user_name;
DROP INDEX user_profiles_org_external_id;
ALTER TABLE user_profiles DROP COLUMN user_name_norm;
ALTER TABLE user_profiles DROP COLUMN external_id;
