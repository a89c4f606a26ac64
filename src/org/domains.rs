//! Verified domains of an org (ORG-3): claimed by an admin, verified by a DNS TXT record, used
//! to decide who gets a one-time password (AZ-4). And the org's outbox as admins read it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, Actor, OrgError, OrgResult, OrgService};
use crate::mail::MailView;
use crate::provisioning::now;
use crate::security::generate_prefixed_token;
use crate::storage::mail::{self as store, DomainRow};
use crate::storage::StorageError;

/// The TXT value that proves control of a domain starts with this.
pub const TXT_PREFIX: &str = "roster-verification=";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DomainView {
    pub id: String,
    pub domain: String,
    pub verified: bool,
    pub verified_at: Option<String>,
    pub created: String,
    /// Where to publish the TXT record: the domain itself.
    pub txt_name: String,
    /// The TXT record to publish.
    pub txt_value: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    #[validate(length(max = 253, message = "has at most 253 characters"))]
    pub domain: String,
}

impl From<DomainRow> for DomainView {
    fn from(r: DomainRow) -> Self {
        DomainView {
            txt_name: r.domain.clone(),
            txt_value: format!("{TXT_PREFIX}{}", r.token),
            id: r.id,
            domain: r.domain,
            verified: r.verified_at.is_some(),
            verified_at: r.verified_at,
            created: r.created,
        }
    }
}

/// A domain name as stored: lower case, no trailing dot, ASCII (internationalised names in
/// their xn-- form), at least two labels of letters, digits and inner hyphens.
pub fn normalize_domain(input: &str) -> OrgResult<String> {
    let d = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(OrgError::Invalid(format!(
            "'{input}' is not a domain name (use the xn-- form for internationalised names)"
        )))
    }
}

impl OrgService {
    pub async fn list_domains(&self, actor: &Actor) -> OrgResult<Vec<DomainView>> {
        actor.require("org.manage")?;
        let org = actor.org_id.clone();
        let rows = self.db.read(move |c| store::list_domains(c, &org)).await?;
        Ok(rows.into_iter().map(DomainView::from).collect())
    }

    pub async fn add_domain(&self, actor: &Actor, new: NewDomain) -> OrgResult<DomainView> {
        super::valid(&new)?;
        actor.require("org.manage")?;
        let domain = normalize_domain(&new.domain)?;
        let row = DomainRow {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: actor.org_id.clone(),
            domain,
            token: generate_prefixed_token("").secret,
            created: now(),
            verified_at: None,
        };
        let (actor, stored) = (actor.clone(), row.clone());
        self.db
            .write(move |c| {
                store::insert_domain(c, &stored).map_err(|e| match e {
                    StorageError::Unique(_) => {
                        OrgError::Conflict("the org already claims this domain".into())
                    }
                    other => other.into(),
                })?;
                audit(
                    c,
                    &actor,
                    "domain.add",
                    ("domain", Some(&stored.id)),
                    json!({"domain": stored.domain}),
                )
            })
            .await?;
        Ok(row.into())
    }

    /// Looks up the domain's TXT records and marks it verified when one carries its token.
    pub async fn verify_domain(&self, actor: &Actor, id: &str) -> OrgResult<DomainView> {
        actor.require("org.manage")?;
        let (org, did) = (actor.org_id.clone(), id.to_owned());
        let row = self
            .db
            .read(move |c| store::find_domain(c, &org, &did))
            .await?
            .ok_or(OrgError::NotFound)?;
        if row.verified_at.is_some() {
            return Ok(row.into());
        }
        let records = self
            .dns
            .txt(&row.domain)
            .await
            .map_err(|e| OrgError::Unavailable(e.to_string()))?;
        let expected = format!("{TXT_PREFIX}{}", row.token);
        if !records.iter().any(|r| r.trim() == expected) {
            return Err(OrgError::Conflict(format!(
                "no TXT record '{expected}' at {} yet (DNS changes can take a while to appear)",
                row.domain
            )));
        }
        let (actor, did) = (actor.clone(), row.id.clone());
        let domain = row.domain.clone();
        let verified = self
            .db
            .write(move |c| {
                store::mark_verified(c, &did, &now()).map_err(|e| match e {
                    StorageError::Unique(_) => {
                        OrgError::Conflict("another organization has verified this domain".into())
                    }
                    other => other.into(),
                })?;
                audit(
                    c,
                    &actor,
                    "domain.verify",
                    ("domain", Some(&did)),
                    json!({"domain": domain}),
                )?;
                store::find_domain(c, &actor.org_id, &did)?.ok_or(OrgError::NotFound)
            })
            .await?;
        Ok(verified.into())
    }

    pub async fn delete_domain(&self, actor: &Actor, id: &str) -> OrgResult<()> {
        actor.require("org.manage")?;
        let (actor, did) = (actor.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let row = store::find_domain(c, &actor.org_id, &did)?.ok_or(OrgError::NotFound)?;
                store::delete_domain(c, &did)?;
                audit(
                    c,
                    &actor,
                    "domain.delete",
                    ("domain", Some(&did)),
                    json!({"domain": row.domain}),
                )
            })
            .await
    }

    /// The org's outgoing mail, newest first; bodies are shown until a mail is sent.
    pub async fn outbox(
        &self,
        actor: &Actor,
        status: Option<String>,
        count: i64,
    ) -> OrgResult<Vec<MailView>> {
        actor.require("org.manage")?;
        Ok(self
            .mailer
            .list(&actor.org_id, status, count.clamp(1, 500))
            .await?)
    }

    /// The org's jobs (mail to send, and later sync runs) in `state`, most recently changed
    /// first: dead ones say why they were given up.
    pub async fn jobs(
        &self,
        actor: &Actor,
        state: Option<String>,
        kind: Option<String>,
        count: i64,
    ) -> OrgResult<Vec<crate::jobs::JobView>> {
        actor.require("org.manage")?;
        if let Some(s) = &state {
            if !["queued", "running", "done", "dead", "cancelled"].contains(&s.as_str()) {
                return Err(OrgError::Invalid(
                    "state is queued, running, done, dead or cancelled".into(),
                ));
            }
        }
        Ok(crate::jobs::list(&self.db, Some(actor.org_id.clone()), state, kind, count).await?)
    }
}
