-- Named lists of an account's contacts (the "CRM contact list" a Google sync is scoped to): a
-- static list holds its members; a filter list holds a saved filter over contact fields and its
-- members are the contacts that match it when read.
CREATE TABLE contact_lists (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- static or filter.
    kind TEXT NOT NULL,
    -- JSON, for kind = filter.
    filter TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE UNIQUE INDEX contact_lists_name ON contact_lists(owner_id, name);

CREATE TABLE contact_list_members (
    list_id TEXT NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    record_id TEXT NOT NULL REFERENCES crm_records(id) ON DELETE CASCADE,
    added TEXT NOT NULL,
    PRIMARY KEY (list_id, record_id)
);
CREATE INDEX contact_list_members_record ON contact_list_members(record_id);
