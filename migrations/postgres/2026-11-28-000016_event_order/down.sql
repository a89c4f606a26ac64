DROP INDEX user_events_org_xid;
ALTER TABLE user_events DROP COLUMN xid;
