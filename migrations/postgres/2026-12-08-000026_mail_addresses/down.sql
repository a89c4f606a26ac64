DROP INDEX crm_records_mail_dates;
DROP TABLE mail_addresses;
