//! The command line. Every command takes the storage flags, before or after its name, and
//! `--json` for scripts.

use crate::config::{Config, GlobalArgs, ServeArgs, redact_url};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vouch_core::{ApiScope, Email, Role, Slug};
use vouch_store::audit::Actor;
use vouch_store::{Backend, ConnectOptions, Store, commands, workspaces};
use vouch_worker::{Registry, Worker, WorkerConfig};

#[derive(Debug, Parser)]
#[command(
    name = "vouch",
    version,
    about = "Vouch: referral programs your business owns."
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server with an in-process worker.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        /// Run no worker in this process (run `vouch worker` elsewhere).
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only the worker (for scaling out).
    Worker {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    #[command(subcommand)]
    Workspace(WorkspaceCmd),
    #[command(subcommand)]
    User(UserCmd),
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCmd),
    /// Write a consistent copy of the SQLite database while Vouch runs.
    Backup {
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Export every table to a folder (to move between SQLite and PostgreSQL).
    Export {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Import an export into an empty database, all or nothing.
    Import {
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Exit 0 when the server at --bind answers /readyz, 1 otherwise.
    Healthcheck {
        #[command(flatten)]
        serve: ServeArgs,
    },
    #[command(subcommand)]
    Config(ConfigCmd),
    #[command(subcommand)]
    Jobs(JobsCmd),
    #[command(subcommand)]
    Customers(CustomersCmd),
}

#[derive(Debug, Subcommand)]
enum CustomersCmd {
    /// Import customers from CSV (email, name, external_id, phone, consent_marketing,
    /// attributes, or any other column as an attribute). Exit 3 when some rows were refused.
    Import {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Write the refused rows (line, error) to this CSV file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Export a workspace's customers as CSV.
    Export {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspaceCmd {
    /// Create a workspace (a business).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: Option<String>,
    },
    /// List workspaces.
    List,
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a member to a workspace; a new user's password is read from stdin or a prompt.
    Create {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCmd {
    /// Create an API key; it is printed once and never again.
    Create {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
        #[arg(long)]
        name: String,
        /// read, write (repeat or separate with commas; default read).
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
    },
    /// Revoke an API key by its id (key_…).
    Revoke {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
        #[arg(long)]
        id: String,
    },
    /// List a workspace's API keys (never their secrets).
    List {
        #[arg(long, value_name = "SLUG")]
        workspace: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Print the effective configuration, secrets redacted.
    Print {
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCmd {
    /// Enqueue a probe job that a worker runs: proves the queue is being worked.
    Probe {
        #[arg(long)]
        key: Option<String>,
        /// Make the probe take this long.
        #[arg(long, default_value_t = 0)]
        sleep_ms: u64,
        /// Wait (up to 60 s) until a worker has run it.
        #[arg(long)]
        wait: bool,
    },
    /// List jobs, optionally of one status (queued, running, done, dead).
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log_level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &Config) -> Result<Store> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "--data-dir (VOUCH_DATA_DIR): cannot create {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = Store::open(
        &config.database_url,
        &ConnectOptions {
            acquire_timeout: Duration::from_secs(10),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow!("database {}: {e}", redact_url(&config.database_url)))?;
    Ok(store)
}

async fn workspace_by_slug(store: &Store, slug: &str) -> Result<vouch_store::rows::Workspace> {
    let mut c = store.read().await?;
    workspaces::by_slug(&mut c, slug).await?.ok_or_else(|| {
        anyhow!("--workspace: no workspace has the slug {slug:?} (see `vouch workspace list`)")
    })
}

fn print(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// A new user's password: from a prompt on a terminal (asked twice), else the first stdin line.
fn read_password() -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Password again: ")?;
        if a != b {
            bail!("the two passwords differ");
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    vouch_core::account::check_new_password(&password).map_err(|e| anyhow!("{e}"))?;
    Ok(password)
}

fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig {
        concurrency: config.worker_concurrency,
        lease: Duration::from_secs(config.job_lease_secs),
        poll_interval: Duration::from_millis(config.worker_poll_ms),
        ..Default::default()
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    let no_serve = ServeArgs::default();
    let serve_args = match &cli.command {
        Command::Serve { serve, .. }
        | Command::Worker { serve }
        | Command::Healthcheck { serve } => serve,
        Command::Config(ConfigCmd::Print { serve }) => serve,
        _ => &no_serve,
    };
    let config = Config::load(g, serve_args)?;
    match cli.command {
        Command::Config(ConfigCmd::Print { .. }) => {
            if g.json {
                println!("{}", serde_json::to_string_pretty(&config)?);
            } else {
                println!("{}", toml::to_string_pretty(&config)?);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Healthcheck { .. } => return healthcheck(&config).await,
        _ => {}
    }
    init_logging(&config);
    let store = open_store(&config).await?;
    let actor = Actor::cli();
    match cli.command {
        Command::Serve {
            no_worker,
            serve: ref args,
        } => {
            serve(
                &config,
                store.clone(),
                !no_worker,
                !args.bench_no_click_recording,
            )
            .await?
        }
        Command::Worker { .. } => {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let worker = Worker::new(store.clone(), Registry::builtin(), worker_config(&config));
            let handle = tokio::spawn(worker.run(rx));
            shutdown_signal().await;
            let _ = tx.send(true);
            let _ = handle.await;
        }
        Command::Migrate => {
            let v = store.applied_version().await?;
            print(
                g.json,
                json!({ "schema_version": v }),
                format!("database is at schema version {v}"),
            );
        }
        Command::Workspace(WorkspaceCmd::Create { name, slug }) => {
            let name =
                vouch_core::text::display_name("name", &name).map_err(|e| anyhow!("--{e}"))?;
            let slug = match slug {
                Some(s) => Slug::parse(&s).map_err(|e| anyhow!("--{e}"))?,
                None => Slug::from_name(&name).map_err(|_| {
                    anyhow!("--slug: the name has no letters to make one from; pass --slug")
                })?,
            };
            let (ws, _) =
                commands::create_workspace(&store, &name, &slug, None, &actor, false).await?;
            print(
                g.json,
                json!({ "id": ws.public_id, "slug": ws.slug, "name": ws.name }),
                format!("created workspace {} ({})", ws.name, ws.slug),
            );
        }
        Command::Workspace(WorkspaceCmd::List) => {
            let mut c = store.read().await?;
            let list = workspaces::list(&mut c).await?;
            if g.json {
                let v: Vec<_> = list
                    .iter()
                    .map(|w| json!({ "id": w.public_id, "slug": w.slug, "name": w.name }))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for w in list {
                    println!("{}\t{}", w.slug, w.name);
                }
            }
        }
        Command::User(UserCmd::Create {
            workspace,
            email,
            role,
        }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let email = Email::parse(&email).map_err(|e| anyhow!("--{e}"))?;
            let role = Role::parse(&role).map_err(|e| anyhow!("--{e}"))?;
            let exists = {
                let mut c = store.read().await?;
                vouch_store::accounts::user_by_email(&mut c, &email)
                    .await?
                    .is_some()
            };
            let hash = if exists {
                None
            } else {
                let pw = read_password()?;
                Some(tokio::task::spawn_blocking(move || vouch_core::password::hash(&pw)).await?)
            };
            let m =
                commands::add_member(&store, ws.id, &email, role, hash.as_deref(), &actor).await?;
            print(
                g.json,
                json!({ "workspace": ws.slug, "email": m.email, "role": m.role, "new_user": !exists }),
                format!("{} is now {} of {}", m.email, m.role.as_str(), ws.slug),
            );
        }
        Command::ApiKey(ApiKeyCmd::Create {
            workspace,
            name,
            scope,
        }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let name =
                vouch_core::text::display_name("name", &name).map_err(|e| anyhow!("--{e}"))?;
            let scopes = ApiScope::parse_list(&scope.join(" ")).map_err(|e| anyhow!("--{e}"))?;
            let (key, secret) =
                commands::create_api_key(&store, ws.id, &name, &scopes, &actor).await?;
            print(
                g.json,
                json!({ "id": key.public_id, "name": key.name, "scopes": key.scopes, "key": secret.expose() }),
                format!(
                    "{}\n(store it now: Vouch keeps only its hash)",
                    secret.expose()
                ),
            );
        }
        Command::ApiKey(ApiKeyCmd::Revoke { workspace, id }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let key = commands::revoke_api_key(&store, ws.id, &id, &actor).await?;
            print(
                g.json,
                json!({ "id": key.public_id, "revoked": true }),
                format!("revoked {} ({})", key.public_id, key.name),
            );
        }
        Command::ApiKey(ApiKeyCmd::List { workspace }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let mut c = store.read().await?;
            let keys = vouch_store::accounts::api_keys(&mut c, ws.id).await?;
            let v: Vec<_> = keys
                .iter()
                .map(|k| json!({ "id": k.public_id, "name": k.name, "prefix": k.prefix, "scopes": k.scopes, "revoked": k.revoked_at.is_some() }))
                .collect();
            let text = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}\t{}\t{}…\t{}{}",
                        k.public_id,
                        k.name,
                        k.prefix,
                        k.scopes,
                        if k.revoked_at.is_some() {
                            "\trevoked"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(g.json, serde_json::Value::Array(v), text);
        }
        Command::Backup { to } => backup(&store, &to, g.json).await?,
        Command::Export { to } => {
            let m = store.export(&to).await?;
            print(
                g.json,
                json!({ "to": to, "tables": m.tables }),
                format!("exported {} tables to {}", m.tables.len(), to.display()),
            );
        }
        Command::Import { from } => {
            let m = store.import(&from).await?;
            let rows: u64 = m.tables.values().sum();
            print(
                g.json,
                json!({ "from": from, "tables": m.tables }),
                format!("imported {rows} rows from {}", from.display()),
            );
        }
        Command::Jobs(JobsCmd::Probe {
            key,
            sleep_ms,
            wait,
        }) => {
            let key =
                key.unwrap_or_else(|| format!("probe-{}", vouch_core::secret::random_hex::<6>()));
            let job = vouch_store::jobs::NewJob::new(
                vouch_worker::PROBE_JOB,
                json!({ "key": key, "sleep_ms": sleep_ms }),
            )
            .dedupe(format!("probe:{key}"));
            let id = {
                let mut c = store.read().await?;
                vouch_store::jobs::enqueue(&mut c, &job, vouch_core::clock::now_ms()).await?
            };
            if wait {
                let deadline = tokio::time::Instant::now()
                    + Duration::from_secs(60)
                    + Duration::from_millis(sleep_ms);
                while store.probe(&key).await?.is_none() {
                    if tokio::time::Instant::now() > deadline {
                        bail!(
                            "no worker ran the probe within 60 s: is `vouch serve` or `vouch worker` running?"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            print(
                g.json,
                json!({ "key": key, "job_id": id }),
                format!(
                    "probe {key} enqueued as job {}",
                    id.map_or("(already queued)".to_string(), |i| i.to_string())
                ),
            );
        }
        Command::Jobs(JobsCmd::List { status, limit }) => {
            let jobs = store.jobs(status.as_deref(), limit).await?;
            let v: Vec<_> = jobs
                .iter()
                .map(|j| json!({ "id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts, "max_attempts": j.max_attempts, "last_error": j.last_error, "dedupe_key": j.dedupe_key }))
                .collect();
            let text = jobs
                .iter()
                .map(|j| {
                    format!(
                        "{}\t{}\t{}\t{}/{}",
                        j.id, j.kind, j.status, j.attempts, j.max_attempts
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(g.json, serde_json::Value::Array(v), text);
        }
        Command::Customers(CustomersCmd::Import {
            workspace,
            from,
            report,
        }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let file = std::fs::File::open(&from)
                .with_context(|| format!("--from: cannot read {}", from.display()))?;
            let tty = std::io::stderr().is_terminal();
            let r = vouch_store::customers_csv::import(
                &store,
                ws.id,
                std::io::BufReader::new(file),
                &actor,
                |p| {
                    if tty {
                        eprint!(
                            "\r{} rows read: {} created, {} updated, {} refused",
                            p.rows,
                            p.created,
                            p.updated,
                            p.errors.len()
                        );
                    }
                },
            )
            .await?;
            if tty {
                eprintln!();
            }
            if let Some(path) = report {
                let mut w = std::fs::File::create(&path)
                    .with_context(|| format!("--report: cannot write {}", path.display()))?;
                use std::io::Write;
                writeln!(w, "line,error")?;
                for e in &r.errors {
                    writeln!(w, "{},\"{}\"", e.line, e.error.replace('"', "\"\""))?;
                }
            }
            let text = format!(
                "{} rows: {} created, {} updated, {} refused{}",
                r.rows,
                r.created,
                r.updated,
                r.errors.len(),
                r.errors
                    .iter()
                    .take(20)
                    .map(|e| format!("\n  line {}: {}", e.line, e.error))
                    .collect::<String>()
            );
            print(g.json, serde_json::to_value(&r)?, text);
            if !r.errors.is_empty() {
                store.close().await;
                return Ok(ExitCode::from(3));
            }
        }
        Command::Customers(CustomersCmd::Export { workspace, to }) => {
            let ws = workspace_by_slug(&store, &workspace).await?;
            let file = std::fs::File::create(&to)
                .with_context(|| format!("--to: cannot write {}", to.display()))?;
            let n =
                vouch_store::customers_csv::export(&store, ws.id, std::io::BufWriter::new(file))
                    .await?;
            print(
                g.json,
                json!({ "to": to, "customers": n }),
                format!("exported {n} customers to {}", to.display()),
            );
        }
        Command::Config(_) | Command::Healthcheck { .. } => {
            unreachable!("handled before the store opens")
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    config: &Config,
    store: Store,
    with_worker: bool,
    record_clicks: bool,
) -> Result<()> {
    let base_url = url::Url::parse(&config.base_url)?;
    let mut web = vouch_web::WebConfig::new(base_url);
    web.trusted_proxies = config.trusted_proxies.clone();
    web.record_clicks = record_clicks;
    let state = vouch_web::AppState::new(store.clone(), web);
    let app = vouch_web::router(state.clone());
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("--bind (VOUCH_BIND): cannot listen on {}", config.bind))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = with_worker.then(|| {
        let w = Worker::new(store.clone(), Registry::builtin(), worker_config(config));
        tokio::spawn(w.run(stop_rx.clone()))
    });
    tracing::info!(bind = %config.bind, base_url = %config.base_url, backend = store.backend().name(), "Vouch is listening");
    // Printed for people and for scripts waiting on the port.
    println!(
        "Vouch is running on {} (data: {})",
        config.base_url,
        redact_url(&config.database_url)
    );
    let mut http_stop = stop_rx.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|v| *v).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and jobs");
    let _ = stop_tx.send(true);
    let _ = server.await;
    // Every click answered before the server stopped is written before the process exits.
    state.clicks.flush().await;
    if let Some(w) = worker {
        let _ = w.await;
    }
    store.close().await;
    Ok(())
}

async fn backup(store: &Store, to: &std::path::Path, json_mode: bool) -> Result<()> {
    if store.backend() == Backend::Postgres {
        bail!(
            "backup copies SQLite databases; on PostgreSQL use pg_dump (e.g. `pg_dump --format=custom --file=vouch.dump DBNAME`) or `vouch export`"
        );
    }
    if to.exists() {
        bail!("--to: {} already exists; choose a new file", to.display());
    }
    let path = to
        .to_str()
        .ok_or_else(|| anyhow!("--to: the path must be valid UTF-8"))?;
    let mut c = store.read().await?;
    // VACUUM INTO writes a consistent snapshot while other connections keep working.
    sqlx::query("VACUUM INTO $1")
        .bind(path.to_string())
        .execute(&mut c)
        .await?;
    print(
        json_mode,
        json!({ "to": to }),
        format!("backed up to {}", to.display()),
    );
    Ok(())
}

/// Asks the running server (at --bind) whether it is ready; no store needed.
async fn healthcheck(config: &Config) -> Result<ExitCode> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(&config.bind).await?;
        s.write_all(
            format!(
                "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                config.bind
            )
            .as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(resp)) if resp.starts_with("HTTP/1.1 200") => {
            println!("ready");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(resp)) => {
            eprintln!("not ready: {}", resp.lines().next().unwrap_or(""));
            Ok(ExitCode::from(1))
        }
        Ok(Err(e)) => {
            eprintln!("not ready: cannot reach {}: {e}", config.bind);
            Ok(ExitCode::from(1))
        }
        Err(_) => {
            eprintln!("not ready: {} did not answer within 5 s", config.bind);
            Ok(ExitCode::from(1))
        }
    }
}
