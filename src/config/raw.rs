//! The config file's shape as serde reads it, before any checking: one `Raw*` struct
//! per table, every key optional. Every table rejects unknown keys so a typo is
//! reported, not ignored. Reading the text into [`RawConfig`] lives here too, with
//! messages that never repeat a secret; turning the raw tables into typed config is
//! left to the module of each table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use serde::Deserialize;

use super::redact::{path_holds_secret, toml_syntax_error, without_secret_value};

/// Parses `text` into the raw tables; `file` is used only in messages. Syntax and type
/// errors name the file and the key, and leave out the value of a secret key.
pub(super) fn read(file: &Path, text: &str) -> Result<RawConfig> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_syntax_error(file, text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
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
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) store: Option<RawStore>,
    pub(super) mailbox: Option<RawMailbox>,
    pub(super) transport: Option<RawTransport>,
    pub(super) desk: Option<RawDesk>,
    pub(super) templates: Option<RawTemplates>,
    pub(super) teams: Option<toml::Table>,
    pub(super) lifecycle: Option<RawLifecycle>,
    pub(super) triage: Option<RawTriage>,
    pub(super) intake: Option<RawIntake>,
    pub(super) kb: Option<RawKb>,
    pub(super) sla: Option<RawSla>,
    pub(super) security: Option<RawSecurity>,
    pub(super) limits: Option<RawLimits>,
    pub(super) http: Option<RawHttp>,
    pub(super) route: Option<Vec<RawRoute>>,
    #[serde(rename = "macro")]
    pub(super) macros: Option<Vec<RawMacro>>,
    pub(super) change: Option<RawChange>,
}

/// `[change]`: change review.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChange {
    pub(super) review_required: Option<Vec<String>>,
}

