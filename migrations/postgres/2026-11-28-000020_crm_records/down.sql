DROP TABLE crm_records;
