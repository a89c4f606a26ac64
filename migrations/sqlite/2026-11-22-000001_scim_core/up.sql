CREATE TABLE orgs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);

CREATE TABLE directory_connections (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES directory_connections(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    label TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE INDEX scim_tokens_connection ON scim_tokens(connection_id);

CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    user_name_norm TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT,
    active BOOLEAN NOT NULL,
    password_hash TEXT,
    data TEXT NOT NULL,
    search TEXT NOT NULL CHECK (json_valid(search)),
    version BIGINT NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL
);
CREATE UNIQUE INDEX users_org_user_name ON users(org_id, user_name_norm);
CREATE INDEX users_org_external_id ON users(org_id, external_id);
CREATE INDEX users_org_seq ON users(org_id, seq);
CREATE INDEX users_org_active ON users(org_id, active);
CREATE INDEX users_org_last_modified ON users(org_id, last_modified);

CREATE TABLE user_emails (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    value_norm TEXT NOT NULL,
    type TEXT,
    is_primary BOOLEAN NOT NULL
);
CREATE INDEX user_emails_org_value ON user_emails(org_id, value_norm);
CREATE INDEX user_emails_user ON user_emails(user_id);

CREATE TABLE groups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    display_name_norm TEXT NOT NULL,
    external_id TEXT,
    data TEXT NOT NULL,
    search TEXT NOT NULL CHECK (json_valid(search)),
    version BIGINT NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_org_display_name ON groups(org_id, display_name_norm);
CREATE INDEX groups_org_external_id ON groups(org_id, external_id);
CREATE INDEX groups_org_seq ON groups(org_id, seq);
CREATE INDEX groups_org_last_modified ON groups(org_id, last_modified);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members(member_id);
