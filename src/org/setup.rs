//! First run: the person who started Roster proves it with the secret token the first start
//! printed, and becomes the owner of that token's org, which has none yet.

use serde_json::json;

use super::accounts::{hashed, insert_account};
use super::{check_password, now, NewAccount, OrgError, OrgResult, OrgService};
use crate::provisioning::tenancy;
use crate::storage::accounts::{self as store, AccountRow, NewAuditRow};

impl OrgService {
    /// Makes `new` the owner of the org whose connection `token` opens, if that org has no
    /// enabled owner; the account signs in with the password it chose.
    pub async fn claim_org(&self, token: &str, new: NewAccount) -> OrgResult<AccountRow> {
        check_password(&new.password)?;
        let hash = hashed(new.password.clone()).await?;
        let (token, d) = (token.trim().to_owned(), self.db.dialect());
        self.db
            .write(move |c| {
                let (grant, _) = tenancy::authenticate(c, &token)?.ok_or_else(|| {
                    OrgError::Forbidden(
                        "that is not a live secret token of this Roster; copy the one the first start printed".into(),
                    )
                })?;
                if !store::lock_org(c, d, &grant.org_id)?
                    || !store::enabled_owner_ids(c, d, &grant.org_id)?.is_empty()
                {
                    return Err(OrgError::Conflict(
                        "this organization has an owner already: sign in instead".into(),
                    ));
                }
                let owner = NewAccount {
                    role: Some("owner".into()),
                    must_change_password: Some(false),
                    profile_id: None,
                    user_id: None,
                    ..new
                };
                let row = insert_account(c, &grant.org_id, &owner, hash)?;
                store::insert_audit(
                    c,
                    &NewAuditRow {
                        org_id: row.org_id.clone(),
                        at: now(),
                        actor_id: Some(row.id.clone()),
                        actor: row.email.clone(),
                        action: "account.create".into(),
                        target_type: "account".into(),
                        target_id: Some(row.id.clone()),
                        detail: json!({"email": row.email, "role": "owner", "via": "first run, with the secret token"})
                            .to_string(),
                        request_id: None,
                    },
                )?;
                Ok(row)
            })
            .await
    }
}
