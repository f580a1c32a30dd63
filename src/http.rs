//! The read-only HTTP endpoint (`[http]`): `/healthz` for probes, `/metrics` in the
//! Prometheus text format, `/`, a dashboard of the most urgent open tickets with the
//! counts by status, SLA and outbox (`http::dashboard`), and `/tickets/TP-n/files/N`,
//! one of a ticket's attachments as a download (the link agents' mails give for a file
//! they do not carry). Every request reads the store on its own read-only connection
//! (in a blocking task, with a time limit); nothing here writes.
//!
//! It also owns the endpoint's access rules: the optional bearer token (header, cookie,
//! or once in the URL to get the cookie) and the security headers on every response.
//! TLS is left to a reverse proxy in front.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{Config, HttpConfig};
use crate::store;
use crate::telemetry::Telemetry;

mod dashboard;

/// Time allowed for one request's store reads.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The cookie that stands for the bearer token in a browser.
const AUTH_COOKIE: &str = "ticketpost_auth";
/// What the dashboard needs and no more: its one inline `<style>`. No scripts, images,
/// fonts, frames or forms; `frame-ancestors` repeats `X-Frame-Options` for newer browsers.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct AppState {
    store_path: PathBuf,
    token_prefix: String,
    access: Option<AccessSecret>,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
}

/// The configured bearer token, kept only in the forms the checks need.
struct AccessSecret {
    /// SHA-256 of the token: a given token is hashed and the digests compared, so the
    /// comparison takes the same time whatever the length or content of the guess.
    token_digest: [u8; 32],
    /// The cookie's value: an HMAC of a fixed label keyed by the token, so the cookie
    /// never holds the token itself (it cannot be replayed as an `Authorization`
    /// header elsewhere), and a new token invalidates every cookie.
    cookie: String,
    cookie_digest: [u8; 32],
}

impl AccessSecret {
    fn new(token: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes())
            .expect("HMAC accepts a key of any length");
        mac.update(b"ticketpost dashboard cookie v1");
        let cookie = hex::encode(mac.finalize().into_bytes());
        AccessSecret {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            cookie_digest: Sha256::digest(cookie.as_bytes()).into(),
            cookie,
        }
    }

    fn token_is(&self, given: &str) -> bool {
        same_digest(&Sha256::digest(given.as_bytes()).into(), &self.token_digest)
    }

    fn cookie_is(&self, given: &str) -> bool {
        same_digest(
            &Sha256::digest(given.as_bytes()).into(),
            &self.cookie_digest,
        )
    }
}

/// Compares two digests without an early exit.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Binds `[http] listen` (an error names the address) and serves until `shutdown`.
pub async fn serve(
    cfg: &Config,
    http: &HttpConfig,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(http.listen)
        .await
        .with_context(|| format!("[http] listen: cannot listen on {}", http.listen))?;
    let state = Arc::new(AppState {
        store_path: cfg.store.path.clone(),
        token_prefix: cfg.desk.token_prefix.clone(),
        access: http.bearer_token.as_deref().map(AccessSecret::new),
        telemetry,
        clock,
    });
    let guarded = Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/tickets/{token}/files/{n}", get(ticket_file))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let app = Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        // After the routes, so that it covers every response, 404s and 405s included.
        .layer(middleware::map_response(security_headers))
        .with_state(state);
    info!(listen = %http.listen, public_url = %http.public_url, "HTTP endpoint up: /healthz, /metrics, dashboard at /");
    Ok(tokio::spawn(async move {
        let stopped = shutdown.cancelled_owned();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            warn!(error = %e, "HTTP endpoint stopped");
        }
    }))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Adds the headers every response carries, whatever produced it.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// With a bearer token configured, guards `/` and `/metrics` and keeps their responses
/// out of every cache (`no-store`, refusals and redirects included).
///
/// What the request carries decides, first found wins: `?token=` (valid: a cookie and
/// a redirect to the bare path, so the token leaves the address bar, history and logs;
/// invalid: 401), then an `Authorization` header, then the cookie.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(secret) = &state.access else {
        return next.run(request).await;
    };
    let mut response = match Query::<TokenQuery>::try_from_uri(request.uri()) {
        Err(rejection) => rejection.into_response(),
        Ok(Query(TokenQuery { token: Some(token) })) => {
            if secret.token_is(&token) {
                redirect_with_cookie(request.uri().path(), &secret.cookie)
            } else {
                unauthorised()
            }
        }
        Ok(Query(TokenQuery { token: None })) => {
            if authorised(secret, request.headers()) {
                next.run(request).await
            } else {
                unauthorised()
            }
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `Authorization` header when there is one (scheme in any case), else the cookie.
fn authorised(secret: &AccessSecret, headers: &HeaderMap) -> bool {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once([' ', '\t']))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && secret.token_is(token.trim())
            });
    }
    // A browser may send several cookies of that name (another path's, a stale one):
    // any valid one will do.
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == AUTH_COOKIE && secret.cookie_is(value))
}

