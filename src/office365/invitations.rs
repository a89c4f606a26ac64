//! Invitations (O365-4, O365-5): an admin with `users.manage` lists the tenant's Microsoft 365
//! users a Graph page at a time, invites some (or any address), and each gets a single-use
//! link by mail; opening it leads to the terms and to joining the org, by Microsoft sign-in, a
//! new password, or an existing account of the org.

use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

use super::{Office365Error, Office365Result, Office365Service};
use crate::connectors::microsoft::{MicrosoftError, TenantUser};
use crate::org::{audit, insert_account, Actor, NewAccount};
use crate::provisioning::now;
use crate::scim::resource::{fold_case, format_datetime};
use crate::security::{generate_prefixed_token, hash_token};
use crate::storage::accounts::{self as accounts_store, AccountRow};
use crate::storage::invitations::{self as store, InvitationRow};
use crate::storage::{cursor, microsoft as ms_store, tenants, AnyConnection};

/// Prefix of invitation link secrets.
const INVITATION_PREFIX: &str = "roster_invite_";
/// The mail kind of invitations (bodies stay readable to admins while unsent: with no SMTP
/// server, an admin can pass the link on).
pub const INVITATION_MAIL: &str = "invitation";

/// Whom to invite.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewInvitations {
    #[validate(nested)]
    pub invitees: Vec<Invitee>,
    /// member (default) or admin (needs `org.manage`).
    #[validate(length(max = 16, message = "is member or admin"))]
    pub role: Option<String>,
    /// Profile of the accounts made; the role's default when absent.
    #[validate(length(max = 128, message = "has at most 128 characters"))]
    pub profile_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Invitee {
    #[validate(length(max = 254, message = "has at most 254 characters"))]
    pub email: String,
    #[validate(length(max = 200, message = "has at most 200 characters"))]
    pub display_name: Option<String>,
    /// microsoft: a user of the org's Microsoft 365 tenant, who joins by signing in with
    /// Microsoft; plain (default): any address, who joins with a password.
    #[validate(length(max = 16, message = "is plain or microsoft"))]
    pub kind: Option<String>,
}

/// One invitation as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub kind: String,
    pub role: String,
    pub profile_id: Option<String>,
    /// pending, accepted, expired or revoked.
    pub status: String,
    pub invited_by: Option<String>,
    pub created: String,
    pub expires: String,
    pub last_sent: String,
    pub accepted: Option<String>,
    pub account_id: Option<String>,
    pub revoked: Option<String>,
}

impl InvitationView {
    fn of(r: InvitationRow, now: &str) -> Self {
        InvitationView {
            status: r.status(now).to_owned(),
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            kind: r.kind,
            role: r.role,
            profile_id: r.profile_id,
            invited_by: r.invited_by,
            created: r.created,
            expires: r.expires,
            last_sent: r.last_sent,
            accepted: r.accepted,
            account_id: r.account_id,
            revoked: r.revoked,
        }
    }
}

/// What became of one invitee.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationResult {
    pub email: String,
    /// invited, already_member, already_invited, or in_another_org (the address has an account
    /// of another org on this server, which cannot join this one).
    pub outcome: String,
    pub invitation: Option<InvitationView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationPage {
    pub invitations: Vec<InvitationView>,
    pub next_cursor: Option<String>,
}

/// A tenant user for the invitation picker, marked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantUserView {
    #[serde(flatten)]
    pub user: TenantUser,
    /// The address Roster would invite: `mail`, else `userPrincipalName`.
    pub email: Option<String>,
    /// An account of the org has this address (or this Microsoft identity).
    pub member: bool,
    /// A pending invitation of the org is for this address.
    pub invited: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantUserPageView {
    pub users: Vec<TenantUserView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A pending invitation as its link shows it.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    pub row: InvitationRow,
    pub org_name: String,
}

pub(super) fn cursor_of(created: &str, id: &str) -> String {
    cursor::encode(&[created, id])
}

pub(super) fn parse_cursor(c: &str) -> Office365Result<(String, String)> {
    cursor::decode(c, 2)
        .map(|mut p| (std::mem::take(&mut p[0]), std::mem::take(&mut p[1])))
        .ok_or_else(|| Office365Error::Invalid("the cursor is not one Roster gave".into()))
}

