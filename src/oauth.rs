//! OAuth2 access tokens for XOAUTH2 logins to IMAP and SMTP (Gmail, Microsoft 365).
//!
//! This module owns the token: exchanging the configured refresh token for an access
//! token at the provider's token endpoint (the `oauth2` crate builds the request and reads
//! the answer; the HTTP call itself is a small hyper client over rustls/ring, bounded by
//! the table's `timeout`), caching the token with its expiry, refreshing it shortly before
//! it expires, and dropping it when a server refuses it. It also writes the XOAUTH2 SASL
//! string.
//!
//! It leaves to others when to log in and what to do after a refusal: the IMAP source and
//! the SMTP transport ask [`TokenSource::token`] before each login, call
//! [`TokenSource::refused`] when the server says no, and try once more.
//!
//! Tokens and secrets are never logged: [`oauth2::AccessToken`] prints as `[redacted]`,
//! and error messages name the token endpoint and the provider's error code only.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::http::{self, HeaderValue};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tracing::{debug, info};

use crate::config::{OAuth2Config, OAuth2Grant};

/// A token is refreshed this long before it expires, so it does not run out between
/// the check and the login; for short-lived tokens, half their lifetime instead.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Assumed lifetime when the token endpoint leaves out `expires_in` (Google and
/// Microsoft send it; an hour is what both use).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Largest token endpoint answer read; real ones are a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The `user=...^Aauth=Bearer ...^A^A` string of XOAUTH2 (before base64), as Gmail and
/// Microsoft 365 define it for IMAP `AUTHENTICATE XOAUTH2` and SMTP `AUTH XOAUTH2`.
pub fn xoauth2_response(user: &str, token: &AccessToken) -> String {
    format!("user={user}\x01auth=Bearer {}\x01\x01", token.secret())
}

/// Access tokens for one `[mailbox]` or `[transport]`: cached, refreshed when needed.
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    /// `[mailbox]` or `[transport]`, for messages.
    table: &'static str,
    grant: Grant,
    timeout: Duration,
    /// Held across a refresh, so concurrent logins wait for one exchange.
    state: Mutex<State>,
}

enum Grant {
    Refresh {
        client: Box<RefreshClient>,
        token_url: String,
        scopes: Vec<Scope>,
        tls: TlsConnector,
    },
    Static(AccessToken),
}

type RefreshClient = BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// The refresh token in use: the configured one, or a newer one the provider sent
    /// with a token (Microsoft may rotate them). Kept in memory only.
    refresh_token: Option<RefreshToken>,
    /// Successful exchanges at the token endpoint since start.
    refreshes: u64,
}

struct Cached {
    token: AccessToken,
    obtained: Instant,
    /// `None` for a fixed token: valid until a server refuses it.
    expires: Option<Instant>,
}

impl Cached {
    /// Whether the token is still good for a login now (outside the refresh margin).
    fn usable(&self, now: Instant) -> bool {
        match self.expires {
            None => true,
            Some(expires) => {
                let lifetime = expires.saturating_duration_since(self.obtained);
                let margin = REFRESH_MARGIN.min(lifetime / 2);
                now + margin < expires
            }
        }
    }
}

/// What `check` prints about the token.
#[derive(Debug, Clone)]
pub struct TokenStatus {
    pub refreshable: bool,
    pub refreshes: u64,
    /// Time left on the current token, when it has an expiry.
    pub valid_for: Option<Duration>,
}

impl std::fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.refreshable {
            return f.write_str("fixed access token from oauth2_access_token_env (not refreshed)");
        }
        write!(f, "token refresh ok")?;
        if let Some(left) = self.valid_for {
            write!(f, ", access token valid for {} s", left.as_secs())?;
        }
        Ok(())
    }
}

