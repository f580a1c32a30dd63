//! Typed configuration: read once from TOML (plus secrets from the environment),
//! validated once, then passed down by reference. No other module reads files or
//! environment variables for settings.
//!
//! Errors always name the file and the key (`[mailbox] port`), because the person
//! reading them is editing that file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::desk::roster::{
    DEFAULT_MAX_PARTICIPANTS, DeskConfig, LifecycleConfig, NamedAddress, Team, parse_named_address,
};

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

/// `[http]`: the read-only HTTP endpoint (`/healthz`, `/metrics`, the dashboard).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; default 127.0.0.1:8025 (this machine only).
    pub listen: std::net::SocketAddr,
    /// When set, `/metrics` and the dashboard need `Authorization: Bearer <token>`
    /// (or `?token=` for a browser); `/healthz` stays open for probes.
    pub bearer_token: Option<String>,
}

/// `[limits]`: loop guards, for automatic mail that no rule recognised.
#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    /// New tickets one sender may open in an hour and still get an acknowledgement;
    /// later ones are stored, not answered.
    pub acknowledgements_per_sender_per_hour: i64,
    /// Messages a ticket takes in an hour before it stops sending mail for them
    /// (relays, notices): two autoresponders answering each other stop here.
    pub messages_per_ticket_per_hour: i64,
    /// Size, attachment, header and nesting bounds on parsing one message.
    pub parse: crate::inbound::ParseLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            acknowledgements_per_sender_per_hour: 10,
            messages_per_ticket_per_hour: 30,
            parse: crate::inbound::ParseLimits::default(),
        }
    }
}

/// `[security]`: when a mail from a member of staff counts as theirs.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Commands (and relays) only from staff mail that proves its sender: a reply
    /// quoting one of our signed Message-IDs sent to them, or a DKIM/SPF pass from the
    /// trusted MTA. Default true.
    pub verify_staff: bool,
    /// The authserv-id of the MTA whose Authentication-Results are believed.
    pub trusted_authserv_id: Option<String>,
    /// What mail from someone not on a ticket that carries its token does.
    pub stranger_with_token: StrangerPolicy,
}

/// `[security] stranger_with_token`: mail from someone who is not on a ticket (not
/// the requester, a participant or staff) and only knows its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerPolicy {
    /// `"new_ticket"` (default): the mail opens a ticket of its own.
    NewTicket,
    /// `"hold"`: the mail is kept on the ticket as held (not part of the conversation,
    /// nothing sent to its sender) and the agents are told; they may `/cc` the sender.
    Hold,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            verify_staff: true,
            trusted_authserv_id: None,
            stranger_with_token: StrangerPolicy::NewTicket,
        }
    }
}

/// `[kb]`: how knowledge-base entries and past tickets are offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KbConfig {
    /// Entries offered in an acknowledgement must match at least this well (0..=1).
    pub suggest_threshold: f64,
    pub max_suggestions: usize,
    /// Past tickets listed in agents' notices must match at least this well.
    pub similar_threshold: f64,
    /// Whether acknowledgements offer entries to requesters. Off by default: entries
    /// are written from agents' resolutions, unreviewed, and may hold internal text.
    /// Agents' notices list matches either way.
    pub suggest_to_requesters: bool,
}

impl Default for KbConfig {
    fn default() -> Self {
        KbConfig {
            suggest_threshold: 0.4,
            max_suggestions: 3,
            similar_threshold: 0.25,
            suggest_to_requesters: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// `synchronous = FULL` instead of NORMAL: every commit survives a power cut,
    /// at a cost in throughput. NORMAL in WAL mode survives process crashes.
    pub synchronous_full: bool,
}

#[derive(Debug, Clone)]
pub enum MailboxConfig {
    Imap(ImapConfig),
    Maildir(MaildirConfig),
}

impl MailboxConfig {
    /// The same mailbox, reading `folder` (one of [`Config::folders`]). A Maildir's
    /// "INBOX" is its `path`; any other folder is the Maildir++ subfolder
    /// `<path>/.<folder>`, as Dovecot lays them out.
    pub fn for_folder(&self, folder: &str) -> MailboxConfig {
        match self {
            MailboxConfig::Imap(c) => MailboxConfig::Imap(ImapConfig {
                folder: folder.to_string(),
                ..c.clone()
            }),
            MailboxConfig::Maildir(c) => MailboxConfig::Maildir(MaildirConfig {
                path: if folder.eq_ignore_ascii_case("INBOX") {
                    c.path.clone()
                } else {
                    c.path.join(format!(".{folder}"))
                },
                ..c.clone()
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Implicit,
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_ca_file: Option<PathBuf>,
    pub username: String,
    /// `auth`: a password (LOGIN) or OAuth2 (AUTHENTICATE XOAUTH2).
    pub auth: Auth,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: Duration,
    /// Messages per FETCH and per store transaction.
    pub batch_size: usize,
    /// Limit for each network step (connect, login, fetch, ...).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct MaildirConfig {
    pub path: PathBuf,
    pub poll_interval: Duration,
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
pub enum TransportConfig {
    Smtp(SmtpConfig),
    File(FileTransportConfig),
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_ca_file: Option<PathBuf>,
    /// `username` with `password` or OAuth2; `None`: the server takes mail without AUTH.
    pub login: Option<SmtpLogin>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SmtpLogin {
    pub username: String,
    pub auth: Auth,
}

/// How to log in to IMAP or SMTP (`auth = "password" | "oauth2"`).
#[derive(Clone)]
pub enum Auth {
    /// `auth = "password"` (the default): IMAP LOGIN, SMTP AUTH PLAIN/LOGIN.
    Password(String),
    /// `auth = "oauth2"`: XOAUTH2 with an access token (Gmail, Microsoft 365).
    OAuth2(Box<OAuth2Config>),
}

impl Auth {
    /// The config value, for `check`.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::Password(_) => "password",
            Auth::OAuth2(_) => "oauth2",
        }
    }
}

/// Secrets stay out of debug output (a `Config` may be printed with `{:?}`).
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Password(_) => f.write_str("Password([redacted])"),
            Auth::OAuth2(o) => f.debug_tuple("OAuth2").field(o).finish(),
        }
    }
}

/// The `oauth2_*` keys of `[mailbox]` or `[transport]`.
#[derive(Clone)]
pub struct OAuth2Config {
    /// `"[mailbox]"` or `"[transport]"`, for messages.
    pub table: &'static str,
    pub grant: OAuth2Grant,
    /// Limit for one call to the token endpoint (the table's `timeout`).
    pub timeout: Duration,
}

#[derive(Clone)]
pub enum OAuth2Grant {
    /// The refresh token is exchanged for access tokens at `token_url` as needed.
    Refresh {
        token_url: String,
        client_id: String,
        /// Absent for public clients (a Microsoft app registration without a secret).
        client_secret: Option<String>,
        refresh_token: String,
        /// Empty: the scopes the refresh token was granted for.
        scopes: Vec<String>,
    },
    /// `oauth2_access_token_env`: a token obtained elsewhere; it cannot be refreshed.
    Static { access_token: String },
}

impl std::fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("OAuth2Config");
        match &self.grant {
            OAuth2Grant::Refresh {
                token_url,
                client_id,
                scopes,
                ..
            } => d
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("scopes", scopes),
            OAuth2Grant::Static { .. } => d.field("access_token", &"[redacted, from env]"),
        }
        .field("timeout", &self.timeout)
        .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct FileTransportConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct TemplatesConfig {
    /// A folder whose files replace the built-in templates of the same name.
    pub dir: Option<PathBuf>,
    pub language: String,
}

/// Parses a duration such as `5d`, `36h`, `90m`, `45s` or a plain number of seconds.
pub fn parse_duration_text(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. \"5d\", \"36h\", \"90m\")"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    n.checked_mul(unit_seconds)
        .filter(|v| *v > 0 && *v <= 3_650 * 86_400)
        .ok_or_else(|| format!("{s:?} must be more than zero and at most ten years"))
}

/// `[sla]`, validated: each key's problem names the key.
fn sla_policy(
    cx: &Ctx,
    raw: Option<RawSla>,
    desk: &DeskConfig,
) -> Result<crate::desk::sla::SlaPolicy> {
    use crate::desk::sla::{Calendar, Hours, SlaPolicy, WEEKDAYS, parse_day_hours};
    let Some(raw) = raw else {
        return Ok(SlaPolicy::defaults(chrono_tz::UTC));
    };
    let tz: chrono_tz::Tz = match &raw.time_zone {
        None => chrono_tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            cx.err(
                "[sla] time_zone",
                format!("{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\", \"UTC\")"),
            )
        })?,
    };
    let mut calendar = Calendar::office_hours(tz);
    if let Some(hours) = &raw.hours {
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (key, text) in hours {
            let Some(day) = WEEKDAYS.iter().position(|(name, _)| name == key) else {
                return Err(cx.err(
                    &format!("[sla.hours] {key}"),
                    "unknown day (use mon, tue, wed, thu, fri, sat, sun)",
                ));
            };
            week[day] =
                parse_day_hours(text).map_err(|e| cx.err(&format!("[sla.hours] {key}"), e))?;
        }
        calendar.week = week;
        if calendar.weekly_seconds() == 0 {
            return Err(cx.err("[sla.hours]", "no working hours in the week"));
        }
    }
    for (i, day) in raw.holidays.iter().flatten().enumerate() {
        let date = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
            cx.err(
                &format!("[sla] holidays[{i}]"),
                format!("{day:?} is not a date (use YYYY-MM-DD)"),
            )
        })?;
        calendar.holidays.insert(date);
    }
    // The default targets count business days in the configured calendar.
    let mut policy = SlaPolicy::for_calendar(calendar);
    if let Some(w) = raw.warn_at {
        if !(w > 0.0 && w < 1.0) {
            return Err(cx.err(
                "[sla] warn_at",
                format!("must be between 0 and 1 (a share of the target), got {w}"),
            ));
        }
        policy.warn_at = w;
    }
    let day = policy.calendar.day_seconds();
    // "1d" in a business calendar is one working day; around the clock, 24 hours.
    let duration = |key: &str, text: &str, hours: Hours| -> Result<i64> {
        let seconds = parse_duration_text(text).map_err(|e| cx.err(key, e))?;
        let t = text.trim();
        Ok(match (hours, t.chars().last()) {
            (Hours::Business, Some('d')) => seconds / 86_400 * day,
            (Hours::Business, Some('w')) => {
                seconds / (7 * 86_400) * policy.calendar.weekly_seconds()
            }
            _ => seconds,
        })
    };
    for (i, raw_targets) in [&raw.p1, &raw.p2, &raw.p3, &raw.p4].into_iter().enumerate() {
        let name = format!("P{}", i + 1);
        let t = &mut policy.targets[i];
        let Some(r) = raw_targets else { continue };
        if let Some(h) = &r.hours {
            t.hours = match h.trim() {
                "24x7" => Hours::AllHours,
                "business" => Hours::Business,
                other => {
                    return Err(cx.err(
                        &format!("[sla.{name}] hours"),
                        format!("{other:?}: use \"business\" or \"24x7\""),
                    ));
                }
            };
        }
        let hours = t.hours;
        if let Some(v) = &r.first_response {
            t.first_response = duration(&format!("[sla.{name}] first_response"), v, hours)?;
        }
        if let Some(v) = &r.resolution {
            t.resolution = duration(&format!("[sla.{name}] resolution"), v, hours)?;
        }
        if t.first_response > t.resolution {
            return Err(cx.err(
                &format!("[sla.{name}] first_response"),
                "is longer than the resolution target",
            ));
        }
    }
    if let Some(e) = &raw.escalate_after {
        policy.escalate_after =
            Some(parse_duration_text(e).map_err(|m| cx.err("[sla] escalate_after", m))?);
        policy.escalate_to = match &raw.escalate_to {
            Some(list) if !list.is_empty() => list.clone(),
            _ => desk.supervisors.iter().map(|s| s.address.clone()).collect(),
        };
        if policy.escalate_to.is_empty() {
            return Err(cx.err(
                "[sla] escalate_to",
                "escalate_after is set but nobody receives escalations (set escalate_to or [desk] supervisors)",
            ));
        }
    } else if raw.escalate_to.is_some() {
        return Err(cx.err("[sla] escalate_to", "needs [sla] escalate_after"));
    }
    if let Some(h) = raw.digest_hour {
        if h > 23 {
            return Err(cx.err(
                "[sla] digest_hour",
                format!("must be an hour 0-23, got {h}"),
            ));
        }
        policy.digest_hour = Some(h);
    }
    Ok(policy)
}

