//! What any signed-in account may read and change about itself: its name, and the profile its
//! identity provider wrote for the directory user it is.

use serde_json::json;

use super::mapping::UserProfileView;
use super::{audit, now, row_or_not_found, AccountView, Actor, OrgError, OrgResult, OrgService};
use crate::storage::accounts::{self as store, AccountChangeset};
use crate::storage::profiles as profile_store;

/// Longest display name.
const MAX_NAME: usize = 200;

impl OrgService {
    /// The caller's own account.
    pub async fn own_account(&self, actor: &Actor) -> OrgResult<AccountView> {
        self.get_account(actor, &actor.account_id).await
    }

    /// Sets the caller's display name ("" clears it).
    pub async fn set_own_name(&self, actor: &Actor, name: &str) -> OrgResult<AccountView> {
        let name = name.trim().to_owned();
        if name.chars().count() > MAX_NAME {
            return Err(OrgError::Invalid(format!(
                "a name has at most {MAX_NAME} characters"
            )));
        }
        let actor_c = actor.clone();
        self.db
            .write(move |c| {
                let shown = Some(name.clone()).filter(|n| !n.is_empty());
                let changes = AccountChangeset {
                    display_name: Some(shown.clone()),
                    updated: Some(now()),
                    ..Default::default()
                };
                store::update_account(c, &actor_c.account_id, &changes)?;
                audit(
                    c,
                    &actor_c,
                    "account.name",
                    ("account", Some(&actor_c.account_id)),
                    json!({"display_name": shown}),
                )
            })
            .await?;
        self.own_account(actor).await
    }

    /// The directory profile of the user the caller's account is, if it is linked to one.
    pub async fn own_directory_profile(&self, actor: &Actor) -> OrgResult<Option<UserProfileView>> {
        let (org, id) = (actor.org_id.clone(), actor.account_id.clone());
        self.db
            .read(move |c| {
                let account = row_or_not_found(store::find_account(c, &org, &id)?)?;
                let Some(user) = account.user_id else {
                    return Ok(None);
                };
                Ok::<_, OrgError>(
                    profile_store::find(c, &org, &user)?.map(super::mapping::profile_view),
                )
            })
            .await
    }
}
