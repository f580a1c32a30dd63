//! Delivery of one rendered mail: SMTP through lettre sessions (none / STARTTLS /
//! implicit TLS, optional auth with a password or OAuth2 XOAUTH2; pooled, with
//! TCP_NODELAY, by `smtp_session`), or a folder of `.eml` files for the embedded
//! default and tests.
//!
//! With OAuth2 a new session logs in with the access token [`crate::oauth::TokenSource`]
//! hands out now (renewed shortly before the old one expires, or after a server refused
//! it): a long-running sender never keeps a stale token. Sessions already logged in stay
//! usable until they close.
//!
//! The only typed error in the crate that callers branch on: a temporary failure is
//! retried later, a permanent one is marked failed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use oauth2::AccessToken;
use tracing::{debug, warn};

use super::smtp_session::{Login, SessionError, Sessions};
use crate::config::{Auth, TlsMode, TransportConfig};
use crate::oauth::TokenSource;
use crate::store::outbox::OutboxEntry;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: 4xx replies, timeouts, connection problems, refused logins.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying will not help: 5xx replies, unusable addresses.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub enum Transport {
    Smtp(Box<SmtpSender>),
    File { dir: PathBuf },
}

/// SMTP through pooled lettre sessions.
pub struct SmtpSender {
    host: String,
    port: u16,
    tls_mode: TlsMode,
    tls: Option<TlsParameters>,
    timeout: Duration,
    endpoint: String,
    sessions: Sessions,
    login: SmtpAuth,
}

enum SmtpAuth {
    /// No login, or a password.
    Fixed { credentials: Option<Credentials> },
    /// XOAUTH2 with the current token of `tokens`.
    OAuth2 {
        username: String,
        tokens: TokenSource,
    },
}

/// Mechanisms for a password login (lettre's default).
const PASSWORD_MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

impl Transport {
    /// How many mails to hand over at once: several SMTP sessions in flight, but one
    /// file at a time (parallel creates in one directory only contend on its lock).
    pub fn parallelism(&self, smtp: usize) -> usize {
        match self {
            Transport::File { .. } => 1,
            _ => smtp,
        }
    }

    pub fn new(cfg: &TransportConfig) -> Result<Transport> {
        match cfg {
            TransportConfig::File(f) => {
                // 0700 when made here: the .eml files in it are mail.
                crate::store::private::create_dir_all(&f.path).with_context(|| {
                    format!("cannot create the outbox folder {}", f.path.display())
                })?;
                Ok(Transport::File {
                    dir: f.path.clone(),
                })
            }
            TransportConfig::Smtp(s) => {
                let tls_parameters = || -> Result<TlsParameters> {
                    let mut builder = TlsParameters::builder(s.host.clone());
                    if let Some(ca) = &s.tls_ca_file {
                        let pem = std::fs::read(ca).with_context(|| {
                            format!("[transport] tls_ca_file: cannot read {}", ca.display())
                        })?;
                        let cert = Certificate::from_pem(&pem).with_context(|| {
                            format!(
                                "[transport] tls_ca_file: {} holds no PEM certificate",
                                ca.display()
                            )
                        })?;
                        builder = builder.add_root_certificate(cert);
                    }
                    builder.build_rustls().context("cannot set up TLS for SMTP")
                };
                let params = match s.tls {
                    TlsMode::None => None,
                    TlsMode::StartTls | TlsMode::Implicit => Some(tls_parameters()?),
                };
                let sessions = Sessions::new(
                    &s.host,
                    s.port,
                    s.tls,
                    params.clone(),
                    s.tls_ca_file.as_deref(),
                    s.timeout,
                )?;
                let login = match &s.login {
                    None => SmtpAuth::Fixed { credentials: None },
                    Some(l) => match &l.auth {
                        Auth::Password(password) => SmtpAuth::Fixed {
                            credentials: Some(Credentials::new(
                                l.username.clone(),
                                password.clone(),
                            )),
                        },
                        Auth::OAuth2(o) => SmtpAuth::OAuth2 {
                            username: l.username.clone(),
                            tokens: TokenSource::new(o)?,
                        },
                    },
                };
                Ok(Transport::Smtp(Box::new(SmtpSender {
                    host: s.host.clone(),
                    port: s.port,
                    tls_mode: s.tls,
                    tls: params,
                    timeout: s.timeout,
                    endpoint: format!("{}:{}", s.host, s.port),
                    sessions,
                    login,
                })))
            }
        }
    }

    /// Sends one mail. Never hangs: SMTP sends are bounded by the configured timeout.
    pub async fn send(&self, entry: &OutboxEntry) -> Result<(), SendError> {
        match self {
            Transport::File { dir } => write_eml(dir, entry).await,
            Transport::Smtp(smtp) => smtp.send(entry).await,
        }
    }

