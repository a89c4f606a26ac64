//! The browser flows of signing in with Microsoft: begin, the callback, then installing (a new
//! org and owner, after the terms) or associating an existing account; and the admin consent
//! round trip. A flow is a row bound to the browser that began it and used once.

use serde_json::{json, Value};

use super::invitations::{join_org, use_invitation};
use super::{Offer, Office365Error, Office365Result, Office365Service, Pending, SIGN_IN_LIFETIME};
use crate::connectors::microsoft::{AuthorizeRequest, SignedIn, MAILBOX_SCOPES};
use crate::org::{
    insert_account, own_audit_entry, permissions_of, Actor, IssuedSession, NewAccount,
};
use crate::provisioning::now;
use crate::provisioning::tenancy::create_org;
use crate::scim::resource::format_datetime;
use crate::security::{generate_prefixed_token, hash_token};
use crate::storage::accounts::{self as accounts_store, AccountRow, NewAuditRow};
use crate::storage::invitations as invitation_store;
use crate::storage::microsoft::{self as store, IdentityRow, IntegrationRow, SignInRow};
use crate::storage::tenants;
use crate::storage::AnyConnection;

/// Prefix of the cookie that binds a sign-in to its browser.
const FLOW_PREFIX: &str = "roster_flow_";

/// A sign-in as begun: the cookie to set and where to send the browser.
pub struct Started {
    pub cookie: String,
    pub redirect: String,
}

/// Where a verified callback leads.
pub enum CallbackOutcome {
    /// A linked identity (or one just linked by its verified email): a session is open; the
    /// browser goes on to `next` (a path on this server) when the sign-in was begun with one.
    SignedIn {
        session: IssuedSession,
        org: String,
        next: Option<String>,
    },
    /// A user authorized Roster for their own mailbox.
    MailboxConnected { email: String },
    /// An invitation for this identity's address: the person accepts the terms to join.
    JoinInvitation { org: String, email: String },
    /// No account yet: the person accepts the terms to create an org and its owner.
    Install {
        identity: crate::connectors::microsoft::VerifiedIdentity,
        tenant_admin: bool,
        suggested_org: String,
    },
    /// An account with the identity's email exists but the tenant has not verified that
    /// email's domain: its password proves the person holds it.
    ProveAccount { email: String },
    /// The tenant is linked to an org already: the person needs an invitation (or a join
    /// request); they may associate an existing account of that org.
    TenantHasOrg { org: String },
    /// The tenant's org turned its Microsoft 365 integration off: no one signs up through it.
    SignUpOff { org: String },
    /// Microsoft did not verify the identity's email: the person proves it with a link Roster
    /// mails to it before an account is made with it.
    VerifyEmail { email: String, mail_sent: bool },
}

/// Where a callback's routing leads: a linked account, a page to show (and the offer it makes),
/// or a final page.
enum Routed {
    Linked(AccountRow),
    Wait(Offer, CallbackOutcome),
    Done(CallbackOutcome),
}

/// A new person of no org's tenant: the install page when their email is theirs, else the
/// email proof first.
fn install_or_proof(pending: &mut Pending) -> Routed {
    let email = pending.identity.email.clone().unwrap_or_default();
    if pending.email_verified() {
        let suggested_org = email_domain(&email).unwrap_or("My organization").to_owned();
        return Routed::Wait(
            Offer::Install,
            CallbackOutcome::Install {
                identity: pending.identity.clone(),
                tenant_admin: pending.tenant_admin,
                suggested_org,
            },
        );
    }
    pending.after_proof = Offer::Install;
    Routed::Wait(
        Offer::VerifyEmail,
        CallbackOutcome::VerifyEmail {
            email,
            mail_sent: false,
        },
    )
}

/// The return from an admin consent.
pub struct ConsentOutcome {
    pub granted: bool,
    pub tenant: Option<String>,
    pub error: Option<String>,
}

fn expires_at() -> String {
    format_datetime(
        chrono::Utc::now() + chrono::Duration::from_std(SIGN_IN_LIFETIME).unwrap_or_default(),
    )
}

fn email_domain(email: &str) -> Option<&str> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// An audit entry of something an account did to itself through Microsoft sign-in.
fn self_entry(account: &AccountRow, action: &str, detail: Value) -> NewAuditRow {
    own_audit_entry(account, action, ("account", Some(&account.id)), detail)
}

