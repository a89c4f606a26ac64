//! Settings: defaults, then an optional TOML file, then `ROSTER_*` environment variables, then
//! command-line flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `roster.db` (a SQLite file, created if missing), `sqlite://path`, or `postgres://...`.
    pub database_url: String,
    /// The URL clients reach Roster at (scheme, host, port, optional path prefix); tenant URLs
    /// and `meta.location` are built from it. Defaults to `http://<bind>`.
    pub public_url: Option<String>,
    pub pool_size: u32,
    /// SQLite `synchronous`: `normal` (default) or `full`.
    pub sqlite_synchronous: String,
    /// Extra schema and resource-type JSON files (custom extensions), loaded at start.
    pub schemas_dir: Option<PathBuf>,
    /// Largest request body accepted on SCIM resource endpoints.
    pub max_body_bytes: usize,
    pub default_page_size: i64,
    pub max_page_size: i64,
    pub bulk_max_operations: usize,
    pub bulk_max_payload_bytes: usize,
    /// Longest `userName`, `externalId`, `displayName` or email value a SCIM client may write,
    /// in characters.
    pub scim_max_identifier_length: usize,
    /// Longest other string value a SCIM client may write, in characters.
    pub scim_max_string_length: usize,
    /// Most operations one SCIM PATCH request may hold.
    pub scim_max_patch_operations: usize,
    /// Requests per second allowed per token; 0 turns rate limiting off.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// How long a token lookup is cached; a revoked token stops working within this delay.
    pub token_cache_seconds: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// `ROSTER_*` environment variables that name no setting, ignored (Kubernetes sets
    /// `ROSTER_PORT` and `ROSTER_SERVICE_HOST` for a Service named `roster`). Not a setting.
    #[serde(skip)]
    pub ignored_environment: Vec<String>,
    /// How long an admin API session from a sign-in lasts, in hours.
    pub admin_session_hours: u64,
    /// The longest lifetime a sign-in may ask for (`expires_in`, for API tokens), in days.
    pub admin_token_max_days: u64,
    /// Sign-in attempts allowed per email address per minute.
    pub sign_in_attempts_per_minute: u32,
    /// Sign-in attempts allowed per client (an IP address) per minute, on every form and API that
    /// checks a password or a client secret; 0 turns the per-client limit off.
    pub sign_in_attempts_per_client_per_minute: u32,
    /// Proxies (IP addresses or CIDR ranges) whose `X-Forwarded-For` Roster believes: the client
    /// is then the first hop, from the right, that is not one of them.
    pub trusted_proxies: Vec<String>,
    /// The key that seals secrets at rest (base64 of 32 bytes). Every replica of a deployment
    /// needs the same one; when unset, it is read from `secret_key_file`.
    pub secret_key: Option<SecretString>,
    /// Where the secret key is kept when `secret_key` is unset; created on first start.
    pub secret_key_file: PathBuf,
    /// The OAuth issuer (`iss` of access tokens, RFC 8414 metadata). Defaults to `public_url`.
    pub oauth_issuer: Option<String>,
    /// Lifetime of access tokens from the authorization-code and refresh grants, in minutes.
    pub oauth_access_token_minutes: u64,
    /// Lifetime of client-credentials access tokens, 60 to 360 minutes.
    pub oauth_client_credentials_minutes: u64,
    /// A refresh token expires after this many days unused (each use issues a new one).
    pub oauth_refresh_token_days: u64,
    /// How long after its use a refresh token still works once, for an identity provider that
    /// lost the response and retries (while the token that use issued is unused), in seconds.
    pub oauth_refresh_grace_seconds: u64,
    /// A new token-signing key is made after this many days; the old one verifies until the
    /// tokens it signed have expired.
    pub signing_key_rotation_days: u64,
    /// How long provisioning log entries are kept, in days.
    pub provisioning_log_days: u64,
    /// PostgreSQL: how often Roster looks for tables that have grown by a quarter since their
    /// planner statistics were taken, and analyzes them (0: leave it to autovacuum), in seconds.
    pub analyze_interval_seconds: u64,
    /// SMTP server for outgoing mail, e.g. `smtp://user:pass@mail.example.com:587?tls=required`
    /// or `smtps://...:465`; without it mail stays in the outbox, readable by admins.
    pub smtp_url: Option<SecretString>,
    /// The sender of outgoing mail.
    pub mail_from: String,
    /// DNS server (`ip:port`) for domain verification; the system resolver when unset.
    pub dns_resolver: Option<String>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// A second address serving only `/metrics` (e.g. `0.0.0.0:9100` inside a cluster). When it
    /// is set, the main address does not serve `/metrics`. With neither it nor `metrics_token`
    /// set, `/metrics` answers only loopback clients.
    pub metrics_bind: Option<String>,
    /// Serve HTTPS directly: the PEM certificate chain and private key files (both or neither).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// How long a one-time password Roster generates for a provisioned user works, in hours;
    /// its mail is emptied then.
    pub one_time_password_hours: u64,
    /// The application (client) id of Roster's multi-tenant app registration in Entra; with
    /// `microsoft_client_secret`, turns on signing in with Microsoft.
    pub microsoft_client_id: Option<String>,
    /// That app's client secret, in clear or sealed with Roster's secret key (`roster seal`).
    pub microsoft_client_secret: Option<SecretString>,
    /// The Microsoft identity platform authority (another for sovereign clouds).
    pub microsoft_authority_url: String,
    /// Microsoft Graph.
    pub microsoft_graph_url: String,
    /// Where the terms of service a person accepts to create or join an org are published.
    pub terms_url: Option<String>,
    /// The version of those terms; acceptances are recorded with it.
    pub terms_version: String,
    /// How long an invitation link works, in days.
    pub invitation_days: u64,
    /// Background jobs (mail, sync runs, housekeeping) this server runs at once.
    pub job_workers: usize,
    /// How often each enabled calendar or contacts sync runs, in minutes.
    pub sync_interval_minutes: u64,
    /// The name of the calendar Roster creates in each synced mailbox.
    pub sync_calendar_name: String,
    /// The name of the contact folder Roster creates in each synced mailbox.
    pub sync_contacts_folder: String,
    /// The Exchange Server EWS endpoint (`https://host/EWS/Exchange.asmx`) an Exchange
    /// authorization uses when the admin gives none.
    pub exchange_ews_url: Option<String>,
    /// The Autodiscover endpoint asked for the EWS URL when neither the admin nor
    /// `exchange_ews_url` gives one; unset: the service account's domain and `autodiscover.`
    /// that domain.
    pub exchange_autodiscover_url: Option<String>,
    /// Microsoft Graph for Exchange Online; unset: `microsoft_graph_url`.
    pub exchange_graph_url: Option<String>,
    /// The contact folder, calendar and mail folder the Exchange extension creates in each
    /// synced mailbox.
    pub exchange_folder_name: String,
    /// The task list (To Do list, or EWS task folder) it creates.
    pub exchange_task_list_name: String,
    /// The OAuth client id of the org's Google Cloud project (a Web application client); with
    /// `google_client_secret`, turns on the Google Workspace contacts sync.
    pub google_client_id: Option<String>,
    /// That client's secret, in clear or sealed with Roster's secret key (`roster seal`).
    pub google_client_secret: Option<SecretString>,
    /// Google's OAuth 2.0 authorization endpoint.
    pub google_auth_url: String,
    /// Google's OAuth 2.0 token endpoint.
    pub google_token_url: String,
    /// The People API.
    pub google_people_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            database_url: "roster.db".into(),
            public_url: None,
            pool_size: 8,
            sqlite_synchronous: "normal".into(),
            schemas_dir: None,
            max_body_bytes: 1024 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 4 * 1024 * 1024,
            scim_max_identifier_length: 512,
            scim_max_string_length: 16 * 1024,
            scim_max_patch_operations: 1000,
            rate_limit_per_second: 0,
            rate_limit_burst: 100,
            token_cache_seconds: 5,
            log_format: "text".into(),
            workers: None,
            ignored_environment: Vec::new(),
            admin_session_hours: 12,
            admin_token_max_days: 90,
            sign_in_attempts_per_minute: 10,
            sign_in_attempts_per_client_per_minute: 60,
            trusted_proxies: Vec::new(),
            secret_key: None,
            secret_key_file: PathBuf::from("roster.key"),
            oauth_issuer: None,
            oauth_access_token_minutes: 60,
            oauth_client_credentials_minutes: 60,
            oauth_refresh_token_days: 90,
            oauth_refresh_grace_seconds: 60,
            signing_key_rotation_days: 30,
            provisioning_log_days: 30,
            analyze_interval_seconds: 1,
            smtp_url: None,
            mail_from: "Roster <roster@localhost>".into(),
            dns_resolver: None,
            metrics_token: None,
            metrics_bind: None,
            one_time_password_hours: 72,
            tls_cert_file: None,
            tls_key_file: None,
            microsoft_client_id: None,
            microsoft_client_secret: None,
            microsoft_authority_url: "https://login.microsoftonline.com".into(),
            microsoft_graph_url: "https://graph.microsoft.com".into(),
            terms_url: None,
            terms_version: "1".into(),
            invitation_days: 7,
            job_workers: 8,
            sync_interval_minutes: 15,
            sync_calendar_name: "Roster".into(),
            sync_contacts_folder: "Roster Contacts".into(),
            exchange_ews_url: None,
            exchange_autodiscover_url: None,
            exchange_graph_url: None,
            exchange_folder_name: "Roster".into(),
            exchange_task_list_name: "Roster".into(),
            google_client_id: None,
            google_client_secret: None,
            google_auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            google_token_url: "https://oauth2.googleapis.com/token".into(),
            google_people_url: "https://people.googleapis.com".into(),
        }
    }
}

