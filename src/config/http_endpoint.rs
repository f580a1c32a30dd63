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
    Ok(Some(HttpConfig {
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
    }))
}
