//! Wiring: settings to a running server (database, schema registry, first-start bootstrap).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;

use crate::config::Settings;
use crate::connectors::microsoft::MicrosoftConfig;
use crate::jobs::{Queue, QueueSettings};
use crate::mail::dns::TxtResolver;
use crate::mail::Mailer;
use crate::oauth::{KeyRing, OAuthPolicy, OAuthService};
use crate::office365::{Office365Service, Office365Settings, Terms};
use crate::org::{OrgService, SessionPolicy};
use crate::provisioning::tenancy::{self, Bootstrap};
use crate::provisioning::ScimService;
use crate::scim::schema::Registry;
use crate::security::SecretBox;
use crate::storage::{Db, DbSettings, StorageError};

/// A server that has been bound and is ready to be awaited.
pub struct Running {
    pub server: Server,
    pub addr: SocketAddr,
    /// The `metrics_bind` address, bound.
    pub metrics_addr: Option<SocketAddr>,
    pub settings: Settings,
    /// What first start created on an empty database.
    pub bootstrap: Option<Bootstrap>,
}

/// Opens the database, creating and migrating it as needed (`serve`, `migrate`, tests).
pub fn open_db(settings: &Settings) -> Result<Db, StorageError> {
    open(settings, true)
}

/// Opens the database like `serve` (creating and migrating it) and runs the backfills the
/// migrations left pending; returns the database and how many rows the backfills wrote.
pub fn migrate(settings: &Settings) -> anyhow::Result<(Db, usize)> {
    let registry = Arc::new(load_registry(settings)?);
    let db = open_db(settings)?;
    let mapper = crate::provisioning::profiles::ProfileMapper::new(registry);
    let written = mapper.run_backfills(&db)?;
    Ok((db, written))
}

/// Opens a database Roster made before (applying newer migrations); never creates one.
pub fn open_existing_db(settings: &Settings) -> Result<Db, StorageError> {
    open(settings, false)
}

fn open(settings: &Settings, create: bool) -> Result<Db, StorageError> {
    Db::open(&DbSettings {
        url: settings.database_url.clone(),
        pool_size: settings.pool_size,
        sqlite_synchronous: settings.sqlite_synchronous.clone(),
        acquire_timeout: Duration::from_secs(30),
        create,
    })
}

pub fn load_registry(settings: &Settings) -> anyhow::Result<Registry> {
    let reg = match &settings.schemas_dir {
        Some(dir) => Registry::with_dir(dir),
        None => Registry::embedded(),
    };
    reg.map_err(|e| anyhow::anyhow!(e.detail))
}

/// The key that seals secrets at rest: the `secret_key` setting, else the key file.
pub fn secret_box(settings: &Settings) -> anyhow::Result<SecretBox> {
    Ok(match &settings.secret_key {
        Some(key) => SecretBox::from_base64(&key.0)?,
        None => SecretBox::load_or_create(&settings.secret_key_file)?,
    })
}

/// The TLS configuration of `tls_cert_file` and `tls_key_file`, when set: TLS 1.2 and 1.3 with
/// rustls's safe defaults.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&settings.tls_cert_file, &settings.tls_key_file) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("tls_cert_file {}: {e}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("tls_cert_file {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("tls_key_file {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("the TLS certificate and key do not fit: {e}"))?;
    Ok(Some(config))
}

/// What one SCIM request may write, from the settings.
fn scim_limits(settings: &Settings) -> crate::scim::rules::Limits {
    crate::scim::rules::Limits {
        identifier_chars: settings.scim_max_identifier_length,
        text_chars: settings.scim_max_string_length,
        patch_operations: settings.scim_max_patch_operations,
    }
}

pub fn oauth_policy(settings: &Settings) -> OAuthPolicy {
    OAuthPolicy {
        issuer: settings.issuer(),
        public_base: settings.public_base(),
        access_token: Duration::from_secs(settings.oauth_access_token_minutes * 60),
        client_credentials_token: Duration::from_secs(
            settings.oauth_client_credentials_minutes * 60,
        ),
        refresh_token: Duration::from_secs(settings.oauth_refresh_token_days * 86_400),
        refresh_grace: Duration::from_secs(settings.oauth_refresh_grace_seconds),
    }
}

/// The OAuth authorization server: its policy and signing keys (made on first use).
pub fn oauth_service(settings: &Settings, db: &Db) -> anyhow::Result<OAuthService> {
    let secrets = secret_box(settings)?;
    // Mail this service writes is sent by a server's job workers.
    let jobs = Queue::new(db.clone(), QueueSettings::default());
    let mailer = mailer(settings, db, secrets.clone(), jobs)?;
    oauth_service_sealed_by(settings, db, secrets, mailer)
}

fn mailer(settings: &Settings, db: &Db, secrets: SecretBox, jobs: Queue) -> anyhow::Result<Mailer> {
    Ok(Mailer::new(
        db.clone(),
        secrets,
        settings.smtp_url.as_ref().map(|u| u.0.as_str()),
        &settings.mail_from,
        jobs,
    )?)
}

