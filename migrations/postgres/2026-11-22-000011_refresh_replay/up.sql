-- When a used refresh token was presented once more within the grace period (a client retrying
-- after a lost response) and accepted; a second replay is reuse.
ALTER TABLE oauth_refresh_tokens ADD COLUMN replayed TEXT;
