-- Starting statistics for the query planner, as SQLite allows applications to provide
-- (https://sqlite.org/optoverview.html, "Manual Control Of Query Plans Using SQLITE_STAT Tables").
-- Without them SQLite walks the (org_id, seq) index to satisfy ORDER BY and tests a selective
-- filter, such as a work-email lookup, on every user of the org. These figures say what is true
-- of any real deployment: an org holds many rows, ids and names are unique, an email belongs to
-- one user. A later ANALYZE replaces them with measured values.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl IN ('users', 'groups', 'user_emails', 'group_members');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('users', 'sqlite_autoindex_users_1', '100000 1'),
    ('users', 'users_org_user_name', '100000 100000 1'),
    ('users', 'users_org_external_id', '100000 100000 1'),
    ('users', 'users_org_seq', '100000 100000 1'),
    ('users', 'users_org_active', '100000 100000 50000'),
    ('users', 'users_org_last_modified', '100000 100000 2'),
    ('user_emails', 'user_emails_org_value', '100000 100000 1'),
    ('user_emails', 'user_emails_user', '100000 1'),
    ('groups', 'sqlite_autoindex_groups_1', '10000 1'),
    ('groups', 'groups_org_display_name', '10000 10000 1'),
    ('groups', 'groups_org_external_id', '10000 10000 1'),
    ('groups', 'groups_org_seq', '10000 10000 1'),
    ('groups', 'groups_org_last_modified', '10000 10000 2'),
    ('group_members', 'sqlite_autoindex_group_members_1', '1000000 1000 1'),
    ('group_members', 'group_members_member', '1000000 10');
