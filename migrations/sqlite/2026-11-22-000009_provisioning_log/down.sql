DROP TABLE provisioning_log;
