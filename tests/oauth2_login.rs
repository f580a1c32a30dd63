//! OAuth2 (XOAUTH2) logins against real servers: a private Dovecot whose `oauth2` passdb
//! checks every bearer token with the introspection endpoint of a small OAuth2 provider
//! started here (which also serves the token endpoint: refresh-token grant, counted), and
//! Postfix's submission port taking SASL AUTH through Dovecot's auth socket.
//!
//! What is asserted: the service logs in to IMAP with XOAUTH2 and ingests a message (a
//! ticket), and its acknowledgement goes out through Postfix with AUTH XOAUTH2 and arrives
//! over IMAP; a token the server refuses is refreshed once (the token endpoint is called
//! again) and the login then succeeds, for IMAP on reconnect and for SMTP; a token near
//! its expiry is refreshed before the login; a fixed token that is refused fails with a
//! clear error; `ticketpost check` reports XOAUTH2 and the token refresh.
//!
//! Skips (printing `SKIPPED: ...`) only where no mail stack can run at all (not root,
//! packages not installable); a stack that should start but does not fails the tests.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio_util::sync::CancellationToken;

use support::MailStack;
use ticketpost::config::{Auth, Config, ImapConfig, OAuth2Config, OAuth2Grant, TlsMode};
use ticketpost::mailbox::imap::ImapSource;
use ticketpost::outbox::transport::{SendError, Transport};
use ticketpost::service::{self, RunOptions};
use ticketpost::store::outbox::OutboxEntry;

const CLIENT_ID: &str = "ticketpost-test";
const CLIENT_SECRET: &str = "client-secret-for-tests";
const SCOPE: &str = "https://mail.google.com/";

fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ticketpost=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

// ---------------------------------------------------------------------------
// A small OAuth2 provider: token endpoint and RFC 7662 introspection.

#[derive(Default)]
struct Provider {
    state: Mutex<ProviderState>,
}

#[derive(Default)]
struct ProviderState {
    /// Refresh token → user.
    grants: HashMap<String, String>,
    /// Access token → who it is for, until when, and whether it still counts.
    issued: HashMap<String, Issued>,
    /// Per user: refresh-token grants answered with a token.
    token_calls: HashMap<String, u64>,
    /// Per user: introspections answered active / inactive.
    accepted: HashMap<String, u64>,
    refused: HashMap<String, u64>,
    /// Per user `expires_in` of new tokens (default one hour).
    lifetime: HashMap<String, u64>,
    /// Users whose next token is issued already revoked.
    spoil_next: HashSet<String>,
    /// Scopes asked for in the last grant.
    last_scope: Option<String>,
    counter: u64,
}

struct Issued {
    user: String,
    expires: Instant,
    active: bool,
}

impl Provider {
    fn with<T>(&self, f: impl FnOnce(&mut ProviderState) -> T) -> T {
        f(&mut self.state.lock().expect("provider state"))
    }
    fn grant(&self, user: &str) -> String {
        let refresh = format!("rt-{}", fastrand::u64(..));
        self.with(|s| s.grants.insert(refresh.clone(), user.to_string()));
        refresh
    }
    fn token_calls(&self, user: &str) -> u64 {
        self.with(|s| s.token_calls.get(user).copied().unwrap_or(0))
    }
    fn accepted(&self, user: &str) -> u64 {
        self.with(|s| s.accepted.get(user).copied().unwrap_or(0))
    }
    fn refused(&self, user: &str) -> u64 {
        self.with(|s| s.refused.get(user).copied().unwrap_or(0))
    }
    /// Every token issued so far for `user` stops counting (revoked, as after a
    /// password change, or expired early on the provider's side).
    fn revoke_all(&self, user: &str) {
        self.with(|s| {
            for t in s.issued.values_mut().filter(|t| t.user == user) {
                t.active = false;
            }
        })
    }
}

