-- Profiles: named sets of permissions within an org. Every org has two built-in ones,
-- Administrator (every permission) and Standard (none of the admin permissions).
CREATE TABLE profiles (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL,
    permissions TEXT NOT NULL,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    created TEXT NOT NULL,
    UNIQUE (org_id, name_norm)
);

INSERT INTO profiles (id, org_id, name, name_norm, permissions, builtin, created)
SELECT id || ':administrator', id, 'Administrator', 'administrator', '["*"]', TRUE, created FROM orgs;
INSERT INTO profiles (id, org_id, name, name_norm, permissions, builtin, created)
SELECT id || ':standard', id, 'Standard', 'standard', '[]', TRUE, created FROM orgs;

-- People who sign in to Roster. An email belongs to one account across all orgs, so signing in
-- needs no org name.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL UNIQUE,
    display_name TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    profile_id TEXT NOT NULL REFERENCES profiles(id),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX accounts_org ON accounts(org_id);
CREATE INDEX accounts_profile ON accounts(profile_id);

-- Admin API bearer tokens (sessions from a sign-in, or longer-lived API tokens); only the SHA-256
-- of the secret is kept.
CREATE TABLE account_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    revoked TEXT
);
CREATE INDEX account_sessions_account ON account_sessions(account_id);

-- Who changed what in an org's configuration, written in the transaction of the change.
CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    detail TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_org_seq ON audit_log(org_id, seq);
CREATE INDEX audit_log_org_action ON audit_log(org_id, action, seq);