fn identity_row(p: &Pending, account_id: &str) -> IdentityRow {
    let at = now();
    IdentityRow {
        tenant_id: p.identity.tenant_id.clone(),
        object_id: p.identity.object_id.clone(),
        account_id: account_id.to_owned(),
        email: p.identity.email.clone(),
        name: p.identity.name.clone(),
        tenant_admin: p.tenant_admin,
        linked: at.clone(),
        last_sign_in: at,
    }
}

/// Links the identity (tenant, object) of an approved join request to its new account.
pub(super) fn link_identity(
    conn: &mut AnyConnection,
    tenant_id: &str,
    object_id: &str,
    account: &AccountRow,
    name: Option<String>,
) -> Office365Result<()> {
    let identity = crate::connectors::microsoft::VerifiedIdentity {
        tenant_id: tenant_id.to_owned(),
        object_id: object_id.to_owned(),
        email: Some(account.email.clone()),
        email_domain_verified: false,
        name,
        roles: None,
    };
    let p = Pending::new(identity, false);
    link(conn, &p, account, false).map(|_| ())
}

/// Links `p` to `account` and, when the person is an admin of the tenant and the account may
/// manage its org, enables the org's integration with the tenant (the install of O365-1/3).
fn link(
    conn: &mut AnyConnection,
    p: &Pending,
    account: &AccountRow,
    manages: bool,
) -> Office365Result<bool> {
    store::insert_identity(conn, &identity_row(p, &account.id)).map_err(|e| match e {
        crate::storage::StorageError::Unique(_) => Office365Error::Conflict(
            "this Microsoft account or this Roster account is linked already".into(),
        ),
        other => other.into(),
    })?;
    let detail = json!({"tenant_id": p.identity.tenant_id, "object_id": p.identity.object_id});
    accounts_store::insert_audit(
        conn,
        &self_entry(account, "account.microsoft_linked", detail),
    )?;
    let tenant = &p.identity.tenant_id;
    let free = match store::integration_of_tenant(conn, tenant)? {
        None => true,
        Some(i) => i.org_id == account.org_id && !i.enabled,
    };
    let ours = store::integration_of_org(conn, &account.org_id)?;
    let enable = p.tenant_admin && manages && free && !ours.is_some_and(|i| i.enabled);
    if enable {
        store::enable_integration(
            conn,
            &IntegrationRow {
                org_id: account.org_id.clone(),
                tenant_id: tenant.clone(),
                enabled: true,
                enabled_by: Some(account.id.clone()),
                enabled_at: now(),
                disabled_at: None,
                consent: "none".into(),
                consent_at: None,
                consent_error: None,
            },
        )?;
        accounts_store::insert_audit(
            conn,
            &self_entry(account, "microsoft.enabled", json!({"tenant_id": tenant})),
        )?;
    }
    Ok(enable)
}

impl Office365Service {
    /// Begins a browser's sign-in with Microsoft for `purpose` (sign_in or install); a signed-in
    /// person goes on to `next` (a path on this server) afterwards.
    pub async fn begin(
        &self,
        purpose: &str,
        login_hint: Option<String>,
        next: Option<String>,
    ) -> Office365Result<Started> {
        let next = next.as_deref().and_then(crate::security::local_redirect);
        self.begin_with(purpose, json!({ "next": next }), login_hint)
            .await
    }

    /// Begins a sign-in that accepts the invitation whose link holds `secret`. The link's token
    /// is kept with the sign-in: a resent (new link) or revoked invitation ends it.
    pub async fn begin_for_invitation(&self, secret: &str) -> Office365Result<Started> {
        let inv = self.open_invitation(secret).await?.row;
        let context =
            json!({"invitation_id": inv.id, "org_id": inv.org_id, "token_hash": inv.token_hash});
        self.begin_with("invitation", context, Some(inv.email))
            .await
    }

    pub(super) async fn begin_with(
        &self,
        purpose: &str,
        context: Value,
        login_hint: Option<String>,
    ) -> Office365Result<Started> {
        let ms = self.microsoft()?;
        let extra_scopes = match purpose {
            "mailbox" => MAILBOX_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            _ => Vec::new(),
        };
        let start = ms
            .platform
            .start(&AuthorizeRequest {
                login_hint,
                extra_scopes,
            })
            .await?;
        let cookie = generate_prefixed_token(FLOW_PREFIX);
        let row = SignInRow {
            id: cookie.hash,
            state_hash: Some(hash_token(&start.state)),
            purpose: purpose.to_owned(),
            context: context.to_string(),
            nonce: start.nonce,
            pkce_verifier: self
                .secrets
                .seal(start.pkce_verifier.as_bytes())
                .map_err(|e| Office365Error::Invalid(e.to_string()))?,
            identity: None,
            created: now(),
            expires: expires_at(),
        };
        self.db
            .write(move |c| store::insert_sign_in(c, &row))
            .await?;
        Ok(Started {
            cookie: cookie.secret,
            redirect: start.url,
        })
    }

