DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_codes;
DROP TABLE oauth_grants;
DROP TABLE signing_keys;
DROP INDEX directory_connections_client_id;
ALTER TABLE directory_connections DROP COLUMN redirect_uris;
ALTER TABLE directory_connections DROP COLUMN client_secret_hash;
ALTER TABLE directory_connections DROP COLUMN client_id;
