-- The job queue: slow or retryable work as rows. A worker claims a due job by taking its lease
-- (owner, expiry) and bumping lease_token; every later write names that token, so a worker whose
-- lease expired and was taken over cannot finish the job a second time (fencing).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT,
    kind TEXT NOT NULL,
    -- At most one queued or running job per (kind, key).
    key TEXT,
    payload TEXT NOT NULL,
    -- queued, running, done, dead or cancelled.
    state TEXT NOT NULL,
    run_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_expires TEXT,
    last_error TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX jobs_due ON jobs(state, run_at);
CREATE INDEX jobs_org ON jobs(org_id, state, updated);
CREATE UNIQUE INDEX jobs_open_key ON jobs(kind, key) WHERE key IS NOT NULL AND state IN ('queued', 'running');