    /// The callback of a sign-in: checks that this browser began it with this `state`, redeems
    /// the code, verifies the ID token, and says where the person goes next.
    pub async fn callback(
        &self,
        cookie: &str,
        state: &str,
        code: &str,
    ) -> Office365Result<CallbackOutcome> {
        let ms = self.microsoft()?.clone();
        let flow = self.take(cookie, state).await?;
        if flow.purpose == "consent" {
            return Err(Office365Error::Expired);
        }
        let verifier = self
            .secrets
            .open(&flow.pkce_verifier)
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or(Office365Error::Expired)?;
        let signed = ms.platform.finish(code, &verifier, &flow.nonce).await?;
        if signed.identity.is_personal_account() {
            self.forget(&flow.id).await;
            return Err(Office365Error::PersonalAccount);
        }
        if flow.purpose == "mailbox" {
            let p = Pending::new(signed.identity.clone(), false);
            let email = self
                .finish_mailbox(&flow.id, &flow.context, p, signed)
                .await?;
            return Ok(CallbackOutcome::MailboxConnected { email });
        }
        let SignedIn {
            identity,
            access_token,
            ..
        } = signed;
        let tenant_admin = match &identity.roles {
            Some(wids) => wids
                .iter()
                .any(|w| crate::connectors::microsoft::ADMIN_ROLE_TEMPLATES.contains(&w.as_str())),
            None => ms
                .graph
                .my_directory_roles(&access_token)
                .await?
                .includes_admin(),
        };
        let pending = Pending::new(identity, tenant_admin);
        let next = next_of(&flow);
        match self.route(flow, pending).await? {
            CallbackOutcome::SignedIn { session, org, .. } => {
                Ok(CallbackOutcome::SignedIn { session, org, next })
            }
            other => Ok(other),
        }
    }

    /// Takes this browser's sign-in named by `state`, once.
    async fn take(&self, cookie: &str, state: &str) -> Office365Result<SignInRow> {
        let (id, state_hash, at) = (hash_token(cookie), hash_token(state), now());
        self.db
            .write(move |c| store::take_by_state(c, &id, &state_hash, &at))
            .await?
            .ok_or(Office365Error::Expired)
    }

    /// Microsoft answered with an error instead of a code or a consent: the flow `state` names
    /// is used up; a consent flow records the refusal (and says so), a sign-in is dropped.
    pub async fn callback_error(
        &self,
        cookie: &str,
        state: &str,
        error: String,
    ) -> Option<ConsentOutcome> {
        let flow = self.take(cookie, state).await.ok()?;
        if flow.purpose == "consent" {
            return self
                .finish_consent(flow, false, None, Some(error))
                .await
                .ok();
        }
        self.forget(&flow.id).await;
        None
    }

    async fn forget(&self, id: &str) {
        let id = id.to_owned();
        if let Err(e) = self.db.write(move |c| store::delete_sign_in(c, &id)).await {
            tracing::warn!(error = %e, "could not drop a finished Microsoft sign-in");
        }
    }

