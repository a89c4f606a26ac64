DROP TABLE audit_log;
DROP TABLE account_sessions;
DROP TABLE accounts;
DROP TABLE profiles;