impl TokenSource {
    /// Prepares the client; does not contact the token endpoint yet.
    pub fn new(cfg: &OAuth2Config) -> Result<TokenSource> {
        let table = cfg.table;
        let (grant, refresh_token) = match &cfg.grant {
            OAuth2Grant::Static { access_token } => {
                (Grant::Static(AccessToken::new(access_token.clone())), None)
            }
            OAuth2Grant::Refresh {
                token_url,
                client_id,
                client_secret,
                refresh_token,
                scopes,
            } => {
                let url = TokenUrl::new(token_url.clone())
                    .with_context(|| format!("{table} oauth2_token_url {token_url:?}"))?;
                let mut client = BasicClient::new(ClientId::new(client_id.clone()))
                    .set_token_uri(url)
                    // Google and Microsoft both take the client credentials in the form
                    // body; not every provider accepts HTTP Basic.
                    .set_auth_type(AuthType::RequestBody);
                if let Some(secret) = client_secret {
                    client = client.set_client_secret(ClientSecret::new(secret.clone()));
                }
                let grant = Grant::Refresh {
                    client: Box::new(client),
                    token_url: token_url.clone(),
                    scopes: scopes.iter().cloned().map(Scope::new).collect(),
                    tls: TlsConnector::from(Arc::new(crate::tls_client::client_config(
                        "[mailbox] oauth2",
                        None,
                    )?)),
                };
                (grant, Some(RefreshToken::new(refresh_token.clone())))
            }
        };
        Ok(TokenSource {
            inner: Arc::new(Inner {
                table,
                grant,
                timeout: cfg.timeout,
                state: Mutex::new(State {
                    refresh_token,
                    ..State::default()
                }),
            }),
        })
    }

    /// Whether a refused token can be replaced by a new one.
    pub fn can_refresh(&self) -> bool {
        matches!(self.inner.grant, Grant::Refresh { .. })
    }

    /// An access token good for a login now: the cached one while it is outside the
    /// refresh margin, else a new one from the token endpoint.
    pub async fn token(&self) -> Result<AccessToken> {
        let inner = &self.inner;
        let mut state = inner.state.lock().await;
        if let Some(cached) = &state.current
            && cached.usable(Instant::now())
        {
            return Ok(cached.token.clone());
        }
        let (client, token_url, scopes, tls) = match &inner.grant {
            Grant::Static(token) => {
                state.current = Some(Cached {
                    token: token.clone(),
                    obtained: Instant::now(),
                    expires: None,
                });
                return Ok(token.clone());
            }
            Grant::Refresh {
                client,
                token_url,
                scopes,
                tls,
            } => (client, token_url, scopes, tls),
        };
        let Some(refresh_token) = state.refresh_token.clone() else {
            bail!("{}: no OAuth2 refresh token", inner.table);
        };
        let started = Instant::now();
        let limit = inner.timeout;
        let http_client = |request: HttpRequest| send(request, tls.clone(), limit);
        let exchange = client
            .exchange_refresh_token(&refresh_token)
            .add_scopes(scopes.iter().cloned())
            .request_async(&http_client);
        let response = match tokio::time::timeout(limit, exchange).await {
            Err(_) => bail!(
                "{} OAuth2 token refresh at {token_url}: no answer within {limit:?}",
                inner.table
            ),
            Ok(result) => result.map_err(|e| refresh_error(inner.table, token_url, e))?,
        };
        let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
        if let Some(rotated) = response.refresh_token() {
            state.refresh_token = Some(rotated.clone());
        }
        state.refreshes += 1;
        let token = response.access_token().clone();
        state.current = Some(Cached {
            token: token.clone(),
            obtained: started,
            expires: Some(started + lifetime),
        });
        info!(
            table = inner.table,
            token_url = %token_url,
            expires_in_s = lifetime.as_secs(),
            refreshes = state.refreshes,
            took_ms = started.elapsed().as_millis() as u64,
            "OAuth2 access token refreshed"
        );
        Ok(token)
    }

    /// A server refused `token`: forget it (unless it was replaced meanwhile), so the
    /// next [`TokenSource::token`] fetches a new one. Returns whether that is possible;
    /// a fixed token from the environment cannot be replaced.
    pub async fn refused(&self, token: &AccessToken) -> bool {
        let mut state = self.inner.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.token.secret() == token.secret())
        {
            debug!(
                table = self.inner.table,
                "the server refused the OAuth2 access token; it is dropped"
            );
            state.current = None;
        }
        self.can_refresh()
    }

    /// How the token stands, for `ticketpost check`.
    pub async fn status(&self) -> TokenStatus {
        let state = self.inner.state.lock().await;
        TokenStatus {
            refreshable: self.can_refresh(),
            refreshes: state.refreshes,
            valid_for: state
                .current
                .as_ref()
                .and_then(|c| c.expires)
                .map(|e| e.saturating_duration_since(Instant::now())),
        }
    }
}