    /// Signs a linked identity in, links one whose email the tenant verified to the account
    /// with that email, or keeps the identity on the flow for the page that follows, recording
    /// which page that is.
    async fn route(&self, flow: SignInRow, p: Pending) -> Office365Result<CallbackOutcome> {
        if let Some(invitation) = invitation_of(&flow) {
            return self.route_invitation(flow, p, invitation).await;
        }
        let (flow_id, mut pending) = (flow.id.clone(), p);
        let next = self
            .db
            .write(move |c| {
                let id = &pending.identity;
                if let Some(found) = store::find_identity(c, &id.tenant_id, &id.object_id)? {
                    let mut touched = identity_row(&pending, &found.account_id);
                    touched.linked = found.linked;
                    store::touch_identity(c, &touched)?;
                    store::delete_sign_in(c, &flow_id)?;
                    let account = accounts_store::find_account_by_id(c, &found.account_id)?;
                    return Ok::<_, Office365Error>(Routed::Linked(
                        account.ok_or(Office365Error::Expired)?,
                    ));
                }
                let email_norm = id.email.as_deref().map(|e| e.trim().to_lowercase());
                let by_email = match &email_norm {
                    Some(email) => accounts_store::find_account_by_email(c, email)?,
                    None => None,
                };
                // The tenant's verified domain makes the email proof enough to link (`xms_edov`);
                // otherwise email is only a hint ("nOAuth").
                if let Some(account) = by_email.clone().filter(|_| id.email_domain_verified) {
                    if store::identity_of_account(c, &account.id)?.is_none() {
                        let manages = self_manages(c, &account)?;
                        link(c, &pending, &account, manages)?;
                        store::delete_sign_in(c, &flow_id)?;
                        return Ok(Routed::Linked(account));
                    }
                }
                let routed = match (by_email, store::integration_of_tenant(c, &id.tenant_id)?) {
                    (Some(account), _) => Routed::Wait(
                        Offer::Prove,
                        CallbackOutcome::ProveAccount {
                            email: account.email,
                        },
                    ),
                    (None, Some(i)) if i.enabled => {
                        let org = tenants::find_org(c, &i.org_id)?
                            .map(|o| o.name)
                            .unwrap_or_default();
                        // An invited person who signs in without the mail's link is offered the
                        // invitation, not a join request: the tenant is the org's own.
                        let invited = match &email_norm {
                            Some(e) => invitation_store::open_invitation(c, &i.org_id, e)?
                                .filter(|inv| inv.status(&now()) == "pending"),
                            None => None,
                        };
                        match invited {
                            Some(inv) => {
                                pending.invitation = Some((
                                    inv.org_id.clone(),
                                    inv.id.clone(),
                                    inv.token_hash.clone(),
                                ));
                                Routed::Wait(
                                    Offer::Invitation,
                                    CallbackOutcome::JoinInvitation {
                                        org,
                                        email: inv.email,
                                    },
                                )
                            }
                            None => Routed::Wait(
                                Offer::JoinRequest,
                                CallbackOutcome::TenantHasOrg { org },
                            ),
                        }
                    }
                    (None, Some(i)) => {
                        store::delete_sign_in(c, &flow_id)?;
                        let org = tenants::find_org(c, &i.org_id)?
                            .map(|o| o.name)
                            .unwrap_or_default();
                        return Ok(Routed::Done(CallbackOutcome::SignUpOff { org }));
                    }
                    (None, None) => install_or_proof(&mut pending),
                };
                offered(c, &flow_id, pending, routed)
            })
            .await?;
        match next {
            Routed::Linked(account) => self.signed_in(account, "microsoft").await,
            Routed::Wait(_, outcome) | Routed::Done(outcome) => Ok(outcome),
        }
    }

    /// A sign-in that accepts an invitation: a linked identity accepts it with its account (of
    /// that org, with the invited address only); an unlinked one must carry the invited address
    /// and be the person it names (the org's tenant, a verified email, or a mailed proof), then
    /// joins on the next page. A link that was resent or revoked since the sign-in began ends it.
    async fn route_invitation(
        &self,
        flow: SignInRow,
        p: Pending,
        (org_id, invitation_id): (String, String),
    ) -> Office365Result<CallbackOutcome> {
        let token_hash = invitation_token_of(&flow);
        let (flow_id, mut pending) = (flow.id.clone(), p);
        let routed = self
            .db
            .write(move |c| {
                let inv = current_invitation(c, &org_id, &invitation_id, token_hash.as_deref())?;
                let id = &pending.identity;
                if let Some(found) = store::find_identity(c, &id.tenant_id, &id.object_id)? {
                    let account = accounts_store::find_account_by_id(c, &found.account_id)?
                        .ok_or(Office365Error::Expired)?;
                    check_invited_account(&inv, &account)?;
                    use_invitation(c, &inv, &account)?;
                    store::delete_sign_in(c, &flow_id)?;
                    return Ok::<_, Office365Error>(Routed::Linked(account));
                }
                let matches = id
                    .email
                    .as_deref()
                    .is_some_and(|e| e.trim().to_lowercase() == inv.email_norm);
                if !matches {
                    return Err(Office365Error::Forbidden(format!(
                        "you signed in with Microsoft as {}, but this invitation is for {}; sign in with that account, or associate an existing account instead",
                        id.email.as_deref().unwrap_or("an account without an email"),
                        inv.email
                    )));
                }
                pending.invitation = Some((inv.org_id.clone(), inv.id.clone(), inv.token_hash.clone()));
                let org = tenants::find_org(c, &inv.org_id)?.map(|o| o.name).unwrap_or_default();
                let routed = if invitee_is_verified(c, &pending, &inv)? {
                    Routed::Wait(
                        Offer::Invitation,
                        CallbackOutcome::JoinInvitation { org, email: inv.email },
                    )
                } else {
                    pending.after_proof = Offer::Invitation;
                    Routed::Wait(
                        Offer::VerifyEmail,
                        CallbackOutcome::VerifyEmail { email: inv.email, mail_sent: false },
                    )
                };
                offered(c, &flow_id, pending, routed)
            })
            .await?;
        match routed {
            Routed::Linked(account) => self.signed_in(account, "microsoft+invitation").await,
            Routed::Wait(_, outcome) | Routed::Done(outcome) => Ok(outcome),
        }
    }

