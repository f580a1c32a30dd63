//! Typed configuration: read once from TOML (plus secrets from the environment),
//! validated once, then passed down by reference. No other module reads files or
//! environment variables for settings.
//!
//! Errors always name the file and the key (`[mailbox] port`), because the person
//! reading them is editing that file.
//!
//! The file is read in two steps: `raw` parses the text into serde structs that
//! mirror it (every key optional, unknown keys rejected), then [`Config::from_toml`]
//! hands each table to the module that owns it, which checks it and builds its typed
//! part. Errors about keys that hold secrets never repeat the value (`redact`).
//! This module owns the whole [`Config`], the `[intake] rules` file, and the
//! summary and checks behind `check`.

mod change_rules;
mod context;
mod database;
mod desk_roster;
mod duration_text;
mod http_endpoint;
mod kb_suggestions;
mod limits;
mod lmtp_listener;
mod macros;
mod mail_access;
mod mail_delivery;
mod mail_login;
mod oauth2_grant;
mod raw;
mod redact;
mod routes;
mod security;
mod sla_policy;
mod templates;
mod ticket_lifecycle;
mod triage_rules;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

pub use database::StoreConfig;
pub use duration_text::parse_duration_text;
pub use http_endpoint::HttpConfig;
pub use kb_suggestions::KbConfig;
pub use limits::LimitsConfig;
pub use lmtp_listener::{LmtpConfig, LmtpListen};
pub use mail_access::{ImapConfig, MailboxConfig, MaildirConfig};
pub use mail_delivery::{FileTransportConfig, SmtpConfig, SmtpLogin, TransportConfig};
pub use mail_login::{Auth, TlsMode};
pub use oauth2_grant::{OAuth2Config, OAuth2Grant};
pub use security::{SecurityConfig, StrangerPolicy};
pub use templates::TemplatesConfig;

use crate::desk::roster::DeskConfig;
use context::Ctx;
use desk_roster::DeskTables;

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, for messages.
    pub source: PathBuf,
    pub store: StoreConfig,
    pub mailbox: MailboxConfig,
    /// `[mailbox] folders`: every folder read, each with its own checkpoint (the
    /// first is `[mailbox] folder`, "INBOX" by default). Routing rules can name them.
    pub folders: Vec<String>,
    pub transport: TransportConfig,
    pub desk: DeskConfig,
    pub templates: TemplatesConfig,
    /// `[intake] rules`: a file replacing the built-in intake rules (config/intake.toml).
    pub intake_rules: Option<PathBuf>,
    pub kb: KbConfig,
    /// `[sla]`: targets per priority, the business calendar, alerts and the digest.
    pub sla: crate::desk::sla::SlaPolicy,
    pub security: SecurityConfig,
    pub limits: LimitsConfig,
    /// `[http]`: health, metrics and the dashboard; `None` when the table is absent.
    pub http: Option<HttpConfig>,
}

