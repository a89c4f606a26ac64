-- A user's authorization of Roster for their own mailbox (calendar and contacts sync): the
-- Microsoft identity it belongs to, the granted scopes, and the tokens, sealed with the server's
-- secret key. token_version grows with each refresh (refresh tokens rotate).
CREATE TABLE mailbox_connections (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    email TEXT,
    scopes TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    access_token TEXT NOT NULL,
    access_expires TEXT NOT NULL,
    -- active, or reauth_required once Microsoft refused the refresh token.
    status TEXT NOT NULL,
    status_reason TEXT,
    token_version BIGINT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
