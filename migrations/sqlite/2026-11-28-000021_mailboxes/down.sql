DROP TABLE mailbox_connections;
