-- A generated one-time password works until this time (NULL: a password the person chose).
ALTER TABLE accounts ADD COLUMN password_expires TEXT;
