//! `[transport]`: where outgoing mail goes, an SMTP server or a folder of files
//! ([`TransportConfig`], [`SmtpConfig`], [`FileTransportConfig`]). The TLS mode and the
//! login are read by `mail_login`; sending is left to
//! `outbox/transport.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::context::Ctx;
use super::mail_login::{Auth, TlsMode, login, tls_mode};
use super::raw::RawTransport;

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

#[derive(Debug, Clone)]
pub struct FileTransportConfig {
    pub path: PathBuf,
}

/// `[transport]` (required).
pub(super) fn transport(
    cx: &Ctx,
    raw: Option<RawTransport>,
    env: &HashMap<String, String>,
) -> Result<TransportConfig> {
    let t = cx.required("[transport]", raw)?;
    let kind = cx.required("[transport] kind", t.kind.clone())?;
    match kind.as_str() {
        "smtp" => Ok(TransportConfig::Smtp(smtp(cx, t, env)?)),
        "file" => Ok(TransportConfig::File(file(cx, t)?)),
        other => Err(cx.err(
            "[transport] kind",
            format!("unknown value {other:?}; expected \"smtp\" or \"file\""),
        )),
    }
}

/// `kind = "smtp"`: the server and, when it wants AUTH, the username with its login.
fn smtp(cx: &Ctx, mut t: RawTransport, env: &HashMap<String, String>) -> Result<SmtpConfig> {
    let tls = tls_mode(cx, "[transport] tls", t.tls.take(), TlsMode::StartTls)?;
    let timeout = cx.seconds("[transport] timeout", t.timeout, 30.0)?;
    let auth = login(cx, "transport", t.take_auth(), timeout, env)?;
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
    Ok(SmtpConfig {
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

/// `kind = "file"`: each message written to a folder; `auth` and the OAuth2 keys are
/// errors here.
fn file(cx: &Ctx, mut t: RawTransport) -> Result<FileTransportConfig> {
    let raw = t.take_auth();
    if let Some(k) = raw
        .auth
        .is_some()
        .then_some("auth")
        .or_else(|| raw.first_oauth2_key())
    {
        return Err(cx.err(&format!("[transport] {k}"), "only for kind = \"smtp\""));
    }
    Ok(FileTransportConfig {
        path: cx.required("[transport] path", t.path)?,
    })
}
