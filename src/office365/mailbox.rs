//! A user's Microsoft 365 mailbox connection (for calendar and contacts sync): the user
//! authorizes Roster for their own mailbox (authorization code with PKCE, delegated `offline_access
//! User.Read Calendars.ReadWrite Contacts.ReadWrite Tasks.ReadWrite Mail.ReadWrite`); the tokens
//! are sealed at rest (SY-10), the access token is refreshed shortly before it expires, and disconnecting
//! drops them.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{Office365Error, Office365Result, Office365Service, Pending, Started};
use crate::connectors::microsoft::outlook::Outlook;
use crate::connectors::microsoft::{MicrosoftError, SignedIn};
use crate::org::{audit, own_audit_entry, Actor};
use crate::provisioning::now;
use crate::scim::resource::format_datetime;
use crate::storage::mailboxes::{self as store, MailboxRow};
use crate::storage::microsoft as flows;

/// An access token is refreshed when it has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A user's mailbox connection as the user API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailboxStatus {
    pub connected: bool,
    pub email: Option<String>,
    pub tenant_id: Option<String>,
    pub scopes: Vec<String>,
    /// active; reauth_required once Microsoft refused the refresh token; suspended when the
    /// directory deactivated or deleted the user. Both last until the user connects again.
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub access_expires: Option<String>,
    pub connected_at: Option<String>,
}

/// What the mailbox check read from Graph.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailboxCheck {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub access_expires: String,
}

fn expires_in(seconds: Option<u64>) -> String {
    format_datetime(chrono::Utc::now() + chrono::Duration::seconds(seconds.unwrap_or(3600) as i64))
}

impl Office365Service {
    fn seal(&self, secret: &str) -> Office365Result<String> {
        self.secrets
            .seal(secret.as_bytes())
            .map_err(|e| Office365Error::Invalid(e.to_string()))
    }

