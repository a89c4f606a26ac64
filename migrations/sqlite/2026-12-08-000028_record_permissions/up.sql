-- Per-module permissions on an account's own records (contacts, events, tasks, mails: view,
-- create, edit, delete). Every account could do all of it before: every profile of that time
-- keeps it (a profile holding "*" already does).
UPDATE profiles SET permissions = (
    SELECT json_group_array(value) FROM (
        SELECT value FROM json_each(profiles.permissions)
        UNION
        SELECT value FROM json_each('["contacts.view","contacts.create","contacts.edit","contacts.delete","events.view","events.create","events.edit","events.delete","tasks.view","tasks.create","tasks.edit","tasks.delete","mails.view","mails.create","mails.edit","mails.delete"]')
    )
) WHERE permissions NOT LIKE '%"*"%';
