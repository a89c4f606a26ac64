//! The org's SCIM groups as the admin API shows them: searchable by name, with member counts
//! and each group's members paged.

use serde::Serialize;

use super::{Actor, OrgError, OrgResult, OrgService};
use crate::storage::resources::{self, GroupSummary, NamedMember};

/// A page of groups and the cursor of the next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupPage {
    pub groups: Vec<GroupSummary>,
    pub next_cursor: Option<String>,
}

/// A group with a page of its members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: GroupSummary,
    pub members: Vec<NamedMember>,
    /// Pass as `members_cursor` for the next page of members.
    pub next_members_cursor: Option<String>,
}

fn next_cursor<T>(rows: &[T], limit: i64, id: impl Fn(&T) -> &str) -> Option<String> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| id(r).to_owned()))
        .flatten()
}

impl OrgService {
    pub async fn list_groups(
        &self,
        actor: &Actor,
        search: Option<String>,
        cursor: Option<String>,
        count: i64,
    ) -> OrgResult<GroupPage> {
        actor.require("users.manage")?;
        let (org, limit, d) = (actor.org_id.clone(), count.clamp(1, 500), self.db.dialect());
        let groups = self
            .db
            .read(move |c| {
                resources::list_groups(c, d, &org, search.as_deref(), cursor.as_deref(), limit)
            })
            .await?;
        let next_cursor = next_cursor(&groups, limit, |g| &g.id);
        Ok(GroupPage {
            groups,
            next_cursor,
        })
    }

    pub async fn get_group(
        &self,
        actor: &Actor,
        id: &str,
        members_cursor: Option<String>,
        count: i64,
    ) -> OrgResult<GroupView> {
        actor.require("users.manage")?;
        let (org, id, limit) = (actor.org_id.clone(), id.to_owned(), count.clamp(1, 1000));
        let (group, members) = self
            .db
            .read(move |c| {
                let group =
                    resources::find_group_summary(c, &org, &id)?.ok_or(OrgError::NotFound)?;
                let members = resources::named_members(c, &id, members_cursor.as_deref(), limit)?;
                Ok::<_, OrgError>((group, members))
            })
            .await?;
        let next_members_cursor = next_cursor(&members, limit, |m| &m.id);
        Ok(GroupView {
            group,
            members,
            next_members_cursor,
        })
    }
}