    /// Connects and says what it found, for `ticketpost check`.
    pub async fn probe(&self) -> Result<String> {
        match self {
            Transport::File { dir } => Ok(format!("file transport writes to {}", dir.display())),
            Transport::Smtp(smtp) => {
                let limit = smtp.timeout * 3;
                tokio::time::timeout(limit, smtp.probe())
                    .await
                    .map_err(|_| anyhow!("SMTP {}: no answer within {limit:?}", smtp.endpoint))?
            }
        }
    }
}

/// Why one try failed.
enum Failure {
    TimedOut(Duration),
    /// No session: connecting or TLS failed.
    Connect(String),
    Smtp(lettre::transport::smtp::Error),
}

impl SmtpSender {
    /// The credentials new sessions log in with now (with OAuth2, the current token),
    /// and the mechanisms to use.
    async fn credentials(
        &self,
    ) -> Result<Option<(Credentials, &'static [Mechanism], Option<AccessToken>)>, SendError> {
        match &self.login {
            SmtpAuth::Fixed { credentials } => Ok(credentials
                .clone()
                .map(|c| (c, &PASSWORD_MECHANISMS[..], None))),
            SmtpAuth::OAuth2 { username, tokens } => {
                let token = tokens
                    .token()
                    .await
                    .map_err(|e| SendError::Temporary(format!("{e:#}")))?;
                let credentials = Credentials::new(username.clone(), token.secret().clone());
                Ok(Some((credentials, &[Mechanism::Xoauth2][..], Some(token))))
            }
        }
    }

    async fn send(&self, entry: &OutboxEntry) -> Result<(), SendError> {
        let from = entry
            .mail_from
            .parse()
            .map_err(|e| SendError::Permanent(format!("sender address: {e}")))?;
        let to = entry
            .recipients
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("recipient address: {e}")))?;
        let envelope = Envelope::new(Some(from), to)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        let login = self.credentials().await?;
        let mut result = self.try_send(&envelope, &entry.raw, login.as_ref()).await;
        if let (Err(Failure::Smtp(e)), Some((_, _, Some(token))), SmtpAuth::OAuth2 { tokens, .. }) =
            (&result, &login, &self.login)
            && is_auth_refusal(e)
            && tokens.refused(token).await
        {
            warn!(
                endpoint = %self.endpoint,
                answer = %e,
                "SMTP server refused the OAuth2 access token; refreshing it and trying once more"
            );
            let login = self.credentials().await?;
            result = self.try_send(&envelope, &entry.raw, login.as_ref()).await;
        }
        let endpoint = &self.endpoint;
        match result {
            Ok(()) => Ok(()),
            Err(Failure::TimedOut(limit)) => Err(SendError::Temporary(format!(
                "no answer from {endpoint} within {limit:?}"
            ))),
            Err(Failure::Connect(why)) => Err(SendError::Temporary(why)),
            // Refused credentials are not the mail's fault: keep it for when they work.
            Err(Failure::Smtp(e)) if is_auth_refusal(&e) => Err(SendError::Temporary(format!(
                "{endpoint}: the server refused the login ({}): {e}",
                self.login_hint()
            ))),
            Err(Failure::Smtp(e)) if e.is_permanent() => {
                Err(SendError::Permanent(format!("{endpoint}: {e}")))
            }
            Err(Failure::Smtp(e)) => Err(SendError::Temporary(format!("{endpoint}: {e}"))),
        }
    }

    /// One try on a pooled session (a new one logs in with `login`).
    async fn try_send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        login: Option<&(Credentials, &'static [Mechanism], Option<AccessToken>)>,
    ) -> Result<(), Failure> {
        // Bound the whole exchange: connecting, the login and the mail.
        let limit = self.timeout * 2;
        let attempt = async {
            let login = login.map(|(credentials, mechanisms, _)| Login {
                credentials,
                mechanisms,
            });
            let mut conn = self.sessions.checkout(login).await.map_err(|e| match e {
                SessionError::Connect(why) => Failure::Connect(why),
                SessionError::Smtp(e) => Failure::Smtp(e),
            })?;
            let sent = conn.send(envelope, raw).await;
            self.sessions.checkin(conn).await;
            sent.map(|_| ()).map_err(Failure::Smtp)
        };
        match tokio::time::timeout(limit, attempt).await {
            Err(_) => Err(Failure::TimedOut(limit)),
            Ok(result) => result,
        }
    }

    fn login_hint(&self) -> &'static str {
        match &self.login {
            SmtpAuth::OAuth2 { tokens, .. } if tokens.can_refresh() => {
                "check [transport] username and the OAuth2 token's scopes; a fresh token was refused too"
            }
            SmtpAuth::OAuth2 { .. } => {
                "the fixed token from [transport] oauth2_access_token_env cannot be refreshed"
            }
            SmtpAuth::Fixed { .. } => "check [transport] username and password",
        }
    }

    /// A session of its own: connect, STARTTLS, EHLO, the AUTH methods offered, a login
    /// with the configured credentials (for OAuth2 with a token fetched now), QUIT.
    async fn probe(&self) -> Result<String> {
        let endpoint = &self.endpoint;
        let hello = ClientId::default();
        let connect = || async {
            let wrapper = match self.tls_mode {
                TlsMode::Implicit => self.tls.clone(),
                _ => None,
            };
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &hello,
                wrapper,
                None,
            )
            .await
            .with_context(|| format!("SMTP {endpoint}: cannot connect"))?;
            if let (TlsMode::StartTls, Some(params)) = (self.tls_mode, &self.tls) {
                conn.starttls(params.clone(), &hello)
                    .await
                    .with_context(|| format!("SMTP {endpoint}: STARTTLS failed"))?;
            }
            anyhow::Ok(conn)
        };
        let mut conn = connect().await?;
        let offered: Vec<String> = [Mechanism::Plain, Mechanism::Login, Mechanism::Xoauth2]
            .into_iter()
            .filter(|m| conn.server_info().supports_auth_mechanism(*m))
            .map(|m| m.to_string())
            .collect();
        let offered_text = if offered.is_empty() {
            "none advertised".to_string()
        } else {
            offered.join(" ")
        };
        let tls = match self.tls_mode {
            TlsMode::None => "no TLS",
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
        };
        let login = match &self.login {
            SmtpAuth::Fixed {
                credentials: None, ..
            } => "no login configured".to_string(),
            SmtpAuth::Fixed {
                credentials: Some(c),
                ..
            } => {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                    .await
                    .with_context(|| format!("SMTP {endpoint}: login with the password refused"))?;
                "auth = password: login ok".to_string()
            }
            SmtpAuth::OAuth2 {
                username, tokens, ..
            } => {
                let xoauth2 = offered.iter().any(|m| m == "XOAUTH2");
                let mut token = tokens.token().await?;
                let credentials =
                    |t: &AccessToken| Credentials::new(username.clone(), t.secret().clone());
                if let Err(e) = conn.auth(&[Mechanism::Xoauth2], &credentials(&token)).await {
                    if !(is_auth_refusal(&e) && tokens.refused(&token).await) {
                        return Err(anyhow::Error::from(e).context(format!(
                            "SMTP {endpoint}: AUTH XOAUTH2 as {username:?} failed (server advertises AUTH XOAUTH2: {})",
                            if xoauth2 { "yes" } else { "no" }
                        )));
                    }
                    // The refused exchange leaves the session mid-AUTH: start afresh.
                    conn.abort().await;
                    conn = connect().await?;
                    token = tokens.token().await?;
                    conn.auth(&[Mechanism::Xoauth2], &credentials(&token))
                        .await
                        .with_context(|| {
                            format!("SMTP {endpoint}: AUTH XOAUTH2 as {username:?} refused, also with a freshly refreshed token")
                        })?;
                }
                format!(
                    "auth = oauth2: AUTH XOAUTH2 as {username} ok; server advertises AUTH XOAUTH2: {}; {}",
                    if xoauth2 { "yes" } else { "no" },
                    tokens.status().await
                )
            }
        };
        if let Err(e) = conn.quit().await {
            debug!(error = %e, "SMTP QUIT after the check failed");
        }
        Ok(format!(
            "SMTP {endpoint} ({tls}): connected; AUTH methods: {offered_text}; {login}"
        ))
    }
}