/// Creates the account of a person joining `org_id` with `email` (a member of the org's
/// directory when a SCIM user of the org has that address), and records the terms.
#[allow(clippy::too_many_arguments)]
pub(super) fn join_org(
    c: &mut AnyConnection,
    org_id: &str,
    email: &str,
    display_name: Option<String>,
    role: &str,
    profile_id: Option<String>,
    password_hash: String,
    accepted_terms: Option<&str>,
) -> Office365Result<AccountRow> {
    let user_id = store::directory_user_with_email(c, org_id, &fold_case(email))?;
    let new = NewAccount {
        email: email.to_owned(),
        password: String::new(),
        display_name,
        role: Some(role.to_owned()),
        profile_id,
        must_change_password: Some(false),
        user_id,
    };
    let account = insert_account(c, org_id, &new, password_hash)?;
    // Recorded only when the person accepted them on the page; otherwise they are asked at
    // their next sign-in.
    if let Some(version) = accepted_terms {
        ms_store::accept_terms(c, &account.id, version, &now())?;
    }
    Ok(account)
}

impl Office365Service {
    fn invitation_expiry(&self) -> String {
        format_datetime(chrono::Utc::now() + chrono::Duration::days(self.invitation_days as i64))
    }

    fn invitation_mail(
        &self,
        org: &str,
        inviter: &str,
        secret: &str,
        expires: &str,
    ) -> Office365Result<crate::mail::SealedBody> {
        let body = format!(
            "{inviter} invited you to join {org} on Roster.\n\n\
             Accept the invitation: {base}/invitations/{secret}\n\n\
             The link works once, until {expires}. If you did not expect this mail, ignore it.\n",
            base = self.public_base,
        );
        self.mailer
            .seal(&body)
            .map_err(|e| Office365Error::Invalid(e.to_string()))
    }

    pub(super) async fn org_name(&self, org_id: &str) -> Office365Result<String> {
        let org = org_id.to_owned();
        Ok(self
            .db
            .read(move |c| tenants::find_org(c, &org))
            .await?
            .map(|o| o.name)
            .unwrap_or_default())
    }

    /// Invites each invitee (POST /admin/v1/invitations): one transaction, one mail each. An
    /// address that has an account is skipped, one with a pending invitation too (resend it);
    /// an expired one is renewed.
    pub async fn invite(
        &self,
        actor: &Actor,
        new: NewInvitations,
    ) -> Office365Result<Vec<InvitationResult>> {
        actor.require("users.manage")?;
        crate::org::valid(&new)?;
        let role = new.role.clone().unwrap_or_else(|| "member".into());
        match role.as_str() {
            "member" => {}
            "admin" => actor.require("org.manage")?,
            _ => {
                return Err(Office365Error::Invalid(
                    "role must be member or admin".into(),
                ))
            }
        }
        if new.invitees.is_empty() || new.invitees.len() > 500 {
            return Err(Office365Error::Invalid(
                "invite 1 to 500 people at a time".into(),
            ));
        }
        let org_name = self.org_name(&actor.org_id).await?;
        let mut prepared = Vec::with_capacity(new.invitees.len());
        for i in &new.invitees {
            let email = i.email.trim().to_owned();
            if !crate::org::looks_like_email(&email) {
                return Err(Office365Error::Invalid(format!(
                    "'{email}' is not an email address"
                )));
            }
            let kind = i.kind.clone().unwrap_or_else(|| "plain".into());
            if !["plain", "microsoft"].contains(&kind.as_str()) {
                return Err(Office365Error::Invalid(
                    "kind must be plain or microsoft".into(),
                ));
            }
            let secret = generate_prefixed_token(INVITATION_PREFIX);
            let expires = self.invitation_expiry();
            let mail = self.invitation_mail(&org_name, &actor.email, &secret.secret, &expires)?;
            prepared.push((
                email,
                i.display_name.clone(),
                kind,
                secret.hash,
                expires,
                mail,
            ));
        }
        let (a, mailer, profile_id) = (actor.clone(), self.mailer.clone(), new.profile_id.clone());
        let subject = format!("You are invited to join {org_name} on Roster");
        let results = self
            .db
            .write(move |c| {
                // The accounts these invitations make get no permission the inviter lacks.
                crate::org::check_grantable_profile(c, &a, &role, profile_id.as_deref())?;
                let at = now();
                let mut results = Vec::new();
                for (email, name, kind, hash, expires, mail) in prepared {
                    let norm = email.to_lowercase();
                    if let Some(existing) = accounts_store::find_account_by_email(c, &norm)? {
                        // An account's address is unique on the server: one of another org
                        // cannot join this one, and is not said to be a member of it.
                        let outcome = match existing.org_id == a.org_id {
                            true => "already_member",
                            false => "in_another_org",
                        };
                        results.push(InvitationResult {
                            email,
                            outcome: outcome.into(),
                            invitation: None,
                        });
                        continue;
                    }
                    let row = match store::open_invitation(c, &a.org_id, &norm)? {
                        Some(open) if open.expires.as_str() > at.as_str() => {
                            let view = InvitationView::of(open, &at);
                            results.push(InvitationResult {
                                email,
                                outcome: "already_invited".into(),
                                invitation: Some(view),
                            });
                            continue;
                        }
                        Some(expired) => {
                            store::renew_invitation(c, &expired.id, &hash, &expires, &at)?;
                            store::find_invitation(c, &a.org_id, &expired.id)?
                                .ok_or(Office365Error::Expired)?
                        }
                        None => {
                            let row = InvitationRow {
                                id: uuid::Uuid::now_v7().to_string(),
                                org_id: a.org_id.clone(),
                                email: email.clone(),
                                email_norm: norm,
                                kind,
                                display_name: name,
                                role: role.clone(),
                                profile_id: profile_id.clone(),
                                token_hash: hash,
                                invited_by: Some(a.email.clone()),
                                created: at.clone(),
                                expires,
                                last_sent: at.clone(),
                                accepted: None,
                                account_id: None,
                                revoked: None,
                            };
                            store::insert_invitation(c, &row)?;
                            row
                        }
                    };
                    mailer.enqueue(c, &a.org_id, INVITATION_MAIL, &row.email, &subject, &mail)?;
                    audit(
                        c,
                        &a,
                        "invitation.created",
                        ("invitation", Some(&row.id)),
                        json!({"email": row.email, "kind": row.kind, "role": row.role}),
                    )?;
                    results.push(InvitationResult {
                        email,
                        outcome: "invited".into(),
                        invitation: Some(InvitationView::of(row, &at)),
                    });
                }
                Ok::<_, Office365Error>(results)
            })
            .await?;
        self.mailer.nudge();
        Ok(results)
    }

