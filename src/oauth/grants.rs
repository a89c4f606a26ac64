//! Grants and the token endpoint: codes and refresh tokens exchanged (rotation, the retry grace
//! period, revocation on reuse with the admins told), client credentials, RFC 7009 revocation.

use super::*;

/// Records a revocation the server made on its own (a replayed code or refresh token).
/// The mail that tells an org's admins a grant of `connection` was revoked for reuse; sealed
/// before the exchange's transaction, which queues it only if it revokes.
pub(super) struct RevocationNotice {
    mailer: Mailer,
    subject: String,
    body: SealedBody,
}

impl OAuthService {
    pub(super) fn revocation_notice(&self, connection: &ConnectionRow) -> Option<RevocationNotice> {
        let subject = format!(
            "Roster revoked the OAuth authorization of directory connection '{}'",
            connection.name
        );
        let text = format!(
            "A refresh token or authorization code of the directory connection '{}' ({}) was \
             presented a second time, so Roster revoked every token of that authorization: a \
             stolen token cannot be told apart from a replayed one.\n\n\
             The identity provider cannot provision through this connection until it is \
             authorized again. In Microsoft Entra ID: open the enterprise application, \
             Provisioning, then Authorize and Test connection. The audit log \
             (action oauth.grant.revoke) has the details.\n",
            connection.name, connection.id
        );
        match self.mailer.seal(&text) {
            Ok(body) => Some(RevocationNotice {
                mailer: self.mailer.clone(),
                subject,
                body,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not seal a revocation notice");
                None
            }
        }
    }
}

/// Revokes a grant for reuse of what it issued: the audit entry and the admins' mail commit
/// with the revocation.
pub(super) fn revoke_for_reuse(
    c: &mut AnyConnection,
    connection: &ConnectionRow,
    grant: &str,
    reason: &str,
    notice: Option<&RevocationNotice>,
) -> Result<(), StorageError> {
    store::revoke_grant(c, grant, reason, &now())?;
    audit_revocation(c, connection, grant, reason)?;
    if let Some(n) = notice {
        for to in crate::storage::accounts::admin_emails(c, &connection.org_id)? {
            n.mailer.enqueue(
                c,
                &connection.org_id,
                "oauth_grant_revoked",
                &to,
                &n.subject,
                &n.body,
            )?;
        }
    }
    Ok(())
}

pub(super) fn audit_revocation(
    c: &mut AnyConnection,
    connection: &ConnectionRow,
    grant: &str,
    reason: &str,
) -> Result<(), StorageError> {
    tracing::warn!(connection_id = %connection.id, grant_id = %grant, reason, "revoked an OAuth grant");
    insert_audit(
        c,
        &NewAuditRow {
            org_id: connection.org_id.clone(),
            at: now(),
            actor_id: None,
            actor: "oauth".into(),
            action: "oauth.grant.revoke".into(),
            target_type: "oauth_grant".into(),
            target_id: Some(grant.to_owned()),
            detail: json!({"connection_id": connection.id, "reason": reason}).to_string(),
            request_id: None,
        },
    )
}

/// What a token exchange decided inside its transaction.
pub(super) enum Exchange {
    Issued(Box<(GrantRow, Option<String>)>),
    /// A replay: the grant it issued was revoked, and the request fails.
    Replayed(&'static str),
}

pub(super) fn new_refresh(
    c: &mut AnyConnection,
    grant_id: &str,
    policy: &OAuthPolicy,
) -> Result<String, StorageError> {
    let token = generate_prefixed_token(REFRESH_PREFIX);
    store::insert_refresh(
        c,
        &RefreshRow {
            token_hash: token.hash,
            grant_id: grant_id.to_owned(),
            created: now(),
            expires: later(policy.refresh_token),
            used: None,
            replayed: None,
        },
    )?;
    Ok(token.secret)
}

impl OAuthService {
    /// The result of an exchange; a replay revoked a grant and queued mail for the admins.
    pub(super) fn issued(&self, outcome: Exchange) -> OAuthResult<(GrantRow, Option<String>)> {
        match outcome {
            Exchange::Issued(issued) => Ok(*issued),
            Exchange::Replayed(m) => {
                self.grants_revoked.add(&["reuse"]);
                self.mailer.nudge();
                Err(OAuthError::InvalidGrant(m.into()))
            }
        }
    }
}

/// Whether the timestamp `at` is no older than `window`.
pub(super) fn within(at: &str, window: Duration) -> bool {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
        return false;
    };
    let age = chrono::Utc::now().signed_duration_since(at);
    age.to_std().map_or(true, |age| age <= window)
}

impl OAuthService {
    /// The token endpoint (RFC 6749 §3.2).
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        request: TokenRequest,
    ) -> OAuthResult<TokenResponse> {
        let client = self.client(creds).await?;
        self.prune_now_and_then().await;
        let (grant, refresh) = match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let issued = self
                    .exchange_code(&client, code, redirect_uri, code_verifier)
                    .await?;
                self.grants_issued.add(&["authorization_code"]);
                issued
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.exchange_refresh(&client, refresh_token, scope).await?,
            TokenRequest::ClientCredentials { scope } => {
                let scope = granted_scope(scope.as_deref()).map_err(OAuthError::InvalidScope)?;
                let grant = GrantRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: client.id.clone(),
                    account_id: None,
                    grant_type: "client_credentials".into(),
                    scope,
                    created: now(),
                    expires: later(self.policy.client_credentials_token),
                    revoked: None,
                    revoked_reason: None,
                };
                let row = grant.clone();
                self.db.write(move |c| store::insert_grant(c, &row)).await?;
                self.grants_issued.add(&["client_credentials"]);
                (grant, None)
            }
        };
        let lifetime = match grant.grant_type.as_str() {
            "client_credentials" => self.policy.client_credentials_token,
            _ => self.policy.access_token,
        };
        let access_token = self.sign(&client, &grant, lifetime).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.as_secs(),
            refresh_token: refresh,
            scope: grant.scope,
        })
    }

    pub(super) async fn exchange_code(
        &self,
        client: &ConnectionRow,
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    ) -> OAuthResult<(GrantRow, Option<String>)> {
        let (client, policy) = (client.clone(), self.policy.clone());
        let notice = self.revocation_notice(&client);
        let outcome = self
            .db
            .write(move |c| {
                let hash = hash_token(&code);
                let invalid = |m: &str| Err(OAuthError::InvalidGrant(m.to_owned()));
                let Some(row) = store::find_code(c, &hash)? else {
                    return invalid("unknown authorization code");
                };
                if row.connection_id != client.id {
                    return invalid("the code was issued to another client");
                }
                if let Some(grant) = &row.grant_id {
                    let reason = "authorization code reused";
                    revoke_for_reuse(c, &client, grant, reason, notice.as_ref())?;
                    return Ok(Exchange::Replayed(
                        "the authorization code was already used; what it issued is revoked",
                    ));
                }
                if row.expires < now() {
                    return invalid("the authorization code has expired");
                }
                if redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
                    return invalid("redirect_uri differs from the authorization request's");
                }
                match (&row.code_challenge, &verifier) {
                    (None, None) => {}
                    (Some(challenge), Some(v))
                        if valid_pkce_value(v) && constant_time_eq(&s256(v), challenge) => {}
                    (Some(_), _) => {
                        return invalid("code_verifier does not match the code_challenge")
                    }
                    (None, Some(_)) => {
                        return invalid(
                            "code_verifier sent for a code issued without a code_challenge",
                        )
                    }
                }
                let grant = GrantRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: client.id.clone(),
                    account_id: Some(row.account_id.clone()),
                    grant_type: "authorization_code".into(),
                    scope: row.scope.clone(),
                    created: now(),
                    expires: later(policy.refresh_token),
                    revoked: None,
                    revoked_reason: None,
                };
                store::insert_grant(c, &grant)?;
                if !store::claim_code(c, &hash, &grant.id)? {
                    // A concurrent exchange won; this is a replay too.
                    return invalid("the authorization code was already used");
                }
                let refresh = new_refresh(c, &grant.id, &policy)?;
                Ok(Exchange::Issued(Box::new((grant, Some(refresh)))))
            })
            .await?;
        self.issued(outcome)
    }

    pub(super) async fn exchange_refresh(
        &self,
        client: &ConnectionRow,
        token: String,
        scope: Option<String>,
    ) -> OAuthResult<(GrantRow, Option<String>)> {
        let (client, policy) = (client.clone(), self.policy.clone());
        let notice = self.revocation_notice(&client);
        let outcome = self
            .db
            .write(move |c| {
                let hash = hash_token(&token);
                let invalid = |m: &str| Err(OAuthError::InvalidGrant(m.to_owned()));
                let Some(row) = store::find_refresh(c, &hash)? else {
                    return invalid("unknown refresh token");
                };
                let Some(mut grant) = store::find_grant(c, &row.grant_id)? else {
                    return invalid("unknown refresh token");
                };
                if grant.connection_id != client.id {
                    return invalid("the refresh token was issued to another client");
                }
                if grant.revoked.is_some() {
                    return invalid("the refresh token has been revoked");
                }
                if row.used.is_some() || !store::claim_refresh(c, &hash, &now())? {
                    // Read again: a concurrent refresh may have used it since.
                    let used = store::find_refresh(c, &hash)?.unwrap_or_else(|| row.clone());
                    let retried = used.used.as_deref().is_some_and(|at| {
                        within(at, policy.refresh_grace)
                    }) && store::replay_refresh(c, &used, &now())?;
                    if !retried {
                        let reason = "refresh token reused";
                        revoke_for_reuse(c, &client, &grant.id, reason, notice.as_ref())?;
                        return Ok(Exchange::Replayed(
                            "the refresh token was already used; every token of its grant is revoked",
                        ));
                    }
                    tracing::info!(grant_id = %grant.id, "refresh token retried within its grace period");
                }
                if row.expires < now() {
                    return invalid("the refresh token has expired");
                }
                if let Some(asked) = scope.as_deref() {
                    let asked = granted_scope(Some(asked)).map_err(OAuthError::InvalidScope)?;
                    let held: Vec<&str> = grant.scope.split(' ').collect();
                    if asked.split(' ').any(|s| !held.contains(&s)) {
                        return Err(OAuthError::InvalidScope(
                            "a refresh cannot widen the scope of the grant".into(),
                        ));
                    }
                    grant.scope = asked;
                }
                let refresh = new_refresh(c, &grant.id, &policy)?;
                grant.expires = later(policy.refresh_token);
                store::renew_grant(c, &grant.id, &grant.expires)?;
                Ok(Exchange::Issued(Box::new((grant, Some(refresh)))))
            })
            .await?;
        self.issued(outcome)
    }

    /// What a grant opens while it is live (unrevoked, connection enabled).
    pub async fn live_grant(&self, grant_id: &str) -> Result<Option<TokenGrant>, StorageError> {
        let id = grant_id.to_owned();
        self.db.read_small(move |c| store::live_grant(c, &id)).await
    }

    /// The revocation endpoint (RFC 7009): revokes the grant of a refresh or access token the
    /// client holds. Unknown tokens are not an error. Returns the revoked grant, if any.
    pub async fn revoke(
        &self,
        creds: &ClientCredentials,
        token: &str,
    ) -> OAuthResult<Option<String>> {
        let client = self.client(creds).await?;
        let grant_id = if token.starts_with(REFRESH_PREFIX) {
            let hash = hash_token(token);
            let row = self.db.read(move |c| store::find_refresh(c, &hash)).await?;
            row.map(|r| r.grant_id)
        } else {
            self.verify(token, None)
                .await
                .ok()
                .filter(|claims| claims.cid == client.id)
                .map(|claims| claims.gid)
        };
        let Some(grant_id) = grant_id else {
            return Ok(None);
        };
        let (id, conn_id) = (grant_id.clone(), client.id.clone());
        let revoked = self
            .db
            .write(move |c| {
                let owned = store::find_grant(c, &id)?.is_some_and(|g| g.connection_id == conn_id);
                Ok::<_, StorageError>(
                    owned && store::revoke_grant(c, &id, "revoked by the client", &now())?,
                )
            })
            .await?;
        if revoked {
            self.grants_revoked.add(&["client"]);
        }
        Ok(revoked.then_some(grant_id))
    }

    /// Deletes expired codes and grants, at most once an hour per process.
    pub(super) async fn prune_now_and_then(&self) {
        let now_s = chrono::Utc::now().timestamp();
        let last = self.last_prune.load(Ordering::Relaxed);
        if now_s - last < 3600
            || self
                .last_prune
                .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let before = format_datetime(chrono::Utc::now() - KEEP_EXPIRED);
        if let Err(e) = self.db.write(move |c| store::prune(c, &before)).await {
            tracing::warn!(error = %e, "could not delete expired OAuth codes and grants");
        }
    }
}
