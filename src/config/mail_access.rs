//! `[mailbox]`: where mail comes from, an IMAP account, a Maildir or an LMTP listener
//! the MTA delivers to, and the folders read from it ([`MailboxConfig`],
//! [`ImapConfig`], [`MaildirConfig`]; the listener's keys are `lmtp_listener`'s). The
//! TLS mode and the login are read by `mail_login`; reading mail is left to the
//! `mailbox` module.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::context::Ctx;
use super::lmtp_listener::{LmtpConfig, lmtp, lmtp_key_set};
use super::mail_login::{Auth, TlsMode, login, tls_mode};
use super::raw::RawMailbox;

/// Messages per fetch and per transaction when `[mailbox] batch_size` is not set. About
/// two batches are in memory at once (the next is read and parsed while one is
/// stored); at 100 a burst of 10,000 requests into a desk of 10,000 tickets peaked at
/// 63 MB against 74 MB at 500, at the same rate (see README, "Peak memory").
pub const DEFAULT_BATCH_SIZE: usize = 100;

#[derive(Debug, Clone)]
pub enum MailboxConfig {
    Imap(ImapConfig),
    Maildir(MaildirConfig),
    /// Not read from: the MTA delivers over LMTP (only the folder "INBOX").
    Lmtp(LmtpConfig),
}

impl MailboxConfig {
    /// The same mailbox, reading `folder` (one of `Config::folders`). A Maildir's
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
            MailboxConfig::Lmtp(c) => MailboxConfig::Lmtp(c.clone()),
        }
    }

    /// Messages per store transaction.
    pub fn batch_size(&self) -> usize {
        match self {
            MailboxConfig::Imap(c) => c.batch_size,
            MailboxConfig::Maildir(c) => c.batch_size,
            MailboxConfig::Lmtp(c) => c.batch_size,
        }
    }
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

/// `[mailbox]` (required): the mailbox and the folders read from it, first one first.
pub(super) fn mailbox(
    cx: &Ctx,
    raw: Option<RawMailbox>,
    env: &HashMap<String, String>,
) -> Result<(MailboxConfig, Vec<String>)> {
    let m = cx.required("[mailbox]", raw)?;
    let kind = cx.required("[mailbox] kind", m.kind.clone())?;
    let folders = folders(cx, m.folder.clone(), m.folders.clone(), kind == "maildir")?;
    let batch_size = m.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
    if !(1..=10_000).contains(&batch_size) {
        return Err(cx.err("[mailbox] batch_size", "must be between 1 and 10000"));
    }
    if (kind == "imap" || kind == "maildir")
        && let Some(key) = lmtp_key_set(&m)
    {
        return Err(cx.err(&format!("[mailbox] {key}"), "only for kind = \"lmtp\""));
    }
    let mailbox = match kind.as_str() {
        "imap" => MailboxConfig::Imap(imap(cx, m, &folders[0], batch_size, env)?),
        "maildir" => MailboxConfig::Maildir(maildir(cx, m, batch_size)?),
        "lmtp" => MailboxConfig::Lmtp(lmtp(cx, m, batch_size)?),
        other => {
            return Err(cx.err(
                "[mailbox] kind",
                format!("unknown value {other:?}; expected \"imap\", \"maildir\" or \"lmtp\""),
            ));
        }
    };
    Ok((mailbox, folders))
}

/// `kind = "imap"`: the server, the login, and how it is watched.
fn imap(
    cx: &Ctx,
    mut m: RawMailbox,
    folder: &str,
    batch_size: usize,
    env: &HashMap<String, String>,
) -> Result<ImapConfig> {
    let tls = tls_mode(cx, "[mailbox] tls", m.tls.take(), TlsMode::Implicit)?;
    let timeout = cx.seconds("[mailbox] timeout", m.timeout, 30.0)?;
    let auth = login(cx, "mailbox", m.take_auth(), timeout, env)?.ok_or_else(|| {
        cx.err(
            "[mailbox] password",
            "missing: set password or password_env (or auth = \"oauth2\")",
        )
    })?;
    if m.path.is_some() {
        return Err(cx.err("[mailbox] path", "only for kind = \"maildir\""));
    }
    Ok(ImapConfig {
        host: cx.required("[mailbox] host", m.host)?,
        port: m
            .port
            .unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 }),
        tls,
        tls_ca_file: m.tls_ca_file,
        username: cx.required("[mailbox] username", m.username)?,
        auth,
        folder: folder.to_string(),
        idle: m.idle.unwrap_or(true),
        poll_interval: cx.seconds("[mailbox] poll_interval", m.poll_interval, 60.0)?,
        batch_size,
        timeout,
    })
}

/// `kind = "maildir"`: a folder on this machine; the IMAP keys are errors here.
fn maildir(cx: &Ctx, mut m: RawMailbox, batch_size: usize) -> Result<MaildirConfig> {
    for (key, set) in [
        ("host", m.host.is_some()),
        ("port", m.port.is_some()),
        ("username", m.username.is_some()),
        ("tls", m.tls.is_some()),
    ]
    .into_iter()
    .chain(m.take_auth().first_set().map(|k| (k, true)))
    {
        if set {
            return Err(cx.err(&format!("[mailbox] {key}"), "only for kind = \"imap\""));
        }
    }
    Ok(MaildirConfig {
        path: cx.required("[mailbox] path", m.path)?,
        poll_interval: cx.seconds("[mailbox] poll_interval", m.poll_interval, 1.0)?,
        batch_size,
    })
}

/// `[mailbox] folder` or `folders`: the folders to read, first one first, each once.
fn folders(
    cx: &Ctx,
    folder: Option<String>,
    folders: Option<Vec<String>>,
    maildir: bool,
) -> Result<Vec<String>> {
    let list = match (folder, folders) {
        (Some(_), Some(_)) => {
            return Err(cx.err(
                "[mailbox] folders",
                "set either folder or folders, not both",
            ));
        }
        (Some(one), None) => vec![one],
        (None, Some(many)) if many.is_empty() => {
            return Err(cx.err("[mailbox] folders", "the list is empty"));
        }
        (None, Some(many)) => many,
        (None, None) => vec!["INBOX".to_string()],
    };
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, name) in list.into_iter().enumerate() {
        let name = name.trim().to_string();
        let key = format!("[mailbox] folders[{i}]");
        if name.is_empty() {
            return Err(cx.err(&key, "a folder name cannot be empty"));
        }
        if maildir && (name.contains('/') || name.starts_with('.')) {
            return Err(cx.err(
                &key,
                format!(
                    "{name:?}: a Maildir folder is a name like \"HR\" (read from <path>/.HR), without '/' or a leading '.'"
                ),
            ));
        }
        if out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            return Err(cx.err(&key, format!("{name:?} is listed twice")));
        }
        out.push(name);
    }
    Ok(out)
}
