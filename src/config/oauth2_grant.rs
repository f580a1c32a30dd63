//! OAuth2 logins (`auth = "oauth2"` in `[mailbox]` or `[transport]`): the
//! [`OAuth2Config`] and its grant (a refresh token exchanged at a token endpoint, or a
//! fixed access token from the environment), built from the `oauth2_*` keys. Choosing
//! between a password and OAuth2 is left to `mail_login`; fetching tokens to `oauth`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawAuth;

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

/// `auth = "oauth2"` in `[table]` (`mailbox` or `transport`): the keys of one grant,
/// validated; a password set alongside is an error.
pub(super) fn oauth2(
    cx: &Ctx,
    table: &'static str,
    mut raw: RawAuth,
    timeout: Duration,
    env: &HashMap<String, String>,
) -> Result<OAuth2Config> {
    let key = |k: &str| format!("[{table}] {k}");
    if raw.password.is_some() || raw.password_env.is_some() {
        let k = if raw.password.is_some() {
            "password"
        } else {
            "password_env"
        };
        return Err(cx.err(
            &key(k),
            "not used with auth = \"oauth2\" (the access token takes its place)",
        ));
    }
    let refresh_token = cx.secret(
        table,
        "oauth2_refresh_token",
        raw.oauth2_refresh_token.take(),
        raw.oauth2_refresh_token_env.take(),
        env,
    )?;
    let grant = match (raw.oauth2_access_token_env.take(), refresh_token) {
        (Some(_), Some(_)) => {
            return Err(cx.err(
                &key("oauth2_access_token_env"),
                "set either oauth2_access_token_env (a fixed token) or oauth2_refresh_token_env (refreshed tokens), not both",
            ));
        }
        (Some(var), None) => static_grant(cx, table, &raw, var, env)?,
        (None, Some(refresh_token)) => refresh_grant(cx, table, raw, refresh_token, env)?,
        (None, None) => {
            return Err(cx.err(
                &key("oauth2_refresh_token"),
                "missing: set oauth2_refresh_token_env (or oauth2_refresh_token), or oauth2_access_token_env for a fixed token",
            ));
        }
    };
    Ok(OAuth2Config {
        table: if table == "mailbox" {
            "[mailbox]"
        } else {
            "[transport]"
        },
        grant,
        timeout,
    })
}

/// `oauth2_access_token_env`: a fixed token read from the variable `var`; the keys
/// for refreshing are errors beside it.
fn static_grant(
    cx: &Ctx,
    table: &str,
    raw: &RawAuth,
    var: String,
    env: &HashMap<String, String>,
) -> Result<OAuth2Grant> {
    let key = |k: &str| format!("[{table}] {k}");
    for (k, set) in [
        ("oauth2_token_url", raw.oauth2_token_url.is_some()),
        ("oauth2_client_id", raw.oauth2_client_id.is_some()),
        (
            "oauth2_client_secret",
            raw.oauth2_client_secret.is_some() || raw.oauth2_client_secret_env.is_some(),
        ),
        ("oauth2_scopes", raw.oauth2_scopes.is_some()),
    ] {
        if set {
            return Err(cx.err(
                &key(k),
                "not used with oauth2_access_token_env (a fixed token is never refreshed)",
            ));
        }
    }
    let access_token = cx
        .secret(table, "oauth2_access_token", None, Some(var), env)?
        .ok_or_else(|| cx.err(&key("oauth2_access_token_env"), "missing"))?;
    Ok(OAuth2Grant::Static { access_token })
}

/// A refresh token with the endpoint, client and scopes it is exchanged with.
fn refresh_grant(
    cx: &Ctx,
    table: &str,
    raw: RawAuth,
    refresh_token: String,
    env: &HashMap<String, String>,
) -> Result<OAuth2Grant> {
    let key = |k: &str| format!("[{table}] {k}");
    let token_url = cx.required(&key("oauth2_token_url"), raw.oauth2_token_url)?;
    check_token_url(&token_url).map_err(|e| cx.err(&key("oauth2_token_url"), e))?;
    let client_id = cx.required(&key("oauth2_client_id"), raw.oauth2_client_id)?;
    if client_id.trim().is_empty() {
        return Err(cx.err(&key("oauth2_client_id"), "is empty"));
    }
    let client_secret = cx.secret(
        table,
        "oauth2_client_secret",
        raw.oauth2_client_secret,
        raw.oauth2_client_secret_env,
        env,
    )?;
    let scopes = raw.oauth2_scopes.unwrap_or_default();
    for (i, scope) in scopes.iter().enumerate() {
        if scope.is_empty() || scope.contains(char::is_whitespace) {
            return Err(cx.err(
                &key(&format!("oauth2_scopes[{i}]")),
                format!("{scope:?} is not a scope (one scope per list item, no spaces)"),
            ));
        }
    }
    Ok(OAuth2Grant::Refresh {
        token_url,
        client_id,
        client_secret,
        refresh_token,
        scopes,
    })
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
