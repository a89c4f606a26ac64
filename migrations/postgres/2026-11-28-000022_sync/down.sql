DROP TABLE sync_runs;
DROP TABLE sync_links;
DROP TABLE sync_connections;
