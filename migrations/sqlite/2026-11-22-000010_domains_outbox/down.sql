ALTER TABLE directory_connections DROP COLUMN password_delivery;
DROP TABLE mail_outbox;
DROP TABLE org_domains;
