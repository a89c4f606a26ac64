-- User events are read in the order their transactions became visible, without serialising
-- their writers: each row carries the id of the transaction that wrote it, and a reader returns
-- only events of transactions older than every transaction still running
-- (pg_snapshot_xmin), in (xid, seq) order. Rows already here share this migration's id, older
-- than anything written after it; among them seq keeps their order.
ALTER TABLE user_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX user_events_org_xid ON user_events(org_id, xid, seq);
