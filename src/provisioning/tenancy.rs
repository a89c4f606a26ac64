//! Orgs, directory connections and SCIM secret tokens: what an operator sets up before an
//! identity provider can provision.

use serde::Serialize;

use super::now;
use crate::security::{generate_token, hash_token};
use crate::storage::accounts::ProfileRow;
pub use crate::storage::tenants::TokenGrant;
use crate::storage::tenants::{self, ConnectionRow, OrgRow, TokenRow};
use crate::storage::{AnyConnection, StorageError, StorageResult};

/// The registered redirect URI of Entra's provisioning page.
pub const ENTRA_REDIRECT_URI: &str = "https://portal.azure.com/TokenAuthorize";

/// The two profiles every org has: Administrator (every permission) and Standard (what each
/// account may do with its own records, none of the admin permissions).
pub fn builtin_profiles(org_id: &str, created: &str) -> [ProfileRow; 2] {
    let row = |key: &str, name: &str, perms: &str| ProfileRow {
        id: format!("{org_id}:{key}"),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        name_norm: name.to_lowercase(),
        permissions: perms.to_owned(),
        builtin: true,
        created: created.to_owned(),
    };
    [
        row("administrator", "Administrator", r#"["*"]"#),
        row(
            "standard",
            "Standard",
            &serde_json::to_string(&crate::org::RECORD_PERMISSIONS).unwrap_or_default(),
        ),
    ]
}

/// Kinds of directory connection.
pub const CONNECTION_KINDS: &[&str] = &["azure", "okta", "scim"];

pub fn create_org(conn: &mut AnyConnection, name: &str) -> StorageResult<OrgRow> {
    let row = OrgRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        name_norm: name.to_lowercase(),
        created: now(),
    };
    tenants::insert_org(conn, &row)?;
    for profile in builtin_profiles(&row.id, &row.created) {
        crate::storage::accounts::insert_profile(conn, &profile)?;
    }
    Ok(row)
}

pub fn create_connection(
    conn: &mut AnyConnection,
    org_id: &str,
    name: &str,
    kind: &str,
) -> StorageResult<ConnectionRow> {
    let row = ConnectionRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        disabled: false,
        created: now(),
        client_id: uuid::Uuid::new_v4().simple().to_string(),
        client_secret_hash: None,
        // Entra's provisioning page is the one redirect URI known in advance; others are
        // registered by an admin.
        redirect_uris: match kind {
            "azure" => serde_json::json!([ENTRA_REDIRECT_URI]).to_string(),
            _ => "[]".into(),
        },
        attribute_mapping: None,
        fixed_values: "{}".into(),
        status_policy: "{}".into(),
        password_delivery: "none".into(),
    };
    tenants::insert_connection(conn, &row)?;
    Ok(row)
}

/// A token as issued: the secret is shown this once and never stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub id: String,
    pub connection_id: String,
    pub label: String,
    pub token: String,
}

pub fn create_token(
    conn: &mut AnyConnection,
    connection_id: &str,
    label: &str,
) -> StorageResult<IssuedToken> {
    tenants::find_connection(conn, connection_id)?.ok_or(StorageError::NotFound)?;
    let new = generate_token();
    let row = TokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        connection_id: connection_id.to_owned(),
        token_hash: new.hash.clone(),
        hint: new.hint.clone(),
        label: label.to_owned(),
        created: now(),
        revoked: None,
        last_used: None,
    };
    tenants::insert_token(conn, &row)?;
    Ok(IssuedToken {
        id: row.id,
        connection_id: row.connection_id,
        label: row.label,
        token: new.secret,
    })
}

pub fn revoke_token(conn: &mut AnyConnection, token_id: &str) -> StorageResult<bool> {
    tenants::revoke_token(conn, token_id, &now())
}

/// The grant a presented bearer secret opens, if any.
pub fn authenticate(
    conn: &mut AnyConnection,
    secret: &str,
) -> StorageResult<Option<(TokenGrant, Option<String>)>> {
    tenants::find_token_grant(conn, &hash_token(secret))
}

/// The label of the token first start prints; the console offers to revoke it once the org has
/// its own way in.
pub const FIRST_START_TOKEN_LABEL: &str = "bootstrap";

/// What first start created.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrap {
    pub org: OrgRow,
    pub connection: ConnectionRow,
    pub token: IssuedToken,
}

/// On an empty database, creates a default org with one directory connection and a token. The
/// connection is of kind `azure`: it reads RFC 7643/7644 and the shapes Microsoft Entra ID
/// sends, so the tenant URL printed at first start works for Entra, Okta and other clients alike.
pub fn bootstrap_if_empty(conn: &mut AnyConnection) -> StorageResult<Option<Bootstrap>> {
    if !tenants::list_orgs(conn)?.is_empty() {
        return Ok(None);
    }
    let org = create_org(conn, "default")?;
    let connection = create_connection(conn, &org.id, "default", "azure")?;
    let token = create_token(conn, &connection.id, FIRST_START_TOKEN_LABEL)?;
    Ok(Some(Bootstrap {
        org,
        connection,
        token,
    }))
}
