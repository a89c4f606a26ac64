-- A Roster user kept after its SCIM resource was deleted (on_delete: deactivate) is found again
-- when the identity provider creates the same person anew: by externalId, then by userName.
ALTER TABLE user_profiles ADD COLUMN external_id TEXT;
ALTER TABLE user_profiles ADD COLUMN user_name_norm TEXT NOT NULL DEFAULT '';
-- Backfill from the SCIM resources (the exact folding Roster computes), else the stored name.
UPDATE user_profiles SET
    external_id = (SELECT u.external_id FROM users u WHERE u.id = user_profiles.user_id),
    user_name_norm = COALESCE(
        (SELECT u.user_name_norm FROM users u WHERE u.id = user_profiles.user_id),
        lower(user_name));
CREATE INDEX user_profiles_org_external_id ON user_profiles(org_id, external_id);
CREATE INDEX user_profiles_org_user_name ON user_profiles(org_id, user_name_norm);
