DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE user_emails;
DROP TABLE users;
DROP TABLE scim_tokens;
DROP TABLE directory_connections;
DROP TABLE orgs;