    /// Joins the org of the invitation this browser's sign-in carries: the member account
    /// (the invited address), linked to the identity, the terms, the invitation used.
    pub async fn join_invitation(
        &self,
        cookie: &str,
        accepted_terms: bool,
    ) -> Office365Result<CallbackOutcome> {
        if !accepted_terms {
            return Err(Office365Error::Invalid(
                "accept the terms of service to continue".into(),
            ));
        }
        let (flow, p) = self.pending(cookie).await?;
        if p.offer != Offer::Invitation {
            return Err(not_this_page());
        }
        let (org_id, invitation_id, token_hash) =
            p.invitation.clone().ok_or(Office365Error::Expired)?;
        let version = self.terms.version.clone();
        let flow_id = flow.id;
        let account = self
            .db
            .write(move |c| {
                if !store::delete_sign_in(c, &flow_id)? {
                    return Err(Office365Error::Expired);
                }
                let inv = current_invitation(c, &org_id, &invitation_id, Some(&token_hash))?;
                if !invitee_is_verified(c, &p, &inv)? {
                    return Err(not_this_page());
                }
                let name = inv.display_name.clone().or(p.identity.name.clone());
                let account = join_org(
                    c,
                    &org_id,
                    &inv.email,
                    name,
                    &inv.role,
                    inv.profile_id.clone(),
                    String::new(),
                    Some(&version),
                )?;
                use_invitation(c, &inv, &account)?;
                link(c, &p, &account, false)?;
                Ok(account)
            })
            .await?;
        self.signed_in(account, "microsoft+invitation").await
    }

    /// Opens a session for an account that just proved who it is, when it may act.
    async fn signed_in(&self, account: AccountRow, how: &str) -> Office365Result<CallbackOutcome> {
        let org_id = account.org_id.clone();
        let usable = self.org.account_may_act(&account).await?;
        if !usable {
            return Err(Office365Error::Forbidden(
                "this account is disabled; an administrator of your organization can enable it"
                    .into(),
            ));
        }
        let session = self
            .org
            .open_session(account, "browser", None, json!({"method": how}), None)
            .await?;
        let org = self
            .db
            .read(move |c| tenants::find_org(c, &org_id))
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        Ok(CallbackOutcome::SignedIn {
            session,
            org,
            next: None,
        })
    }

    /// The verified identity this browser's sign-in holds, waiting for a page.
    pub(super) async fn pending(&self, cookie: &str) -> Office365Result<(SignInRow, Pending)> {
        let (id, at) = (hash_token(cookie), now());
        let row = self
            .db
            .read(move |c| store::find_sign_in(c, &id, &at))
            .await?
            .ok_or(Office365Error::Expired)?;
        let pending = row
            .identity
            .as_deref()
            .and_then(|j| serde_json::from_str::<Pending>(j).ok())
            .ok_or(Office365Error::Expired)?;
        Ok((row, pending))
    }