    /// A page of the org's invitations, newest first, with `status` (any when None).
    pub async fn invitations(
        &self,
        actor: &Actor,
        status: Option<String>,
        cursor: Option<String>,
        count: i64,
    ) -> Office365Result<InvitationPage> {
        actor.require("users.manage")?;
        if let Some(s) = &status {
            if !["pending", "accepted", "expired", "revoked"].contains(&s.as_str()) {
                return Err(Office365Error::Invalid(
                    "status is pending, accepted, expired or revoked".into(),
                ));
            }
        }
        let mut before = cursor.as_deref().map(parse_cursor).transpose()?;
        let limit = count.clamp(1, 500);
        let org = actor.org_id.clone();
        let at = now();
        let mut out = Vec::new();
        // Status depends on the clock, so it is filtered here, reading on until a page is full.
        loop {
            let (o, b) = (org.clone(), before.clone());
            let rows = self
                .db
                .read(move |c| {
                    store::list_invitations(
                        c,
                        &o,
                        b.as_ref().map(|(x, y)| (x.as_str(), y.as_str())),
                        limit,
                    )
                })
                .await?;
            let last = rows.last().map(|r| (r.created.clone(), r.id.clone()));
            let full = rows.len() as i64 == limit;
            for r in rows {
                if status.as_deref().is_none_or(|s| r.status(&at) == s)
                    && (out.len() as i64) < limit
                {
                    out.push(InvitationView::of(r, &at));
                }
            }
            before = last;
            if !full || out.len() as i64 == limit {
                let next_cursor = (full && out.len() as i64 == limit)
                    .then(|| out.last().map(|v| cursor_of(&v.created, &v.id)))
                    .flatten();
                return Ok(InvitationPage {
                    invitations: out,
                    next_cursor,
                });
            }
        }
    }