fn form(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

type JsonReply = (StatusCode, [(&'static str, &'static str); 1], String);

fn json(status: StatusCode, body: String) -> JsonReply {
    (status, [("content-type", "application/json")], body)
}

async fn token_endpoint(State(p): State<Arc<Provider>>, body: String) -> JsonReply {
    let f = form(&body);
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.into(),
        );
    }
    if field("grant_type") != "refresh_token" {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unsupported_grant_type"}"#.into(),
        );
    }
    p.with(|s| {
        let Some(user) = s.grants.get(field("refresh_token")).cloned() else {
            return json(
                StatusCode::BAD_REQUEST,
                r#"{"error":"invalid_grant","error_description":"unknown refresh token"}"#.into(),
            );
        };
        s.counter += 1;
        let token = format!("at-{}-{:016x}", s.counter, fastrand::u64(..));
        let lifetime = s.lifetime.get(&user).copied().unwrap_or(3600);
        let active = !s.spoil_next.remove(&user);
        s.issued.insert(
            token.clone(),
            Issued {
                user: user.clone(),
                expires: Instant::now() + Duration::from_secs(lifetime),
                active,
            },
        );
        *s.token_calls.entry(user).or_default() += 1;
        s.last_scope = f.get("scope").cloned();
        json(
            StatusCode::OK,
            format!(
                r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{lifetime}}}"#
            ),
        )
    })
}

/// What Dovecot's `oauth2` passdb POSTs (`introspection_mode = post`).
async fn introspection_endpoint(State(p): State<Arc<Provider>>, body: String) -> JsonReply {
    let f = form(&body);
    let token = f.get("token").cloned().unwrap_or_default();
    p.with(|s| match s.issued.get(&token) {
        Some(t) if t.active && t.expires > Instant::now() => {
            let user = t.user.clone();
            *s.accepted.entry(user.clone()).or_default() += 1;
            json(
                StatusCode::OK,
                format!(r#"{{"active":true,"username":"{user}","scope":"{SCOPE}"}}"#),
            )
        }
        other => {
            let user = other.map(|t| t.user.clone()).unwrap_or_default();
            *s.refused.entry(user).or_default() += 1;
            json(StatusCode::OK, r#"{"active":false}"#.into())
        }
    })
}

/// Runs the provider on a thread of its own, for the whole test binary (each test has
/// its own runtime; the provider must outlive them).
fn start_provider() -> Result<(Arc<Provider>, String)> {
    let provider = Arc::new(Provider::default());
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .route("/introspect", post(introspection_endpoint))
        .with_state(provider.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("oauth2-provider".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr().map_err(|e| e.to_string()));
                let _ = axum::serve(listener, app).await;
            });
        })
        .context("starting the provider thread")?;
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .context("the provider did not start")?
        .map_err(|e| anyhow::anyhow!("provider: {e}"))?;
    Ok((provider, format!("http://{addr}")))
}

struct Fixture {
    stack: MailStack,
    provider: Arc<Provider>,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The provider and a stack with the `oauth2` passdb; `None` (after printing why) when
/// no mail stack can run on this machine.
fn fixture() -> Option<&'static Fixture> {
    if let Some(why) = support::mail_stack_unavailable() {
        support::skip::skip(why);
        return None;
    }
    let started = FIXTURE.get_or_init(|| {
        let (provider, base) = start_provider().map_err(|e| format!("{e:#}"))?;
        let stack = support::oauth2_mail_stack(&format!("{base}/introspect"))
            .map_err(|e| format!("{e:#}"))?;
        Ok(Fixture {
            stack,
            provider,
            base,
        })
    });
    match started {
        Ok(f) => Some(f),
        Err(e) => panic!("the mail stack with an OAuth2 passdb could not start: {e}"),
    }
}

