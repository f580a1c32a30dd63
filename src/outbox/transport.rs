//! Delivery of one rendered mail: SMTP through lettre (none / STARTTLS / implicit TLS,
//! optional auth), or a folder of `.eml` files for the embedded default and tests.
//!
//! The only typed error in the crate that callers branch on: a temporary failure is
//! retried later, a permanent one is marked failed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{TlsMode, TransportConfig};
use crate::store::outbox::OutboxEntry;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: 4xx replies, timeouts, connection problems.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying will not help: 5xx replies, unusable addresses.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub enum Transport {
    Smtp {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
        endpoint: String,
    },
    File {
        dir: PathBuf,
    },
}

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
                std::fs::create_dir_all(&f.path).with_context(|| {
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
                let tls = match s.tls {
                    TlsMode::None => Tls::None,
                    TlsMode::StartTls => Tls::Required(tls_parameters()?),
                    TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                    .port(s.port)
                    .tls(tls)
                    .timeout(Some(s.timeout));
                if let (Some(user), Some(password)) = (&s.username, &s.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Ok(Transport::Smtp {
                    mailer: builder.build(),
                    timeout: s.timeout,
                    endpoint: format!("{}:{}", s.host, s.port),
                })
            }
        }
    }

    /// Sends one mail. Never hangs: SMTP sends are bounded by the configured timeout.
    pub async fn send(&self, entry: &OutboxEntry) -> Result<(), SendError> {
        match self {
            Transport::File { dir } => write_eml(dir, entry).await,
            Transport::Smtp {
                mailer,
                timeout,
                endpoint,
            } => {
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
                // lettre's own timeout covers connecting only; bound the whole exchange.
                let limit = *timeout * 2;
                match tokio::time::timeout(limit, mailer.send_raw(&envelope, &entry.raw)).await {
                    Err(_) => Err(SendError::Temporary(format!(
                        "no answer from {endpoint} within {limit:?}"
                    ))),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) if e.is_permanent() => {
                        Err(SendError::Permanent(format!("{endpoint}: {e}")))
                    }
                    Ok(Err(e)) => Err(SendError::Temporary(format!("{endpoint}: {e}"))),
                }
            }
        }
    }

    /// Connects and says what it found, for `ticketpost check`.
    pub async fn probe(&self) -> Result<String> {
        match self {
            Transport::File { dir } => Ok(format!("file transport writes to {}", dir.display())),
            Transport::Smtp {
                mailer,
                timeout,
                endpoint,
            } => {
                let ok = tokio::time::timeout(*timeout, mailer.test_connection())
                    .await
                    .with_context(|| format!("SMTP {endpoint}: no answer within {timeout:?}"))?
                    .with_context(|| format!("SMTP {endpoint}: cannot connect"))?;
                anyhow::ensure!(
                    ok,
                    "SMTP {endpoint}: the server did not accept a connection"
                );
                Ok(format!("SMTP {endpoint}: connected"))
            }
        }
    }
}

/// Writes `<dir>/<outbox id>-<kind>.eml` atomically (temp file, then rename), so a
/// retry overwrites instead of adding a second copy. No fsync: this transport is for
/// trying ticketpost out and for tests; a process crash cannot tear a file, a power cut
/// may lose the newest ones.
async fn write_eml(dir: &std::path::Path, entry: &OutboxEntry) -> Result<(), SendError> {
    let name = format!("{:08}-{}.eml", entry.id, entry.kind);
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let raw = entry.raw.clone();
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
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