/// 303 to `path` without its query, setting the cookie. No `Secure`: the endpoint speaks
/// plain HTTP and cannot tell whether a proxy in front adds TLS.
fn redirect_with_cookie(path: &str, cookie: &str) -> Response {
    let location = HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/"));
    let set_cookie = format!("{AUTH_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    if let Ok(value) = HeaderValue::from_str(&set_cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required\n",
    )
        .into_response()
}

/// Runs `f` on a read-only connection, off the async threads, with a time limit.
async fn read_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = state.store_path.clone();
    let task = tokio::task::spawn_blocking(move || {
        let conn = store::open_reader(&path)?;
        f(&conn)
    });
    tokio::time::timeout(QUERY_TIMEOUT, task)
        .await
        .context("the store did not answer in time")?
        .context("store query task failed")?
}

fn unavailable(e: anyhow::Error) -> Response {
    warn!(error = %format!("{e:#}"), "HTTP request could not read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("store unavailable: {e:#}\n"),
    )
        .into_response()
}

/// 200 with a small JSON body when the store can be read; 503 otherwise.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match read_store(&state, store::schema_version).await {
        Ok(version) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                "{{\"status\":\"ok\",\"schema_version\":{version},\"uptime_seconds\":{}}}\n",
                state.telemetry.started.elapsed().as_secs()
            ),
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let totals = match read_store(&state, store::overview::totals).await {
        Ok(t) => t,
        Err(e) => return unavailable(e),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus_text(&totals, &state.telemetry),
    )
        .into_response()
}