impl Fixture {
    fn refresh_grant(&self, user: &str) -> OAuth2Config {
        OAuth2Config {
            table: "[mailbox]",
            grant: OAuth2Grant::Refresh {
                token_url: format!("{}/token", self.base),
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.into()),
                refresh_token: self.provider.grant(user),
                scopes: vec![SCOPE.into()],
            },
            timeout: Duration::from_secs(5),
        }
    }

    fn imap(&self, user: &str, oauth2: OAuth2Config) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: self.stack.imap_port,
            tls: TlsMode::None,
            tls_ca_file: None,
            username: user.into(),
            auth: Auth::OAuth2(Box::new(oauth2)),
            folder: "INBOX".into(),
            idle: false,
            poll_interval: Duration::from_secs(60),
            batch_size: 10,
            timeout: Duration::from_secs(5),
        }
    }

    /// A `[transport]` for the submission port, parsed from TOML like a real config.
    fn smtp_config(&self, root: &Path, user: &str, oauth2_lines: &str) -> Result<Config> {
        let submission = self
            .stack
            .submission_port
            .context("the OAuth2 stack has a submission port")?;
        let text = format!(
            r#"
[store]
path = "{root}/t.db"
[mailbox]
kind = "maildir"
path = "{root}/inbox"
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {submission}
tls = "none"
timeout = 5
username = "{user}"
auth = "oauth2"
{oauth2_lines}
[desk]
support_address = "{user}"
"#,
            root = root.display()
        );
        Config::from_toml(Path::new("oauth2-test.toml"), &text, &self.env(user))
    }

    /// Secrets as the service gets them: from the environment.
    fn env(&self, user: &str) -> HashMap<String, String> {
        HashMap::from([
            (
                "TP_TEST_OAUTH2_SECRET".to_string(),
                CLIENT_SECRET.to_string(),
            ),
            (
                "TP_TEST_OAUTH2_REFRESH".to_string(),
                self.provider.grant(user),
            ),
            (
                "TP_TEST_OAUTH2_BOGUS".to_string(),
                "not-a-token".to_string(),
            ),
        ])
    }

    fn refresh_keys(&self) -> String {
        format!(
            "oauth2_token_url = \"{}/token\"\noauth2_client_id = \"{CLIENT_ID}\"\n\
             oauth2_client_secret_env = \"TP_TEST_OAUTH2_SECRET\"\n\
             oauth2_refresh_token_env = \"TP_TEST_OAUTH2_REFRESH\"\noauth2_scopes = [\"{SCOPE}\"]",
            self.base
        )
    }
}

fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <oauth2-{}@outside.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe printer is on fire.\r\n",
        fastrand::u64(..)
    )
    .into_bytes()
}

fn outbox_entry(from: &str, to: &str, subject: &str) -> OutboxEntry {
    OutboxEntry {
        id: 1,
        kind: "test".into(),
        ticket: None,
        message_id: format!("oauth2-out-{}@example.test", fastrand::u64(..)),
        mail_from: from.into(),
        recipients: vec![to.into()],
        raw: message(from, to, subject),
        attempts: 1,
        created_at: 0,
    }
}

fn file_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---------------------------------------------------------------------------

