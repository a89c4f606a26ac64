-- Calendar and contacts sync with a user's mailbox. One connection per (account, provider,
-- module): whether it is on, the dedicated remote container (calendar or contact folder), the
-- provider's delta cursor (committed, and the in-round page to resume from), the change feed
-- watermark of Roster's own records, and the contact field mapping.
CREATE TABLE sync_connections (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    module TEXT NOT NULL,
    -- active, disabling, disabled, container_gone or suspended.
    state TEXT NOT NULL,
    state_reason TEXT,
    container_id TEXT,
    generation BIGINT NOT NULL,
    mapping TEXT,
    -- roster_wins or remote_wins: which side a record changed on both sides takes.
    conflict TEXT NOT NULL,
    remote_cursor TEXT,
    pending_cursor TEXT,
    round_id BIGINT NOT NULL,
    round_started TEXT,
    initial_done BOOLEAN NOT NULL,
    initial_cutoff TEXT,
    watermark TEXT,
    last_run TEXT,
    last_success TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE UNIQUE INDEX sync_connections_one ON sync_connections(account_id, provider, module);
CREATE INDEX sync_connections_org ON sync_connections(org_id, state);

-- What Roster knows of each synced record: the local record, the remote item, both versions at
-- the last sync, and the idempotency key stamped on the remote item (written before the remote
-- create, so a crash between the two is recovered by finding the item by its key).
CREATE TABLE sync_links (
    id TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES sync_connections(id) ON DELETE CASCADE,
    record_id TEXT,
    remote_id TEXT,
    op_key TEXT NOT NULL,
    change_key TEXT,
    remote_hash TEXT,
    local_version BIGINT,
    local_hash TEXT,
    -- pending_create, linked, pending_delete, skipped or error.
    status TEXT NOT NULL,
    seen_round BIGINT NOT NULL,
    error TEXT,
    updated TEXT NOT NULL
);
CREATE UNIQUE INDEX sync_links_record ON sync_links(connection_id, record_id);
CREATE UNIQUE INDEX sync_links_remote ON sync_links(connection_id, remote_id);
CREATE UNIQUE INDEX sync_links_op_key ON sync_links(op_key);
CREATE INDEX sync_links_status ON sync_links(connection_id, status);

-- One row per run, with what it did on each side.
CREATE TABLE sync_runs (
    id TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES sync_connections(id) ON DELETE CASCADE,
    trigger TEXT NOT NULL,
    -- running, succeeded, partial or failed.
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    pulled_created BIGINT NOT NULL DEFAULT 0,
    pulled_updated BIGINT NOT NULL DEFAULT 0,
    pulled_deleted BIGINT NOT NULL DEFAULT 0,
    pushed_created BIGINT NOT NULL DEFAULT 0,
    pushed_updated BIGINT NOT NULL DEFAULT 0,
    pushed_deleted BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX sync_runs_connection ON sync_runs(connection_id, started);
