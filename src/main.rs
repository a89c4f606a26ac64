//! `roster`: parses the command line and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use roster::config::Settings;
use roster::org::audit_cli;
use roster::provisioning::tenancy::{self, CONNECTION_KINDS};
use roster::storage::{tenants, StorageError};
use serde_json::json;

/// What the command line says where a tenant URL would stand without `public_url`.
const PUBLIC_URL_HINT: &str = "Tenant URLs need the public_url setting (the https:// address identity providers reach Roster at); `roster serve` uses it too.";

/// A connection's tenant URL: known only from `public_url`, as the command line cannot know
/// where a running server listens.
fn tenant_url(settings: &Settings, connection_id: &str) -> Option<String> {
    settings
        .public_url
        .as_ref()
        .map(|_| settings.scim_base_url(connection_id))
}

fn url_or_hint(url: &Option<String>) -> &str {
    url.as_deref().unwrap_or("(public_url not set)")
}

#[derive(Parser)]
#[command(name = "roster", version, about = "SCIM 2.0 provisioning server")]
struct Cli {
    /// TOML configuration file (default: ./roster.toml when present).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    config: Option<PathBuf>,
    /// Database: a SQLite file path (default roster.db) or postgres://user@host/db.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long)]
        bind: Option<String>,
        /// Public URL clients reach the server at (used in tenant URLs).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and print it (secrets masked).
    CheckConfig,
    /// Seal a secret read from stdin with Roster's secret key, for a setting that accepts a
    /// sealed value (`microsoft_client_secret`, `google_client_secret`); prints the sealed form.
    Seal,
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Directory connections (one per identity provider feeding an org).
    Connection {
        #[command(subcommand)]
        command: ConnectionCommand,
    },
    /// Secret bearer tokens of a directory connection.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Accounts that sign in to the admin API (the first owner of an org is made here).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The keys that sign OAuth access tokens.
    SigningKey {
        #[command(subcommand)]
        command: SigningKeyCommand,
    },
    /// The job queue.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// List jobs, most recently changed first: the server's own (housekeeping), or an org's
    /// (mail, sync runs) with --org.
    List {
        /// queued, running, done, dead or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Org id or name.
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value_t = 100)]
        count: i64,
    },
}