/// The metrics in the Prometheus text exposition format.
fn prometheus_text(t: &store::overview::Totals, telemetry: &Telemetry) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in lines {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "ticketpost_messages_ingested_total",
        "counter",
        "Messages stored (requests, replies, automatic mail).",
        &[(String::new(), t.messages as f64)],
    );
    let tickets: Vec<(String, f64)> = t
        .tickets
        .iter()
        .map(|(status, priority, n)| {
            (
                format!(
                    "{{status=\"{}\",priority=\"{}\"}}",
                    label(status),
                    label(priority)
                ),
                *n as f64,
            )
        })
        .collect();
    metric(
        "ticketpost_tickets",
        "gauge",
        "Tickets by status and priority.",
        &tickets,
    );
    let o = &t.outbox;
    metric(
        "ticketpost_outbox_mails",
        "gauge",
        "Outgoing mails by state.",
        &[
            ("{state=\"queued\"}".into(), o.queued as f64),
            ("{state=\"sending\"}".into(), o.sending as f64),
            ("{state=\"sent\"}".into(), o.sent as f64),
            ("{state=\"failed\"}".into(), o.failed as f64),
        ],
    );
    metric(
        "ticketpost_outbox_depth",
        "gauge",
        "Mails waiting to be sent (queued or being sent).",
        &[(String::new(), (o.queued + o.sending) as f64)],
    );
    metric(
        "ticketpost_send_failures_total",
        "counter",
        "Mails that failed for good (a person must act).",
        &[(String::new(), o.failed as f64)],
    );
    metric(
        "ticketpost_send_retrying",
        "gauge",
        "Queued mails that failed at least once and wait for a retry.",
        &[(String::new(), t.outbox_retrying as f64)],
    );
    metric(
        "ticketpost_sla_warnings_total",
        "counter",
        "SLA warnings fired.",
        &[(String::new(), t.sla_warnings as f64)],
    );
    metric(
        "ticketpost_sla_breaches_total",
        "counter",
        "SLA breaches fired.",
        &[(String::new(), t.sla_breaches as f64)],
    );
    metric(
        "ticketpost_sla_escalations_total",
        "counter",
        "SLA escalations fired.",
        &[(String::new(), t.sla_escalations as f64)],
    );
    metric(
        "ticketpost_sla_open_breached",
        "gauge",
        "SLA targets of open tickets breached and not met yet.",
        &[(String::new(), t.sla_open_breached as f64)],
    );
    metric(
        "ticketpost_sla_open_at_risk",
        "gauge",
        "SLA targets of open tickets past their warning, not breached, not met yet.",
        &[(String::new(), t.sla_open_at_risk as f64)],
    );
    metric(
        "ticketpost_quarantined",
        "gauge",
        "Messages in the quarantine.",
        &[(String::new(), t.quarantined as f64)],
    );
    let (buckets, count, sum) = telemetry.ingest_latency.snapshot();
    let _ = writeln!(
        out,
        "# HELP ticketpost_ingest_latency_seconds From the start of a message's fetch to the commit that stored it."
    );
    let _ = writeln!(out, "# TYPE ticketpost_ingest_latency_seconds histogram");
    for (bound, n) in buckets {
        let le = bound.map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(
            out,
            "ticketpost_ingest_latency_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(out, "ticketpost_ingest_latency_seconds_sum {sum}");
    let _ = writeln!(out, "ticketpost_ingest_latency_seconds_count {count}");
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn dashboard(State(state): State<Arc<AppState>>) -> Response {
    let now = state.clock.now();
    let page = match read_store(&state, move |c| dashboard::Page::read(c, now)).await {
        Ok(page) => page,
        Err(e) => return unavailable(e),
    };
    match page.render(&state.token_prefix, now, &crate::clock::format_time(now)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            warn!(error = %format!("{e:#}"), "dashboard template failed (bug)");
            (StatusCode::INTERNAL_SERVER_ERROR, "dashboard failed\n").into_response()
        }
    }
}

/// One of a ticket's attachments, numbered as `ticketpost attachments list` numbers
/// them, always as a download of opaque bytes (`application/octet-stream`,
/// `attachment`), whatever the sender declared: nothing from mail is rendered by the
/// browser under the dashboard's origin. Behind the bearer token like the dashboard.
async fn ticket_file(
    State(state): State<Arc<AppState>>,
    Path((token_text, n)): Path<(String, i64)>,
) -> Response {
    let Some(id) = crate::desk::threading::parse_token(&token_text, &state.token_prefix) else {
        return (StatusCode::NOT_FOUND, "no such ticket\n").into_response();
    };
    let read = read_store(&state, move |c| read_ticket_file(c, id, n)).await;
    let (file, bytes) = match read {
        Ok(Some((file, Some(bytes)))) => (file, bytes),
        Ok(Some((_, None))) => {
            return (
                StatusCode::NOT_FOUND,
                "the file's bytes are missing from the store\n",
            )
                .into_response();
        }
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        Err(e) => return unavailable(e),
    };
    if hex::encode(Sha256::digest(&bytes)) != file.sha256 {
        warn!(token = %token_text, n, "a stored attachment does not match its SHA-256");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stored file does not match its SHA-256\n",
        )
            .into_response();
    }
    let name = crate::desk::relay_files::safe_file_name(file.name.as_deref(), n);
    let disposition = content_disposition(&name);
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// File `n` of ticket `id` as `attachments list` numbers them, and its bytes if the
/// store has them; None when there is no such file.
fn read_ticket_file(
    conn: &rusqlite::Connection,
    id: i64,
    n: i64,
) -> Result<Option<(store::file_blobs::FileRow, Option<Vec<u8>>)>> {
    let files = store::file_blobs::list_for_ticket(conn, id)?;
    let Some(file) = files.into_iter().find(|f| f.n == n) else {
        return Ok(None);
    };
    let bytes = store::file_blobs::bytes(conn, &file.sha256)?;
    Ok(Some((file, bytes)))
}

/// `attachment` with the name twice (RFC 6266): `filename=` in plain ASCII for old
/// browsers, `filename*=` percent-encoded UTF-8 for the rest.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plan_audit::{NOW, assert_no_scans, desk_store, statements_run};

    #[test]
    fn every_query_of_every_route_is_an_index_range() {
        let conn = desk_store();
        let (page, ran) =
            assert_no_scans("GET /", &conn, |c| dashboard::Page::read(c, NOW).unwrap());
        let urgent: Vec<i64> = page.urgent.iter().map(|t| t.id).collect();
        // Breached, at risk (warned, then late to warn), then the paused ones, newest
        // first; never the closed ones.
        assert_eq!(urgent, [1, 7, 3, 2, 4], "{:#?}", page.urgent);
        assert_eq!(page.failed.len(), 1);
        let mut expected = store::overview::queries();
        expected.extend(store::tallies::QUERIES.iter().map(|q| q.to_string()));
        for sql in expected {
            assert!(ran.contains(&sql), "not run: {sql}");
        }
        let (totals, _) = assert_no_scans("GET /metrics", &conn, |c| {
            store::overview::totals(c).unwrap()
        });
        assert_eq!(
            (totals.messages, totals.outbox_retrying, totals.quarantined),
            (2, 1, 1)
        );
        assert_eq!((totals.sla_open_breached, totals.sla_open_at_risk), (1, 2));
        let (file, _) = assert_no_scans("GET /tickets/TP-1/files/1", &conn, |c| {
            read_ticket_file(c, 1, 1).unwrap()
        });
        assert!(file.is_some_and(|(_, bytes)| bytes == Some(vec![1])));
        // /healthz reads the schema version, a pragma: no query at all.
        let (version, ran) = statements_run(&conn, |c| store::schema_version(c).unwrap());
        assert_eq!((version, ran.len()), (store::schema::latest_version(), 0));
    }
}
