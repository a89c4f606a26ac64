-- Every SCIM write through a connection (AZ-8): successes in the transaction of the write,
-- failures right after. Kept for provisioning_log_days.
CREATE TABLE provisioning_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    at TEXT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    request_id TEXT
);
CREATE INDEX provisioning_log_org ON provisioning_log(org_id, seq);
CREATE INDEX provisioning_log_connection ON provisioning_log(connection_id, seq);
CREATE INDEX provisioning_log_resource ON provisioning_log(resource_id, seq);
CREATE INDEX provisioning_log_at ON provisioning_log(at);
