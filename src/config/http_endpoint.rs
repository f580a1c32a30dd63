//! `[http]`: where the read-only HTTP endpoint listens and the bearer token that
//! guards its metrics and dashboard ([`HttpConfig`]). Serving is left to the
//! `http` module.

use std::collections::HashMap;

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawHttp;

/// `[http]`: the read-only HTTP endpoint (`/healthz`, `/metrics`, the dashboard).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; default 127.0.0.1:8025 (this machine only).
    pub listen: std::net::SocketAddr,
    /// When set, `/metrics` and the dashboard need `Authorization: Bearer <token>`
    /// (or `?token=` for a browser); `/healthz` stays open for probes.
    pub bearer_token: Option<String>,
    /// `public_url`: the endpoint's address as agents' browsers reach it (behind a
    /// proxy, say), without a trailing slash; default `http://` + `listen`. Agents'
    /// mails link withheld attachments under it.
    pub public_url: String,
}

/// `[http]` (optional): `None` when the table is absent.
pub(super) fn http(
    cx: &Ctx,
    raw: Option<RawHttp>,
    env: &HashMap<String, String>,
) -> Result<Option<HttpConfig>> {
    let Some(h) = raw else {
        return Ok(None);
    };
    let listen = match h.listen.as_deref() {
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 8025)),
        Some(text) => text.parse().map_err(|_| {
            cx.err(
                "[http] listen",
                format!("{text:?} is not an address:port (e.g. \"127.0.0.1:8025\")"),
            )
        })?,
    };
    let public_url = match h.public_url {
        None => format!("http://{listen}"),
        Some(url) => public_url(cx, &url)?,
    };
    Ok(Some(HttpConfig {
        listen,
        public_url,
        bearer_token: cx.secret(
            "http",
            "bearer_token",
            h.bearer_token,
            h.bearer_token_env,
            env,
        )?,
    }))
}

/// `[http] public_url`: an http(s) URL with a host and no query, kept without its
/// trailing slash.
fn public_url(cx: &Ctx, text: &str) -> Result<String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(['?', '#', ' ', '"', '<', '>']) =>
        {
            Ok(url.to_string())
        }
        _ => Err(cx.err(
            "[http] public_url",
            format!(
                "{text:?} is not an http(s) address without a query (e.g. \"https://desk.example.com\")"
            ),
        )),
    }
}
