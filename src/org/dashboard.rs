//! What an org's console dashboard shows, each part to those whose permissions cover it.

use serde::Serialize;

use super::{Actor, OrgResult, OrgService};
use crate::scim::resource::format_datetime;
use crate::storage::dashboard as store;

/// SCIM writes of one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayActivity {
    /// YYYY-MM-DD.
    pub day: String,
    pub successes: i64,
    pub failures: i64,
}

/// The dashboard; a part the caller may not see is None.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    /// (status, users), with `users.manage`.
    pub users_by_status: Option<Vec<(String, i64)>>,
    /// The last 14 days, oldest first, with `logs.read`.
    pub provisioning: Option<Vec<DayActivity>>,
    /// With `org.manage`.
    pub mail_waiting: Option<i64>,
    /// With `users.manage`.
    pub syncs_needing_attention: Option<i64>,
    /// Whether a Microsoft Entra ID connection exists, with `connections.manage`.
    pub has_entra: Option<bool>,
}

/// Days the provisioning chart covers.
pub const DAYS: i64 = 14;

impl OrgService {
    pub async fn dashboard(&self, actor: &Actor) -> OrgResult<Dashboard> {
        let org = actor.org_id.clone();
        let (users, logs, mail, connections) = (
            actor.allows("users.manage"),
            actor.allows("logs.read"),
            actor.allows("org.manage"),
            actor.allows("connections.manage"),
        );
        let today = chrono::Utc::now().date_naive();
        let first = today - chrono::Duration::days(DAYS - 1);
        let since = format_datetime(first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
        let (by_status, by_day, waiting, attention, has_entra) = self
            .db
            .read(move |c| {
                Ok::<_, crate::storage::StorageError>((
                    users.then(|| store::users_by_status(c, &org)).transpose()?,
                    logs.then(|| store::provisioning_by_day(c, &org, &since))
                        .transpose()?,
                    mail.then(|| store::mail_waiting(c, &org)).transpose()?,
                    users
                        .then(|| store::syncs_needing_attention(c, &org))
                        .transpose()?,
                    connections
                        .then(|| store::has_connection_of_kind(c, &org, "azure"))
                        .transpose()?,
                ))
            })
            .await?;
        let provisioning = by_day.map(|rows| {
            (0..DAYS)
                .map(|i| {
                    let day = (first + chrono::Duration::days(i))
                        .format("%Y-%m-%d")
                        .to_string();
                    let of = |label: &str| {
                        rows.iter()
                            .find(|r| r.day == day && r.label == label)
                            .map_or(0, |r| r.n)
                    };
                    DayActivity {
                        successes: of("success"),
                        failures: of("failure"),
                        day,
                    }
                })
                .collect()
        });
        Ok(Dashboard {
            users_by_status: by_status
                .map(|rows| rows.into_iter().map(|r| (r.label, r.n)).collect()),
            provisioning,
            mail_waiting: waiting,
            syncs_needing_attention: attention,
            has_entra,
        })
    }
}