    /// Install (O365-1): the person accepted the terms; a new org named `org_name` and its
    /// owner account (the identity's email) are created, linked to the identity, and, for a
    /// tenant admin, the org's integration with the tenant is enabled. One transaction.
    pub async fn install(
        &self,
        cookie: &str,
        org_name: &str,
        accepted_terms: bool,
    ) -> Office365Result<CallbackOutcome> {
        if !accepted_terms {
            return Err(Office365Error::Invalid(
                "accept the terms of service to continue".into(),
            ));
        }
        let name = org_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Office365Error::Invalid(
                "the organization needs a name of 1 to 200 characters".into(),
            ));
        }
        let (flow, p) = self.pending(cookie).await?;
        // Only the page that offered an install installs: not the join-request page, whose
        // form carries the same sign-in's CSRF token.
        if p.offer != Offer::Install || !p.email_verified() {
            return Err(not_this_page());
        }
        let flow_id = flow.id;
        let email = p
            .identity
            .email
            .clone()
            .ok_or_else(|| Office365Error::Invalid("Microsoft sent no email address for your account; an organization cannot be created with it".into()))?;
        let version = self.terms.version.clone();
        let account = self
            .db
            .write(move |c| {
                if !store::delete_sign_in(c, &flow_id)? {
                    return Err(Office365Error::Expired);
                }
                if tenants::find_org(c, &name)?.is_some() {
                    return Err(Office365Error::Conflict(format!(
                        "an organization named '{name}' exists; choose another name"
                    )));
                }
                // What the page was built on must still hold.
                if store::integration_of_tenant(c, &p.identity.tenant_id)?.is_some() {
                    return Err(not_this_page());
                }
                let org = create_org(c, &name)?;
                let new = NewAccount {
                    email: email.clone(),
                    password: String::new(),
                    display_name: p.identity.name.clone(),
                    role: Some("owner".into()),
                    profile_id: None,
                    must_change_password: Some(false),
                    user_id: None,
                };
                // No password: the owner signs in with Microsoft until they set one.
                let account = insert_account(c, &org.id, &new, String::new())?;
                accounts_store::insert_audit(
                    c,
                    &self_entry(
                        &account,
                        "org.installed",
                        json!({"org": org.name, "via": "microsoft"}),
                    ),
                )?;
                store::accept_terms(c, &account.id, &version, &now())?;
                link(c, &p, &account, true)?;
                Ok(account)
            })
            .await?;
        self.signed_in(account, "microsoft").await
    }

    /// Associate my account (O365-2): the person proves an existing account with its password,
    /// and the identity is linked to it.
    pub async fn associate(
        &self,
        cookie: &str,
        email: &str,
        password: &str,
    ) -> Office365Result<CallbackOutcome> {
        let (flow, p) = self.pending(cookie).await?;
        if !p.offer.offers_associate() {
            return Err(not_this_page());
        }
        let flow_id = flow.id.clone();
        let (actor, account) = self.org.check_credentials(email, password, None).await?;
        let manages = actor.allows("org.manage");
        let linked = account.clone();
        self.db
            .write(move |c| {
                if !store::delete_sign_in(c, &flow_id)? {
                    return Err(Office365Error::Expired);
                }
                if let Some(org) = tenant_org_of_other(c, &p.identity.tenant_id, &linked.org_id)? {
                    return Err(Office365Error::Forbidden(format!(
                        "your Microsoft 365 organization uses Roster as '{org}'; an account of another organization cannot be associated with it"
                    )));
                }
                // An invitation is used only by the account of the address it invited; anyone
                // else's account associates without using it up.
                if let Some((org, id, token)) = &p.invitation {
                    let inv = current_invitation(c, org, id, Some(token))?;
                    if inv.email_norm == linked.email_norm {
                        use_invitation(c, &inv, &linked)?;
                    }
                }
                link(c, &p, &linked, manages)
            })
            .await?;
        self.signed_in(account, "microsoft+password").await
    }

    /// Mails a single-use link to the email this browser's sign-in claims, so the person proves
    /// the address is theirs (Microsoft did not verify it). The link works in this browser
    /// while the sign-in lasts.
    pub async fn send_email_proof(&self, cookie: &str) -> Office365Result<CallbackOutcome> {
        let (flow, mut p) = self.pending(cookie).await?;
        if p.offer != Offer::VerifyEmail {
            return Err(not_this_page());
        }
        let email = p.identity.email.clone().ok_or(Office365Error::Expired)?;
        let secret = generate_prefixed_token("roster_proof_");
        p.email_proof = Some(secret.hash.clone());
        let flow_id = flow.id;
        self.db
            .write(move |c| keep_pending(c, &flow_id, &p))
            .await?;
        let link = format!(
            "{}/auth/microsoft/verify-email?token={}",
            self.public_base, secret.secret
        );
        let body = format!(
            "Someone, probably you, signed in to Roster with Microsoft as {email}.\n\n\
             Open this link in the same browser within 30 minutes to confirm the address is yours:\n{link}\n\n\
             If it was not you, ignore this mail: nothing is created without it.\n"
        );
        self.mailer
            .send_now(&email, "Confirm your email address for Roster", &body)
            .await
            .map_err(|e| Office365Error::Conflict(format!("Roster could not mail {email}: {e}")))?;
        Ok(CallbackOutcome::VerifyEmail {
            email,
            mail_sent: true,
        })
    }

    /// The mailed link: proves the email of this browser's sign-in, then goes on to what the
    /// sign-in was for (installing, or joining through an invitation).
    pub async fn prove_email(&self, cookie: &str, token: &str) -> Office365Result<CallbackOutcome> {
        let (flow, mut p) = self.pending(cookie).await?;
        let proved = p
            .email_proof
            .as_deref()
            .is_some_and(|h| crate::security::constant_time_eq(h, &hash_token(token)));
        if p.offer != Offer::VerifyEmail || !proved {
            return Err(Office365Error::Gone(
                "this link does not belong to this browser's sign-in, or was used; sign in with Microsoft again".into(),
            ));
        }
        p.email_proved = true;
        p.email_proof = None;
        p.offer = p.after_proof;
        let outcome = match p.offer {
            Offer::Invitation => {
                let (org_id, _, _) = p.invitation.clone().ok_or(Office365Error::Expired)?;
                CallbackOutcome::JoinInvitation {
                    org: self.org_name(&org_id).await?,
                    email: p.identity.email.clone().unwrap_or_default(),
                }
            }
            _ => match install_or_proof(&mut p) {
                Routed::Wait(_, outcome) => outcome,
                _ => return Err(Office365Error::Expired),
            },
        };
        let flow_id = flow.id;
        self.db
            .write(move |c| keep_pending(c, &flow_id, &p))
            .await?;
        Ok(outcome)
    }

    /// Sends an org admin to Microsoft's admin consent for the org's tenant.
    pub async fn consent_start(&self, actor: &Actor) -> Office365Result<Started> {
        actor.require("org.manage")?;
        let ms = self.microsoft()?;
        let org = actor.org_id.clone();
        let integration = self
            .db
            .read(move |c| store::integration_of_org(c, &org))
            .await?
            .filter(|i| i.enabled)
            .ok_or_else(|| {
                Office365Error::Invalid("enable Microsoft 365 for this organization first".into())
            })?;
        let cookie = generate_prefixed_token(FLOW_PREFIX);
        let state = generate_prefixed_token("");
        let redirect = ms
            .platform
            .admin_consent_url(&integration.tenant_id, &state.secret)?;
        let row = SignInRow {
            id: cookie.hash,
            state_hash: Some(state.hash),
            purpose: "consent".into(),
            context: json!({"org_id": actor.org_id, "account_id": actor.account_id, "tenant_id": integration.tenant_id})
                .to_string(),
            nonce: String::new(),
            pkce_verifier: String::new(),
            identity: None,
            created: now(),
            expires: expires_at(),
        };
        self.db
            .write(move |c| store::insert_sign_in(c, &row))
            .await?;
        Ok(Started {
            cookie: cookie.secret,
            redirect,
        })
    }

    /// The return from the admin consent: `admin_consent=True` with the tenant, or an error.
    pub async fn consent_callback(
        &self,
        cookie: &str,
        state: &str,
        granted: bool,
        tenant: Option<&str>,
        error: Option<String>,
    ) -> Office365Result<ConsentOutcome> {
        let flow = self.take(cookie, state).await?;
        if flow.purpose != "consent" {
            return Err(Office365Error::Expired);
        }
        self.finish_consent(flow, granted, tenant, error).await
    }

    async fn finish_consent(
        &self,
        flow: SignInRow,
        granted: bool,
        tenant: Option<&str>,
        error: Option<String>,
    ) -> Office365Result<ConsentOutcome> {
        let ctx: Value = serde_json::from_str(&flow.context).unwrap_or_default();
        let field = |k: &str| {
            ctx.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (org_id, account_id, expected) =
            (field("org_id"), field("account_id"), field("tenant_id"));
        let wrong_tenant = granted && tenant.is_some_and(|t| t != expected);
        let error = match (granted, wrong_tenant, error) {
            (true, false, _) => None,
            (true, true, _) => Some("consent was granted for another tenant".to_owned()),
            (false, _, e) => Some(e.unwrap_or_else(|| "consent was not granted".into())),
        };
        let ok = error.is_none();
        let (err, flow_id) = (error.clone(), flow.id.clone());
        self.db
            .write(move |c| {
                store::delete_sign_in(c, &flow_id)?;
                store::record_consent(c, &org_id, &expected, ok, err.as_deref(), &now())?;
                if let Some(account) = accounts_store::find_account(c, &org_id, &account_id)? {
                    let detail = json!({"tenant_id": expected, "granted": ok, "error": err});
                    accounts_store::insert_audit(
                        c,
                        &self_entry(&account, "microsoft.admin_consent", detail),
                    )?;
                }
                Ok::<_, Office365Error>(())
            })
            .await?;
        Ok(ConsentOutcome {
            granted: ok,
            tenant: tenant.map(str::to_owned),
            error,
        })
    }
}

