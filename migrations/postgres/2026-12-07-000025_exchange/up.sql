-- The Exchange extension of an org (SY-4, SY-5, SY-6): who it is installed for, how Roster
-- reaches Exchange (chosen once; changed only by revoking), the credentials that mode needs
-- (secrets sealed with Roster's key), and the sync defaults each covered user starts from.
CREATE TABLE exchange_installs (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- admins, all or profiles.
    scope TEXT NOT NULL,
    -- JSON array of profile ids, for scope = profiles.
    profile_ids TEXT NOT NULL,
    -- NULL until authorized; ews_impersonation, ews_individual, graph_code or graph_client.
    auth_mode TEXT,
    ews_url TEXT,
    -- The impersonating service account (ews_impersonation).
    service_email TEXT,
    service_domain TEXT,
    -- The Entra app of client credentials (graph_client).
    tenant_id TEXT,
    client_id TEXT,
    -- Sealed: the service account's password or the app's client secret.
    secret TEXT,
    authorized_by TEXT,
    authorized_at TEXT,
    -- JSON: contacts, tasks, events, mails, direction, conflict.
    defaults TEXT NOT NULL,
    installed_by TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    updated TEXT NOT NULL
);

-- Each covered account's Exchange sync: the admin's switch, the user's own choices within the
-- admin's rules, and the user's own credentials where the mode asks for them (sealed).
CREATE TABLE exchange_users (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    -- JSON: the user's switches and rules; NULL: the admin's defaults.
    settings TEXT,
    login TEXT,
    domain TEXT,
    secret TEXT,
    updated TEXT NOT NULL
);
CREATE INDEX exchange_users_org ON exchange_users(org_id);