/// A setting that is a secret: kept out of `Debug` output, so it cannot reach a log.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// `ROSTER_*` variables that are not settings: the `--config` flag's variable, the log filter,
/// and the test suite's and benchmarks' own (database, browser, screenshots, binaries).
const NOT_SETTINGS: &[&str] = &[
    "config",
    "log",
    "test_database_url",
    "require_browser",
    "screenshot_dir",
    "bin",
    "bench_ceiling_body",
];

/// Every setting's name, as `roster.toml` and the `ROSTER_*` variables (lowercased) spell it.
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => Vec::new(),
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads settings from `file` (if given or if `roster.toml` exists) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(f) if !f.exists() => {
                return Err(ConfigError::Invalid(format!(
                    "config file {} not found",
                    f.display()
                )))
            }
            Some(f) => fig = fig.merge(Toml::file(f)),
            None if Path::new("roster.toml").exists() => fig = fig.merge(Toml::file("roster.toml")),
            None => {}
        }
        let names = setting_names();
        let known = names.clone();
        let mut settings: Settings = fig
            .merge(
                Env::prefixed("ROSTER_").filter(move |key| known.iter().any(|k| key == k.as_str())),
            )
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.ignored_environment = std::env::vars_os()
            .filter_map(|(key, _)| key.into_string().ok())
            .filter(|key| {
                key.strip_prefix("ROSTER_").is_some_and(|name| {
                    let name = name.to_ascii_lowercase();
                    !names.contains(&name) && !NOT_SETTINGS.contains(&name.as_str())
                })
            })
            .collect();
        settings.ignored_environment.sort();
        settings.validate()?;
        Ok(settings)
    }

    /// `trusted_proxies` as networks (an address is a network of one); the first entry that
    /// is neither, as the error.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| p.to_owned())
            })
            .collect()
    }

    /// One line naming the ignored `ROSTER_*` variables, if there are any.
    pub fn ignored_environment_warning(&self) -> Option<String> {
        (!self.ignored_environment.is_empty()).then(|| {
            format!(
                "ignored environment variables that name no setting: {}",
                self.ignored_environment.join(", ")
            )
        })
    }

    /// Checks values that would otherwise fail later; `serve` and `check-config` share it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.validate_connections()?;
        if self.bind.parse::<std::net::SocketAddr>().is_err() && !self.bind.contains(':') {
            return bad(format!("bind '{}' is not host:port", self.bind));
        }
        if !(1..=10_000).contains(&self.max_page_size)
            || !(1..=self.max_page_size).contains(&self.default_page_size)
        {
            return bad(
                "page sizes must satisfy 1 <= default_page_size <= max_page_size <= 10000".into(),
            );
        }
        if !(16..=65_536).contains(&self.scim_max_identifier_length)
            || !(self.scim_max_identifier_length..=1024 * 1024)
                .contains(&self.scim_max_string_length)
        {
            return bad("string limits must satisfy 16 <= scim_max_identifier_length <= scim_max_string_length <= 1048576".into());
        }
        if !(1..=100_000).contains(&self.scim_max_patch_operations) {
            return bad("scim_max_patch_operations must be between 1 and 100000".into());
        }
        if !["normal", "full"].contains(&self.sqlite_synchronous.to_ascii_lowercase().as_str()) {
            return bad("sqlite_synchronous must be normal or full".into());
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return bad("log_format must be text or json".into());
        }
        let authority = Some(self.microsoft_authority_url.clone());
        let graph = Some(self.microsoft_graph_url.clone());
        let google = [
            Some(self.google_auth_url.clone()),
            Some(self.google_token_url.clone()),
            Some(self.google_people_url.clone()),
        ];
        for (name, url) in [
            ("google_auth_url", &google[0]),
            ("google_token_url", &google[1]),
            ("google_people_url", &google[2]),
            ("public_url", &self.public_url),
            ("oauth_issuer", &self.oauth_issuer),
            ("microsoft_authority_url", &authority),
            ("microsoft_graph_url", &graph),
            ("terms_url", &self.terms_url),
            ("exchange_ews_url", &self.exchange_ews_url),
            ("exchange_autodiscover_url", &self.exchange_autodiscover_url),
            ("exchange_graph_url", &self.exchange_graph_url),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return bad(format!(
                        "{name} '{url}' must start with http:// or https://"
                    ));
                }
            }
        }
        if !(5..=360).contains(&self.oauth_access_token_minutes) {
            return bad("oauth_access_token_minutes must be between 5 and 360".into());
        }
        if !(60..=360).contains(&self.oauth_client_credentials_minutes) {
            return bad("oauth_client_credentials_minutes must be between 60 and 360".into());
        }
        if !(1..=3650).contains(&self.oauth_refresh_token_days) {
            return bad("oauth_refresh_token_days must be between 1 and 3650".into());
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) | (None, Some(_)) => {
                return bad("tls_cert_file and tls_key_file go together".into())
            }
            (Some(cert), Some(key)) => {
                for file in [cert, key] {
                    if !file.is_file() {
                        return bad(format!("TLS file {} not found", file.display()));
                    }
                }
            }
            (None, None) => {}
        }
        if !(1..=24 * 90).contains(&self.one_time_password_hours) {
            return bad("one_time_password_hours must be between 1 and 2160".into());
        }
        if self.oauth_refresh_grace_seconds > 3600 {
            return bad("oauth_refresh_grace_seconds must be between 0 and 3600".into());
        }
        if let Err(bad_proxy) = self.trusted_proxy_nets() {
            return bad(format!(
                "trusted_proxies: '{bad_proxy}' is not an IP address or a CIDR range"
            ));
        }
        if let Some(m) = &self.metrics_bind {
            if m.parse::<std::net::SocketAddr>().is_err() && !m.contains(':') {
                return bad(format!("metrics_bind '{m}' is not host:port"));
            }
        }
        if let Some(r) = &self.dns_resolver {
            if r.parse::<std::net::SocketAddr>().is_err() {
                return bad(format!("dns_resolver '{r}' is not ip:port"));
            }
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return bad(format!(
                "mail_from '{}' is not a mail address",
                self.mail_from
            ));
        }
        if !(1..=3650).contains(&self.provisioning_log_days) {
            return bad("provisioning_log_days must be between 1 and 3650".into());
        }
        if self.microsoft_client_id.is_some() != self.microsoft_client_secret.is_some() {
            return bad("microsoft_client_id and microsoft_client_secret go together".into());
        }
        if self.google_client_id.is_some() != self.google_client_secret.is_some() {
            return bad("google_client_id and google_client_secret go together".into());
        }
        if !(1..=256).contains(&self.job_workers) {
            return bad("job_workers must be between 1 and 256".into());
        }
        if !(1..=1440).contains(&self.sync_interval_minutes) {
            return bad("sync_interval_minutes must be between 1 and 1440".into());
        }
        for (name, v) in [
            ("sync_calendar_name", &self.sync_calendar_name),
            ("sync_contacts_folder", &self.sync_contacts_folder),
            ("exchange_folder_name", &self.exchange_folder_name),
            ("exchange_task_list_name", &self.exchange_task_list_name),
        ] {
            if v.trim().is_empty() || v.len() > 255 {
                return bad(format!("{name} must have 1 to 255 characters"));
            }
        }
        if !(1..=90).contains(&self.invitation_days) {
            return bad("invitation_days must be between 1 and 90".into());
        }
        if self.terms_version.trim().is_empty() || self.terms_version.len() > 64 {
            return bad("terms_version must have 1 to 64 characters".into());
        }
        if self.analyze_interval_seconds > 86_400 {
            return bad("analyze_interval_seconds must be at most 86400".into());
        }
        if !(1..=3650).contains(&self.signing_key_rotation_days) {
            return bad("signing_key_rotation_days must be between 1 and 3650".into());
        }
        Ok(())
    }

    /// The database URL, the secret key and the SMTP URL: what `serve` would otherwise refuse
    /// only after it had started, or misread.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let url = self.database_url.trim();
        if url.is_empty() {
            return bad("database_url is empty".into());
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if !["sqlite", "postgres", "postgresql"].contains(&scheme.to_ascii_lowercase().as_str())
            {
                return bad(format!(
                    "database_url '{}': unknown scheme '{scheme}'; use a SQLite file path, sqlite://path or postgres://user@host/db",
                    redact_url(url)
                ));
            }
        }
        if let Some(key) = &self.secret_key {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD.decode(key.0.trim());
            if bytes.map_or(true, |b| b.len() != 32) {
                return bad(
                    "secret_key must be the base64 of 32 bytes (e.g. `openssl rand -base64 32`)"
                        .into(),
                );
            }
        }
        if let Some(smtp) = &self.smtp_url {
            type Smtp = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;
            // lettre's own message shows Rust debug output; say what is expected instead.
            let scheme = smtp
                .0
                .split_once("://")
                .map(|(s, _)| s.to_ascii_lowercase());
            let why = match scheme.as_deref() {
                None => "it has no scheme".to_owned(),
                Some("smtp" | "smtps") => "its host, port or parameters cannot be read".to_owned(),
                Some(other) => format!("unknown scheme '{other}'"),
            };
            if Smtp::from_url(&smtp.0).is_err() {
                return bad(format!(
                    "smtp_url '{}' is not an SMTP URL ({why}): use smtp://host:587?tls=required or smtps://host:465",
                    redact_url(&smtp.0)
                ));
            }
        }
        Ok(())
    }

    /// Whether the server speaks HTTPS itself.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert_file.is_some()
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        let scheme = if self.serves_tls() { "https" } else { "http" };
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.bind))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Why identity providers may not reach the tenant URLs `serve` prints, if they may not.
    pub fn public_url_warning(&self) -> Option<String> {
        let Some(url) = &self.public_url else {
            return Some(format!(
                "public_url is not set: tenant URLs use {}, which identity providers elsewhere cannot reach; set public_url to the https:// address they use (Microsoft Entra ID needs HTTPS)",
                self.public_base()
            ));
        };
        let rest = url.strip_prefix("http://")?;
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || rest.starts_with("[::1]");
        (!loopback).then(|| format!("public_url {url} is plain http: Microsoft Entra ID only provisions to an https:// tenant URL; serve TLS (tls_cert_file, tls_key_file) or put Roster behind an HTTPS reverse proxy"))
    }

    /// The tenant URL of a connection (what is pasted into Entra's provisioning page).
    pub fn scim_base_url(&self, connection_id: &str) -> String {
        format!("{}/scim/v2/{connection_id}", self.public_base())
    }

    /// The OAuth issuer identifier, without a trailing slash.
    pub fn issuer(&self) -> String {
        self.oauth_issuer
            .as_deref()
            .map(|i| i.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| self.public_base())
    }

    /// The settings with secrets (the database password, the secret key) masked, for printing.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        s.database_url = redact_url(&s.database_url);
        if s.microsoft_client_secret.is_some() {
            s.microsoft_client_secret = Some(SecretString("***".into()));
        }
        if s.google_client_secret.is_some() {
            s.google_client_secret = Some(SecretString("***".into()));
        }
        if s.secret_key.is_some() {
            s.secret_key = Some(SecretString("***".into()));
        }
        if let Some(url) = &s.smtp_url {
            s.smtp_url = Some(SecretString(redact_url(&url.0)));
        }
        if s.metrics_token.is_some() {
            s.metrics_token = Some(SecretString("***".into()));
        }
        s
    }
}

