-- Microsoft identities, keyed by (tenant id, object id), never by email: each signs in to the
-- one Roster account it is linked to.
CREATE TABLE microsoft_identities (
    tenant_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    -- What the last ID token said: a hint to show, not a key.
    email TEXT,
    name TEXT,
    -- Whether the person held an admin directory role of the tenant at their last sign-in.
    tenant_admin BOOLEAN NOT NULL DEFAULT false,
    linked TEXT NOT NULL,
    last_sign_in TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object_id)
);

-- Browser sign-ins with Microsoft in progress. A row is bound to the browser that began it (its
-- id is the SHA-256 of a cookie) and to one authorization request (the SHA-256 of its state);
-- once verified, it holds the identity until the person finishes the page that follows.
CREATE TABLE microsoft_sign_ins (
    id TEXT PRIMARY KEY NOT NULL,
    state_hash TEXT UNIQUE,
    purpose TEXT NOT NULL,
    context TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    identity TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX microsoft_sign_ins_expires ON microsoft_sign_ins(expires);

-- The Microsoft 365 integration of an org: the tenant it is linked to (one org per tenant), who
-- enabled it, and the admin consent to the app's application permissions.
CREATE TABLE org_microsoft (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL,
    enabled_by TEXT,
    enabled_at TEXT NOT NULL,
    disabled_at TEXT,
    consent TEXT NOT NULL DEFAULT 'none',
    consent_at TEXT,
    consent_error TEXT
);

-- Which version of the terms an account accepted, and when.
CREATE TABLE terms_acceptances (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    accepted TEXT NOT NULL,
    PRIMARY KEY (account_id, version)
);
