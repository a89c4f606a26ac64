//! An org's Microsoft 365 integration as its admins see and switch it (O365-3): enabled only by
//! an account whose linked Microsoft identity held an admin directory role of the tenant at its
//! last sign-in; any account of the org may read its status.

use serde::Serialize;
use serde_json::json;

use super::{Office365Error, Office365Result, Office365Service};
use crate::org::{audit, Actor};
use crate::provisioning::now;
use crate::storage::microsoft::{self as store, IntegrationRow};

/// The integration of the caller's org, as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationStatus {
    /// Whether sign-in with Microsoft is set up on this server.
    pub sign_in_configured: bool,
    /// The redirect URI to register in Entra (sign-in and admin consent return there).
    pub redirect_uri: Option<String>,
    pub enabled: bool,
    pub tenant_id: Option<String>,
    pub enabled_by: Option<String>,
    pub enabled_at: Option<String>,
    pub disabled_at: Option<String>,
    /// Admin consent to the app's application permissions: none, granted or failed.
    pub consent: String,
    pub consent_at: Option<String>,
    pub consent_error: Option<String>,
    /// The caller's own linked Microsoft identity: its tenant, and whether it was an admin of
    /// that tenant at its last sign-in.
    pub my_tenant_id: Option<String>,
    pub my_tenant_admin: bool,
}

impl Office365Service {
    pub async fn status(&self, actor: &Actor) -> Office365Result<IntegrationStatus> {
        let (org, account) = (actor.org_id.clone(), actor.account_id.clone());
        let (row, mine) = self
            .db
            .read(move |c| {
                Ok::<_, Office365Error>((
                    store::integration_of_org(c, &org)?,
                    store::identity_of_account(c, &account)?,
                ))
            })
            .await?;
        Ok(IntegrationStatus {
            sign_in_configured: self.configured(),
            redirect_uri: self.redirect_uri().map(str::to_owned),
            enabled: row.as_ref().is_some_and(|r| r.enabled),
            tenant_id: row.as_ref().map(|r| r.tenant_id.clone()),
            enabled_by: row.as_ref().and_then(|r| r.enabled_by.clone()),
            enabled_at: row.as_ref().map(|r| r.enabled_at.clone()),
            disabled_at: row.as_ref().and_then(|r| r.disabled_at.clone()),
            consent: row
                .as_ref()
                .map(|r| r.consent.clone())
                .unwrap_or_else(|| "none".into()),
            consent_at: row.as_ref().and_then(|r| r.consent_at.clone()),
            consent_error: row.and_then(|r| r.consent_error),
            my_tenant_admin: mine.as_ref().is_some_and(|m| m.tenant_admin),
            my_tenant_id: mine.map(|m| m.tenant_id),
        })
    }

    /// Enables the org's integration with the tenant of the caller's Microsoft identity.
    pub async fn enable(&self, actor: &Actor) -> Office365Result<IntegrationStatus> {
        actor.require("org.manage")?;
        let a = actor.clone();
        self.db
            .write(move |c| {
                let mine = store::identity_of_account(c, &a.account_id)?.ok_or_else(|| {
                    Office365Error::Forbidden(
                        "sign in with Microsoft first: only a Microsoft 365 admin of the tenant can enable the integration".into(),
                    )
                })?;
                if !mine.tenant_admin {
                    return Err(Office365Error::Forbidden(
                        "only a Global Administrator or Privileged Role Administrator of the Microsoft 365 tenant can enable the integration (as of your last sign-in with Microsoft)".into(),
                    ));
                }
                if let Some(other) = store::integration_of_tenant(c, &mine.tenant_id)? {
                    if other.org_id != a.org_id {
                        return Err(Office365Error::Conflict(
                            "this Microsoft 365 tenant is linked to another Roster organization".into(),
                        ));
                    }
                }
                store::enable_integration(
                    c,
                    &IntegrationRow {
                        org_id: a.org_id.clone(),
                        tenant_id: mine.tenant_id.clone(),
                        enabled: true,
                        enabled_by: Some(a.account_id.clone()),
                        enabled_at: now(),
                        disabled_at: None,
                        consent: "none".into(),
                        consent_at: None,
                        consent_error: None,
                    },
                )?;
                audit(c, &a, "microsoft.enabled", ("org", Some(&a.org_id)), json!({"tenant_id": mine.tenant_id}))?;
                Ok(())
            })
            .await?;
        self.status(actor).await
    }

    /// Disables the org's integration; its tenant stays recorded for a later enable.
    pub async fn disable(&self, actor: &Actor) -> Office365Result<IntegrationStatus> {
        actor.require("org.manage")?;
        let a = actor.clone();
        self.db
            .write(move |c| {
                if store::disable_integration(c, &a.org_id, &now())? {
                    audit(
                        c,
                        &a,
                        "microsoft.disabled",
                        ("org", Some(&a.org_id)),
                        json!({}),
                    )?;
                }
                Ok::<_, Office365Error>(())
            })
            .await?;
        self.status(actor).await
    }
}
