//! SMTP sessions for the outbox sender: lettre's `AsyncSmtpConnection` over a socket
//! opened here with TCP_NODELAY, kept logged in in a small pool for the next mail.
//!
//! Why not lettre's pooled transport: it leaves Nagle's algorithm on and writes a
//! message's text and its final `CRLF.CRLF` in two writes, so the final dot waits for
//! the server's delayed ACK (about 40 ms on Linux) before the server can answer: 40 ms
//! on every mail, most of the time from a request to its acknowledgement when the MTA
//! pushes mail over LMTP. The pool keeps lettre's rules: at most [`MAX_IDLE`] idle
//! sessions, none older than [`IDLE_TIMEOUT`], each checked with NOOP before reuse.
//!
//! This module owns connecting (TCP, STARTTLS or implicit TLS, EHLO, AUTH) and the
//! pool; which login to use and what an error means are `transport`'s.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::TlsMode;

/// Idle sessions kept at most (lettre's pool default).
const MAX_IDLE: usize = 10;

/// An idle session older than this is closed instead of reused (lettre's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a session could not be had.
#[derive(Debug)]
pub(super) enum SessionError {
    /// Connecting, TLS or the greeting failed (always worth retrying later).
    Connect(String),
    /// The server answered badly (EHLO, STARTTLS, AUTH): its reply decides.
    Smtp(lettre::transport::smtp::Error),
}

/// A login for new sessions.
pub(super) struct Login<'a> {
    pub(super) credentials: &'a Credentials,
    pub(super) mechanisms: &'a [Mechanism],
}

/// Sessions to one SMTP server.
pub(super) struct Sessions {
    host: String,
    port: u16,
    tls_mode: TlsMode,
    /// For STARTTLS (lettre upgrades the session).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (the socket is wrapped before the greeting).
    implicit: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Sessions {
    /// `starttls` is lettre's TLS set-up (used with STARTTLS); implicit TLS trusts the
    /// webpki roots plus `ca_file`, as lettre's set-up does.
    pub(super) fn new(
        host: &str,
        port: u16,
        tls_mode: TlsMode,
        starttls: Option<TlsParameters>,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<Sessions> {
        let implicit = match tls_mode {
            TlsMode::Implicit => Some(tokio_rustls::TlsConnector::from(Arc::new(
                crate::tls_client::client_config("[transport]", ca_file)?,
            ))),
            _ => None,
        };
        Ok(Sessions {
            host: host.to_string(),
            port,
            tls_mode,
            starttls,
            implicit,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A logged-in session: an idle one that still answers, or a new one.
    pub(super) async fn checkout(
        &self,
        login: Option<Login<'_>>,
    ) -> Result<AsyncSmtpConnection, SessionError> {
        while let Some((mut conn, since)) = self.pop_idle() {
            if since.elapsed() < IDLE_TIMEOUT && conn.test_connected().await {
                return Ok(conn);
            }
            conn.abort().await;
        }
        let mut conn = self.connect().await?;
        if let Some(login) = login
            && let Err(e) = conn.auth(login.mechanisms, login.credentials).await
        {
            conn.abort().await;
            return Err(SessionError::Smtp(e));
        }
        Ok(conn)
    }

    /// Back to the pool after a mail, unless broken or the pool is full.
    pub(super) async fn checkin(&self, mut conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push((conn, Instant::now()));
                return;
            }
        }
        conn.abort().await;
    }

    fn pop_idle(&self) -> Option<(AsyncSmtpConnection, Instant)> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// TCP (TCP_NODELAY), implicit TLS if asked, greeting and EHLO, STARTTLS if asked.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SessionError> {
        let endpoint = format!("{}:{}", self.host, self.port);
        let connect_error = |what: &str, e: &dyn std::fmt::Display| {
            SessionError::Connect(format!("{endpoint}: {what}: {e}"))
        };
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| connect_error("cannot connect", &"timed out"))?
        .map_err(|e| connect_error("cannot connect", &e))?;
        tcp.set_nodelay(true)
            .map_err(|e| connect_error("cannot set TCP_NODELAY", &e))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| connect_error("not a TLS server name", &e))?;
                let tls = tokio::time::timeout(self.timeout, tls.connect(name, tcp))
                    .await
                    .map_err(|_| connect_error("TLS handshake", &"timed out"))?
                    .map_err(|e| connect_error("TLS handshake", &e))?;
                Box::new(TlsSession(tls))
            }
            None => Box::new(tcp),
        };
        let hello = ClientId::default();
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &hello)
            .await
            .map_err(SessionError::Smtp)?;
        if let (TlsMode::StartTls, Some(params)) = (self.tls_mode, &self.starttls) {
            conn.starttls(params.clone(), &hello)
                .await
                .map_err(SessionError::Smtp)?;
        }
        Ok(conn)
    }
}

/// An implicit-TLS socket as lettre takes one.
#[derive(Debug)]
struct TlsSession(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsSession {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsSession {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsSession {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}
