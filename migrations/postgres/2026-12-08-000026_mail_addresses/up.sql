-- Each address a mail names (from, to, cc, bcc), lower-cased: a contact's related mails are the
-- mails of its owner that name one of its addresses. Kept in step with the mail's record; a
-- deleted mail's addresses go with its content.
CREATE TABLE mail_addresses (
    owner_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES crm_records(id) ON DELETE CASCADE,
    PRIMARY KEY (owner_id, address, record_id)
);
CREATE INDEX mail_addresses_record ON mail_addresses(record_id);
-- A contact's related mails come newest first.
CREATE INDEX crm_records_mail_dates ON crm_records(owner_id, sort_at DESC, id DESC) WHERE kind = 'mail';
