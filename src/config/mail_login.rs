//! How we connect and log in to a mail server, shared by `[mailbox]` (IMAP) and
//! `[transport]` (SMTP): the [`TlsMode`] and the [`Auth`] (a password or OAuth2),
//! read from the table's `tls` and `auth` keys. The OAuth2 keys themselves are read by
//! `oauth2_grant`; host, port and username by the table's own module.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;

use super::context::Ctx;
use super::oauth2_grant::{OAuth2Config, oauth2};
use super::raw::RawAuth;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Implicit,
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

/// A `tls` key: `"none"`, `"starttls"` or `"implicit"`; `default` when absent.
pub(super) fn tls_mode(
    cx: &Ctx,
    key: &str,
    v: Option<String>,
    default: TlsMode,
) -> Result<TlsMode> {
    match v.as_deref() {
        None => Ok(default),
        Some("none") => Ok(TlsMode::None),
        Some("starttls") => Ok(TlsMode::StartTls),
        Some("implicit") => Ok(TlsMode::Implicit),
        Some(other) => Err(cx.err(
            key,
            format!("unknown value {other:?}; expected \"none\", \"starttls\" or \"implicit\""),
        )),
    }
}

/// `auth` and its keys in `[table]` (`mailbox` or `transport`), validated. `None`
/// when `auth = "password"` and no password is set: the caller decides whether that
/// is allowed.
pub(super) fn login(
    cx: &Ctx,
    table: &'static str,
    raw: RawAuth,
    timeout: Duration,
    env: &HashMap<String, String>,
) -> Result<Option<Auth>> {
    let key = |k: &str| format!("[{table}] {k}");
    match raw.auth.as_deref() {
        None | Some("password") => {
            if let Some(k) = raw.first_oauth2_key() {
                return Err(cx.err(&key(k), "only for auth = \"oauth2\""));
            }
            Ok(cx
                .secret(table, "password", raw.password, raw.password_env, env)?
                .map(Auth::Password))
        }
        Some("oauth2") => Ok(Some(Auth::OAuth2(Box::new(oauth2(
            cx, table, raw, timeout, env,
        )?)))),
        Some(other) => Err(cx.err(
            &key("auth"),
            format!("unknown value {other:?}; expected \"password\" or \"oauth2\""),
        )),
    }
}