#[derive(Subcommand)]
enum SigningKeyCommand {
    /// Make a new signing key now. Tokens signed by the old one stay valid until they expire;
    /// every replica picks the new one up within a minute.
    Rotate,
    /// Print the public keys (the JWK Set served at /.well-known/jwks.json).
    List,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account. Reads the password from stdin with --password-stdin; otherwise
    /// generates one, prints it once and asks for a new one at first sign-in.
    Create {
        /// Org id or name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin or member.
        #[arg(long, default_value = "owner")]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an org's accounts: id, email, role and whether each is disabled.
    List {
        /// Org id or name.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an org; prints its id.
    Create {
        /// A name unique on this server.
        #[arg(long)]
        name: String,
    },
    /// List the orgs: id and name.
    List,
}

#[derive(Subcommand)]
enum ConnectionCommand {
    /// Add a directory connection to an org; prints its id and tenant URL.
    Create {
        /// Org id or name.
        #[arg(long)]
        org: String,
        /// A name for people, unique in the org.
        #[arg(long)]
        name: String,
        /// azure (Microsoft Entra ID's request shapes, and any RFC client), okta, or scim
        /// (RFC 7643/7644 exactly).
        #[arg(long, default_value = "azure")]
        kind: String,
    },
    /// List connections with their kind, name and tenant URL.
    List {
        /// Only this org's (id or name).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token; prints only the secret on stdout (or JSON with --json).
    Create {
        /// Connection id (from `connection list`).
        #[arg(long)]
        connection: String,
        /// A label for people, shown in lists.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List a connection's tokens: id, last characters, label, created and revoked.
    List {
        /// Connection id (from `connection list`).
        #[arg(long)]
        connection: String,
    },
    /// Revoke a token: requests with it are refused from then on (within
    /// `token_cache_seconds` on other replicas).
    Revoke {
        /// Token id (from `token list`).
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        s.database_url = url.clone();
    }
    if let Some(Command::Serve { bind, public_url }) = &cli.command {
        if let Some(b) = bind {
            s.bind = b.clone();
        }
        if let Some(u) = public_url {
            s.public_url = Some(u.clone());
        }
    }
    s.validate()?;
    Ok(s)
}

/// Writes a command's answer: JSON with `--json`, else text, ending with a newline. A reader that
/// stopped reading (`roster … | head -2`) is not an error.
fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = match json {
        true => serde_json::to_string_pretty(value)?,
        false => text(),
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings(&cli)?;
    let json = cli.json;
    match cli.command.unwrap_or(Command::Serve {
        bind: None,
        public_url: None,
    }) {
        Command::Serve { .. } => serve(settings),
        Command::Migrate => {
            let (db, backfilled) = roster::app::migrate(&settings)?;
            let applied = db.migrations_applied();
            let out = json!({"migrated": !applied.is_empty(), "applied": applied, "backfilled": backfilled});
            print(json, &out, || {
                let mut text = match applied {
                    [] => "database is up to date: no migration to apply".to_owned(),
                    list => format!(
                        "applied {} migration{}: {}",
                        list.len(),
                        if list.len() == 1 { "" } else { "s" },
                        list.join(", ")
                    ),
                };
                if backfilled > 0 {
                    text.push_str(&format!("\nbackfilled {backfilled} rows"));
                }
                text
            })
        }
        Command::CheckConfig => {
            roster::app::load_registry(&settings)?;
            if let Some(warning) = settings.ignored_environment_warning() {
                eprintln!("warning: {warning}");
            }
            print(json, &settings.redacted(), || {
                format!("configuration ok\n{}", pretty(&settings.redacted()))
            })
        }
        Command::Seal => {
            let mut secret = String::new();
            std::io::stdin().read_line(&mut secret)?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                anyhow::bail!("nothing to seal: write the secret to stdin");
            }
            let sealed = roster::app::secret_box(&settings)?.seal(secret.as_bytes())?;
            print(json, &serde_json::json!({"sealed": sealed}), || {
                sealed.clone()
            })
        }
        Command::Org { command } => {
            let db = roster::app::open_existing_db(&settings)?;
            match command {
                OrgCommand::Create { name } => {
                    let org = db
                        .run_sync(|c| {
                            let org = tenancy::create_org(c, &name)?;
                            let target = ("org", Some(org.id.as_str()));
                            audit_cli(c, &org.id, "org.create", target, json!({"name": name}))?;
                            Ok(org)
                        })
                        .map_err(|e| match e {
                            StorageError::Unique(_) => {
                                anyhow::anyhow!("an org named {name} already exists")
                            }
                            other => other.into(),
                        })?;
                    print(json, &org, || org.id.clone())
                }
                OrgCommand::List => {
                    let orgs = db.run_sync(tenants::list_orgs)?;
                    print(json, &orgs, || {
                        orgs.iter()
                            .map(|o| format!("{}\t{}", o.id, o.name))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                }
            }
        }
        Command::Connection { command } => {
            let db = roster::app::open_existing_db(&settings)?;
            match command {
                ConnectionCommand::Create { org, name, kind } => {
                    let kind = kind.to_ascii_lowercase();
                    if !CONNECTION_KINDS.contains(&kind.as_str()) {
                        anyhow::bail!("--kind must be one of {}", CONNECTION_KINDS.join(", "));
                    }
                    let created = db.run_sync(|c| {
                        let org = tenants::find_org(c, &org)?.ok_or(StorageError::NotFound)?;
                        let conn = tenancy::create_connection(c, &org.id, &name, &kind)?;
                        let detail = json!({"name": name, "kind": kind});
                        let target = ("connection", Some(conn.id.as_str()));
                        audit_cli(c, &org.id, "connection.create", target, detail)?;
                        Ok::<_, StorageError>(conn)
                    });
                    let conn = created.map_err(|e| match e {
                        StorageError::NotFound => anyhow::anyhow!("no org '{org}'"),
                        other => other.into(),
                    })?;
                    let url = tenant_url(&settings, &conn.id);
                    let out = json!({"connection": conn, "tenant_url": url});
                    print(json, &out, || {
                        format!("{}\ntenant URL: {}", conn.id, url_or_hint(&url))
                    })
                }
                ConnectionCommand::List { org } => {
                    let list = db.run_sync(|c| {
                        let org_id = match &org {
                            Some(o) => {
                                Some(tenants::find_org(c, o)?.ok_or(StorageError::NotFound)?.id)
                            }
                            None => None,
                        };
                        tenants::list_connections(c, org_id.as_deref())
                    })?;
                    let rows: Vec<_> = list
                        .iter()
                        .map(|c| json!({"connection": c, "tenant_url": tenant_url(&settings, &c.id)}))
                        .collect();
                    print(json, &rows, || {
                        let mut lines: Vec<String> = list
                            .iter()
                            .map(|c| {
                                let url = tenant_url(&settings, &c.id);
                                format!("{}\t{}\t{}\t{}", c.id, c.kind, c.name, url_or_hint(&url))
                            })
                            .collect();
                        if settings.public_url.is_none() && !list.is_empty() {
                            lines.push(PUBLIC_URL_HINT.into());
                        }
                        lines.join("\n")
                    })
                }
            }
        }
        Command::Token { command } => {
            let db = roster::app::open_existing_db(&settings)?;
            match command {
                TokenCommand::Create { connection, label } => {
                    let token = db
                        .run_sync(|c| {
                            let token = tenancy::create_token(c, &connection, &label)?;
                            let conn = tenants::find_connection(c, &connection)?
                                .ok_or(StorageError::NotFound)?;
                            let detail = json!({"connection_id": connection, "label": label});
                            let target = ("scim_token", Some(token.id.as_str()));
                            audit_cli(c, &conn.org_id, "token.create", target, detail)?;
                            Ok(token)
                        })
                        .map_err(|e| match e {
                            StorageError::NotFound => {
                                anyhow::anyhow!("no connection '{connection}'")
                            }
                            other => other.into(),
                        })?;
                    print(json, &token, || token.token.clone())
                }
                TokenCommand::List { connection } => {
                    let tokens = db.run_sync(|c| {
                        if tenants::find_connection(c, &connection)?.is_none() {
                            anyhow::bail!(
                                "no connection '{connection}': `roster connection list` shows their ids"
                            );
                        }
                        Ok(tenants::list_tokens(c, &connection)?)
                    })?;
                    print(json, &tokens, || {
                        tokens
                            .iter()
                            .map(|t| {
                                format!(
                                    "{}\t…{}\t{}\t{}\t{}",
                                    t.id,
                                    t.hint,
                                    t.label,
                                    t.created,
                                    t.revoked.as_deref().unwrap_or("active")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                }
                TokenCommand::Revoke { id } => {
                    let revoked = db.run_sync(|c| {
                        let org = tenants::token_org(c, &id)?;
                        let revoked = tenancy::revoke_token(c, &id)?;
                        if let (true, Some(org)) = (revoked, org) {
                            audit_cli(
                                c,
                                &org,
                                "token.revoke",
                                ("scim_token", Some(&id)),
                                json!({}),
                            )?;
                        }
                        Ok::<_, StorageError>(revoked)
                    })?;
                    if !revoked {
                        anyhow::bail!("no active token '{id}'");
                    }
                    print(json, &serde_json::json!({"revoked": id}), || {
                        format!("revoked {id}")
                    })
                }
            }
        }
        Command::Account { command } => {
            account(&roster::app::open_existing_db(&settings)?, json, command)
        }
        Command::Job {
            command: JobCommand::List { state, org, count },
        } => {
            let db = roster::app::open_existing_db(&settings)?;
            let org_id = match org {
                Some(org) => Some(
                    db.run_sync(|c| tenants::find_org(c, &org))?
                        .ok_or_else(|| anyhow::anyhow!("no org '{org}'"))?
                        .id,
                ),
                None => None,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let jobs = runtime.block_on(roster::jobs::list(&db, org_id, state, None, count))?;
            print(json, &jobs, || {
                jobs.iter()
                    .map(|j| {
                        format!(
                            "{}  {:<9} {:<14} attempts {}/{}  run at {}{}",
                            j.id,
                            j.state,
                            j.kind,
                            j.attempts,
                            j.max_attempts,
                            j.run_at,
                            j.last_error
                                .as_deref()
                                .map(|e| format!("  ({e})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        Command::SigningKey { command } => {
            let db = roster::app::open_existing_db(&settings)?;
            let oauth = roster::app::oauth_service(&settings, &db)?;
            match command {
                SigningKeyCommand::Rotate => {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let kid = runtime.block_on(oauth.keys().rotate())?;
                    db.run_sync(|c| {
                        for org in tenants::list_orgs(c)? {
                            let target = ("signing_key", Some(kid.as_str()));
                            audit_cli(c, &org.id, "signing_key.rotate", target, json!({}))?;
                        }
                        Ok::<_, StorageError>(())
                    })?;
                    print(json, &serde_json::json!({"kid": kid}), || kid.clone())
                }
                SigningKeyCommand::List => {
                    let jwks = oauth.keys().jwks();
                    print(json, &jwks, || pretty(&jwks))
                }
            }
        }
    }
}

fn account(db: &roster::storage::Db, json: bool, command: AccountCommand) -> anyhow::Result<()> {
    use roster::org::{insert_account, AccountView, NewAccount};
    match command {
        AccountCommand::Create {
            org,
            email,
            role,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (roster::security::generate_password(), true)
            };
            roster::org::check_password(&password)?;
            let hash = roster::security::hash_password(&password).map_err(anyhow::Error::msg)?;
            let new = NewAccount {
                email,
                password: String::new(),
                display_name: None,
                role: Some(role),
                profile_id: None,
                must_change_password: Some(generated),
                user_id: None,
            };
            let row = db.run_sync(|c| {
                let org =
                    tenants::find_org(c, &org)?.ok_or_else(|| anyhow::anyhow!("no org '{org}'"))?;
                let row = insert_account(c, &org.id, &new, hash)?;
                let detail = json!({"email": row.email, "role": row.role});
                audit_cli(
                    c,
                    &org.id,
                    "account.create",
                    ("account", Some(&row.id)),
                    detail,
                )?;
                Ok::<_, anyhow::Error>(row)
            })?;
            let view = AccountView::from(row);
            let out = serde_json::json!({
                "account": view,
                "password": generated.then_some(password.as_str()),
            });
            print(json, &out, || match generated {
                true => format!(
                    "{}\npassword (shown once, to be changed at first sign-in): {password}",
                    view.id
                ),
                false => view.id.clone(),
            })
        }
        AccountCommand::List { org } => {
            let rows = db.run_sync(|c| {
                let org =
                    tenants::find_org(c, &org)?.ok_or_else(|| anyhow::anyhow!("no org '{org}'"))?;
                Ok::<_, anyhow::Error>(roster::storage::accounts::list_accounts(c, &org.id)?)
            })?;
            let views: Vec<AccountView> = rows.into_iter().map(AccountView::from).collect();
            print(json, &views, || {
                views
                    .iter()
                    .map(|a| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            a.id,
                            a.email,
                            a.role,
                            if a.disabled { "disabled" } else { "active" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn pretty<T: Serialize>(s: &T) -> String {
    serde_json::to_string_pretty(s).unwrap_or_default()
}

fn init_tracing(settings: &Settings) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| "info".into());
    // One line per request when its span closes: request id, route, status, org and latency.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    if settings.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A line for the person who started the server; a closed stdout (a supervisor that stopped
/// reading) must not stop the server, so a failed write is ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing(&settings);
    if let Some(warning) = settings.public_url_warning() {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = settings.ignored_environment_warning() {
        tracing::warn!("{warning}");
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let running = roster::app::start(settings)?;
        let base = running.settings.public_base();
        tracing::info!(addr = %running.addr, database = %roster::config::redact_url(&running.settings.database_url), "roster listening");
        if let Some(b) = &running.bootstrap {
            say!("Roster is running at {base}");
            say!("Created org '{}' with directory connection '{}'.", b.org.name, b.connection.name);
            say!("SCIM base URL (tenant URL): {}", running.settings.scim_base_url(&b.connection.id));
            say!("Secret token (shown once):  {}", b.token.token);
            say!("The connection is of kind azure: it takes Microsoft Entra ID's requests as Entra sends them, and those of Okta or any SCIM 2.0 client that follows RFC 7643/7644.");
            say!("Console: open {base}/console/welcome and paste this token to become the org's owner; it walks you to a Microsoft Entra ID connection.");
            say!("Admin API ({base}/admin/v1): or create the org's owner with `roster account create --org {} --email you@example.com`", b.org.name);
        } else {
            say!("Roster is running at {base}");
            say!("Tenant URLs: `roster connection list`; a new secret token: `roster token create --connection <id>`");
        }
        running.server.await?;
        Ok(())
    })
}