/// The token endpoint's error code and description, or what went wrong on the way; no
/// secrets (the request is not shown).
fn refresh_error(
    table: &str,
    token_url: &str,
    e: RequestTokenError<HttpError, BasicErrorResponse>,
) -> anyhow::Error {
    let what = match e {
        RequestTokenError::ServerResponse(r) => {
            let mut s = format!("the token endpoint answered {}", r.error());
            if let Some(d) = r.error_description() {
                s.push_str(&format!(": {d}"));
            }
            if r.error().to_string() == "invalid_grant" {
                s.push_str(" (the refresh token was revoked or expired: get a new one)");
            }
            s
        }
        RequestTokenError::Request(e) => format!("request failed: {e}"),
        RequestTokenError::Parse(e, _) => format!("unreadable answer: {e}"),
        RequestTokenError::Other(e) => e,
    };
    anyhow!("{table} OAuth2 token refresh at {token_url}: {what}")
}

type HttpRequest = http::Request<Vec<u8>>;
type HttpResponse = http::Response<Vec<u8>>;

/// Why one HTTP call to the token endpoint failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// One HTTP/1.1 request on its own connection (`http` or `https` with rustls/ring and
/// the webpki roots), answered in full within `limit`. Token refreshes are rare (about
/// one an hour), so there is no connection pool.
async fn send(
    request: HttpRequest,
    tls: TlsConnector,
    limit: Duration,
) -> Result<HttpResponse, HttpError> {
    match tokio::time::timeout(limit, send_inner(request, tls)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError(format!("no answer within {limit:?}"))),
    }
}

async fn send_inner(request: HttpRequest, tls: TlsConnector) -> Result<HttpResponse, HttpError> {
    let err = |what: &str, e: &dyn std::fmt::Display| HttpError(format!("{what}: {e}"));
    let uri = request.uri().clone();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(HttpError(format!("unsupported URL scheme {other:?}"))),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError("URL without host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let (mut parts, body) = request.into_parts();
    parts.uri = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .map_err(|e| err("URL path", &e))?;
    parts.headers.insert(
        http::header::HOST,
        HeaderValue::from_str(&authority).map_err(|e| err("host header", &e))?,
    );
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));

    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| err(&format!("cannot connect to {host}:{port}"), &e))?;
    let _ = tcp.set_nodelay(true);
    if https {
        let name = ServerName::try_from(host.clone())
            .map_err(|e| err(&format!("server name {host:?}"), &e))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| err(&format!("TLS handshake with {host}:{port}"), &e))?;
        exchange(TokioIo::new(stream), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

/// Sends the request and reads the whole answer, driving the connection meanwhile (no
/// task is spawned, so nothing outlives the caller's time limit).
async fn exchange<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<HttpResponse, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError(format!("HTTP handshake: {e}")))?;
    let work = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError(format!("HTTP request: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| HttpError(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body.to_vec()))
    };
    tokio::pin!(work, conn);
    let mut conn_done = false;
    loop {
        tokio::select! {
            result = &mut work => return result,
            closed = &mut conn, if !conn_done => {
                closed.map_err(|e| HttpError(format!("HTTP connection: {e}")))?;
                // Closed cleanly: the answer is complete or `work` fails on its own.
                conn_done = true;
            }
        }
    }
}

