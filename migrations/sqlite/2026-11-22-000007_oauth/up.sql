-- OAuth 2.0 clients: every directory connection is one, with its own client id, the SHA-256 of
-- its client secret (none until an admin issues one) and the redirect URIs it may use.
ALTER TABLE directory_connections ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE directory_connections ADD COLUMN client_secret_hash TEXT;
ALTER TABLE directory_connections ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
UPDATE directory_connections SET client_id = lower(hex(randomblob(16)));
UPDATE directory_connections SET redirect_uris = '["https://portal.azure.com/TokenAuthorize"]'
WHERE kind = 'azure';
CREATE UNIQUE INDEX directory_connections_client_id ON directory_connections(client_id);

-- Keys that sign access tokens. The private key is sealed with the server's secret key; a key
-- stops signing when it is retired and is deleted once no token it signed can still be valid.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created TEXT NOT NULL,
    retired TEXT
);

-- One authorization an identity provider holds for a connection: the family of refresh tokens
-- from one consent, or one client-credentials token. Revoking it ends every token it issued.
CREATE TABLE oauth_grants (
    id TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES directory_connections(id) ON DELETE CASCADE,
    account_id TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    grant_type TEXT NOT NULL,
    scope TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    revoked TEXT,
    revoked_reason TEXT
);
CREATE INDEX oauth_grants_connection ON oauth_grants(connection_id, created);
CREATE INDEX oauth_grants_expires ON oauth_grants(expires);

-- Authorization codes (SHA-256 only). grant_id is set when the code is exchanged, so a second
-- use can revoke what the first one issued.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES directory_connections(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    grant_id TEXT
);
CREATE INDEX oauth_codes_expires ON oauth_codes(expires);

-- Refresh tokens (SHA-256 only); a used one stays, marked, to detect its reuse.
CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    used TEXT
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens(grant_id);