/// `[[macro]]`: a canned reply for `/macro <name>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMacro {
    pub(super) name: Option<String>,
    pub(super) text: Option<String>,
    pub(super) commands: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) bearer_token: Option<String>,
    pub(super) bearer_token_env: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) acknowledgements_per_sender_per_hour: Option<i64>,
    pub(super) messages_per_ticket_per_hour: Option<i64>,
    pub(super) max_message_bytes: Option<i64>,
    pub(super) max_attachments: Option<i64>,
    pub(super) max_header_fields: Option<i64>,
    pub(super) max_header_line_bytes: Option<i64>,
    pub(super) max_mime_depth: Option<i64>,
    pub(super) max_participants: Option<i64>,
    pub(super) relay_attachments_bytes: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurity {
    pub(super) verify_staff: Option<bool>,
    pub(super) trusted_authserv_id: Option<String>,
    pub(super) stranger_with_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    pub(super) time_zone: Option<String>,
    pub(super) warn_at: Option<f64>,
    pub(super) escalate_after: Option<String>,
    pub(super) escalate_to: Option<Vec<String>>,
    pub(super) digest_hour: Option<u32>,
    pub(super) holidays: Option<Vec<String>>,
    pub(super) hours: Option<BTreeMap<String, String>>,
    #[serde(rename = "P1")]
    pub(super) p1: Option<RawSlaTargets>,
    #[serde(rename = "P2")]
    pub(super) p2: Option<RawSlaTargets>,
    #[serde(rename = "P3")]
    pub(super) p3: Option<RawSlaTargets>,
    #[serde(rename = "P4")]
    pub(super) p4: Option<RawSlaTargets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlaTargets {
    pub(super) first_response: Option<String>,
    pub(super) resolution: Option<String>,
    pub(super) hours: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTriage {
    pub(super) systems: Option<Vec<RawSystem>>,
    pub(super) vip_senders: Option<Vec<String>>,
    pub(super) domains: Option<BTreeMap<String, String>>,
    pub(super) oncall: Option<Vec<String>>,
    pub(super) matrix: Option<RawMatrix>,
}

/// `[triage] systems` entry: `"VPN"` (criticality high) or `{ name = "wiki",
/// criticality = "low" }`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawSystem {
    Name(String),
    Table(RawSystemTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSystemTable {
    pub(super) name: String,
    pub(super) criticality: Option<String>,
}

/// `[triage.matrix]`: per impact, the priorities for urgency high, medium and low.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatrix {
    pub(super) high: Option<Vec<String>>,
    pub(super) medium: Option<Vec<String>>,
    pub(super) low: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntake {
    pub(super) rules: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKb {
    pub(super) suggest_threshold: Option<f64>,
    pub(super) max_suggestions: Option<usize>,
    pub(super) similar_threshold: Option<f64>,
    pub(super) suggest_to_requesters: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLifecycle {
    pub(super) auto_close_after: Option<toml::Value>,
    pub(super) reopen_window: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: Option<PathBuf>,
    pub(super) synchronous: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMailbox {
    pub(super) kind: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) tls_ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) auth: Option<String>,
    pub(super) oauth2_token_url: Option<String>,
    pub(super) oauth2_client_id: Option<String>,
    pub(super) oauth2_client_secret: Option<String>,
    pub(super) oauth2_client_secret_env: Option<String>,
    pub(super) oauth2_refresh_token: Option<String>,
    pub(super) oauth2_refresh_token_env: Option<String>,
    pub(super) oauth2_scopes: Option<Vec<String>>,
    pub(super) oauth2_access_token_env: Option<String>,
    pub(super) folder: Option<String>,
    pub(super) folders: Option<Vec<String>>,
    pub(super) idle: Option<bool>,
    pub(super) poll_interval: Option<f64>,
    pub(super) batch_size: Option<usize>,
    pub(super) timeout: Option<f64>,
    pub(super) path: Option<PathBuf>,
    /// `kind = "lmtp"` only (`config/lmtp_listener.rs`).
    pub(super) listen: Option<String>,
    pub(super) max_connections: Option<i64>,
    pub(super) socket_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransport {
    pub(super) kind: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) tls_ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) auth: Option<String>,
    pub(super) oauth2_token_url: Option<String>,
    pub(super) oauth2_client_id: Option<String>,
    pub(super) oauth2_client_secret: Option<String>,
    pub(super) oauth2_client_secret_env: Option<String>,
    pub(super) oauth2_refresh_token: Option<String>,
    pub(super) oauth2_refresh_token_env: Option<String>,
    pub(super) oauth2_scopes: Option<Vec<String>>,
    pub(super) oauth2_access_token_env: Option<String>,
    pub(super) timeout: Option<f64>,
    pub(super) path: Option<PathBuf>,
}

/// The login keys shared by `[mailbox]` (imap) and `[transport]` (smtp).
pub(super) struct RawAuth {
    pub(super) auth: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) oauth2_token_url: Option<String>,
    pub(super) oauth2_client_id: Option<String>,
    pub(super) oauth2_client_secret: Option<String>,
    pub(super) oauth2_client_secret_env: Option<String>,
    pub(super) oauth2_refresh_token: Option<String>,
    pub(super) oauth2_refresh_token_env: Option<String>,
    pub(super) oauth2_scopes: Option<Vec<String>>,
    pub(super) oauth2_access_token_env: Option<String>,
}

/// `take_auth` for a table with the login keys: moves them out into a [`RawAuth`].
macro_rules! impl_take_auth {
    ($table:ty) => {
        impl $table {
            pub(super) fn take_auth(&mut self) -> RawAuth {
                RawAuth {
                    auth: self.auth.take(),
                    password: self.password.take(),
                    password_env: self.password_env.take(),
                    oauth2_token_url: self.oauth2_token_url.take(),
                    oauth2_client_id: self.oauth2_client_id.take(),
                    oauth2_client_secret: self.oauth2_client_secret.take(),
                    oauth2_client_secret_env: self.oauth2_client_secret_env.take(),
                    oauth2_refresh_token: self.oauth2_refresh_token.take(),
                    oauth2_refresh_token_env: self.oauth2_refresh_token_env.take(),
                    oauth2_scopes: self.oauth2_scopes.take(),
                    oauth2_access_token_env: self.oauth2_access_token_env.take(),
                }
            }
        }
    };
}

impl_take_auth!(RawMailbox);
impl_take_auth!(RawTransport);

impl RawAuth {
    /// The first login key that is set, for "only for kind = ..." messages.
    pub(super) fn first_set(&self) -> Option<&'static str> {
        if self.auth.is_some() {
            Some("auth")
        } else if self.password.is_some() || self.password_env.is_some() {
            Some("password")
        } else {
            self.first_oauth2_key()
        }
    }

    /// The first `oauth2_*` key that is set.
    pub(super) fn first_oauth2_key(&self) -> Option<&'static str> {
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
pub(super) struct RawDesk {
    pub(super) support_address: Option<String>,
    pub(super) support_name: Option<String>,
    pub(super) token_prefix: Option<String>,
    pub(super) agents: Option<Vec<String>>,
    pub(super) supervisors: Option<Vec<String>>,
    pub(super) other_addresses: Option<Vec<String>>,
    pub(super) collision_window: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) to: Option<Vec<String>>,
    pub(super) from_domain: Option<Vec<String>>,
    pub(super) subject: Option<Vec<String>>,
    pub(super) folder: Option<Vec<String>>,
    pub(super) team: Option<String>,
    pub(super) priority: Option<String>,
    pub(super) tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplates {
    pub(super) dir: Option<PathBuf>,
    pub(super) language: Option<String>,
}
