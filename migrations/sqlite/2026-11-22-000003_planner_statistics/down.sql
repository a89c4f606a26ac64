DELETE FROM sqlite_stat1 WHERE tbl IN ('users', 'groups', 'user_emails', 'group_members');