fn oauth_service_sealed_by(
    settings: &Settings,
    db: &Db,
    secrets: SecretBox,
    mailer: Mailer,
) -> anyhow::Result<OAuthService> {
    let policy = oauth_policy(settings);
    let keys = KeyRing::open(
        db.clone(),
        secrets,
        Duration::from_secs(settings.signing_key_rotation_days * 86_400),
        policy.verify_window(),
    )?;
    Ok(OAuthService::new(
        db.clone(),
        Arc::new(keys),
        policy,
        mailer,
    ))
}

/// Signing in with Microsoft, when `microsoft_client_id` and `microsoft_client_secret` are set.
/// A secret sealed with Roster's key (`roster seal`) is opened here.
fn microsoft_config(
    settings: &Settings,
    secrets: &SecretBox,
) -> anyhow::Result<Option<MicrosoftConfig>> {
    let (Some(id), Some(secret)) = (
        &settings.microsoft_client_id,
        &settings.microsoft_client_secret,
    ) else {
        return Ok(None);
    };
    let client_secret = if secret.0.starts_with(crate::security::SEALED_PREFIX) {
        String::from_utf8(secrets.open(&secret.0)?)
            .map_err(|_| anyhow::anyhow!("microsoft_client_secret: the sealed value is not text"))?
    } else {
        secret.0.clone()
    };
    Ok(Some(MicrosoftConfig {
        authority: settings.microsoft_authority_url.clone(),
        graph: settings.microsoft_graph_url.clone(),
        client_id: id.clone(),
        client_secret,
        redirect_uri: format!("{}/auth/microsoft/callback", settings.public_base()),
        max_retry_wait: Duration::from_secs(20),
    }))
}

fn office365_service(
    settings: &Settings,
    db: &Db,
    secrets: SecretBox,
    org: OrgService,
    mailer: Mailer,
) -> anyhow::Result<Office365Service> {
    let office = Office365Settings {
        microsoft: microsoft_config(settings, &secrets)?,
        terms: Terms {
            url: settings.terms_url.clone(),
            version: settings.terms_version.clone(),
        },
        public_base: settings.public_base(),
        invitation_days: settings.invitation_days,
    };
    Ok(Office365Service::new(
        db.clone(),
        secrets,
        org,
        mailer,
        office,
    )?)
}

/// The hourly housekeeping job (and once at start): deletes provisioning log entries older than
/// the retention, empties the mails of one-time passwords older than `otp_hours` (their
/// passwords no longer work), drops Microsoft sign-ins abandoned before they finished, finished
/// jobs older than a week, and record tombstones older than [`TOMBSTONE_DAYS`]. Every step is
/// idempotent.
fn register_housekeeping(queue: &Queue, db: Db, days: u64, otp_hours: u64) {
    queue.register(HOUSEKEEPING, move |_ctx| {
        let db = db.clone();
        async move {
            let ago = |d: chrono::Duration| {
                crate::scim::resource::format_datetime(chrono::Utc::now() - d)
            };
            let (logs, otp, now, jobs) = (
                ago(chrono::Duration::days(days as i64)),
                ago(chrono::Duration::hours(otp_hours as i64)),
                ago(chrono::Duration::zero()),
                ago(chrono::Duration::days(7)),
            );
            let tombstones = ago(chrono::Duration::days(TOMBSTONE_DAYS));
            let counts = db
                .write(move |c| {
                    Ok::<_, StorageError>((
                        crate::storage::provlog::prune(c, &logs)?,
                        crate::storage::mail::expire_mail(
                            c,
                            &crate::mail::PASSWORD_MAIL_KINDS,
                            &otp,
                        )?,
                        crate::storage::microsoft::prune_sign_ins(c, &now)?,
                        crate::storage::jobs::prune(c, &jobs)?,
                        crate::storage::crm::prune_tombstones(c, &tombstones)?,
                        crate::storage::sync::prune_runs(c, &logs)?,
                    ))
                })
                .await?;
            if counts != (0, 0, 0, 0, 0, 0) {
                tracing::info!(
                    provisioning_log = counts.0,
                    password_mails = counts.1,
                    sign_ins = counts.2,
                    jobs = counts.3,
                    tombstones = counts.4,
                    sync_runs = counts.5,
                    "housekeeping"
                );
            }
            Ok(())
        }
    });
}

/// How long a deleted contact, event or task keeps its tombstone: far longer than any sync
/// interval, so every sync sees the deletion.
pub const TOMBSTONE_DAYS: i64 = 90;

/// The kind of the hourly housekeeping job.
pub const HOUSEKEEPING: &str = "housekeeping";

/// Keeps PostgreSQL's planner statistics up with a growing database (see
/// [`Db::analyze_grown`]), every `seconds`.
fn spawn_statistics(db: Db, seconds: u64) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if seconds == 0 || db.dialect() != crate::storage::Dialect::Postgres {
        return;
    }
    runtime.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(seconds));
        loop {
            every.tick().await;
            match db.analyze_grown().await {
                Ok(tables) if !tables.is_empty() => {
                    tracing::debug!(?tables, "planner statistics refreshed")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
            }
        }
    });
}