/// The whole service: IMAP in with XOAUTH2 over implicit TLS (a ticket is made), the
/// acknowledgement out through Postfix submission with STARTTLS and AUTH XOAUTH2, read
/// back over IMAP.
#[tokio::test(flavor = "multi_thread")]
async fn service_reads_and_sends_with_xoauth2() -> Result<()> {
    logs();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(fx) = fixture() else { return Ok(()) };
    let stack = &fx.stack;
    let desk = support::unique_user("oauth-desk");
    let requester = support::unique_user("oauth-customer");
    let subject = format!("Printer on fire {}", fastrand::u32(..));
    support::smtp_send(
        stack,
        &requester,
        &[&desk],
        &message(&requester, &desk, &subject),
    )
    .await?;
    support::imap_wait_for(stack, &desk, |m| m.len() == 1, Duration::from_secs(15)).await?;

    let dir = tempfile::tempdir()?;
    let root = dir.path().display();
    let keys = fx.refresh_keys();
    let text = format!(
        r#"
[store]
path = "{root}/t.db"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
tls_ca_file = "{ca}"
username = "{desk}"
idle = false
timeout = 5
auth = "oauth2"
{keys}
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {submission}
tls = "starttls"
tls_ca_file = "{ca}"
timeout = 5
username = "{desk}"
auth = "oauth2"
{keys}
[desk]
support_address = "{desk}"
"#,
        imaps = stack.imaps_port,
        ca = stack.ca_file.display(),
        submission = stack.submission_port.context("submission port")?,
    );
    let cfg = Config::from_toml(Path::new("oauth2-test.toml"), &text, &fx.env(&desk))?;

    let started = Instant::now();
    let report = service::run(
        &cfg,
        RunOptions {
            once: true,
            ..Default::default()
        },
        Arc::new(ticketpost::clock::SystemClock),
        CancellationToken::new(),
    )
    .await?;
    eprintln!("service run with XOAUTH2 took {:?}", started.elapsed());
    assert_eq!(report.ingest.new_tickets, 1, "{report:?}");
    assert_eq!(
        (report.sent, report.send_retrying, report.send_failed),
        (1, 0, 0)
    );

    let inbox = support::imap_wait_for(
        stack,
        &requester,
        |m| !m.is_empty(),
        Duration::from_secs(20),
    )
    .await?;
    let ack = support::subject_of(&inbox[0]).unwrap_or_default();
    assert_eq!(ack, format!("[TP-1] {subject}"));

    // One token each for the IMAP source and the SMTP transport, both accepted by
    // Dovecot's oauth2 passdb; IMAP used XOAUTH2 and so did Postfix's SASL.
    let p = &fx.provider;
    assert_eq!(p.token_calls(&desk), 2);
    assert!(p.accepted(&desk) >= 2, "accepted {}", p.accepted(&desk));
    assert_eq!(p.refused(&desk), 0);
    assert_eq!(
        p.with(|s| s.last_scope.clone()).as_deref(),
        Some(SCOPE),
        "scopes are sent with the grant"
    );
    let dovecot = file_text(&stack.state_dir.join("dovecot.log"));
    assert!(
        dovecot.contains(&format!("Login: user=<{desk}>, method=XOAUTH2")),
        "dovecot.log shows no XOAUTH2 login for {desk}\n{}",
        stack.logs()
    );
    let postfix = file_text(&stack.state_dir.join("postfix.log"));
    assert!(
        postfix.contains(&format!("sasl_method=XOAUTH2, sasl_username={desk}")),
        "postfix.log shows no XOAUTH2 submission for {desk}\n{}",
        stack.logs()
    );
    // Logged when the session ends (the transport's pool closes it at the end of the run).
    let session = "submission/smtpd";
    let commands = "ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !file_text(&stack.state_dir.join("postfix.log"))
        .lines()
        .any(|l| l.contains(session) && l.contains(commands))
    {
        assert!(
            Instant::now() < deadline,
            "the submission went over STARTTLS\n{}",
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// IMAP: a token revoked on the provider's side is refused at the next login; the
/// source refreshes it (one more grant) and logs in on the same connection.
#[tokio::test]
async fn refused_imap_token_is_refreshed_once_on_reconnect() -> Result<()> {
    logs();
    let Some(fx) = fixture() else { return Ok(()) };
    let (stack, p) = (&fx.stack, &fx.provider);
    let user = support::unique_user("oauth-imap-refused");
    support::imap_append(stack, &user, &message("a@outside.test", &user, "first")).await?;
    let mut source = ImapSource::new(fx.imap(&user, fx.refresh_grant(&user)), None)?;

    let first = source.fetch_batch(10).await?;
    assert_eq!(first.mails.len(), 1);
    source.mark_done(&first).await?;
    assert_eq!((p.token_calls(&user), p.refused(&user)), (1, 0));

    p.revoke_all(&user);
    support::imap_append(stack, &user, &message("a@outside.test", &user, "second")).await?;
    source.reset();
    let second = source.fetch_batch(10).await?;
    let subjects: Vec<String> = second
        .mails
        .iter()
        .filter_map(|m| support::subject_of(&m.raw))
        .collect();
    assert_eq!(subjects, ["second"]);
    assert_eq!(
        p.refused(&user),
        1,
        "the cached token was tried and refused"
    );
    assert_eq!(p.token_calls(&user), 2, "then refreshed once");

    // The new token is kept: another reconnect needs no grant.
    source.reset();
    assert!(source.fetch_batch(10).await?.mails.len() == 1);
    assert_eq!((p.token_calls(&user), p.refused(&user)), (2, 1));
    Ok(())
}

/// IMAP: a token close to its expiry is replaced before the login, not after a refusal.
#[tokio::test]
async fn imap_token_near_expiry_is_refreshed_before_login() -> Result<()> {
    logs();
    let Some(fx) = fixture() else { return Ok(()) };
    let (stack, p) = (&fx.stack, &fx.provider);
    let user = support::unique_user("oauth-imap-expiry");
    // A short-lived token is refreshed once less than half its lifetime is left. The
    // lifetime is long enough that the first login falls well inside the first half
    // on a loaded machine; the second connect waits until just past the half, counted
    // from when the provider issued the token, while the old token is still valid at
    // the provider: only a refresh before the login makes a second token call.
    const LIFETIME_S: u64 = 20;
    p.with(|s| s.lifetime.insert(user.clone(), LIFETIME_S));
    support::imap_append(stack, &user, &message("a@outside.test", &user, "one")).await?;
    let mut source = ImapSource::new(fx.imap(&user, fx.refresh_grant(&user)), None)?;
    assert_eq!(source.fetch_batch(10).await?.mails.len(), 1);
    assert_eq!(p.token_calls(&user), 1);
    let issued = p
        .with(|s| {
            s.issued
                .values()
                .filter(|t| t.user == user)
                .map(|t| t.expires)
                .max()
        })
        .context("the provider issued a token")?
        - Duration::from_secs(LIFETIME_S);
    let half = Duration::from_secs(LIFETIME_S) / 2;
    assert!(
        issued.elapsed() < half,
        "the first login took longer than half the token's lifetime"
    );

    // Less than half of the lifetime left (and the old token still valid): refreshed
    // at the next connect.
    tokio::time::sleep_until((issued + half + Duration::from_millis(500)).into()).await;
    assert!(issued.elapsed() < Duration::from_secs(LIFETIME_S) - Duration::from_secs(2));
    source.reset();
    assert_eq!(source.fetch_batch(10).await?.mails.len(), 1);
    assert_eq!((p.token_calls(&user), p.refused(&user)), (2, 0));
    Ok(())
}

/// SMTP: the first token is refused by Postfix (through Dovecot); the transport drops
/// it, gets a new one and the mail is delivered.
#[tokio::test(flavor = "multi_thread")]
async fn refused_smtp_token_is_refreshed_and_the_mail_delivered() -> Result<()> {
    logs();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(fx) = fixture() else { return Ok(()) };
    let (stack, p) = (&fx.stack, &fx.provider);
    let sender = support::unique_user("oauth-smtp");
    let to = support::unique_user("oauth-smtp-rcpt");
    let dir = tempfile::tempdir()?;
    let cfg = fx.smtp_config(dir.path(), &sender, &fx.refresh_keys())?;
    p.with(|s| s.spoil_next.insert(sender.clone()));
    let transport = Transport::new(&cfg.transport)?;

    let subject = format!("via XOAUTH2 {}", fastrand::u32(..));
    transport
        .send(&outbox_entry(&sender, &to, &subject))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", stack.logs()))?;
    assert_eq!((p.refused(&sender), p.token_calls(&sender)), (1, 2));
    let inbox =
        support::imap_wait_for(stack, &to, |m| !m.is_empty(), Duration::from_secs(20)).await?;
    assert_eq!(
        support::subject_of(&inbox[0]).as_deref(),
        Some(subject.as_str())
    );

    // The next mail reuses the new token.
    transport
        .send(&outbox_entry(&sender, &to, "second"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(p.token_calls(&sender), 2);
    support::imap_wait_for(stack, &to, |m| m.len() == 2, Duration::from_secs(20)).await?;
    Ok(())
}

/// A fixed token (oauth2_access_token_env) the server refuses: a clear error, no retry
/// loop, for IMAP and for SMTP (where the mail stays queued: a temporary failure).
#[tokio::test(flavor = "multi_thread")]
async fn refused_fixed_token_fails_clearly() -> Result<()> {
    logs();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(fx) = fixture() else { return Ok(()) };
    let user = support::unique_user("oauth-fixed");
    let fixed = OAuth2Config {
        table: "[mailbox]",
        grant: OAuth2Grant::Static {
            access_token: "not-a-token".into(),
        },
        timeout: Duration::from_secs(5),
    };
    let mut source = ImapSource::new(fx.imap(&user, fixed), None)?;
    let started = Instant::now();
    let e = format!("{:#}", source.fetch_batch(10).await.unwrap_err());
    assert!(
        e.contains("refused the OAuth2 access token") && e.contains("cannot be refreshed"),
        "{e}"
    );
    assert!(!e.contains("not-a-token"), "the token is not shown: {e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let dir = tempfile::tempdir()?;
    let cfg = fx.smtp_config(
        dir.path(),
        &user,
        "oauth2_access_token_env = \"TP_TEST_OAUTH2_BOGUS\"",
    )?;
    let transport = Transport::new(&cfg.transport)?;
    match transport
        .send(&outbox_entry(&user, &user, "never sent"))
        .await
    {
        Err(SendError::Temporary(e)) => {
            assert!(e.contains("refused the login"), "{e}");
            assert!(!e.contains("not-a-token"), "{e}");
        }
        other => panic!("expected a temporary failure, got {other:?}"),
    }
    Ok(())
}

/// `ticketpost check` with auth = "oauth2" on both sides.
#[tokio::test(flavor = "multi_thread")]
async fn check_reports_xoauth2_and_the_token_refresh() -> Result<()> {
    logs();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(fx) = fixture() else { return Ok(()) };
    let stack = &fx.stack;
    let user = support::unique_user("oauth-check");
    let dir = tempfile::tempdir()?;
    let keys = fx.refresh_keys();
    let text = format!(
        r#"
[store]
path = "{root}/t.db"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{user}"
timeout = 5
auth = "oauth2"
{keys}
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {submission}
tls = "none"
timeout = 5
username = "{user}"
auth = "oauth2"
{keys}
[desk]
support_address = "{user}"
"#,
        root = dir.path().display(),
        imap = stack.imap_port,
        submission = stack.submission_port.context("submission port")?,
    );
    let cfg = Config::from_toml(Path::new("oauth2-test.toml"), &text, &fx.env(&user))?;
    let mut out = Vec::new();
    let result = ticketpost::commands::check::check(&cfg, &mut out).await;
    let out = String::from_utf8_lossy(&out);
    eprintln!("{out}");
    result.with_context(|| format!("check failed:\n{out}"))?;
    for expected in [
        "auth oauth2",
        "AUTHENTICATE XOAUTH2 is used; server advertises AUTH=XOAUTH2: yes",
        "OAuth2: token refresh ok",
        &format!(
            "AUTH XOAUTH2 as {user} ok; server advertises AUTH XOAUTH2: yes; token refresh ok"
        ),
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    Ok(())
}
