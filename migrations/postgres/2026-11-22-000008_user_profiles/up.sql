-- A connection's attribute mapping (JSON list of {field, source}; NULL means the default) and
-- fixed values (JSON object of field to constant).
ALTER TABLE directory_connections ADD COLUMN attribute_mapping TEXT;
ALTER TABLE directory_connections ADD COLUMN fixed_values TEXT NOT NULL DEFAULT '{}';

-- Roster's own profile of a SCIM user, filled by the mapping of the connection that last wrote
-- it, in the transaction of that write.
CREATE TABLE user_profiles (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    connection_id TEXT REFERENCES directory_connections(id) ON DELETE SET NULL,
    fields TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX user_profiles_connection ON user_profiles(connection_id, user_id);
CREATE INDEX user_profiles_org ON user_profiles(org_id, user_id);