    /// Sends an open invitation again with a new link and expiry; the old link stops working.
    pub async fn resend(&self, actor: &Actor, id: &str) -> Office365Result<InvitationView> {
        actor.require("users.manage")?;
        let org_name = self.org_name(&actor.org_id).await?;
        let secret = generate_prefixed_token(INVITATION_PREFIX);
        let expires = self.invitation_expiry();
        let mail = self.invitation_mail(&org_name, &actor.email, &secret.secret, &expires)?;
        let (a, id, mailer) = (actor.clone(), id.to_owned(), self.mailer.clone());
        let subject = format!("You are invited to join {org_name} on Roster");
        let view = self
            .db
            .write(move |c| {
                let row = store::find_invitation(c, &a.org_id, &id)?
                    .ok_or(crate::org::OrgError::NotFound)?;
                let at = now();
                if !store::renew_invitation(c, &row.id, &secret.hash, &expires, &at)? {
                    return Err(Office365Error::Conflict(format!(
                        "this invitation is {}; invite again instead",
                        row.status(&at)
                    )));
                }
                mailer.enqueue(c, &a.org_id, INVITATION_MAIL, &row.email, &subject, &mail)?;
                audit(
                    c,
                    &a,
                    "invitation.resent",
                    ("invitation", Some(&row.id)),
                    json!({"email": row.email}),
                )?;
                let row = store::find_invitation(c, &a.org_id, &row.id)?
                    .ok_or(crate::org::OrgError::NotFound)?;
                Ok(InvitationView::of(row, &at))
            })
            .await?;
        self.mailer.nudge();
        Ok(view)
    }

