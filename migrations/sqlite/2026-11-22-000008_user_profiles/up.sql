-- A connection's attribute mapping (JSON list of {field, source}; NULL means the default), fixed
-- values (JSON object of field to constant) and status policy (JSON: on_deactivate, on_delete,
-- on_reactivate).
ALTER TABLE directory_connections ADD COLUMN attribute_mapping TEXT;
ALTER TABLE directory_connections ADD COLUMN fixed_values TEXT NOT NULL DEFAULT '{}';
ALTER TABLE directory_connections ADD COLUMN status_policy TEXT NOT NULL DEFAULT '{}';

-- Roster's own user: the profile the mapping of the connection that last wrote the SCIM user
-- fills, in the transaction of that write, and the user's status (active, deactivated, or
-- deleted: a tombstone without fields). It outlives the SCIM resource when a connection's
-- policy turns an IdP's DELETE into a deactivation.
CREATE TABLE user_profiles (
    user_id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    connection_id TEXT REFERENCES directory_connections(id) ON DELETE SET NULL,
    user_name TEXT NOT NULL,
    status TEXT NOT NULL,
    status_changed TEXT NOT NULL,
    fields TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX user_profiles_connection ON user_profiles(connection_id, user_id);
CREATE INDEX user_profiles_org ON user_profiles(org_id, user_id);

-- What happened to Roster users, for the modules that follow them (sync stops for a deactivated
-- user): written in the transaction of the change, read in order of seq.
CREATE TABLE user_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    connection_id TEXT,
    at TEXT NOT NULL
);
CREATE INDEX user_events_org ON user_events(org_id, seq);

-- An account that signs in may be a directory user: it cannot sign in while that user is not
-- active.
ALTER TABLE accounts ADD COLUMN user_id TEXT;
CREATE INDEX accounts_user ON accounts(user_id);
