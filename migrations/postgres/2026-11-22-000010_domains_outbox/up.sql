-- Domains an org claims (ORG-3); verified by a TXT record `roster-verification=<token>` at the
-- domain. A domain is verified for one org at most.
CREATE TABLE org_domains (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    token TEXT NOT NULL,
    created TEXT NOT NULL,
    verified_at TEXT,
    UNIQUE (org_id, domain)
);
CREATE UNIQUE INDEX org_domains_verified ON org_domains(domain) WHERE verified_at IS NOT NULL;

-- Outgoing mail (ORG-4), written in the transaction of what causes it and delivered by SMTP
-- when configured. The body is sealed with the server's secret key (it may hold a one-time
-- password) and dropped once the mail is sent.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt);
CREATE INDEX mail_outbox_org ON mail_outbox(org_id, created);

-- How a connection delivers one-time passwords to the users it creates (AZ-4): none, user or
-- admins.
ALTER TABLE directory_connections ADD COLUMN password_delivery TEXT NOT NULL DEFAULT 'none';
