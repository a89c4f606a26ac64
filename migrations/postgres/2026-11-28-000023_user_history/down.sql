DROP INDEX user_events_user;