/// Masks the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_settings_default_to_google_go_together_and_hide_the_secret() {
        let s = Settings::default();
        assert_eq!(
            (
                s.google_auth_url.as_str(),
                s.google_token_url.as_str(),
                s.google_people_url.as_str()
            ),
            (
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://people.googleapis.com"
            )
        );
        let half = Settings {
            google_client_id: Some("id.apps.googleusercontent.com".into()),
            ..Settings::default()
        };
        assert!(half.validate().is_err());
        let both = Settings {
            google_client_secret: Some(SecretString("GOCSPX-secret".into())),
            ..half
        };
        assert!(both.validate().is_ok());
        assert_eq!(
            both.redacted().google_client_secret.map(|s| s.0),
            Some("***".to_owned())
        );
        let bad_url = Settings {
            google_people_url: "people.googleapis.com".into(),
            ..Settings::default()
        };
        assert!(bad_url.validate().is_err());
    }

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            redact_url("postgres://roster:s3cret@db:5432/roster"),
            "postgres://roster:***@db:5432/roster"
        );
        assert_eq!(redact_url("roster.db"), "roster.db");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail decides the closure's error type
    fn environment_overrides_and_non_setting_variables_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROSTER_LOG", "debug");
            jail.set_env("ROSTER_CONFIG", "elsewhere.toml");
            jail.set_env("ROSTER_TEST_DATABASE_URL", "postgres://x/y");
            jail.set_env("ROSTER_MAX_PAGE_SIZE", "500");
            jail.create_file("roster.toml", "bind = \"0.0.0.0:9000\"")?;
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!((s.bind.as_str(), s.max_page_size), ("0.0.0.0:9000", 500));
            // Kubernetes sets these for a Service named `roster`; they are ignored, and named.
            jail.set_env("ROSTER_SERVICE_HOST", "10.0.0.1");
            jail.set_env("ROSTER_PORT", "tcp://10.0.0.1:8080");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.max_page_size, 500);
            for name in ["ROSTER_PORT", "ROSTER_SERVICE_HOST"] {
                assert!(s.ignored_environment.iter().any(|v| v == name), "{name}");
            }
            assert!(!s.ignored_environment.iter().any(|v| v == "ROSTER_LOG"));
            let warning = s.ignored_environment_warning().unwrap_or_default();
            assert!(
                warning.contains("ROSTER_PORT, ROSTER_SERVICE_HOST"),
                "{warning}"
            );
            jail.create_file(
                "roster.toml",
                "bind = \"0.0.0.0:9000\"\nno_such_setting = 1",
            )?;
            let err = Settings::load(None).expect_err("typos in roster.toml are reported");
            assert!(err.to_string().contains("no_such_setting"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn check_config_refuses_what_serve_would_refuse_or_misread() {
        let with = |f: fn(&mut Settings)| {
            let mut s = Settings::default();
            f(&mut s);
            s.validate().map_err(|e| e.to_string())
        };
        let err = with(|s| s.database_url = "mysql://x".into()).unwrap_err();
        assert!(err.contains("unknown scheme 'mysql'"), "{err}");
        let err = with(|s| s.secret_key = Some(SecretString("short".into()))).unwrap_err();
        assert!(err.contains("secret_key"), "{err}");
        let err = with(|s| s.smtp_url = Some(SecretString("http://x".into()))).unwrap_err();
        assert!(err.contains("smtp_url"), "{err}");
        with(|s| s.database_url = "postgres://u@h/db".into()).unwrap();
        with(|s| s.database_url = "sqlite://data/roster.db".into()).unwrap();
        with(|s| s.smtp_url = Some(SecretString("smtp://mail.example.com:587".into()))).unwrap();
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
        assert_eq!(
            Settings::default().scim_base_url("c1"),
            "http://127.0.0.1:8080/scim/v2/c1"
        );
    }
}