/// The (org, invitation) a sign-in accepts, when it was begun from an invitation link.
fn invitation_of(flow: &SignInRow) -> Option<(String, String)> {
    let ctx: Value = serde_json::from_str(&flow.context).ok()?;
    let field = |k: &str| ctx.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((field("org_id")?, field("invitation_id")?))
}

/// Where a sign-in goes on to once the person is signed in, when it was begun with a `next`.
fn next_of(flow: &SignInRow) -> Option<String> {
    let ctx: Value = serde_json::from_str(&flow.context).ok()?;
    let next = ctx.get("next").and_then(Value::as_str)?;
    crate::security::local_redirect(next).map(str::to_owned)
}

/// The invitation token hash a sign-in begun from a link was given.
fn invitation_token_of(flow: &SignInRow) -> Option<String> {
    let ctx: Value = serde_json::from_str(&flow.context).ok()?;
    ctx.get("token_hash")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The invitation, while it is pending and its link is the one the sign-in began from.
fn current_invitation(
    c: &mut AnyConnection,
    org_id: &str,
    invitation_id: &str,
    token_hash: Option<&str>,
) -> Office365Result<crate::storage::invitations::InvitationRow> {
    let gone = || {
        Office365Error::Gone(
            "this invitation was resent, used, revoked or has expired; use the newest mail".into(),
        )
    };
    let inv = invitation_store::find_invitation(c, org_id, invitation_id)?
        .filter(|i| i.status(&now()) == "pending")
        .ok_or_else(gone)?;
    match token_hash {
        Some(hash) if !crate::security::constant_time_eq(hash, &inv.token_hash) => Err(gone()),
        _ => Ok(inv),
    }
}

/// Refuses to let an account use an invitation for another address.
fn check_invited_account(
    inv: &crate::storage::invitations::InvitationRow,
    account: &AccountRow,
) -> Office365Result<()> {
    if account.email_norm != inv.email_norm {
        return Err(Office365Error::Forbidden(format!(
            "this invitation is for {}, and your Microsoft account belongs to {}; an invitation is used by the person it invites",
            inv.email, account.email
        )));
    }
    Ok(())
}

/// Whether the person signing in is the one an invitation names: of the org's own tenant, with
/// an email Microsoft verified, an email whose domain the org verified (ORG-4), or one they
/// proved with the mailed link.
fn invitee_is_verified(
    c: &mut AnyConnection,
    p: &Pending,
    inv: &crate::storage::invitations::InvitationRow,
) -> Office365Result<bool> {
    if p.email_verified() {
        return Ok(true);
    }
    let org_tenant = store::integration_of_tenant(c, &p.identity.tenant_id)?
        .is_some_and(|i| i.enabled && i.org_id == inv.org_id);
    let domain = email_domain(&inv.email_norm).unwrap_or_default().to_owned();
    Ok(org_tenant || crate::storage::mail::is_verified(c, &inv.org_id, &domain)?)
}

/// Keeps the identity on its sign-in, waiting for the page it is shown.
fn keep_pending(c: &mut AnyConnection, flow_id: &str, pending: &Pending) -> Office365Result<()> {
    let json =
        serde_json::to_string(pending).map_err(|e| Office365Error::Invalid(e.to_string()))?;
    store::set_sign_in_identity(c, flow_id, &json)?;
    Ok(())
}

/// A routing's result, with the page it shows recorded on the sign-in (each POST checks it).
fn offered(
    c: &mut AnyConnection,
    flow_id: &str,
    mut pending: Pending,
    routed: Routed,
) -> Office365Result<Routed> {
    if let Routed::Wait(offer, _) = &routed {
        pending.offer = *offer;
        keep_pending(c, flow_id, &pending)?;
    }
    Ok(routed)
}

/// A POST from a page this sign-in was not shown.
fn not_this_page() -> Office365Error {
    Office365Error::Forbidden(
        "this step is not the one your sign-in was offered; start again".into(),
    )
}

/// Whether an account's own profile lets it manage its org.
fn self_manages(c: &mut AnyConnection, account: &AccountRow) -> Office365Result<bool> {
    Ok(permissions_of(c, account)?
        .iter()
        .any(|p| p == "org.manage"))
}

/// The name of the org another than `org_id` that the tenant is linked to, if any.
fn tenant_org_of_other(
    c: &mut AnyConnection,
    tenant: &str,
    org_id: &str,
) -> Office365Result<Option<String>> {
    match store::integration_of_tenant(c, tenant)? {
        Some(i) if i.enabled && i.org_id != org_id => {
            Ok(tenants::find_org(c, &i.org_id)?.map(|o| o.name))
        }
        _ => Ok(None),
    }
}
