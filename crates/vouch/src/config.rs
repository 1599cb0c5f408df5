//! Configuration: flags > `VOUCH_*` environment > `vouch.toml` > defaults. Secrets may also
//! come from files (`VOUCH_DATABASE_URL_FILE`, `VOUCH_SMTP_PASSWORD_FILE`). Every problem is
//! one line naming the setting, before anything is created.

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings every command accepts, before or after the subcommand.
#[derive(Debug, Clone, Args, Default)]
pub struct GlobalArgs {
    /// The configuration file (default: ./vouch.toml when it exists).
    #[arg(long, global = true, env = "VOUCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where Vouch keeps its SQLite database and files.
    #[arg(long, global = true, env = "VOUCH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB (default: the SQLite file in the data dir).
    #[arg(
        long,
        global = true,
        env = "VOUCH_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// `text` or `json` logs.
    #[arg(long, global = true, env = "VOUCH_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// A tracing filter such as `info` or `vouch=debug,info`.
    #[arg(long, global = true, env = "VOUCH_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Settings of the HTTP server and the worker.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "VOUCH_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// The public address of this Vouch, e.g. https://refer.example.com.
    #[arg(long, env = "VOUCH_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Proxies (CIDRs) whose X-Forwarded-For is believed; repeat or separate with commas.
    #[arg(
        long = "trusted-proxy",
        env = "VOUCH_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub trusted_proxies: Vec<String>,
    #[arg(long, env = "VOUCH_SMTP_HOST")]
    pub smtp_host: Option<String>,
    #[arg(long, env = "VOUCH_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    #[arg(long, env = "VOUCH_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "VOUCH_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// `none`, `starttls` or `tls`.
    #[arg(long, env = "VOUCH_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    /// The default From address of emails.
    #[arg(long, env = "VOUCH_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Jobs one worker runs at once.
    #[arg(long, env = "VOUCH_WORKER_CONCURRENCY")]
    pub worker_concurrency: Option<usize>,
    /// Seconds a claimed job stays leased before another worker may take it over.
    #[arg(long, env = "VOUCH_JOB_LEASE_SECS")]
    pub job_lease_secs: Option<u64>,
    /// Milliseconds between queue polls when idle.
    #[arg(long, env = "VOUCH_WORKER_POLL_MS")]
    pub worker_poll_ms: Option<u64>,
    /// Benchmark baseline only: redirect without recording clicks.
    #[arg(long, hide = true)]
    pub bench_no_click_recording: bool,
}

/// The `vouch.toml` file. Unknown keys are refused so a typo never goes unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    bind: Option<String>,
    base_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    log_format: Option<String>,
    log_level: Option<String>,
    smtp: Option<FileSmtp>,
    worker: Option<FileWorker>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSmtp {
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<String>,
    from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorker {
    concurrency: Option<usize>,
    lease_secs: Option<u64>,
    poll_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub username: String,
    #[serde(serialize_with = "redacted")]
    pub password: String,
    pub tls: String,
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub data_dir: PathBuf,
    #[serde(serialize_with = "redacted_url")]
    pub database_url: String,
    pub bind: String,
    pub base_url: String,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub log_format: String,
    pub log_level: String,
    pub smtp: Smtp,
    pub worker_concurrency: usize,
    pub job_lease_secs: u64,
    pub worker_poll_ms: u64,
}

fn redacted<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_empty() { "" } else { "***" })
}

fn redacted_url<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(v))
}

/// A database URL with any password replaced, for logs and messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

/// Environment variables Vouch reads; any other `VOUCH_*` is a typo and refused.
const KNOWN_ENV: &[&str] = &[
    "VOUCH_CONFIG",
    "VOUCH_DATA_DIR",
    "VOUCH_DATABASE_URL",
    "VOUCH_DATABASE_URL_FILE",
    "VOUCH_LOG_FORMAT",
    "VOUCH_LOG_LEVEL",
    "VOUCH_BIND",
    "VOUCH_BASE_URL",
    "VOUCH_TRUSTED_PROXIES",
    "VOUCH_SMTP_HOST",
    "VOUCH_SMTP_PORT",
    "VOUCH_SMTP_USERNAME",
    "VOUCH_SMTP_PASSWORD",
    "VOUCH_SMTP_PASSWORD_FILE",
    "VOUCH_SMTP_TLS",
    "VOUCH_SMTP_FROM",
    "VOUCH_WORKER_CONCURRENCY",
    "VOUCH_JOB_LEASE_SECS",
    "VOUCH_WORKER_POLL_MS",
];

fn check_env() -> Result<()> {
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        // VOUCH_TEST_* belongs to the test suite, not to the server.
        if k.starts_with("VOUCH_") && !k.starts_with("VOUCH_TEST_") && !KNOWN_ENV.contains(&k) {
            bail!("unknown setting {k}: check its spelling (see `vouch --help`)");
        }
    }
    Ok(())
}

fn read_secret_file(setting: &str, path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from)
}