/// Type check only: the token future must be `Send` for the service's spawned tasks.
#[allow(dead_code)]
fn token_future_is_send(source: &TokenSource) -> impl Send + '_ {
    source.token()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Router;
    use axum::extract::State as AxumState;
    use axum::routing::post;

    #[derive(Default)]
    struct Endpoint {
        calls: AtomicU64,
        expires_in: AtomicU64,
        /// Answer 400 invalid_grant.
        revoked: std::sync::atomic::AtomicBool,
        /// Answer after this many milliseconds.
        delay_ms: AtomicU64,
        last_form: std::sync::Mutex<HashMap<String, String>>,
    }

    async fn token_endpoint(
        AxumState(ep): AxumState<Arc<Endpoint>>,
        body: String,
    ) -> (
        axum::http::StatusCode,
        [(&'static str, &'static str); 1],
        String,
    ) {
        let n = ep.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = ep.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/")))
            .collect();
        *ep.last_form.lock().unwrap() = form;
        let json = [("content-type", "application/json")];
        if ep.revoked.load(Ordering::SeqCst) {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                json,
                r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#.into(),
            );
        }
        (
            axum::http::StatusCode::OK,
            json,
            format!(
                r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":{}}}"#,
                ep.expires_in.load(Ordering::SeqCst)
            ),
        )
    }

    async fn start_endpoint(expires_in: u64) -> (Arc<Endpoint>, String) {
        let ep = Arc::new(Endpoint::default());
        ep.expires_in.store(expires_in, Ordering::SeqCst);
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .with_state(ep.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (ep, format!("http://{addr}/token"))
    }

    fn config(token_url: &str, timeout: Duration) -> OAuth2Config {
        OAuth2Config {
            table: "[mailbox]",
            grant: OAuth2Grant::Refresh {
                token_url: token_url.into(),
                client_id: "cid".into(),
                client_secret: Some("csecret".into()),
                refresh_token: "rtoken".into(),
                scopes: vec!["https://mail.google.com/".into()],
            },
            timeout,
        }
    }

    #[tokio::test]
    async fn refresh_is_cached_and_sends_the_grant() {
        let (ep, url) = start_endpoint(3600).await;
        let source = TokenSource::new(&config(&url, Duration::from_secs(5))).unwrap();
        let first = source.token().await.unwrap();
        assert_eq!(first.secret(), "at-1");
        assert_eq!(source.token().await.unwrap().secret(), "at-1");
        assert_eq!(ep.calls.load(Ordering::SeqCst), 1, "cached, not refreshed");
        let form = ep.last_form.lock().unwrap().clone();
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["refresh_token"], "rtoken");
        assert_eq!(form["client_id"], "cid");
        assert_eq!(form["client_secret"], "csecret");
        assert_eq!(form["scope"], "https://mail.google.com/");
        let status = source.status().await;
        assert_eq!(status.refreshes, 1);
        assert!(status.to_string().contains("token refresh ok"), "{status}");

        // A refusal drops the token: the next call gets a new one.
        assert!(source.refused(&first).await);
        assert_eq!(source.token().await.unwrap().secret(), "at-2");
        // A refusal of an old token leaves the new one alone.
        assert!(source.refused(&first).await);
        assert_eq!(source.token().await.unwrap().secret(), "at-2");
        assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn token_is_refreshed_before_it_expires() {
        // Two seconds of life: refreshed once less than half of it is left.
        let (ep, url) = start_endpoint(2).await;
        let source = TokenSource::new(&config(&url, Duration::from_secs(5))).unwrap();
        assert_eq!(source.token().await.unwrap().secret(), "at-1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(source.token().await.unwrap().secret(), "at-1");
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(source.token().await.unwrap().secret(), "at-2");
        assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn revoked_grant_and_slow_endpoint_are_errors_without_secrets() {
        let (ep, url) = start_endpoint(3600).await;
        ep.revoked.store(true, Ordering::SeqCst);
        let source = TokenSource::new(&config(&url, Duration::from_secs(5))).unwrap();
        let e = format!("{:#}", source.token().await.unwrap_err());
        assert!(
            e.contains("[mailbox]") && e.contains(&url) && e.contains("invalid_grant"),
            "{e}"
        );
        assert!(!e.contains("rtoken") && !e.contains("csecret"), "{e}");

        ep.revoked.store(false, Ordering::SeqCst);
        ep.delay_ms.store(3000, Ordering::SeqCst);
        let source = TokenSource::new(&config(&url, Duration::from_millis(300))).unwrap();
        let started = std::time::Instant::now();
        let e = format!("{:#}", source.token().await.unwrap_err());
        assert!(started.elapsed() < Duration::from_secs(2), "{e}");
        assert!(e.contains("within"), "{e}");
    }

    #[tokio::test]
    async fn fixed_token_is_used_as_is_and_cannot_be_refreshed() {
        let source = TokenSource::new(&OAuth2Config {
            table: "[transport]",
            grant: OAuth2Grant::Static {
                access_token: "fixed".into(),
            },
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        let token = source.token().await.unwrap();
        assert_eq!(token.secret(), "fixed");
        assert!(!source.refused(&token).await);
        assert!(!source.can_refresh());
        assert!(format!("{token:?}").contains("redacted"));
        assert_eq!(
            xoauth2_response("u@example.test", &token),
            "user=u@example.test\x01auth=Bearer fixed\x01\x01"
        );
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/token");
        let source = TokenSource::new(&config(&url, Duration::from_secs(2))).unwrap();
        let e = format!("{:#}", source.token().await.unwrap_err());
        assert!(e.contains("cannot connect"), "{e}");
    }
}
