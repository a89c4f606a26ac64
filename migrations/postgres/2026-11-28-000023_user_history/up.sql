CREATE INDEX user_events_user ON user_events(user_id, seq);