// ---------------------------------------------------------------------------
// Raw file shape. Every table rejects unknown keys so a typo is reported, not ignored.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<RawStore>,
    mailbox: Option<RawMailbox>,
    transport: Option<RawTransport>,
    desk: Option<RawDesk>,
    templates: Option<RawTemplates>,
    teams: Option<toml::Table>,
    lifecycle: Option<RawLifecycle>,
    triage: Option<RawTriage>,
    intake: Option<RawIntake>,
    kb: Option<RawKb>,
    sla: Option<RawSla>,
    security: Option<RawSecurity>,
    limits: Option<RawLimits>,
    http: Option<RawHttp>,
    route: Option<Vec<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    bearer_token: Option<String>,
    bearer_token_env: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    acknowledgements_per_sender_per_hour: Option<i64>,
    messages_per_ticket_per_hour: Option<i64>,
    max_message_bytes: Option<i64>,
    max_attachments: Option<i64>,
    max_header_fields: Option<i64>,
    max_header_line_bytes: Option<i64>,
    max_mime_depth: Option<i64>,
    max_participants: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    verify_staff: Option<bool>,
    trusted_authserv_id: Option<String>,
    stranger_with_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    time_zone: Option<String>,
    warn_at: Option<f64>,
    escalate_after: Option<String>,
    escalate_to: Option<Vec<String>>,
    digest_hour: Option<u32>,
    holidays: Option<Vec<String>>,
    hours: Option<std::collections::BTreeMap<String, String>>,
    #[serde(rename = "P1")]
    p1: Option<RawSlaTargets>,
    #[serde(rename = "P2")]
    p2: Option<RawSlaTargets>,
    #[serde(rename = "P3")]
    p3: Option<RawSlaTargets>,
    #[serde(rename = "P4")]
    p4: Option<RawSlaTargets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlaTargets {
    first_response: Option<String>,
    resolution: Option<String>,
    hours: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriage {
    systems: Option<Vec<String>>,
    vip_senders: Option<Vec<String>>,
    domains: Option<std::collections::BTreeMap<String, String>>,
    oncall: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntake {
    rules: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKb {
    suggest_threshold: Option<f64>,
    max_suggestions: Option<usize>,
    similar_threshold: Option<f64>,
    suggest_to_requesters: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifecycle {
    auto_close_after: Option<toml::Value>,
    reopen_window: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    synchronous: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailbox {
    kind: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    tls_ca_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    auth: Option<String>,
    oauth2_token_url: Option<String>,
    oauth2_client_id: Option<String>,
    oauth2_client_secret: Option<String>,
    oauth2_client_secret_env: Option<String>,
    oauth2_refresh_token: Option<String>,
    oauth2_refresh_token_env: Option<String>,
    oauth2_scopes: Option<Vec<String>>,
    oauth2_access_token_env: Option<String>,
    folder: Option<String>,
    folders: Option<Vec<String>>,
    idle: Option<bool>,
    poll_interval: Option<f64>,
    batch_size: Option<usize>,
    timeout: Option<f64>,
    path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    kind: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    tls_ca_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    auth: Option<String>,
    oauth2_token_url: Option<String>,
    oauth2_client_id: Option<String>,
    oauth2_client_secret: Option<String>,
    oauth2_client_secret_env: Option<String>,
    oauth2_refresh_token: Option<String>,
    oauth2_refresh_token_env: Option<String>,
    oauth2_scopes: Option<Vec<String>>,
    oauth2_access_token_env: Option<String>,
    timeout: Option<f64>,
    path: Option<PathBuf>,
}

/// The login keys shared by `[mailbox]` (imap) and `[transport]` (smtp).
struct RawAuth {
    auth: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    oauth2_token_url: Option<String>,
    oauth2_client_id: Option<String>,
    oauth2_client_secret: Option<String>,
    oauth2_client_secret_env: Option<String>,
    oauth2_refresh_token: Option<String>,
    oauth2_refresh_token_env: Option<String>,
    oauth2_scopes: Option<Vec<String>>,
    oauth2_access_token_env: Option<String>,
}

macro_rules! raw_auth {
    ($raw:expr) => {
        RawAuth {
            auth: $raw.auth.take(),
            password: $raw.password.take(),
            password_env: $raw.password_env.take(),
            oauth2_token_url: $raw.oauth2_token_url.take(),
            oauth2_client_id: $raw.oauth2_client_id.take(),
            oauth2_client_secret: $raw.oauth2_client_secret.take(),
            oauth2_client_secret_env: $raw.oauth2_client_secret_env.take(),
            oauth2_refresh_token: $raw.oauth2_refresh_token.take(),
            oauth2_refresh_token_env: $raw.oauth2_refresh_token_env.take(),
            oauth2_scopes: $raw.oauth2_scopes.take(),
            oauth2_access_token_env: $raw.oauth2_access_token_env.take(),
        }
    };
}

impl RawAuth {
    /// The first login key that is set, for "only for kind = ..." messages.
    fn first_set(&self) -> Option<&'static str> {
        if self.auth.is_some() {
            Some("auth")
        } else if self.password.is_some() || self.password_env.is_some() {
            Some("password")
        } else {
            self.first_oauth2_key()
        }
    }

    /// The first `oauth2_*` key that is set.
    fn first_oauth2_key(&self) -> Option<&'static str> {
        [
            ("oauth2_token_url", self.oauth2_token_url.is_some()),
            ("oauth2_client_id", self.oauth2_client_id.is_some()),
            ("oauth2_client_secret", self.oauth2_client_secret.is_some()),
            (
                "oauth2_client_secret_env",
                self.oauth2_client_secret_env.is_some(),
            ),
            ("oauth2_refresh_token", self.oauth2_refresh_token.is_some()),
            (
                "oauth2_refresh_token_env",
                self.oauth2_refresh_token_env.is_some(),
            ),
            ("oauth2_scopes", self.oauth2_scopes.is_some()),
            (
                "oauth2_access_token_env",
                self.oauth2_access_token_env.is_some(),
            ),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDesk {
    support_address: Option<String>,
    support_name: Option<String>,
    token_prefix: Option<String>,
    agents: Option<Vec<String>>,
    supervisors: Option<Vec<String>>,
    other_addresses: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    to: Option<Vec<String>>,
    from_domain: Option<Vec<String>>,
    subject: Option<Vec<String>>,
    folder: Option<Vec<String>>,
    team: Option<String>,
    priority: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplates {
    dir: Option<PathBuf>,
    language: Option<String>,
}

/// A token endpoint must be `https`, except on this machine (tests, a local proxy): the
/// client secret and refresh token travel in the request.
fn check_token_url(text: &str) -> std::result::Result<(), String> {
    use oauth2::url::{Host, Url};
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{text:?}: use https (plain http only to localhost): the request carries the client secret and the refresh token"
        )),
        _ => Err(format!("{text:?} is not an https URL")),
    }
}

/// Whether a key holds a secret or names where one is kept (`password`, `bearer_token`,
/// `oauth2_client_secret`, any `*_env`): errors about it name the file and the key but
/// never repeat the value. Decided by the name, so keys added later (`api_key`,
/// `webhook_secret`) are covered without a list to keep up to date.
fn is_secret_key(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k.ends_with("_env")
        || k.contains("password")
        || k.contains("secret")
        || k.contains("credential")
        || k.ends_with("token")
        || k.ends_with("tokens")
        || k == "key"
        || k.ends_with("_key")
}

/// Whether any part of a serde path (`http.bearer_token`, `mailbox.password`) is a
/// secret key.
fn path_holds_secret(path: &str) -> bool {
    path.split(['.', '[', ']']).any(is_secret_key)
}

/// A deserialisation message about a secret key, with the value taken out: serde says
/// "invalid type: integer `12345678`, expected a string"; this keeps the kinds only.
fn without_secret_value(msg: &str) -> String {
    const EXPECTED: &str = ", expected ";
    // The expected part comes last and is the type's own text, never the value.
    let expected = msg.rfind(EXPECTED).map(|i| &msg[i + EXPECTED.len()..]);
    // "integer", "floating point", "sequence": the words before the quoted value.
    let found = msg
        .strip_prefix("invalid type: ")
        .map(|rest| rest.split(['`', '"', ',']).next().unwrap_or("").trim())
        .filter(|kind| {
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
        });
    let what = match (found, expected) {
        (Some(found), Some(expected)) => format!("invalid type: {found}, expected {expected}"),
        (None, Some(expected)) => format!("invalid value, expected {expected}"),
        _ => "invalid value".to_string(),
    };
    format!("{what} (the value is not shown: this key holds a secret)")
}

/// A TOML syntax error as "line L, column C: what". toml's own message quotes the
/// offending line, which may be a password (`password = "unterminated`), so the line
/// is never shown; its number is enough to find it.
fn toml_syntax_error(file: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let what = e.message().trim_end();
    let Some(span) = e.span() else {
        return anyhow!("{}: TOML syntax error: {what}", file.display());
    };
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    // A duplicate key's span is the key itself: a name, safe and useful to repeat.
    let key = text
        .get(start..span.end.min(text.len()))
        .map(str::trim)
        .filter(|k| {
            what.starts_with("duplicate key")
                && !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
        .map(|k| format!(" `{k}`"))
        .unwrap_or_default();
    anyhow!(
        "{}: TOML syntax error at line {line}, column {column}: {what}{key}",
        file.display()
    )
}

/// Names the file and key of a problem.
struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, key: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {key}: {msg}", self.file.display())
    }
    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| self.err(key, "missing (required)"))
    }
    fn tls(&self, key: &str, v: Option<String>, default: TlsMode) -> Result<TlsMode> {
        match v.as_deref() {
            None => Ok(default),
            Some("none") => Ok(TlsMode::None),
            Some("starttls") => Ok(TlsMode::StartTls),
            Some("implicit") => Ok(TlsMode::Implicit),
            Some(other) => Err(self.err(
                key,
                format!("unknown value {other:?}; expected \"none\", \"starttls\" or \"implicit\""),
            )),
        }
    }
    fn seconds(&self, key: &str, v: Option<f64>, default: f64) -> Result<Duration> {
        let s = v.unwrap_or(default);
        if !(s.is_finite() && s > 0.0 && s < 86_400.0 * 365.0) {
            return Err(self.err(
                key,
                format!("must be a positive number of seconds, got {s}"),
            ));
        }
        Ok(Duration::from_secs_f64(s))
    }
    /// `[mailbox] folder` or `folders`: the folders to read, first one first, each once.
    fn folders(
        &self,
        folder: Option<String>,
        folders: Option<Vec<String>>,
        maildir: bool,
    ) -> Result<Vec<String>> {
        let list = match (folder, folders) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    "[mailbox] folders",
                    "set either folder or folders, not both",
                ));
            }
            (Some(one), None) => vec![one],
            (None, Some(many)) if many.is_empty() => {
                return Err(self.err("[mailbox] folders", "the list is empty"));
            }
            (None, Some(many)) => many,
            (None, None) => vec!["INBOX".to_string()],
        };
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for (i, name) in list.into_iter().enumerate() {
            let name = name.trim().to_string();
            let key = format!("[mailbox] folders[{i}]");
            if name.is_empty() {
                return Err(self.err(&key, "a folder name cannot be empty"));
            }
            if maildir && (name.contains('/') || name.starts_with('.')) {
                return Err(self.err(
                    &key,
                    format!(
                        "{name:?}: a Maildir folder is a name like \"HR\" (read from <path>/.HR), without '/' or a leading '.'"
                    ),
                ));
            }
            if out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
                return Err(self.err(&key, format!("{name:?} is listed twice")));
            }
            out.push(name);
        }
        Ok(out)
    }

    fn password(
        &self,
        table: &str,
        password: Option<String>,
        password_env: Option<String>,
        env: &HashMap<String, String>,
    ) -> Result<Option<String>> {
        self.secret(table, "password", password, password_env, env)
    }

    /// `auth` and its keys in `[table]` (`mailbox` or `transport`), validated. `None`
    /// when `auth = "password"` and no password is set: the caller decides whether that
    /// is allowed.
    fn auth(
        &self,
        table: &'static str,
        raw: RawAuth,
        timeout: Duration,
        env: &HashMap<String, String>,
    ) -> Result<Option<Auth>> {
        let key = |k: &str| format!("[{table}] {k}");
        match raw.auth.as_deref() {
            None | Some("password") => {
                if let Some(k) = raw.first_oauth2_key() {
                    return Err(self.err(&key(k), "only for auth = \"oauth2\""));
                }
                Ok(self
                    .password(table, raw.password, raw.password_env, env)?
                    .map(Auth::Password))
            }
            Some("oauth2") => {
                if raw.password.is_some() || raw.password_env.is_some() {
                    let k = if raw.password.is_some() {
                        "password"
                    } else {
                        "password_env"
                    };
                    return Err(self.err(
                        &key(k),
                        "not used with auth = \"oauth2\" (the access token takes its place)",
                    ));
                }
                let refresh_token = self.secret(
                    table,
                    "oauth2_refresh_token",
                    raw.oauth2_refresh_token,
                    raw.oauth2_refresh_token_env,
                    env,
                )?;
                let grant = match (raw.oauth2_access_token_env, refresh_token) {
                    (Some(_), Some(_)) => {
                        return Err(self.err(
                            &key("oauth2_access_token_env"),
                            "set either oauth2_access_token_env (a fixed token) or oauth2_refresh_token_env (refreshed tokens), not both",
                        ));
                    }
                    (Some(var), None) => {
                        for (k, set) in [
                            ("oauth2_token_url", raw.oauth2_token_url.is_some()),
                            ("oauth2_client_id", raw.oauth2_client_id.is_some()),
                            (
                                "oauth2_client_secret",
                                raw.oauth2_client_secret.is_some()
                                    || raw.oauth2_client_secret_env.is_some(),
                            ),
                            ("oauth2_scopes", raw.oauth2_scopes.is_some()),
                        ] {
                            if set {
                                return Err(self.err(
                                    &key(k),
                                    "not used with oauth2_access_token_env (a fixed token is never refreshed)",
                                ));
                            }
                        }
                        let access_token = self
                            .secret(table, "oauth2_access_token", None, Some(var), env)?
                            .ok_or_else(|| self.err(&key("oauth2_access_token_env"), "missing"))?;
                        OAuth2Grant::Static { access_token }
                    }
                    (None, Some(refresh_token)) => {
                        let token_url =
                            self.required(&key("oauth2_token_url"), raw.oauth2_token_url)?;
                        check_token_url(&token_url)
                            .map_err(|e| self.err(&key("oauth2_token_url"), e))?;
                        let client_id =
                            self.required(&key("oauth2_client_id"), raw.oauth2_client_id)?;
                        if client_id.trim().is_empty() {
                            return Err(self.err(&key("oauth2_client_id"), "is empty"));
                        }
                        let client_secret = self.secret(
                            table,
                            "oauth2_client_secret",
                            raw.oauth2_client_secret,
                            raw.oauth2_client_secret_env,
                            env,
                        )?;
                        let scopes = raw.oauth2_scopes.unwrap_or_default();
                        for (i, scope) in scopes.iter().enumerate() {
                            if scope.is_empty() || scope.contains(char::is_whitespace) {
                                return Err(self.err(
                                    &key(&format!("oauth2_scopes[{i}]")),
                                    format!("{scope:?} is not a scope (one scope per list item, no spaces)"),
                                ));
                            }
                        }
                        OAuth2Grant::Refresh {
                            token_url,
                            client_id,
                            client_secret,
                            refresh_token,
                            scopes,
                        }
                    }
                    (None, None) => {
                        return Err(self.err(
                            &key("oauth2_refresh_token"),
                            "missing: set oauth2_refresh_token_env (or oauth2_refresh_token), or oauth2_access_token_env for a fixed token",
                        ));
                    }
                };
                Ok(Some(Auth::OAuth2(Box::new(OAuth2Config {
                    table: if table == "mailbox" {
                        "[mailbox]"
                    } else {
                        "[transport]"
                    },
                    grant,
                    timeout,
                }))))
            }
            Some(other) => Err(self.err(
                &key("auth"),
                format!("unknown value {other:?}; expected \"password\" or \"oauth2\""),
            )),
        }
    }

    /// A secret given as `key` or, better, as the name of an environment variable in
    /// `key_env`; errors name the key.
    fn secret(
        &self,
        table: &str,
        key: &str,
        value: Option<String>,
        value_env: Option<String>,
        env: &HashMap<String, String>,
    ) -> Result<Option<String>> {
        match (value, value_env) {
            (Some(_), Some(_)) => Err(self.err(
                &format!("[{table}] {key}_env"),
                format!("set either {key} or {key}_env, not both"),
            )),
            (Some(p), None) => Ok(Some(p)),
            (None, Some(var)) => match env.get(&var) {
                Some(p) if !p.is_empty() => Ok(Some(p.clone())),
                // The variable is named only when it looks like a variable's name: a
                // secret pasted in place of the name would be printed.
                _ if looks_like_env_name(&var) => Err(self.err(
                    &format!("[{table}] {key}_env"),
                    format!("the environment variable {var} is not set or is empty"),
                )),
                _ => Err(self.err(
                    &format!("[{table}] {key}_env"),
                    "names an environment variable that is not set or is empty",
                )),
            },
            (None, None) => Ok(None),
        }
    }
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
    pub fn from_toml(file: &Path, text: &str, env: &HashMap<String, String>) -> Result<Config> {
        let cx = Ctx { file };
        let de = toml::Deserializer::parse(text).map_err(|e| toml_syntax_error(file, text, &e))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut msg = inner.message().trim_end().to_string();
            if path_holds_secret(&key) {
                msg = without_secret_value(&msg);
            }
            if key == "." || key.is_empty() {
                anyhow!("{}: {msg}", file.display())
            } else {
                anyhow!("{}: {key}: {msg}", file.display())
            }
        })?;

        let store = {
            let s = cx.required("[store]", raw.store)?;
            let synchronous_full = match s.synchronous.as_deref() {
                None | Some("normal") => false,
                Some("full") => true,
                Some(o) => {
                    return Err(cx.err(
                        "[store] synchronous",
                        format!("unknown value {o:?}; expected \"normal\" or \"full\""),
                    ));
                }
            };
            StoreConfig {
                path: cx.required("[store] path", s.path)?,
                synchronous_full,
            }
        };

        let (mailbox, folders) = {
            let mut m = cx.required("[mailbox]", raw.mailbox)?;
            let kind = cx.required("[mailbox] kind", m.kind.clone())?;
            let folders = cx.folders(m.folder.clone(), m.folders.clone(), kind == "maildir")?;
            let batch_size = m.batch_size.unwrap_or(500);
            if !(1..=10_000).contains(&batch_size) {
                return Err(cx.err("[mailbox] batch_size", "must be between 1 and 10000"));
            }
            let mailbox = match kind.as_str() {
                "imap" => {
                    let tls = cx.tls("[mailbox] tls", m.tls, TlsMode::Implicit)?;
                    let timeout = cx.seconds("[mailbox] timeout", m.timeout, 30.0)?;
                    let auth =
                        cx.auth("mailbox", raw_auth!(m), timeout, env)?
                            .ok_or_else(|| {
                                cx.err(
                                    "[mailbox] password",
                                    "missing: set password or password_env (or auth = \"oauth2\")",
                                )
                            })?;
                    if m.path.is_some() {
                        return Err(cx.err("[mailbox] path", "only for kind = \"maildir\""));
                    }
                    MailboxConfig::Imap(ImapConfig {
                        host: cx.required("[mailbox] host", m.host)?,
                        port: m
                            .port
                            .unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 }),
                        tls,
                        tls_ca_file: m.tls_ca_file,
                        username: cx.required("[mailbox] username", m.username)?,
                        auth,
                        folder: folders[0].clone(),
                        idle: m.idle.unwrap_or(true),
                        poll_interval: cx.seconds(
                            "[mailbox] poll_interval",
                            m.poll_interval,
                            60.0,
                        )?,
                        batch_size,
                        timeout,
                    })
                }
                "maildir" => {
                    for (key, set) in [
                        ("host", m.host.is_some()),
                        ("port", m.port.is_some()),
                        ("username", m.username.is_some()),
                        ("tls", m.tls.is_some()),
                    ]
                    .into_iter()
                    .chain(raw_auth!(m).first_set().map(|k| (k, true)))
                    {
                        if set {
                            return Err(
                                cx.err(&format!("[mailbox] {key}"), "only for kind = \"imap\"")
                            );
                        }
                    }
                    MailboxConfig::Maildir(MaildirConfig {
                        path: cx.required("[mailbox] path", m.path)?,
                        poll_interval: cx.seconds(
                            "[mailbox] poll_interval",
                            m.poll_interval,
                            1.0,
                        )?,
                        batch_size,
                    })
                }
                other => {
                    return Err(cx.err(
                        "[mailbox] kind",
                        format!("unknown value {other:?}; expected \"imap\" or \"maildir\""),
                    ));
                }
            };
            (mailbox, folders)
        };

        let transport = {
            let mut t = cx.required("[transport]", raw.transport)?;
            let kind = cx.required("[transport] kind", t.kind.clone())?;
            match kind.as_str() {
                "smtp" => {
                    let tls = cx.tls("[transport] tls", t.tls, TlsMode::StartTls)?;
                    let timeout = cx.seconds("[transport] timeout", t.timeout, 30.0)?;
                    let auth = cx.auth("transport", raw_auth!(t), timeout, env)?;
                    let login = match (t.username.take(), auth) {
                        (Some(username), Some(auth)) => Some(SmtpLogin { username, auth }),
                        (None, None) => None,
                        (None, Some(Auth::OAuth2(_))) => {
                            return Err(cx.err(
                                "[transport] username",
                                "missing: auth = \"oauth2\" needs the account's address as username",
                            ));
                        }
                        (Some(_), None) | (None, Some(Auth::Password(_))) => {
                            return Err(cx.err(
                                "[transport] username",
                                "username and password (or password_env) go together",
                            ));
                        }
                    };
                    TransportConfig::Smtp(SmtpConfig {
                        host: cx.required("[transport] host", t.host)?,
                        port: t.port.unwrap_or(match tls {
                            TlsMode::Implicit => 465,
                            TlsMode::StartTls => 587,
                            TlsMode::None => 25,
                        }),
                        tls,
                        tls_ca_file: t.tls_ca_file,
                        login,
                        timeout,
                    })
                }
                "file" => {
                    let raw = raw_auth!(t);
                    if let Some(k) = raw
                        .auth
                        .is_some()
                        .then_some("auth")
                        .or_else(|| raw.first_oauth2_key())
                    {
                        return Err(cx.err(&format!("[transport] {k}"), "only for kind = \"smtp\""));
                    }
                    TransportConfig::File(FileTransportConfig {
                        path: cx.required("[transport] path", t.path)?,
                    })
                }
                other => {
                    return Err(cx.err(
                        "[transport] kind",
                        format!("unknown value {other:?}; expected \"smtp\" or \"file\""),
                    ));
                }
            }
        };

        let desk = {
            let d = cx.required("[desk]", raw.desk)?;
            let support_address = cx
                .required("[desk] support_address", d.support_address)?
                .trim()
                .to_ascii_lowercase();
            let message_id_domain = match support_address.rsplit_once('@') {
                Some((local, domain))
                    if !local.is_empty()
                        && !domain.is_empty()
                        && !support_address.contains(char::is_whitespace) =>
                {
                    domain.to_string()
                }
                _ => {
                    return Err(cx.err(
                        "[desk] support_address",
                        format!("{support_address:?} is not an email address"),
                    ));
                }
            };
            let token_prefix = d.token_prefix.unwrap_or_else(|| "TP".into());
            if token_prefix.is_empty()
                || token_prefix.len() > 16
                || !token_prefix.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(cx.err(
                    "[desk] token_prefix",
                    "must be 1 to 16 ASCII letters or digits",
                ));
            }
            let parse_list = |key: &str, list: Option<Vec<String>>| -> Result<Vec<NamedAddress>> {
                list.unwrap_or_default()
                    .iter()
                    .map(|s| parse_named_address(s).map_err(|e| cx.err(key, e)))
                    .collect()
            };
            let mut teams = Vec::new();
            for (name, members) in raw.teams.unwrap_or_default() {
                let key = format!("[teams] {name}");
                if name.trim().is_empty() || name.contains(char::is_whitespace) {
                    return Err(cx.err(&key, "a team name is one word"));
                }
                let list: Vec<String> = members
                    .try_into()
                    .map_err(|_| cx.err(&key, "expected a list of addresses"))?;
                if list.is_empty() {
                    return Err(cx.err(&key, "a team needs at least one member"));
                }
                teams.push(Team {
                    members: parse_list(&key, Some(list))?,
                    name,
                });
            }
            let lifecycle = {
                let l = raw.lifecycle;
                let duration = |key: &str, v: Option<toml::Value>, default: i64| -> Result<i64> {
                    match v {
                        None => Ok(default),
                        Some(toml::Value::Integer(n)) => {
                            parse_duration_text(&n.to_string()).map_err(|e| cx.err(key, e))
                        }
                        Some(toml::Value::String(s)) => {
                            parse_duration_text(&s).map_err(|e| cx.err(key, e))
                        }
                        Some(other) => Err(cx.err(
                            key,
                            format!("expected a duration such as \"5d\", got {other}"),
                        )),
                    }
                };
                let defaults = LifecycleConfig::default();
                let (a, r) = match l {
                    Some(l) => (l.auto_close_after, l.reopen_window),
                    None => (None, None),
                };
                LifecycleConfig {
                    auto_close_after: duration(
                        "[lifecycle] auto_close_after",
                        a,
                        defaults.auto_close_after,
                    )?,
                    reopen_window: duration(
                        "[lifecycle] reopen_window",
                        r,
                        defaults.reopen_window,
                    )?,
                }
            };
            let triage_raw = raw.triage.unwrap_or(RawTriage {
                systems: None,
                vip_senders: None,
                domains: None,
                oncall: None,
            });
            let mut domain_priorities = Vec::new();
            for (domain, priority) in triage_raw.domains.unwrap_or_default() {
                let p: crate::desk::Priority = priority
                    .parse()
                    .map_err(|e| cx.err(&format!("[triage] domains.{domain}"), e))?;
                domain_priorities.push((domain.trim().to_ascii_lowercase(), p));
            }
            let vip_senders = parse_list("[triage] vip_senders", triage_raw.vip_senders)?
                .into_iter()
                .map(|a| a.address)
                .collect();
            let triage = crate::desk::triage::TriageConfig {
                systems: triage_raw.systems.unwrap_or_default(),
                vip_senders,
                domain_priorities,
            };
            let oncall = parse_list("[triage] oncall", triage_raw.oncall)?;
            let default_language = raw
                .templates
                .as_ref()
                .and_then(|t| t.language.clone())
                .unwrap_or_else(|| "en".into());
            let mut other_addresses = Vec::new();
            for (i, a) in d.other_addresses.unwrap_or_default().iter().enumerate() {
                let a = a.trim().to_ascii_lowercase();
                if !a.contains('@') || a.contains(char::is_whitespace) {
                    return Err(cx.err(
                        &format!("[desk] other_addresses[{i}]"),
                        format!("{a:?} is not an email address"),
                    ));
                }
                other_addresses.push(a);
            }
            let mut routes = Vec::new();
            for (i, r) in raw.route.unwrap_or_default().into_iter().enumerate() {
                let key = |k: &str| format!("[[route]] {} {k}", i + 1);
                let lower = |v: Option<Vec<String>>| -> Vec<String> {
                    v.unwrap_or_default()
                        .iter()
                        .map(|x| x.trim().to_lowercase())
                        .filter(|x| !x.is_empty())
                        .collect()
                };
                let route = crate::desk::routing::Route {
                    to: lower(r.to),
                    from_domain: lower(r.from_domain),
                    subject: lower(r.subject),
                    folder: r
                        .folder
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty())
                        .collect(),
                    team: r.team,
                    priority: r
                        .priority
                        .map(|p| p.parse().map_err(|e| cx.err(&key("priority"), e)))
                        .transpose()?,
                    tags: r.tags.unwrap_or_default(),
                };
                if route.to.is_empty()
                    && route.from_domain.is_empty()
                    && route.subject.is_empty()
                    && route.folder.is_empty()
                {
                    return Err(cx.err(
                        &key("to"),
                        "a route needs at least one of to, from_domain, subject, folder",
                    ));
                }
                if let Some(f) = route
                    .folder
                    .iter()
                    .find(|f| !folders.iter().any(|g| g.eq_ignore_ascii_case(f)))
                {
                    return Err(cx.err(
                        &key("folder"),
                        format!(
                            "{f:?} is not one of the folders read ([mailbox] folders: {folders:?})"
                        ),
                    ));
                }
                if let Some(team) = &route.team
                    && !teams.iter().any(|t| &t.name == team)
                {
                    return Err(cx.err(&key("team"), format!("no team {team:?} in [teams]")));
                }
                routes.push(route);
            }
            let max_participants = match raw.limits.as_ref().and_then(|l| l.max_participants) {
                None => DEFAULT_MAX_PARTICIPANTS,
                Some(n @ 0..=1000) => n as usize,
                Some(n) => {
                    return Err(cx.err(
                        "[limits] max_participants",
                        format!("must be between 0 and 1000, got {n}"),
                    ));
                }
            };
            DeskConfig {
                other_addresses,
                routes,
                max_participants,
                triage,
                oncall,
                default_language,
                support_name: d.support_name.unwrap_or_else(|| "Support".into()),
                token_prefix,
                agents: parse_list("[desk] agents", d.agents)?,
                supervisors: parse_list("[desk] supervisors", d.supervisors)?,
                teams,
                support_address,
                message_id_domain,
                lifecycle,
            }
        };

        let kb = {
            let d = KbConfig::default();
            let k = raw.kb;
            let share = |key: &str, v: Option<f64>, default: f64| -> Result<f64> {
                let v = v.unwrap_or(default);
                if (0.0..=1.0).contains(&v) {
                    Ok(v)
                } else {
                    Err(cx.err(key, format!("must be between 0 and 1, got {v}")))
                }
            };
            let (st, ms, sim, to_requesters) = match k {
                Some(k) => (
                    k.suggest_threshold,
                    k.max_suggestions,
                    k.similar_threshold,
                    k.suggest_to_requesters,
                ),
                None => (None, None, None, None),
            };
            let max_suggestions = ms.unwrap_or(d.max_suggestions);
            if max_suggestions > 10 {
                return Err(cx.err("[kb] max_suggestions", "at most 10"));
            }
            KbConfig {
                suggest_threshold: share("[kb] suggest_threshold", st, d.suggest_threshold)?,
                max_suggestions,
                similar_threshold: share("[kb] similar_threshold", sim, d.similar_threshold)?,
                suggest_to_requesters: to_requesters.unwrap_or(d.suggest_to_requesters),
            }
        };
        let intake_rules = raw.intake.and_then(|i| i.rules);
        let sla = sla_policy(&cx, raw.sla, &desk)?;
        let limits = {
            let d = LimitsConfig::default();
            let l = raw.limits.unwrap_or_default();
            let within =
                |key: &str, v: Option<i64>, min: i64, max: i64, default: i64| -> Result<i64> {
                    match v {
                        None => Ok(default),
                        Some(n) if (min..=max).contains(&n) => Ok(n),
                        Some(n) => {
                            Err(cx.err(key, format!("must be between {min} and {max}, got {n}")))
                        }
                    }
                };
            let count = |key: &str, v: Option<i64>, min: i64, max: i64, default: usize| {
                within(key, v, min, max, default as i64).map(|n| n as usize)
            };
            let p = d.parse;
            LimitsConfig {
                acknowledgements_per_sender_per_hour: within(
                    "[limits] acknowledgements_per_sender_per_hour",
                    l.acknowledgements_per_sender_per_hour,
                    1,
                    100_000,
                    d.acknowledgements_per_sender_per_hour,
                )?,
                messages_per_ticket_per_hour: within(
                    "[limits] messages_per_ticket_per_hour",
                    l.messages_per_ticket_per_hour,
                    1,
                    100_000,
                    d.messages_per_ticket_per_hour,
                )?,
                parse: crate::inbound::ParseLimits {
                    max_message_bytes: count(
                        "[limits] max_message_bytes",
                        l.max_message_bytes,
                        64 * 1024,
                        1 << 30,
                        p.max_message_bytes,
                    )?,
                    max_attachments: count(
                        "[limits] max_attachments",
                        l.max_attachments,
                        1,
                        10_000,
                        p.max_attachments,
                    )?,
                    max_header_fields: count(
                        "[limits] max_header_fields",
                        l.max_header_fields,
                        50,
                        100_000,
                        p.max_header_fields,
                    )?,
                    max_header_line_bytes: count(
                        "[limits] max_header_line_bytes",
                        l.max_header_line_bytes,
                        998,
                        16 << 20,
                        p.max_header_line_bytes,
                    )?,
                    max_mime_depth: count(
                        "[limits] max_mime_depth",
                        l.max_mime_depth,
                        2,
                        1000,
                        p.max_mime_depth,
                    )?,
                },
            }
        };
        let http = match raw.http {
            None => None,
            Some(h) => Some(HttpConfig {
                listen: match h.listen.as_deref() {
                    None => std::net::SocketAddr::from(([127, 0, 0, 1], 8025)),
                    Some(text) => text.parse().map_err(|_| {
                        cx.err(
                            "[http] listen",
                            format!("{text:?} is not an address:port (e.g. \"127.0.0.1:8025\")"),
                        )
                    })?,
                },
                bearer_token: cx.secret(
                    "http",
                    "bearer_token",
                    h.bearer_token,
                    h.bearer_token_env,
                    env,
                )?,
            }),
        };
        let security = match raw.security {
            None => SecurityConfig::default(),
            Some(r) => SecurityConfig {
                verify_staff: r.verify_staff.unwrap_or(true),
                trusted_authserv_id: match r.trusted_authserv_id {
                    Some(id) if id.trim().is_empty() || id.contains(char::is_whitespace) => {
                        return Err(cx.err(
                            "[security] trusted_authserv_id",
                            format!("{id:?} is not a server name"),
                        ));
                    }
                    other => other,
                },
                stranger_with_token: match r.stranger_with_token.as_deref() {
                    None | Some("new_ticket") => StrangerPolicy::NewTicket,
                    Some("hold") => StrangerPolicy::Hold,
                    Some(other) => {
                        return Err(cx.err(
                            "[security] stranger_with_token",
                            format!("{other:?}: expected \"new_ticket\" or \"hold\""),
                        ));
                    }
                },
            },
        };

        let templates = match raw.templates {
            Some(t) => TemplatesConfig {
                dir: t.dir,
                language: t.language.unwrap_or_else(|| "en".into()),
            },
            None => TemplatesConfig {
                dir: None,
                language: "en".into(),
            },
        };

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

