//! Table definitions shared by both backends (hand-kept; `migrations/` is the source of truth).

diesel::table! {
    orgs (id) {
        id -> Text,
        name -> Text,
        name_norm -> Text,
        created -> Text,
    }
}

diesel::table! {
    directory_connections (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        kind -> Text,
        disabled -> Bool,
        created -> Text,
        client_id -> Text,
        client_secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        attribute_mapping -> Nullable<Text>,
        fixed_values -> Text,
        status_policy -> Text,
        password_delivery -> Text,
    }
}

// The columns of `users` that typed queries read; resources.rs writes it with its own SQL.
diesel::table! {
    users (id) {
        seq -> BigInt,
        id -> Text,
        org_id -> Text,
        user_name -> Text,
        active -> Bool,
        data -> Text,
    }
}

diesel::table! {
    user_profiles (user_id) {
        user_id -> Text,
        org_id -> Text,
        connection_id -> Nullable<Text>,
        user_name -> Text,
        status -> Text,
        status_changed -> Text,
        fields -> Text,
        updated -> Text,
        external_id -> Nullable<Text>,
        user_name_norm -> Text,
    }
}

diesel::table! {
    user_events (seq) {
        seq -> BigInt,
        org_id -> Text,
        user_id -> Text,
        kind -> Text,
        connection_id -> Nullable<Text>,
        at -> Text,
    }
}

diesel::table! {
    scim_tokens (id) {
        id -> Text,
        connection_id -> Text,
        token_hash -> Text,
        hint -> Text,
        label -> Text,
        created -> Text,
        revoked -> Nullable<Text>,
        last_used -> Nullable<Text>,
    }
}

diesel::table! {
    profiles (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        name_norm -> Text,
        permissions -> Text,
        builtin -> Bool,
        created -> Text,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        email_norm -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Text,
        role -> Text,
        profile_id -> Text,
        disabled -> Bool,
        must_change_password -> Bool,
        created -> Text,
        updated -> Text,
        user_id -> Nullable<Text>,
        password_expires -> Nullable<Text>,
    }
}

diesel::table! {
    account_sessions (id) {
        id -> Text,
        account_id -> Text,
        token_hash -> Text,
        label -> Text,
        created -> Text,
        expires -> Text,
        revoked -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        org_id -> Text,
        at -> Text,
        actor_id -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Text>,
        detail -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    backfills (name) {
        name -> Text,
        done -> Nullable<Text>,
    }
}

diesel::table! {
    microsoft_identities (tenant_id, object_id) {
        tenant_id -> Text,
        object_id -> Text,
        account_id -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        tenant_admin -> Bool,
        linked -> Text,
        last_sign_in -> Text,
    }
}

diesel::table! {
    microsoft_sign_ins (id) {
        id -> Text,
        state_hash -> Nullable<Text>,
        purpose -> Text,
        context -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        identity -> Nullable<Text>,
        created -> Text,
        expires -> Text,
    }
}

diesel::table! {
    org_microsoft (org_id) {
        org_id -> Text,
        tenant_id -> Text,
        enabled -> Bool,
        enabled_by -> Nullable<Text>,
        enabled_at -> Text,
        disabled_at -> Nullable<Text>,
        consent -> Text,
        consent_at -> Nullable<Text>,
        consent_error -> Nullable<Text>,
    }
}

diesel::table! {
    terms_acceptances (account_id, version) {
        account_id -> Text,
        version -> Text,
        accepted -> Text,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        email_norm -> Text,
        kind -> Text,
        display_name -> Nullable<Text>,
        role -> Text,
        profile_id -> Nullable<Text>,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        created -> Text,
        expires -> Text,
        last_sent -> Text,
        accepted -> Nullable<Text>,
        account_id -> Nullable<Text>,
        revoked -> Nullable<Text>,
    }
}

diesel::table! {
    join_requests (id) {
        id -> Text,
        org_id -> Text,
        tenant_id -> Text,
        object_id -> Text,
        email -> Text,
        name -> Nullable<Text>,
        created -> Text,
        status -> Text,
        decided -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        account_id -> Nullable<Text>,
    }
}

diesel::table! {
    exchange_installs (org_id) {
        org_id -> Text,
        scope -> Text,
        profile_ids -> Text,
        auth_mode -> Nullable<Text>,
        ews_url -> Nullable<Text>,
        service_email -> Nullable<Text>,
        service_domain -> Nullable<Text>,
        tenant_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        secret -> Nullable<Text>,
        authorized_by -> Nullable<Text>,
        authorized_at -> Nullable<Text>,
        defaults -> Text,
        installed_by -> Text,
        installed_at -> Text,
        updated -> Text,
    }
}

diesel::table! {
    exchange_users (account_id) {
        account_id -> Text,
        org_id -> Text,
        enabled -> Bool,
        settings -> Nullable<Text>,
        login -> Nullable<Text>,
        domain -> Nullable<Text>,
        secret -> Nullable<Text>,
        updated -> Text,
    }
}

diesel::joinable!(directory_connections -> orgs (org_id));
diesel::joinable!(accounts -> profiles (profile_id));
diesel::joinable!(account_sessions -> accounts (account_id));
diesel::joinable!(microsoft_identities -> accounts (account_id));
diesel::joinable!(scim_tokens -> directory_connections (connection_id));
diesel::joinable!(oauth_grants -> directory_connections (connection_id));
diesel::joinable!(oauth_refresh_tokens -> oauth_grants (grant_id));
diesel::joinable!(exchange_users -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(
    orgs,
    exchange_installs,
    exchange_users,
    directory_connections,
    scim_tokens,
    profiles,
    accounts,
    account_sessions,
    audit_log,
    signing_keys,
    oauth_grants,
    oauth_codes,
    oauth_refresh_tokens,
    user_profiles,
    user_events,
    users,
    provisioning_log,
    org_domains,
    mail_outbox,
    microsoft_identities,
    microsoft_sign_ins,
    org_microsoft,
    terms_acceptances,
    invitations,
    join_requests
);

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Text,
        public_key -> Text,
        created -> Text,
        retired -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Text,
        connection_id -> Text,
        account_id -> Nullable<Text>,
        grant_type -> Text,
        scope -> Text,
        created -> Text,
        expires -> Text,
        revoked -> Nullable<Text>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Text,
        connection_id -> Text,
        account_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        code_challenge -> Nullable<Text>,
        created -> Text,
        expires -> Text,
        grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created -> Text,
        expires -> Text,
        used -> Nullable<Text>,
        replayed -> Nullable<Text>,
    }
}

diesel::table! {
    provisioning_log (seq) {
        seq -> BigInt,
        org_id -> Text,
        connection_id -> Text,
        at -> Text,
        operation -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        status -> Integer,
        outcome -> Text,
        error -> Nullable<Text>,
        request_id -> Nullable<Text>,
        resource_name -> Nullable<Text>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    org_domains (id) {
        id -> Text,
        org_id -> Text,
        domain -> Text,
        token -> Text,
        created -> Text,
        verified_at -> Nullable<Text>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Nullable<Text>,
        created -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt -> Text,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Text>,
    }
}
