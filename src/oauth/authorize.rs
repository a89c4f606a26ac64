//! The authorization endpoint's side: checking a request (client, redirect URI, scope, PKCE)
//! and answering it with a code or an error at the registered redirect URI.

use super::*;

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked authorization request: the connection asking and what it asks for.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub connection: ConnectionRow,
    pub org_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// Why an authorization request is refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRejection {
    /// The client or its redirect URI cannot be trusted: shown on the page, never redirected.
    Page(String),
    /// Sent back to the (registered) redirect URI.
    Redirect(String),
}

/// The registered redirect URIs of a connection.
pub fn redirect_uris(row: &ConnectionRow) -> Vec<String> {
    serde_json::from_str(&row.redirect_uris).unwrap_or_default()
}

/// `uri` with `params` added to its query.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

impl OAuthService {
    /// Checks an authorization request: first the client and its redirect URI (failures are
    /// shown, not redirected), then the rest (failures go back to the redirect URI).
    pub async fn check_authorize(
        &self,
        req: AuthorizeRequest,
    ) -> Result<Authorization, AuthorizeRejection> {
        let page = |m: &str| AuthorizeRejection::Page(m.to_owned());
        let client_id = req
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| page("The request has no client_id."))?;
        let found = self
            .db
            .read(move |c| {
                let Some(conn) = tenants::find_connection_by_client_id(c, &client_id)? else {
                    return Ok::<_, StorageError>(None);
                };
                let org = tenants::find_org(c, &conn.org_id)?;
                Ok(Some((conn, org.map(|o| o.name).unwrap_or_default())))
            })
            .await
            .map_err(|_| page("The server could not check the request; try again."))?;
        let (connection, org_name) = found
            .filter(|(c, _)| !c.disabled)
            .ok_or_else(|| page("No enabled directory connection has this client_id."))?;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .filter(|r| redirect_uris(&connection).contains(r))
            .ok_or_else(|| {
                page("The redirect_uri is missing or is not one registered for this connection.")
            })?;
        let fail = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = &req.state {
                params.push(("state", state));
            }
            params.push(("iss", &self.policy.issuer));
            AuthorizeRejection::Redirect(with_query(&redirect_uri, &params))
        };
        match req.response_type.as_deref() {
            None | Some("") => return Err(fail("invalid_request", "response_type is missing")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
        }
        let scope = granted_scope(req.scope.as_deref()).map_err(|m| fail("invalid_scope", &m))?;
        let challenge = match (
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
        ) {
            (None, None) => None,
            (Some(c), Some("S256")) if valid_pkce_value(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return Err(fail("invalid_request", "code_challenge is malformed"))
            }
            (Some(_), None | Some("plain")) | (None, Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "PKCE needs code_challenge with code_challenge_method=S256",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ))
            }
        };
        Ok(Authorization {
            connection,
            org_name,
            redirect_uri,
            scope,
            state: req.state,
            code_challenge: challenge,
        })
    }

    /// The redirect for an admin who declined.
    pub fn denied(&self, auth: &Authorization) -> String {
        self.authorization_response(
            auth,
            &[
                ("error", "access_denied"),
                ("error_description", "the administrator declined"),
            ],
        )
    }

    pub(super) fn authorization_response(
        &self,
        auth: &Authorization,
        params: &[(&str, &str)],
    ) -> String {
        let mut all = params.to_vec();
        if let Some(state) = &auth.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.policy.issuer));
        with_query(&auth.redirect_uri, &all)
    }

    /// An authorization code for `account_id`'s consent to `auth`: the row to store (the org
    /// service stores it with its audit entry) and the redirect that carries the code.
    pub fn issue_code(&self, account_id: &str, auth: &Authorization) -> (CodeRow, String) {
        let code = generate_prefixed_token("");
        let row = CodeRow {
            code_hash: code.hash,
            connection_id: auth.connection.id.clone(),
            account_id: account_id.to_owned(),
            redirect_uri: auth.redirect_uri.clone(),
            scope: auth.scope.clone(),
            code_challenge: auth.code_challenge.clone(),
            created: now(),
            expires: later(CODE_LIFETIME),
            grant_id: None,
        };
        let redirect = self.authorization_response(auth, &[("code", &code.secret)]);
        (row, redirect)
    }
}