    /// Revokes an open invitation: its link stops working.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Office365Result<InvitationView> {
        actor.require("users.manage")?;
        let (a, id) = (actor.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let row = store::find_invitation(c, &a.org_id, &id)?
                    .ok_or(crate::org::OrgError::NotFound)?;
                let at = now();
                if !store::revoke_invitation(c, &row.id, &at)? {
                    return Err(Office365Error::Conflict(format!(
                        "this invitation is {} already",
                        row.status(&at)
                    )));
                }
                audit(
                    c,
                    &a,
                    "invitation.revoked",
                    ("invitation", Some(&row.id)),
                    json!({"email": row.email}),
                )?;
                let row = store::find_invitation(c, &a.org_id, &row.id)?
                    .ok_or(crate::org::OrgError::NotFound)?;
                Ok(InvitationView::of(row, &at))
            })
            .await
    }

    /// One page of the tenant's users for the invitation picker (GET /admin/v1/microsoft/users):
    /// one Graph page per call, marked member or invited; the cursor carries Graph's next link.
    pub async fn tenant_users(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
    ) -> Office365Result<TenantUserPageView> {
        actor.require("users.manage")?;
        let ms = self.microsoft()?.clone();
        let org = actor.org_id.clone();
        let integration = self
            .db
            .read(move |c| ms_store::integration_of_org(c, &org))
            .await?
            .filter(|i| i.enabled)
            .ok_or_else(|| {
                Office365Error::Invalid("Microsoft 365 is not enabled for this organization".into())
            })?;
        let next_link = cursor
            .map(|c| {
                cursor::decode(c, 1)
                    .and_then(|mut p| p.pop())
                    // A cursor is a Graph next link Roster gave; anything else is the client's
                    // mistake (400), never a request to another host.
                    .filter(|link| ms.graph.is_own_link(link))
                    .ok_or_else(|| {
                        Office365Error::Invalid("the cursor is not one Roster gave".into())
                    })
            })
            .transpose()?;
        let token = ms.platform.app_token(&integration.tenant_id).await.map_err(|e| match e {
            MicrosoftError::Refused { code, message, .. } => Office365Error::Forbidden(format!(
                "Microsoft refused an app-only token for the tenant ({code}: {message}); an admin of the tenant grants admin consent from the account page"
            )),
            other => other.into(),
        })?;
        let page = ms.graph.users_page(&token, next_link.as_deref()).await.map_err(|e| match e {
            MicrosoftError::Refused { status: 401 | 403, code, message } => Office365Error::Forbidden(format!(
                "Microsoft Graph refused to list the tenant's users ({code}: {message}); grant admin consent for User.Read.All"
            )),
            other => other.into(),
        })?;
        let emails: Vec<String> = page
            .users
            .iter()
            .filter_map(|u| u.mail.as_ref().or(u.user_principal_name.as_ref()))
            .map(|e| e.to_lowercase())
            .collect();
        let (org, tenant, at) = (actor.org_id.clone(), integration.tenant_id.clone(), now());
        let ids: Vec<String> = page.users.iter().map(|u| u.id.clone()).collect();
        let (members, invited) = self
            .db
            .read(move |c| {
                let mut members = accounts_store::emails_in_org(c, &org, &emails)?;
                members.extend(ms_store::linked_objects(c, &tenant, &ids, &org)?);
                Ok::<_, Office365Error>((members, store::invited_among(c, &org, &emails, &at)?))
            })
            .await?;
        let users = page
            .users
            .into_iter()
            .map(|u| {
                let email = u.mail.clone().or(u.user_principal_name.clone());
                let norm = email.as_deref().map(str::to_lowercase).unwrap_or_default();
                TenantUserView {
                    member: members.contains(&norm) || members.contains(&u.id),
                    invited: invited.contains(&norm),
                    email,
                    user: u,
                }
            })
            .collect();
        Ok(TenantUserPageView {
            users,
            next_cursor: page.next_link.map(|l| cursor::encode(&[&l])),
        })
    }

    /// The pending invitation a link's secret names, or why it cannot be used.
    pub async fn open_invitation(&self, secret: &str) -> Office365Result<OpenInvitation> {
        let hash = hash_token(secret);
        let row = self
            .db
            .read(move |c| store::invitation_by_token(c, &hash))
            .await?
            .ok_or_else(|| {
                Office365Error::Gone(
                    "this invitation link is not valid; ask for a new invitation".into(),
                )
            })?;
        match row.status(&now()) {
            "pending" => {}
            "accepted" => return Err(Office365Error::Gone("this invitation was already used; sign in instead".into())),
            "revoked" => return Err(Office365Error::Gone("this invitation was revoked".into())),
            _ => return Err(Office365Error::Gone("this invitation has expired; ask an administrator of the organization to send it again".into())),
        }
        let org_name = self.org_name(&row.org_id).await?;
        Ok(OpenInvitation { row, org_name })
    }

    /// Joins with a new password (an invitation of any kind may be accepted this way only when
    /// it is `plain`): the account, the terms, the invitation used, and a session.
    pub async fn accept_with_password(
        &self,
        secret: &str,
        password: &str,
        accepted_terms: bool,
    ) -> Office365Result<crate::org::IssuedSession> {
        if !accepted_terms {
            return Err(Office365Error::Invalid(
                "accept the terms of service to continue".into(),
            ));
        }
        let inv = self.open_invitation(secret).await?.row;
        if inv.kind != "plain" {
            return Err(Office365Error::Invalid(
                "this invitation is for a Microsoft 365 account: join with Microsoft".into(),
            ));
        }
        let hash = crate::org::hashed(password.to_owned()).await?;
        let version = self.terms.version.clone();
        let account = self
            .db
            .write(move |c| {
                let account = join_org(
                    c,
                    &inv.org_id,
                    &inv.email,
                    inv.display_name.clone(),
                    &inv.role,
                    inv.profile_id.clone(),
                    hash,
                    Some(&version),
                )?;
                use_invitation(c, &inv, &account)?;
                Ok::<_, Office365Error>(account)
            })
            .await?;
        self.session_for(account, "invitation").await
    }

    /// Accepts an invitation with an existing account of the invitation's org, proven by its
    /// password ("associate my account").
    pub async fn accept_with_account(
        &self,
        secret: &str,
        email: &str,
        password: &str,
        accepted_terms: bool,
    ) -> Office365Result<crate::org::IssuedSession> {
        if !accepted_terms {
            return Err(Office365Error::Invalid(
                "accept the terms of service to continue".into(),
            ));
        }
        let inv = self.open_invitation(secret).await?.row;
        let (_, account) = self.org.check_credentials(email, password, None).await?;
        let version = self.terms.version.clone();
        let linked = account.clone();
        self.db
            .write(move |c| {
                ms_store::accept_terms(c, &linked.id, &version, &now())?;
                use_invitation(c, &inv, &linked)
            })
            .await?;
        self.session_for(account, "invitation+password").await
    }

    pub(super) async fn session_for(
        &self,
        account: AccountRow,
        how: &str,
    ) -> Office365Result<crate::org::IssuedSession> {
        Ok(self
            .org
            .open_session(account, "browser", None, json!({"method": how}), None)
            .await?)
    }
}

/// Marks the invitation used by `account` (of its org), once; audited as the account.
pub(super) fn use_invitation(
    c: &mut AnyConnection,
    inv: &InvitationRow,
    account: &AccountRow,
) -> Office365Result<()> {
    if account.org_id != inv.org_id {
        return Err(Office365Error::Forbidden(
            "that account belongs to another organization; an account can be in one organization only".into(),
        ));
    }
    if !store::accept_invitation(c, &inv.id, &account.id, &now())? {
        return Err(Office365Error::Gone(
            "this invitation was already used, revoked or has expired".into(),
        ));
    }
    let detail = json!({"email": inv.email, "account": account.email});
    let target = ("invitation", Some(inv.id.as_str()));
    accounts_store::insert_audit(
        c,
        &crate::org::own_audit_entry(account, "invitation.accepted", target, detail),
    )?;
    Ok(())
}