impl Config {
    /// Reads and validates `path`, taking secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let env: HashMap<String, String> = std::env::vars().collect();
        let cfg = Self::from_toml(path, &text, &env)?;
        if cfg.intake_rules.is_some() {
            cfg.load_intake_rules()?;
        }
        Ok(cfg)
    }

    /// Parses and validates config text; `file` is used only in messages.
    ///
    /// The tables are read in a fixed order, so that of several problems the same one
    /// is always reported first.
    pub fn from_toml(file: &Path, text: &str, env: &HashMap<String, String>) -> Result<Config> {
        let cx = Ctx { file };
        let raw = raw::read(file, text)?;
        let store = database::store(&cx, raw.store)?;
        let (mailbox, folders) = mail_access::mailbox(&cx, raw.mailbox, env)?;
        let transport = mail_delivery::transport(&cx, raw.transport, env)?;
        let tables = DeskTables {
            teams: raw.teams,
            lifecycle: raw.lifecycle,
            triage: raw.triage,
            routes: raw.route,
            max_participants: raw.limits.as_ref().and_then(|l| l.max_participants),
            language: raw.templates.as_ref().and_then(|t| t.language.clone()),
            macros: raw.macros,
        };
        let mut desk = desk_roster::desk(&cx, raw.desk, tables, &folders)?;
        let kb = kb_suggestions::kb(&cx, raw.kb)?;
        let intake_rules = raw.intake.and_then(|i| i.rules);
        let sla = sla_policy::sla_policy(&cx, raw.sla, &desk)?;
        let limits = limits::limits(&cx, raw.limits)?;
        let http = http_endpoint::http(&cx, raw.http, env)?;
        desk.dashboard_url = http.as_ref().map(|h| h.public_url.clone());
        desk.change = change_rules::change(&cx, raw.change, &desk, sla.calendar.tz)?;
        let security = security::security(&cx, raw.security)?;
        let templates = templates::templates(raw.templates);
        Ok(Config {
            source: file.to_path_buf(),
            store,
            mailbox,
            folders,
            transport,
            desk,
            templates,
            intake_rules,
            kb,
            sla,
            security,
            limits,
            http,
        })
    }

    /// The intake rules in force: the `[intake] rules` file, or the built-in ones.
    /// Errors name the file and the problem.
    /// A rules file is read once per process start and lives as long as the process.
    pub fn load_intake_rules(&self) -> Result<&'static crate::desk::intake::IntakeRules> {
        match &self.intake_rules {
            None => Ok(crate::desk::intake::IntakeRules::built_in()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    self.err_at(
                        "[intake] rules",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let rules = crate::desk::intake::IntakeRules::from_toml(&text).map_err(|e| {
                    self.err_at("[intake] rules", format!("{}: {e}", path.display()))
                })?;
                Ok(Box::leak(Box::new(rules)))
            }
        }
    }

    fn err_at(&self, key: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {key}: {msg}", self.source.display())
    }
}

/// Checks that a value is usable when it must be; used by `check`.
pub fn describe(cfg: &Config) -> String {
    let mailbox = match &cfg.mailbox {
        MailboxConfig::Imap(i) => format!(
            "imap {}:{} ({:?}) user {} auth {} folder {} idle {}",
            i.host,
            i.port,
            i.tls,
            i.username,
            i.auth.name(),
            i.folder,
            i.idle
        ),
        MailboxConfig::Maildir(m) => format!("maildir {}", m.path.display()),
        MailboxConfig::Lmtp(l) => format!(
            "lmtp listener on {} (at most {} connection(s), {} message(s) per commit, {} bytes per message, idle limit {} s)",
            l.listen,
            l.max_connections,
            l.batch_size,
            cfg.limits.parse.max_message_bytes,
            l.timeout.as_secs_f64()
        ),
    };
    let transport = match &cfg.transport {
        TransportConfig::Smtp(s) => match &s.login {
            Some(l) => format!(
                "smtp {}:{} ({:?}) user {} auth {}",
                s.host,
                s.port,
                s.tls,
                l.username,
                l.auth.name()
            ),
            None => format!("smtp {}:{} ({:?}) without login", s.host, s.port, s.tls),
        },
        TransportConfig::File(f) => format!("file {}", f.path.display()),
    };
    format!(
        "config {}\n  store {}\n  mailbox {mailbox}\n  transport {transport}\n  desk {} <{}>, token [{}-n], {} agent(s), {} supervisor(s)",
        cfg.source.display(),
        cfg.store.path.display(),
        cfg.desk.support_name,
        cfg.desk.support_address,
        cfg.desk.token_prefix,
        cfg.desk.agents.len(),
        cfg.desk.supervisors.len()
    )
}

/// Fails when the config cannot work at all (e.g. no way to read mail).
pub fn ensure_usable(cfg: &Config) -> Result<()> {
    if let MailboxConfig::Imap(i) = &cfg.mailbox
        && let Some(ca) = &i.tls_ca_file
        && !ca.exists()
    {
        bail!(
            "{}: [mailbox] tls_ca_file: {} does not exist",
            cfg.source.display(),
            ca.display()
        );
    }
    if let TransportConfig::Smtp(s) = &cfg.transport
        && let Some(ca) = &s.tls_ca_file
        && !ca.exists()
    {
        bail!(
            "{}: [transport] tls_ca_file: {} does not exist",
            cfg.source.display(),
            ca.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
