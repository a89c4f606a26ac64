-- Roster's own contacts, events and tasks: one row per record, owned by an account. `data` holds
-- the kind's fields as JSON; `version` grows with every write; `source` is how it was written
-- (single, mass_update, import, sync); a deleted record keeps its row as a tombstone (`deleted`)
-- until every sync has seen it.
CREATE TABLE crm_records (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL,
    -- An event's start or a task's due time, to choose what a first sync sends.
    sort_at TEXT,
    version BIGINT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    deleted TEXT
);
-- The change feed of one owner's records of a kind (updated_since, cursors).
CREATE INDEX crm_records_changes ON crm_records(owner_id, kind, updated, id);
CREATE INDEX crm_records_sort ON crm_records(owner_id, kind, sort_at);
CREATE INDEX crm_records_tombstones ON crm_records(deleted) WHERE deleted IS NOT NULL;
