-- SQLite commits one writer at a time: events become visible in seq order, which readers
-- follow as they are. (PostgreSQL's version of this migration records each event's
-- transaction.) The version exists on both backends so they stay at the same schema version.
CREATE INDEX IF NOT EXISTS user_events_org ON user_events(org_id, seq);
