DROP TABLE exchange_users;
DROP TABLE exchange_installs;