/// Whether `name` looks like an environment variable's name (`IMAP_PASSWORD`), not
/// like a secret pasted in its place.
fn looks_like_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let mut env = HashMap::new();
        env.insert("TP_PW".to_string(), "s3cret".to_string());
        Config::from_toml(Path::new("conf/test.toml"), text, &env)
    }

    #[test]
    fn shipped_configs_load() {
        let mut env = HashMap::new();
        for name in [
            "TICKETPOST_IMAP_PASSWORD",
            "TICKETPOST_SMTP_PASSWORD",
            "TICKETPOST_HTTP_TOKEN",
        ] {
            env.insert(name.to_string(), "x".to_string());
        }
        for file in ["config/ticketpost.toml", "config/production.example.toml"] {
            let text = std::fs::read_to_string(file).unwrap();
            let cfg = Config::from_toml(Path::new(file), &text, &env)
                .unwrap_or_else(|e| panic!("{file}: {e:#}"));
            if file.contains("production") {
                let sla = &cfg.sla;
                assert_eq!(sla.calendar.tz, chrono_tz::Asia::Shanghai);
                assert_eq!(sla.calendar.day_seconds(), 8 * 3_600);
                assert_eq!(sla.targets[0].first_response, 30 * 60);
                assert_eq!(sla.targets[1].resolution, 8 * 3_600);
                assert_eq!(sla.targets[2].resolution, 3 * 8 * 3_600);
                assert_eq!(sla.escalate_after, Some(7_200));
                assert_eq!(sla.digest_hour, Some(8));
            }
        }
    }

    /// The commented Gmail blocks of the production example, uncommented in place of
    /// the passwords, load as OAuth2 logins.
    #[test]
    fn production_example_oauth2_blocks_load() {
        let file = "config/production.example.toml";
        let text = std::fs::read_to_string(file).unwrap();
        let (mut lines, mut in_gmail, mut blocks) = (Vec::new(), false, 0);
        for line in text.lines() {
            if line.starts_with("# OAuth2 (XOAUTH2)") {
                in_gmail = true;
                blocks += 1;
            } else if line.starts_with("# ...") {
                in_gmail = false;
            } else if in_gmail && let Some(code) = line.strip_prefix("# ") {
                lines.push(code);
            } else if !line.starts_with("password_env") {
                lines.push(line);
            }
        }
        assert_eq!(blocks, 2, "one block in [mailbox], one in [transport]");
        let env: HashMap<String, String> = [
            "TICKETPOST_OAUTH2_CLIENT_SECRET",
            "TICKETPOST_OAUTH2_REFRESH_TOKEN",
            "TICKETPOST_HTTP_TOKEN",
        ]
        .iter()
        .map(|k| (k.to_string(), "x".to_string()))
        .collect();
        let cfg = Config::from_toml(Path::new(file), &lines.join("\n"), &env)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let gmail = |auth: &Auth| {
            matches!(auth, Auth::OAuth2(o) if matches!(&o.grant,
                OAuth2Grant::Refresh { token_url, scopes, .. }
                    if token_url == "https://oauth2.googleapis.com/token" && scopes == &["https://mail.google.com/"]))
        };
        let (MailboxConfig::Imap(i), TransportConfig::Smtp(s)) = (&cfg.mailbox, &cfg.transport)
        else {
            panic!("imap and smtp expected")
        };
        assert!(gmail(&i.auth), "{:?}", i.auth);
        assert!(gmail(&s.login.as_ref().unwrap().auth), "{:?}", s.login);
    }

    #[test]
    fn bad_sla_keys_are_named() {
        for (extra, key) in [
            ("[sla]\ntime_zone = \"Mars/Olympus\"\n", "[sla] time_zone"),
            ("[sla]\nwarn_at = 1.5\n", "[sla] warn_at"),
            ("[sla]\nholidays = [\"2026-02-30\"]\n", "[sla] holidays[0]"),
            ("[sla.hours]\nmon = \"17:00-09:00\"\n", "[sla.hours] mon"),
            (
                "[sla.hours]\nmonday = \"09:00-17:00\"\n",
                "[sla.hours] monday",
            ),
            (
                "[sla.P2]\nfirst_response = \"5x\"\n",
                "[sla.P2] first_response",
            ),
            ("[sla.P3]\nhours = \"always\"\n", "[sla.P3] hours"),
            ("[sla]\nescalate_to = [\"a@x.test\"]\n", "[sla] escalate_to"),
            ("[sla]\ndigest_hour = 24\n", "[sla] digest_hour"),
        ] {
            let err = load(&format!("{MINIMAL}{extra}")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.contains("conf/test.toml") && msg.contains(key),
                "{extra}: {msg}"
            );
        }
    }

    #[test]
    fn limits_are_read_and_bad_ones_named() {
        let c = load(&format!(
            "{MINIMAL}[limits]\nmax_message_bytes = 1048576\nmax_mime_depth = 8\n"
        ))
        .unwrap();
        assert_eq!(c.limits.parse.max_message_bytes, 1 << 20);
        assert_eq!(c.limits.parse.max_mime_depth, 8);
        assert_eq!(c.limits.parse.max_attachments, 100);
        assert_eq!(c.limits.acknowledgements_per_sender_per_hour, 10);
        for (extra, key) in [
            ("max_message_bytes = 10", "[limits] max_message_bytes"),
            ("max_mime_depth = 0", "[limits] max_mime_depth"),
            (
                "max_header_line_bytes = 80",
                "[limits] max_header_line_bytes",
            ),
            (
                "messages_per_ticket_per_hour = 0",
                "[limits] messages_per_ticket_per_hour",
            ),
        ] {
            let err = load(&format!("{MINIMAL}[limits]\n{extra}\n")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("conf/test.toml") && msg.contains(key), "{msg}");
        }
    }

    #[test]
    fn stranger_policy_is_read_and_a_bad_one_named() {
        let c = load(&format!(
            "{MINIMAL}[security]\nstranger_with_token = \"hold\"\n"
        ))
        .unwrap();
        assert_eq!(c.security.stranger_with_token, StrangerPolicy::Hold);
        assert_eq!(
            load(MINIMAL).unwrap().security.stranger_with_token,
            StrangerPolicy::NewTicket
        );
        let err = load(&format!(
            "{MINIMAL}[security]\nstranger_with_token = \"drop\"\n"
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("[security] stranger_with_token"),
            "{err:#}"
        );
    }

    #[test]
    fn folders_are_read_in_order_and_bad_lists_named() {
        let one = load(MINIMAL).unwrap();
        assert_eq!(one.folders, vec!["INBOX"]);
        let c = load(&MINIMAL.replace(
            "kind = \"maildir\"",
            "kind = \"maildir\"\nfolders = [\"INBOX\", \"HR\"]",
        ))
        .unwrap();
        assert_eq!(c.folders, vec!["INBOX", "HR"]);
        match c.mailbox.for_folder("HR") {
            MailboxConfig::Maildir(m) => assert!(m.path.ends_with("var/inbox/.HR"), "{m:?}"),
            other => panic!("{other:?}"),
        }
        match c.mailbox.for_folder("inbox") {
            MailboxConfig::Maildir(m) => assert!(m.path.ends_with("var/inbox"), "{m:?}"),
            other => panic!("{other:?}"),
        }
        for (keys, key) in [
            ("folders = []", "[mailbox] folders"),
            ("folder = \"A\"\nfolders = [\"B\"]", "[mailbox] folders"),
            ("folders = [\"HR\", \"hr\"]", "[mailbox] folders[1]"),
            ("folders = [\"a/b\"]", "[mailbox] folders[0]"),
            ("folders = [\" \"]", "[mailbox] folders[0]"),
        ] {
            let err = load(
                &MINIMAL.replace("kind = \"maildir\"", &format!("kind = \"maildir\"\n{keys}")),
            )
            .unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.contains("conf/test.toml") && msg.contains(key),
                "{keys}: {msg}"
            );
        }
        // A route may name only a folder that is read.
        let routed = load(&format!(
            "{}[[route]]\nfolder = [\"hr\"]\ntags = [\"hr\"]\n",
            MINIMAL.replace(
                "kind = \"maildir\"",
                "kind = \"maildir\"\nfolders = [\"INBOX\", \"HR\"]"
            )
        ))
        .unwrap();
        assert_eq!(routed.desk.routes[0].folder, vec!["hr"]);
        let err = load(&format!(
            "{MINIMAL}[[route]]\nfolder = [\"HR\"]\ntags = [\"hr\"]\n"
        ))
        .unwrap_err();
        assert!(format!("{err:#}").contains("[[route]] 1 folder"), "{err:#}");
    }

    #[test]
    fn routes_and_other_addresses_are_read_and_bad_ones_named() {
        let c = load(&MINIMAL.replace(
            "[desk]",
            "[teams]\nhr = [\"h@example.test\"]\n[[route]]\nto = [\"HR@Example.test\"]\nteam = \"hr\"\npriority = \"P2\"\n[desk]\nother_addresses = [\"HR@Example.test\"]",
        ))
        .unwrap();
        assert_eq!(c.desk.routes[0].to, vec!["hr@example.test"]);
        assert!(c.desk.is_own_address("hr@EXAMPLE.test"));
        assert!(c.desk.is_own_address("support@example.test"));
        for (extra, key) in [
            ("[[route]]\nteam = \"hr\"\n", "[[route]] 1 to"),
            (
                "[[route]]\nto = [\"a@b\"]\nteam = \"nope\"\n",
                "[[route]] 1 team",
            ),
            (
                "[[route]]\nsubject = [\"x\"]\npriority = \"P9\"\n",
                "[[route]] 1 priority",
            ),
        ] {
            let err = load(&format!("{MINIMAL}{extra}")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("conf/test.toml") && msg.contains(key), "{msg}");
        }
    }

    const MINIMAL: &str = r#"