    fn open(&self, sealed: &str) -> Office365Result<String> {
        self.secrets
            .open(sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Office365Error::Invalid(
                    "a stored token cannot be opened (was the secret key changed?)".into(),
                )
            })
    }

    /// Sends the signed-in user to Microsoft to authorize Roster for their own mailbox.
    pub async fn connect_mailbox(&self, actor: &Actor) -> Office365Result<Started> {
        self.microsoft()?;
        let context = json!({"account_id": actor.account_id, "org_id": actor.org_id});
        self.begin_with("mailbox", context, Some(actor.email.clone()))
            .await
    }

    /// Stores the tokens of a verified mailbox authorization for the account that began it.
    pub(super) async fn finish_mailbox(
        &self,
        flow_id: &str,
        context: &str,
        p: Pending,
        signed: SignedIn,
    ) -> Office365Result<String> {
        let ctx: serde_json::Value = serde_json::from_str(context).unwrap_or_default();
        let field = |k: &str| {
            ctx.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (account_id, org_id) = (field("account_id"), field("org_id"));
        let refresh = signed.refresh_token.ok_or_else(|| {
            Office365Error::Microsoft(MicrosoftError::Rejected(
                "Microsoft sent no refresh token (offline_access was not granted)".into(),
            ))
        })?;
        let at = now();
        let row = MailboxRow {
            account_id: account_id.clone(),
            org_id: org_id.clone(),
            provider: "microsoft".into(),
            tenant_id: p.identity.tenant_id.clone(),
            object_id: p.identity.object_id.clone(),
            email: p.identity.email.clone(),
            scopes: signed.scopes.join(" "),
            refresh_token: self.seal(&refresh)?,
            access_token: self.seal(&signed.access_token)?,
            access_expires: expires_in(signed.expires_in),
            status: "active".into(),
            status_reason: None,
            token_version: 1,
            created: at.clone(),
            updated: at,
        };
        let (flow_id, email) = (
            flow_id.to_owned(),
            p.identity.email.clone().unwrap_or_default(),
        );
        let shown = email.clone();
        self.db
            .write(move |c| {
                flows::delete_sign_in(c, &flow_id)?;
                let account = crate::storage::accounts::find_account(c, &org_id, &account_id)?
                    .ok_or(Office365Error::Expired)?;
                store::upsert(c, &row)?;
                let detail = json!({"email": email, "scopes": row.scopes});
                let target = ("account", Some(account.id.as_str()));
                let entry = own_audit_entry(&account, "mailbox.connected", target, detail);
                crate::storage::accounts::insert_audit(c, &entry)?;
                Ok::<_, Office365Error>(())
            })
            .await?;
        Ok(shown)
    }

    pub async fn mailbox_status(&self, actor: &Actor) -> Office365Result<MailboxStatus> {
        let (d, id) = (self.db.dialect(), actor.account_id.clone());
        let row = self.db.read(move |c| store::find(c, d, &id, false)).await?;
        Ok(match row {
            None => MailboxStatus {
                connected: false,
                email: None,
                tenant_id: None,
                scopes: vec![],
                status: None,
                status_reason: None,
                access_expires: None,
                connected_at: None,
            },
            Some(r) => MailboxStatus {
                connected: true,
                email: r.email,
                tenant_id: Some(r.tenant_id),
                scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
                status: Some(r.status),
                status_reason: r.status_reason,
                access_expires: Some(r.access_expires),
                connected_at: Some(r.created),
            },
        })
    }

    /// A live access token for the account's mailbox, refreshed first when it has less than
    /// five minutes left. A refresh is written only if no other replica refreshed meanwhile
    /// (then its token is used). A refused refresh token marks the connection
    /// `reauth_required`.
    pub async fn mailbox_token(&self, account_id: &str) -> Office365Result<(String, String)> {
        let ms = self.microsoft()?.clone();
        let (d, id) = (self.db.dialect(), account_id.to_owned());
        let row = self
            .db
            .read(move |c| store::find(c, d, &id, false))
            .await?
            .ok_or_else(|| Office365Error::Invalid("no mailbox is connected".into()))?;
        if row.status != "active" {
            return Err(Office365Error::Forbidden(format!(
                "the mailbox connection is {} and needs you to connect again: {}",
                row.status,
                row.status_reason
                    .as_deref()
                    .unwrap_or("Microsoft refused it")
            )));
        }
        let margin = format_datetime(
            chrono::Utc::now() + chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default(),
        );
        if row.access_expires > margin {
            return Ok((self.open(&row.access_token)?, row.access_expires));
        }
        let refreshed = match ms.platform.refresh(&self.open(&row.refresh_token)?).await {
            Ok(r) => r,
            Err(MicrosoftError::Refused { code, message, .. }) => {
                let (id, reason) = (row.account_id.clone(), format!("{code}: {message}"));
                let why = reason.clone();
                self.db
                    .write(move |c| store::needs_reauth(c, &id, &why, &now()))
                    .await?;
                return Err(Office365Error::Forbidden(format!("Microsoft refused to renew the mailbox connection ({reason}); connect it again")));
            }
            Err(e) => return Err(e.into()),
        };
        let expires = expires_in(refreshed.expires_in);
        let (access, refresh) = (
            self.seal(&refreshed.access_token)?,
            match &refreshed.refresh_token {
                Some(r) => self.seal(r)?,
                None => row.refresh_token.clone(),
            },
        );
        let (id, version, exp) = (row.account_id.clone(), row.token_version, expires.clone());
        let stored = self
            .db
            .write(move |c| store::store_tokens(c, &id, version, &access, &exp, &refresh, &now()))
            .await?;
        if !stored {
            // Another replica refreshed first: use what it stored.
            let id = row.account_id.clone();
            let fresh = self
                .db
                .read(move |c| store::find(c, d, &id, false))
                .await?
                .ok_or(Office365Error::Expired)?;
            return Ok((self.open(&fresh.access_token)?, fresh.access_expires));
        }
        Ok((refreshed.access_token, expires))
    }

    /// Graph on the account's own mailbox, with a live token.
    pub async fn mailbox_api(&self, account_id: &str) -> Office365Result<Outlook> {
        let (token, _) = self.mailbox_token(account_id).await?;
        let ms = self.microsoft()?;
        Ok(Outlook::new(&ms.config, ms.http.clone(), token))
    }

    /// Graph for `user`'s mailbox in `tenant` with an app-only token (client credentials, which
    /// need the tenant's admin consent): Roster's own Microsoft app, or the org's own `app`
    /// (client id and secret).
    pub async fn app_mailbox_api(
        &self,
        tenant: &str,
        app: Option<(String, String)>,
        user: &str,
    ) -> Office365Result<Outlook> {
        let ms = self.microsoft()?;
        let token = match app {
            None => ms.platform.app_token(tenant).await?,
            Some((id, secret)) => {
                let platform = {
                    let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
                    match apps.get(&id).filter(|(s, _)| *s == secret) {
                        Some((_, p)) => p.clone(),
                        None => {
                            let config = crate::connectors::microsoft::MicrosoftConfig {
                                client_id: id.clone(),
                                client_secret: secret.clone(),
                                ..ms.config.clone()
                            };
                            let p = std::sync::Arc::new(
                                crate::connectors::microsoft::IdentityPlatform::new(
                                    config,
                                    ms.http.clone(),
                                ),
                            );
                            apps.insert(id, (secret, p.clone()));
                            p
                        }
                    }
                };
                platform.app_token(tenant).await?
            }
        };
        Ok(Outlook::new(&ms.config, ms.http.clone(), token).for_user(user))
    }

    /// Checks the connection end to end: a live token (refreshed if due) and Graph's `/me`.
    pub async fn check_mailbox(&self, actor: &Actor) -> Office365Result<MailboxCheck> {
        let (token, access_expires) = self.mailbox_token(&actor.account_id).await?;
        let me = self.microsoft()?.graph.me(&token).await?;
        Ok(MailboxCheck {
            email: me.mail.or(me.user_principal_name),
            display_name: me.display_name,
            access_expires,
        })
    }

    /// Disconnects the mailbox: the tokens are deleted. Microsoft has no endpoint that
    /// revokes one application's refresh token; the user removes Roster's consent at
    /// myapps.microsoft.com to end it on Microsoft's side too.
    pub async fn disconnect_mailbox(&self, actor: &Actor) -> Office365Result<bool> {
        let a = actor.clone();
        self.db
            .write(move |c| {
                let gone = store::delete(c, &a.account_id)?;
                if gone {
                    crate::storage::sync::suspend_for_account(
                        c,
                        &a.account_id,
                        "the mailbox was disconnected",
                        &now(),
                    )?;
                    audit(
                        c,
                        &a,
                        "mailbox.disconnected",
                        ("account", Some(&a.account_id)),
                        json!({}),
                    )?;
                }
                Ok::<_, Office365Error>(gone)
            })
            .await
    }
}