/// Whether the server refused the login. 535 (bad credentials), 534 (mechanism too
/// weak), 530 (auth required), 454 (temporary auth failure). With XOAUTH2 a refusal
/// first comes as a 334 challenge carrying a JSON error report, which lettre does not
/// answer: it stops with a client error about an unexpected challenge.
fn is_auth_refusal(e: &lettre::transport::smtp::Error) -> bool {
    match e.status() {
        Some(code) => matches!(code.to_string().as_str(), "535" | "534" | "530" | "454"),
        None => e.is_client() && e.to_string().contains("does not expect a challenge"),
    }
}

/// Writes `<dir>/<outbox id>-<kind>.eml` atomically (temp file, then rename), so a
/// retry overwrites instead of adding a second copy. No fsync: this transport is for
/// trying ticketpost out and for tests; a process crash cannot tear a file, a power cut
/// may lose the newest ones. The files are 0600: they are mail, and carry our signed
/// Message-IDs.
async fn write_eml(dir: &std::path::Path, entry: &OutboxEntry) -> Result<(), SendError> {
    let name = format!("{:08}-{}.eml", entry.id, entry.kind);
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let raw = entry.raw.clone();
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = crate::store::private::create_file(&tmp)?;
        f.write_all(&raw)?;
        std::fs::rename(&tmp, &path)
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SendError::Temporary(format!(
            "cannot write {}: {e}",
            dir.join(name).display()
        ))),
        Err(e) => Err(SendError::Temporary(format!(
            "file writer task failed: {e}"
        ))),
    }
}
