//! Join requests (O365-6, O365-7): a Microsoft 365 user whose tenant already uses Roster, and
//! who has no account, asks to join; every account holding `users.manage` gets a mail with the
//! approval link; "Approve & Add" makes the member account, linked to the identity.

use serde::Serialize;
use serde_json::json;

use super::flows::link_identity;
use super::invitations::join_org;
use super::{Office365Error, Office365Result, Office365Service};
use crate::org::{audit, Actor, OrgError};
use crate::provisioning::now;
use crate::storage::accounts::{self as accounts_store, NewAuditRow};
use crate::storage::invitations::{self as store, JoinRequestRow};
use crate::storage::microsoft as ms_store;

/// The mail kinds of join requests.
pub const JOIN_REQUEST_MAIL: &str = "join_request";
pub const JOIN_DECISION_MAIL: &str = "join_request_decision";

/// One join request as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JoinRequestView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub tenant_id: String,
    /// pending, approved or rejected.
    pub status: String,
    pub created: String,
    pub decided: Option<String>,
    pub decided_by: Option<String>,
    pub account_id: Option<String>,
}

impl From<JoinRequestRow> for JoinRequestView {
    fn from(r: JoinRequestRow) -> Self {
        JoinRequestView {
            id: r.id,
            email: r.email,
            name: r.name,
            tenant_id: r.tenant_id,
            status: r.status,
            created: r.created,
            decided: r.decided,
            decided_by: r.decided_by,
            account_id: r.account_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JoinRequestPage {
    pub requests: Vec<JoinRequestView>,
    pub next_cursor: Option<String>,
}

/// What asking to join did.
pub struct Requested {
    pub org: String,
    /// The identity had asked already; nothing new was sent.
    pub already: bool,
}

impl Office365Service {
    /// Asks to join the org the signed-in identity's tenant uses (one open request per
    /// identity); mails every account of that org holding `users.manage`.
    pub async fn request_to_join(&self, cookie: &str) -> Office365Result<Requested> {
        let (flow, p) = self.pending(cookie).await?;
        if p.offer != super::Offer::JoinRequest {
            return Err(Office365Error::Forbidden(
                "this step is not the one your sign-in was offered; start again".into(),
            ));
        }
        let email = p.identity.email.clone().ok_or_else(|| {
            Office365Error::Invalid("Microsoft sent no email address for your account".into())
        })?;
        let (mailer, base, flow_id) = (self.mailer.clone(), self.public_base.clone(), flow.id);
        let preview = format!(
            "{} <{email}> asks to join your organization on Roster with their Microsoft 365 account.\n\n\
             Review the request: {base}/join-requests/",
            p.identity.name.as_deref().unwrap_or("Someone")
        );
        let id = uuid::Uuid::now_v7().to_string();
        let body = mailer
            .seal(&format!("{preview}{id}\n"))
            .map_err(|e| Office365Error::Invalid(e.to_string()))?;
        let result = self
            .db
            .write(move |c| {
                let integration = ms_store::integration_of_tenant(c, &p.identity.tenant_id)?
                    .filter(|i| i.enabled)
                    .ok_or(Office365Error::Expired)?;
                let org = crate::storage::tenants::find_org(c, &integration.org_id)?
                    .map(|o| o.name)
                    .unwrap_or_default();
                ms_store::delete_sign_in(c, &flow_id)?;
                let i = &p.identity;
                if store::pending_request_of(c, &i.tenant_id, &i.object_id)?.is_some() {
                    return Ok::<_, Office365Error>(Requested { org, already: true });
                }
                let at = now();
                store::insert_join_request(
                    c,
                    &JoinRequestRow {
                        id: id.clone(),
                        org_id: integration.org_id.clone(),
                        tenant_id: i.tenant_id.clone(),
                        object_id: i.object_id.clone(),
                        email: email.clone(),
                        name: i.name.clone(),
                        created: at.clone(),
                        status: "pending".into(),
                        decided: None,
                        decided_by: None,
                        account_id: None,
                    },
                )?;
                let subject = format!("{email} asks to join {org} on Roster");
                for admin in accounts_store::user_managers(c, &integration.org_id)? {
                    mailer.enqueue(
                        c,
                        &integration.org_id,
                        JOIN_REQUEST_MAIL,
                        &admin.email,
                        &subject,
                        &body,
                    )?;
                }
                accounts_store::insert_audit(
                    c,
                    &NewAuditRow {
                        org_id: integration.org_id.clone(),
                        at,
                        actor_id: None,
                        actor: format!("microsoft:{email}"),
                        action: "join_request.created".into(),
                        target_type: "join_request".into(),
                        target_id: Some(id.clone()),
                        detail: json!({"email": email, "tenant_id": i.tenant_id}).to_string(),
                        request_id: None,
                    },
                )?;
                Ok(Requested {
                    org,
                    already: false,
                })
            })
            .await?;
        self.mailer.nudge();
        Ok(result)
    }

    /// A join request of the actor's org, for its approval page.
    pub async fn join_request(&self, actor: &Actor, id: &str) -> Office365Result<JoinRequestView> {
        self.require_manager(actor)?;
        let (org, id) = (actor.org_id.clone(), id.to_owned());
        let row = self
            .db
            .read(move |c| store::find_join_request(c, &org, &id))
            .await?
            .ok_or_else(not_yours)?;
        Ok(row.into())
    }

    fn require_manager(&self, actor: &Actor) -> Office365Result<()> {
        actor.require("users.manage").map_err(|_| not_yours())
    }

    /// A page of the org's join requests, newest first.
    pub async fn join_requests(
        &self,
        actor: &Actor,
        status: Option<String>,
        cursor: Option<String>,
        count: i64,
    ) -> Office365Result<JoinRequestPage> {
        actor.require("users.manage")?;
        if let Some(s) = &status {
            if !["pending", "approved", "rejected"].contains(&s.as_str()) {
                return Err(Office365Error::Invalid(
                    "status is pending, approved or rejected".into(),
                ));
            }
        }
        let before = cursor
            .as_deref()
            .map(super::invitations::parse_cursor)
            .transpose()?;
        let (org, limit) = (actor.org_id.clone(), count.clamp(1, 500));
        let rows = self
            .db
            .read(move |c| {
                store::list_join_requests(
                    c,
                    &org,
                    status.as_deref(),
                    before.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    limit,
                )
            })
            .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| {
                rows.last()
                    .map(|r| super::invitations::cursor_of(&r.created, &r.id))
            })
            .flatten();
        Ok(JoinRequestPage {
            requests: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Approve & Add: the member account, linked to the requester's identity, and a mail.
    pub async fn approve(&self, actor: &Actor, id: &str) -> Office365Result<JoinRequestView> {
        self.decide(actor, id, true).await
    }

    pub async fn reject(&self, actor: &Actor, id: &str) -> Office365Result<JoinRequestView> {
        self.decide(actor, id, false).await
    }

    async fn decide(
        &self,
        actor: &Actor,
        id: &str,
        approve: bool,
    ) -> Office365Result<JoinRequestView> {
        self.require_manager(actor)?;
        let org_name = self.org_name(&actor.org_id).await?;
        let (subject, text) = match approve {
            true => (
                format!("You can now use {org_name} on Roster"),
                format!(
                    "Your request to join {org_name} on Roster was approved.\n\nSign in with your Microsoft 365 account: {}/auth/microsoft/start\n",
                    self.public_base
                ),
            ),
            false => (
                format!("Your request to join {org_name} on Roster"),
                format!("Your request to join {org_name} on Roster was declined by an administrator.\n"),
            ),
        };
        let body = self
            .mailer
            .seal(&text)
            .map_err(|e| Office365Error::Invalid(e.to_string()))?;
        let (a, id, mailer) = (actor.clone(), id.to_owned(), self.mailer.clone());
        let view = self
            .db
            .write(move |c| {
                let row = store::find_join_request(c, &a.org_id, &id)?.ok_or_else(not_yours)?;
                if row.status != "pending" {
                    return Err(Office365Error::Conflict(format!(
                        "this request was {} already",
                        row.status
                    )));
                }
                let at = now();
                let account = match approve {
                    true => {
                        if accounts_store::find_account_by_email(c, &row.email.to_lowercase())?
                            .is_some()
                        {
                            return Err(Office365Error::Conflict(format!(
                                "an account with email '{}' exists already",
                                row.email
                            )));
                        }
                        let account = join_org(
                            c,
                            &a.org_id,
                            &row.email,
                            row.name.clone(),
                            "member",
                            None,
                            String::new(),
                            // The person never saw the terms here: asked at their first sign-in.
                            None,
                        )?;
                        link_identity(
                            c,
                            &row.tenant_id,
                            &row.object_id,
                            &account,
                            row.name.clone(),
                        )?;
                        Some(account.id)
                    }
                    false => None,
                };
                let status = if approve { "approved" } else { "rejected" };
                store::decide_join_request(
                    c,
                    &row.id,
                    status,
                    &a.account_id,
                    account.as_deref(),
                    &at,
                )?;
                mailer.enqueue(
                    c,
                    &a.org_id,
                    JOIN_DECISION_MAIL,
                    &row.email,
                    &subject,
                    &body,
                )?;
                audit(
                    c,
                    &a,
                    &format!("join_request.{status}"),
                    ("join_request", Some(&row.id)),
                    json!({"email": row.email, "account_id": account}),
                )?;
                let row = store::find_join_request(c, &a.org_id, &row.id)?.ok_or_else(not_yours)?;
                Ok(JoinRequestView::from(row))
            })
            .await?;
        self.mailer.nudge();
        Ok(view)
    }
}

/// The request is not one the caller may decide: another org's, or the caller lacks
/// `users.manage` (the two look alike, so request ids of other orgs are not confirmed).
fn not_yours() -> Office365Error {
    Office365Error::Org(OrgError::Forbidden(
        "only an account with the 'users.manage' permission in the organization this request is for can approve it".into(),
    ))
}