[store]
path = "var/t.db"
[mailbox]
kind = "maildir"
path = "var/inbox"
[transport]
kind = "file"
path = "var/outbox"
[desk]
support_address = "Support@Example.test"
agents = ["Ann Lee <ann@example.test>", "bob@example.test"]
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(c.desk.support_address, "support@example.test");
        assert_eq!(c.desk.token_prefix, "TP");
        assert_eq!(c.desk.message_id_domain, "example.test");
        assert_eq!(c.desk.agents[0].name.as_deref(), Some("Ann Lee"));
        assert_eq!(c.desk.agents[1].address, "bob@example.test");
        assert!(matches!(c.mailbox, MailboxConfig::Maildir(_)));
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = load(&MINIMAL.replace("kind = \"maildir\"", "kind = \"pop3\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("conf/test.toml") && e.contains("[mailbox] kind"),
            "{e}"
        );

        let e = load(&MINIMAL.replace("path = \"var/inbox\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[mailbox] path"), "{e}");

        let e = load(&MINIMAL.replace("[desk]", "[desk]\ntoken_prefx = \"X\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("conf/test.toml") && e.contains("token_prefx"),
            "{e}"
        );

        let e = load(&MINIMAL.replace("agents = [", "agents = [\"not an address\", "))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[desk] agents"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = MINIMAL.replace(
            "kind = \"maildir\"",
            "kind = \"imap\"\nhost = \"h\"\nport = \"x\"",
        );
        let e = load(&text).unwrap_err().to_string();
        assert!(e.contains("conf/test.toml") && e.contains("port"), "{e}");
    }

    const IMAP_OAUTH2: &str = "kind = \"imap\"\nhost = \"imap.gmail.com\"\nusername = \"desk@example.test\"\nauth = \"oauth2\"\noauth2_token_url = \"https://oauth2.googleapis.com/token\"\noauth2_client_id = \"cid\"\noauth2_client_secret_env = \"TP_SECRET\"\noauth2_refresh_token_env = \"TP_REFRESH\"\noauth2_scopes = [\"https://mail.google.com/\"]";

    fn load_oauth2(text: &str) -> Result<Config> {
        let mut env = HashMap::new();
        env.insert("TP_SECRET".to_string(), "client-s3cret".to_string());
        env.insert("TP_REFRESH".to_string(), "refresh-s3cret".to_string());
        env.insert("TP_ACCESS".to_string(), "access-s3cret".to_string());
        Config::from_toml(Path::new("conf/test.toml"), text, &env)
    }

    fn imap_oauth2(extra: &str, drop: &[&str]) -> String {
        let mut mailbox: Vec<&str> = IMAP_OAUTH2
            .lines()
            .filter(|l| !drop.iter().any(|d| l.starts_with(&format!("{d} "))))
            .collect();
        mailbox.extend(extra.lines());
        MINIMAL.replace(
            "kind = \"maildir\"\npath = \"var/inbox\"",
            &mailbox.join("\n"),
        )
    }

    #[test]
    fn oauth2_keys_are_read_and_secrets_stay_out_of_debug_output() {
        let c = load_oauth2(&imap_oauth2("", &[])).unwrap();
        let MailboxConfig::Imap(i) = &c.mailbox else {
            panic!("not imap")
        };
        let Auth::OAuth2(o) = &i.auth else {
            panic!("not oauth2: {:?}", i.auth)
        };
        assert_eq!(o.table, "[mailbox]");
        assert_eq!(o.timeout, Duration::from_secs(30));
        match &o.grant {
            OAuth2Grant::Refresh {
                token_url,
                client_id,
                client_secret,
                refresh_token,
                scopes,
            } => {
                assert_eq!(token_url, "https://oauth2.googleapis.com/token");
                assert_eq!(client_id, "cid");
                assert_eq!(client_secret.as_deref(), Some("client-s3cret"));
                assert_eq!(refresh_token, "refresh-s3cret");
                assert_eq!(scopes, &["https://mail.google.com/"]);
            }
            OAuth2Grant::Static { .. } => panic!("not a refresh grant"),
        }
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(describe(&c).contains("auth oauth2"), "{}", describe(&c));

        // A fixed token from the environment, for tokens minted elsewhere.
        let fixed = MINIMAL.replace(
            "kind = \"maildir\"\npath = \"var/inbox\"",
            "kind = \"imap\"\nhost = \"h\"\nusername = \"u\"\nauth = \"oauth2\"\noauth2_access_token_env = \"TP_ACCESS\"",
        );
        let c = load_oauth2(&fixed).unwrap();
        let MailboxConfig::Imap(i) = &c.mailbox else {
            panic!("not imap")
        };
        assert!(
            matches!(&i.auth, Auth::OAuth2(o) if matches!(&o.grant, OAuth2Grant::Static { access_token } if access_token == "access-s3cret"))
        );
        assert!(!format!("{c:?}").contains("s3cret"));

        // SMTP: the same keys in [transport]; a public client needs no secret.
        let smtp = MINIMAL.replace(
            "kind = \"file\"\npath = \"var/outbox\"",
            "kind = \"smtp\"\nhost = \"smtp.office365.com\"\nusername = \"desk@example.test\"\nauth = \"oauth2\"\noauth2_token_url = \"https://login.microsoftonline.com/t/oauth2/v2.0/token\"\noauth2_client_id = \"cid\"\noauth2_refresh_token_env = \"TP_REFRESH\"\noauth2_scopes = [\"https://outlook.office.com/SMTP.Send\", \"offline_access\"]",
        );
        let c = load_oauth2(&smtp).unwrap();
        let TransportConfig::Smtp(s) = &c.transport else {
            panic!("not smtp")
        };
        let login = s.login.as_ref().unwrap();
        assert_eq!(login.username, "desk@example.test");
        assert!(
            matches!(&login.auth, Auth::OAuth2(o) if o.table == "[transport]" && matches!(&o.grant, OAuth2Grant::Refresh { client_secret: None, scopes, .. } if scopes.len() == 2))
        );
    }

    #[test]
    fn bad_or_missing_oauth2_keys_are_named() {
        let url = "oauth2_token_url";
        for (text, key) in [
            (imap_oauth2("", &[url]), "[mailbox] oauth2_token_url"),
            (
                imap_oauth2("", &["oauth2_client_id"]),
                "[mailbox] oauth2_client_id",
            ),
            (
                imap_oauth2("", &["oauth2_refresh_token_env"]),
                "[mailbox] oauth2_refresh_token",
            ),
            (
                imap_oauth2("oauth2_refresh_token_env = \"TP_NOPE\"", &["oauth2_refresh_token_env"]),
                "[mailbox] oauth2_refresh_token_env",
            ),
            (
                imap_oauth2("oauth2_token_url = \"http://auth.example.test/token\"", &[url]),
                "[mailbox] oauth2_token_url",
            ),
            (
                imap_oauth2("oauth2_token_url = \"not a url\"", &[url]),
                "[mailbox] oauth2_token_url",
            ),
            (
                imap_oauth2("oauth2_scopes = [\"a b\"]", &["oauth2_scopes"]),
                "[mailbox] oauth2_scopes[0]",
            ),
            (
                imap_oauth2("password_env = \"TP_PW\"", &[]),
                "[mailbox] password_env",
            ),
            (
                imap_oauth2("oauth2_access_token_env = \"TP_ACCESS\"", &[]),
                "[mailbox] oauth2_access_token_env",
            ),
            (
                imap_oauth2("auth = \"kerberos\"", &["auth"]),
                "[mailbox] auth",
            ),
            (
                imap_oauth2("auth = \"password\"\npassword = \"x\"", &["auth"]),
                "[mailbox] oauth2_token_url",
            ),
            (
                MINIMAL.replace("path = \"var/inbox\"", "path = \"var/inbox\"\nauth = \"oauth2\""),
                "[mailbox] auth",
            ),
            (
                MINIMAL.replace("path = \"var/outbox\"", "path = \"var/outbox\"\noauth2_client_id = \"x\""),
                "[transport] oauth2_client_id",
            ),
            (
                MINIMAL.replace(
                    "kind = \"file\"\npath = \"var/outbox\"",
                    "kind = \"smtp\"\nhost = \"h\"\nauth = \"oauth2\"\noauth2_access_token_env = \"TP_ACCESS\"",
                ),
                "[transport] username",
            ),
        ] {
            let err = load_oauth2(&text).unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.contains("conf/test.toml") && msg.contains(key),
                "{key}: {msg}\n{text}"
            );
            assert!(!msg.contains("s3cret"), "{msg}");
        }
        // Plain http is fine to this machine.
        let local = imap_oauth2("oauth2_token_url = \"http://127.0.0.1:8080/token\"", &[url]);
        assert!(load_oauth2(&local).is_ok());
    }

    #[test]
    fn errors_about_secret_keys_name_the_key_but_not_the_value() {
        let imap = |keys: &str| {
            MINIMAL.replace(
                "kind = \"maildir\"\npath = \"var/inbox\"",
                &format!("kind = \"imap\"\nhost = \"h\"\nusername = \"u\"\n{keys}"),
            )
        };
        let http = |keys: &str| format!("{MINIMAL}[http]\n{keys}\n");
        for (text, key) in [
            (imap("password = 12345678"), "mailbox.password"),
            (imap("password = 1234.5678"), "mailbox.password"),
            (imap("password_env = 12345678"), "mailbox.password_env"),
            (
                imap("password_env = \"hunter2-12345678\""),
                "[mailbox] password_env",
            ),
            (
                imap(
                    "auth = \"oauth2\"\noauth2_token_url = \"https://a.test/t\"\noauth2_client_id = \"c\"\noauth2_refresh_token = \"r\"\noauth2_client_secret = 12345678",
                ),
                "mailbox.oauth2_client_secret",
            ),
            (http("bearer_token = 12345678"), "http.bearer_token"),
            (
                http("bearer_token = [\"tok-12345678\"]"),
                "http.bearer_token",
            ),
            (
                http("bearer_token_env = \"tok-12345678\""),
                "[http] bearer_token_env",
            ),
            // Syntax errors: toml would quote the line; only its number is given.
            (http("bearer_token = \"tok-12345678"), "line 14, column 29"),
            (http("bearer_token = tok-12345678"), "line 14"),
            (http("bearer_token = \"tok\\q12345678\""), "line 14"),
            (http("bearer_token = \"\"\"tok\n12345678"), "line 16"),
            (
                http("bearer_token = \"a\"\nbearer_token = \"tok-12345678\""),
                "duplicate key `bearer_token`",
            ),
        ] {
            let msg = format!("{:#}", load(&text).unwrap_err());
            assert!(
                msg.contains("conf/test.toml") && msg.contains(key),
                "{key}: {msg}\n{text}"
            );
            assert!(!msg.contains("12345678"), "{msg}\n{text}");
        }
        // Other keys keep their values in messages: they help and are not secret.
        let msg = format!(
            "{:#}",
            load(&imap("password = \"p\"\nport = \"abc\"")).unwrap_err()
        );
        assert!(msg.contains("mailbox.port") && msg.contains("abc"), "{msg}");
        for (key, secret) in [
            ("password", true),
            ("oauth2_refresh_token_env", true),
            ("bearer_token", true),
            ("oauth2_client_secret", true),
            ("api_key", true),
            ("token_prefix", false),
            ("oauth2_token_url", false),
            ("oauth2_client_id", false),
            ("username", false),
        ] {
            assert_eq!(is_secret_key(key), secret, "{key}");
        }
    }

    #[test]
    fn imap_password_from_env() {
        let text = MINIMAL.replace(
            "kind = \"maildir\"\npath = \"var/inbox\"",
            "kind = \"imap\"\nhost = \"mail\"\nusername = \"u\"\npassword_env = \"TP_PW\"\ntls = \"starttls\"",
        );
        let c = load(&text).unwrap();
        let MailboxConfig::Imap(i) = c.mailbox else {
            panic!("not imap")
        };
        assert!(matches!(&i.auth, Auth::Password(p) if p == "s3cret"));
        assert_eq!(i.port, 143);
        assert_eq!(i.folder, "INBOX");
        assert!(i.idle);

        // A missing variable is named; something that looks like a pasted secret is not.
        let missing = text.replace("TP_PW", "TP_NOPE");
        let e = load(&missing).unwrap_err().to_string();
        assert!(
            e.contains("conf/test.toml") && e.contains("[mailbox] password_env"),
            "{e}"
        );
        assert!(e.contains("TP_NOPE is not set"), "{e}");
        let pasted = text.replace("TP_PW", "hunter2-Secret!");
        let e = load(&pasted).unwrap_err().to_string();
        assert!(
            e.contains("[mailbox] password_env") && !e.contains("hunter2"),
            "{e}"
        );
    }
}
