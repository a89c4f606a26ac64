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
    }
}

diesel::joinable!(directory_connections -> orgs (org_id));
diesel::joinable!(scim_tokens -> directory_connections (connection_id));
diesel::allow_tables_to_appear_in_same_query!(orgs, directory_connections, scim_tokens);