/// Opens the database (migrating it), bootstraps an empty one, binds and starts serving.
///
/// Everything that can fail (settings, schemas, the port, the secret key, SMTP, signing keys)
/// is done before the first-start bootstrap, so the token it prints is the token it created.
pub fn start(mut settings: Settings) -> anyhow::Result<Running> {
    settings.validate()?;
    let registry = Arc::new(load_registry(&settings)?);
    let listener = TcpListener::bind(&settings.bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match &settings.metrics_bind {
        Some(bind) => Some(
            TcpListener::bind(bind)
                .map_err(|e| anyhow::anyhow!("cannot listen on metrics_bind {bind}: {e}"))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let tls = tls_config(&settings)?;
    if settings.public_url.is_none() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        settings.public_url = Some(format!("{scheme}://{addr}"));
    }
    let db = open_db(&settings)?;
    let secrets = secret_box(&settings)?;
    let queue = Queue::new(
        db.clone(),
        QueueSettings {
            concurrency: settings.job_workers,
            ..QueueSettings::default()
        },
    );
    let mailer = mailer(&settings, &db, secrets.clone(), queue.clone())?;
    let secrets_for_office365 = secrets.clone();
    let secrets_for_exchange = secrets.clone();
    let oauth = oauth_service_sealed_by(&settings, &db, secrets, mailer.clone())?;
    // Replicas starting together race to bootstrap; the loser sees the unique name and moves on.
    let bootstrap = match db.run_sync(tenancy::bootstrap_if_empty) {
        Err(StorageError::Unique(_)) => None,
        other => other?,
    };
    let scim = ScimService::new(
        db.clone(),
        registry,
        mailer.clone(),
        settings.one_time_password_hours,
    );
    scim.profiles().run_backfills(&db)?;
    let org = OrgService::new(
        db.clone(),
        SessionPolicy {
            default: Duration::from_secs(settings.admin_session_hours * 3600),
            longest: Duration::from_secs(settings.admin_token_max_days * 86_400),
        },
        oauth.policy().clone(),
        scim.profiles(),
        TxtResolver::new(
            settings
                .dns_resolver
                .as_deref()
                .and_then(|r| r.parse().ok()),
        ),
        mailer.clone(),
        scim_limits(&settings),
        queue.clone(),
    );
    let office365 = office365_service(
        &settings,
        &db,
        secrets_for_office365,
        org.clone(),
        mailer.clone(),
    )?;
    let exchange = crate::exchange::ExchangeService::new(
        db.clone(),
        secrets_for_exchange,
        crate::exchange::ExchangeSettings {
            ews_url: settings.exchange_ews_url.clone(),
            autodiscover_url: settings.exchange_autodiscover_url.clone(),
            graph_url: settings
                .exchange_graph_url
                .clone()
                .unwrap_or_else(|| settings.microsoft_graph_url.clone()),
            folder_name: settings.exchange_folder_name.clone(),
            task_list_name: settings.exchange_task_list_name.clone(),
            microsoft_app: settings.microsoft_client_id.is_some(),
        },
        queue.clone(),
        Duration::from_secs(settings.sync_interval_minutes * 60),
        office365.clone(),
    );
    let sync = crate::sync::SyncService::new(
        db.clone(),
        office365.clone(),
        queue.clone(),
        crate::sync::SyncSettings {
            interval: Duration::from_secs(settings.sync_interval_minutes * 60),
            calendar_name: settings.sync_calendar_name.clone(),
            contacts_folder: settings.sync_contacts_folder.clone(),
            window: Default::default(),
        },
        exchange.clone(),
    );
    sync.register();
    mailer.register_sender();
    register_housekeeping(
        &queue,
        db.clone(),
        settings.provisioning_log_days,
        settings.one_time_password_hours,
    );
    queue.spawn();
    let (periodic, sender) = (queue.clone(), mailer.clone());
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(e) = sender.queue_pending().await {
                tracing::warn!(error = %e, "could not queue pending mail");
            }
            let hourly = Duration::from_secs(3600);
            if let Err(e) = periodic
                .periodic(
                    HOUSEKEEPING,
                    HOUSEKEEPING,
                    hourly,
                    serde_json::json!({}),
                    true,
                )
                .await
            {
                tracing::warn!(error = %e, "could not schedule housekeeping");
            }
        });
    }
    spawn_statistics(db.clone(), settings.analyze_interval_seconds);
    let limits = scim_limits(&settings);
    let crm = crate::crm::CrmService::new(db.clone());
    let state = crate::http::AppState::new(
        settings.clone(),
        limits,
        scim,
        org,
        oauth,
        office365,
        crm,
        sync,
        exchange,
    );
    let server = crate::http::serve(listener, metrics_listener, state, tls)?;
    Ok(Running {
        server,
        addr,
        metrics_addr,
        settings,
        bootstrap,
    })
}
