-- Invitations to join an org (O365-4/5): a single-use link whose secret is kept as SHA-256,
-- valid until it expires; resending replaces the secret (last_sent), revoking ends it.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    -- microsoft: a user of the org's Microsoft 365 tenant (joins by signing in with Microsoft
    -- or by associating an account); plain: any address (joins with a password).
    kind TEXT NOT NULL,
    display_name TEXT,
    role TEXT NOT NULL,
    profile_id TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    last_sent TEXT NOT NULL,
    accepted TEXT,
    account_id TEXT,
    revoked TEXT
);
-- One open invitation per address and org.
CREATE UNIQUE INDEX invitations_open ON invitations(org_id, email_norm) WHERE accepted IS NULL AND revoked IS NULL;
CREATE INDEX invitations_org ON invitations(org_id, created);

-- Requests to join the org a Microsoft 365 tenant uses (O365-6/7); one open request per identity.
CREATE TABLE join_requests (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT,
    created TEXT NOT NULL,
    -- pending, approved or rejected.
    status TEXT NOT NULL,
    decided TEXT,
    decided_by TEXT,
    account_id TEXT
);
CREATE UNIQUE INDEX join_requests_open ON join_requests(tenant_id, object_id) WHERE status = 'pending';
CREATE INDEX join_requests_org ON join_requests(org_id, created);
