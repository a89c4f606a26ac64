-- Per-module permissions on an account's own records (contacts, events, tasks, mails: view,
-- create, edit, delete). Every account could do all of it before: every profile of that time
-- keeps it (a profile holding "*" already does).
UPDATE profiles SET permissions = (
    SELECT json_agg(v ORDER BY v)::text FROM (
        SELECT jsonb_array_elements_text(profiles.permissions::jsonb) AS v
        UNION
        SELECT jsonb_array_elements_text('["contacts.view","contacts.create","contacts.edit","contacts.delete","events.view","events.create","events.edit","events.delete","tasks.view","tasks.create","tasks.edit","tasks.delete","mails.view","mails.create","mails.edit","mails.delete"]'::jsonb)
    ) AS granted
) WHERE permissions NOT LIKE '%"*"%';