impl Config {
    pub fn load(global: &GlobalArgs, serve: &ServeArgs) -> Result<Self> {
        check_env()?;
        let file = match &global.config {
            Some(path) => parse_file(path)?,
            None if Path::new("vouch.toml").exists() => parse_file(Path::new("vouch.toml"))?,
            None => FileConfig::default(),
        };
        let smtp_file = file.smtp.unwrap_or_default();
        let worker_file = file.worker.unwrap_or_default();

        let data_dir = global
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./vouch-data"));
        let database_url = match (
            &global.database_url,
            env_path("VOUCH_DATABASE_URL_FILE"),
            file.database_url,
            file.database_url_file,
        ) {
            (Some(u), _, _, _) => u.clone(),
            (None, Some(p), _, _) => read_secret_file("VOUCH_DATABASE_URL_FILE", &p)?,
            (None, None, Some(u), _) => u,
            (None, None, None, Some(p)) => read_secret_file("database_url_file", &p)?,
            (None, None, None, None) => vouch_store::sqlite_url(&data_dir.join("vouch.db")),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!(
                "--database-url (VOUCH_DATABASE_URL): use sqlite://PATH or postgres://USER@HOST/DB, not {:?}",
                redact_url(&database_url)
            );
        }
        if !database_url.starts_with("sqlite:") {
            url::Url::parse(&database_url).map_err(|e| {
                anyhow!("--database-url (VOUCH_DATABASE_URL): not a valid URL: {e}")
            })?;
        }

        let bind = serve
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        bind.parse::<std::net::SocketAddr>().map_err(|_| {
            anyhow!("--bind (VOUCH_BIND): use HOST:PORT such as 127.0.0.1:8080, not {bind:?}")
        })?;
        let base_url = serve
            .base_url
            .clone()
            .or(file.base_url)
            .unwrap_or_else(|| format!("http://{bind}"));
        match url::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => bail!(
                "--base-url (VOUCH_BASE_URL): use a full address such as https://refer.example.com, not {base_url:?}"
            ),
        }
        let proxies = if serve.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            serve.trusted_proxies.clone()
        };
        let trusted_proxies = proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| anyhow!("--trusted-proxy (VOUCH_TRUSTED_PROXIES): {p:?} is not an IP address or CIDR"))
            })
            .collect::<Result<Vec<_>>>()?;
        let log_format = global
            .log_format
            .clone()
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        if !matches!(log_format.as_str(), "text" | "json") {
            bail!("--log-format (VOUCH_LOG_FORMAT): use text or json, not {log_format:?}");
        }
        let log_level = global
            .log_level
            .clone()
            .or(file.log_level)
            .unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log_level)
            .map_err(|e| anyhow!("--log-level (VOUCH_LOG_LEVEL): {e}"))?;

        let smtp_password = match (
            &serve.smtp_password,
            env_path("VOUCH_SMTP_PASSWORD_FILE"),
            smtp_file.password,
            smtp_file.password_file,
        ) {
            (Some(p), _, _, _) => p.clone(),
            (None, Some(f), _, _) => read_secret_file("VOUCH_SMTP_PASSWORD_FILE", &f)?,
            (None, None, Some(p), _) => p,
            (None, None, None, Some(f)) => read_secret_file("smtp.password_file", &f)?,
            _ => String::new(),
        };
        let smtp_tls = serve
            .smtp_tls
            .clone()
            .or(smtp_file.tls)
            .unwrap_or_else(|| "starttls".into());
        if !matches!(smtp_tls.as_str(), "none" | "starttls" | "tls") {
            bail!("--smtp-tls (VOUCH_SMTP_TLS): use none, starttls or tls, not {smtp_tls:?}");
        }
        let smtp_from = serve
            .smtp_from
            .clone()
            .or(smtp_file.from)
            .unwrap_or_default();
        if !smtp_from.is_empty() {
            vouch_core::Email::parse(&smtp_from)
                .map_err(|e| anyhow!("--smtp-from (VOUCH_SMTP_FROM): {}", e.message))?;
        }
        let smtp = Smtp {
            host: serve
                .smtp_host
                .clone()
                .or(smtp_file.host)
                .unwrap_or_default(),
            port: serve.smtp_port.or(smtp_file.port).unwrap_or(587),
            username: serve
                .smtp_username
                .clone()
                .or(smtp_file.username)
                .unwrap_or_default(),
            password: smtp_password,
            tls: smtp_tls,
            from: smtp_from,
        };
        let worker_concurrency = serve
            .worker_concurrency
            .or(worker_file.concurrency)
            .unwrap_or(4);
        if worker_concurrency == 0 {
            bail!("--worker-concurrency (VOUCH_WORKER_CONCURRENCY): use at least 1");
        }
        let job_lease_secs = serve
            .job_lease_secs
            .or(worker_file.lease_secs)
            .unwrap_or(60);
        if job_lease_secs == 0 {
            bail!("--job-lease-secs (VOUCH_JOB_LEASE_SECS): use at least 1");
        }
        Ok(Config {
            data_dir,
            database_url,
            bind,
            base_url,
            trusted_proxies,
            log_format,
            log_level,
            smtp,
            worker_concurrency,
            job_lease_secs,
            worker_poll_ms: serve
                .worker_poll_ms
                .or(worker_file.poll_ms)
                .unwrap_or(500)
                .max(10),
        })
    }
}

fn parse_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config: cannot read {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        anyhow!("{}: {msg}", path.display())
    })
}
