//! Microsoft Graph v1.0 reads: the signed-in person's directory roles, and a tenant's users a
//! page at a time. Every list follows `@odata.nextLink`; 429 and 503 are retried after their
//! `Retry-After` ("Microsoft Graph throttling guidance").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{trimmed, MicrosoftConfig, MicrosoftError, MicrosoftResult, ADMIN_ROLE_TEMPLATES};

/// Wait used when a throttled answer carries no usable `Retry-After`.
const DEFAULT_RETRY: Duration = Duration::from_secs(2);

/// A Graph collection page.
#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryRole {
    role_template_id: Option<String>,
}

/// What Graph said of a person's directory roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryRoles {
    /// Role template ids Graph showed.
    Known(Vec<String>),
    /// Graph listed roles without their template ids: the app lacks the permission to read them.
    Hidden,
}

impl DirectoryRoles {
    pub fn includes_admin(&self) -> bool {
        matches!(self, DirectoryRoles::Known(ids) if ids.iter().any(|id| ADMIN_ROLE_TEMPLATES.contains(&id.as_str())))
    }
}

/// One user of a tenant as the invitation picker shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUser {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    pub account_enabled: Option<bool>,
}

/// The signed-in user as Graph's `/me` shows them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
}

/// One page of a tenant's users and the Graph link to the next.
#[derive(Debug, Clone)]
pub struct TenantUserPage {
    pub users: Vec<TenantUser>,
    pub next_link: Option<String>,
}

/// Microsoft Graph for one Roster deployment.
pub struct Graph {
    config: MicrosoftConfig,
    http: reqwest::Client,
}

impl Graph {
    pub fn new(config: MicrosoftConfig, http: reqwest::Client) -> Self {
        Graph { config, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0{path}", trimmed(&self.config.graph))
    }

    /// GETs one Graph page, waiting out 429 and 503 answers while the waits fit in
    /// `max_retry_wait`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
    ) -> MicrosoftResult<T> {
        let mut waited = Duration::ZERO;
        loop {
            let res = self
                .http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| MicrosoftError::Unreachable(e.to_string()))?;
            let status = res.status().as_u16();
            if status == 429 || status == 503 {
                let wait = retry_after(res.headers()).unwrap_or(DEFAULT_RETRY);
                if waited + wait > self.config.max_retry_wait {
                    return Err(MicrosoftError::Throttled(wait.as_secs().max(1)));
                }
                tracing::info!(
                    status,
                    wait_seconds = wait.as_secs(),
                    "Graph throttled a request"
                );
                tokio::time::sleep(wait).await;
                waited += wait;
                continue;
            }
            if !res.status().is_success() {
                let body = res.json::<GraphErrorBody>().await.ok();
                return Err(MicrosoftError::Refused {
                    status,
                    code: body
                        .as_ref()
                        .map(|b| b.error.code.clone())
                        .unwrap_or_default(),
                    message: body.map(|b| b.error.message).unwrap_or_default(),
                });
            }
            return res
                .json()
                .await
                .map_err(|e| MicrosoftError::Unreachable(e.to_string()));
        }
    }

    /// Only a link on Graph's own host is followed: a `nextLink` elsewhere would carry the
    /// bearer token away.
    /// Whether `link` is a URL of this Graph (a next link Roster may follow with a token).
    pub fn is_own_link(&self, link: &str) -> bool {
        link.starts_with(&format!("{}/", trimmed(&self.config.graph)))
    }

    fn check_link(&self, link: &str) -> MicrosoftResult<()> {
        if self.is_own_link(link) {
            Ok(())
        } else {
            Err(MicrosoftError::Unreachable(
                "Graph answered with a next link to another host".into(),
            ))
        }
    }

    /// The directory roles of the person a delegated token belongs to (`GET /me/memberOf`,
    /// cast to directory roles). With only `User.Read`, Graph lists the roles without their
    /// template ids: that is [`DirectoryRoles::Hidden`].
    pub async fn my_directory_roles(&self, token: &str) -> MicrosoftResult<DirectoryRoles> {
        let mut url =
            self.url("/me/memberOf/microsoft.graph.directoryRole?$select=id,roleTemplateId");
        let mut ids = Vec::new();
        let mut hidden = false;
        loop {
            let page: Page<DirectoryRole> = self.get(&url, token).await?;
            for role in page.value {
                match role.role_template_id {
                    Some(id) => ids.push(id),
                    None => hidden = true,
                }
            }
            match page.next_link {
                Some(next) => {
                    self.check_link(&next)?;
                    url = next;
                }
                None => break,
            }
        }
        Ok(if hidden && ids.is_empty() {
            DirectoryRoles::Hidden
        } else {
            DirectoryRoles::Known(ids)
        })
    }

    /// The user a delegated token belongs to (`GET /me`).
    pub async fn me(&self, token: &str) -> MicrosoftResult<Me> {
        self.get(
            &self.url("/me?$select=id,displayName,mail,userPrincipalName"),
            token,
        )
        .await
    }

    /// One page of a tenant's users (`GET /users`, `$top=999`, `$select`), from the start or
    /// from the `nextLink` of the page before; `token` is an app-only token for that tenant.
    pub async fn users_page(
        &self,
        token: &str,
        next_link: Option<&str>,
    ) -> MicrosoftResult<TenantUserPage> {
        let url = match next_link {
            Some(link) => {
                self.check_link(link)?;
                link.to_owned()
            }
            None => self.url(
                "/users?$top=999&$select=id,displayName,mail,userPrincipalName,userType,accountEnabled",
            ),
        };
        let page: Page<TenantUser> = self.get(&url, token).await?;
        Ok(TenantUserPage {
            users: page.value,
            next_link: page.next_link,
        })
    }
}

/// `Retry-After` in seconds (Graph sends seconds, not HTTP dates).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
