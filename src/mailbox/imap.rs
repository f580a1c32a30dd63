//! IMAP source: one folder on one server, read by UID.
//!
//! This module owns the IMAP connection (TCP, STARTTLS or implicit TLS with rustls/ring,
//! LOGIN, SELECT), the UID bookkeeping (which UIDs are above the checkpoint, which of them
//! were handed out, which were committed), fetching in batches, setting `\Seen` after the
//! commit, and waiting for new mail with IDLE or by polling.
//!
//! It leaves to others: storing the checkpoint (the caller commits it with the batch, see
//! [`super`]), deduplication after a UIDVALIDITY change (the store's identity index), and
//! backoff between reconnects (the service loop calls [`ImapSource::reset`] and pauses).
//!
//! Two checkpoints are kept in memory. `fetched` is how far batches were handed out;
//! `committed` is how far the caller confirmed with `mark_done`. `reset` rewinds `fetched`
//! to `committed`, so a batch whose commit failed is fetched again.
//!
//! Every network step has a time limit (`[mailbox] timeout`). Commands are read with that
//! limit per server response, so a FETCH of many messages is not cut off while data keeps
//! flowing and a stalled connection fails within the limit; one message must still arrive
//! within it (raise `timeout` for very large mail over slow links). Any error drops the
//! connection: a command cut off half-way leaves the session in an unknown state, and the
//! next call reconnects.
//!
//! Commands are run with our own read loop (not async-imap's `uid_fetch`/`uid_search`
//! streams) because those end quietly on a lost connection or a NO, which would look like
//! "nothing new"; here every command must end with its tagged OK.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::{Debug, Write as _};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status,
};
use async_imap::types::UnsolicitedResponse;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, BufWriter};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Batch, Checkpoint, FetchedMail, MailKey};
use crate::config::{Auth, ImapConfig, TlsMode};
use crate::oauth::{TokenSource, xoauth2_response};

/// IDLE is ended and re-issued after this long; RFC 2177 asks for less than 29 minutes.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

/// Longest UID set written into one command. Dovecot accepts 64 KiB command lines;
/// scattered UIDs of a large batch are split into several commands below that.
const MAX_UID_SET_LEN: usize = 8000;

/// What async-imap needs from a connection, as one object-safe trait, so plain TCP and
/// TLS connections share one session type.
trait ImapIo: AsyncRead + AsyncWrite + Unpin + Debug + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Debug + Send + Sync> ImapIo for T {}

type ImapSession = async_imap::Session<Box<dyn ImapIo>>;

/// Reads one IMAP folder in UID order.
pub struct ImapSource {
    /// Boxed, like the connection: keeps `MailSource` small.
    cfg: Box<ImapConfig>,
    tls: TlsConnector,
    /// With `auth = "oauth2"`: where the access tokens come from (cached across
    /// reconnects, refreshed when they near expiry or the server refuses one).
    tokens: Option<TokenSource>,
    /// The name checked against the server certificate; `None` without TLS.
    server_name: Option<ServerName<'static>>,
    conn: Option<Box<Conn>>,
    /// Confirmed by the caller (`mark_done`): stored for good.
    committed: Option<Checkpoint>,
    /// Handed out by `fetch_batch`; rewound to `committed` by `reset`.
    fetched: Option<Checkpoint>,
    /// UIDs found by the last SEARCH and not handed out yet.
    pending: Option<Pending>,
}

/// The result of one `UID SEARCH`, consumed batch by batch.
struct Pending {
    uid_validity: u32,
    /// The UID the remaining list starts after; valid only while it equals the position.
    after: u32,
    /// Ascending.
    uids: VecDeque<u32>,
}

/// Why an IDLE ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdleEnd {
    NewMail,
    Renew,
}

impl ImapSource {
    /// Builds the TLS configuration; does not connect. `checkpoint` is the last committed
    /// progress for this folder.
    pub fn new(cfg: ImapConfig, checkpoint: Option<Checkpoint>) -> Result<Self> {
        let tls = TlsConnector::from(Arc::new(crate::tls_client::client_config(
            "[mailbox]",
            cfg.tls_ca_file.as_deref(),
        )?));
        let server_name = match cfg.tls {
            TlsMode::None => None,
            TlsMode::StartTls | TlsMode::Implicit => {
                Some(ServerName::try_from(cfg.host.clone()).with_context(|| {
                    format!(
                        "[mailbox] host {:?} is not a valid DNS name or IP address",
                        cfg.host
                    )
                })?)
            }
        };
        validate_folder(&cfg.folder)?;
        let tokens = match &cfg.auth {
            Auth::Password(_) => None,
            Auth::OAuth2(o) => Some(TokenSource::new(o)?),
        };
        Ok(ImapSource {
            cfg: Box::new(cfg),
            tls,
            tokens,
            server_name,
            conn: None,
            committed: checkpoint,
            fetched: checkpoint,
            pending: None,
        })
    }

    /// Up to `max` messages above the fetched checkpoint, in UID order; an empty batch
    /// (without a checkpoint) when nothing is new.
    pub async fn fetch_batch(&mut self, max: usize) -> Result<Batch> {
        let result = self.fetch_batch_inner(max.max(1)).await;
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    async fn fetch_batch_inner(&mut self, max: usize) -> Result<Batch> {
        self.ensure_connected().await?;
        let Some(conn) = self.conn.as_mut() else {
            bail!("IMAP connection missing after connect")
        };
        let uid_validity = conn.uid_validity;
        loop {
            let after = position(self.fetched, uid_validity);
            let cached = matches!(&self.pending,
                Some(p) if p.uid_validity == uid_validity && p.after == after && !p.uids.is_empty());
            if !cached {
                let uids = conn.sync_and_search_after(after).await?;
                if !uids.is_empty() {
                    debug!(after, found = uids.len(), "UIDs waiting in the mailbox");
                }
                self.pending = Some(Pending {
                    uid_validity,
                    after,
                    uids: uids.into(),
                });
            }
            let Some(pending) = self.pending.as_mut() else {
                bail!("pending UID list missing")
            };
            if pending.uids.is_empty() {
                return Ok(Batch::default());
            }
            let mut chunk: Vec<u32> = pending.uids.drain(..max.min(pending.uids.len())).collect();
            // Bounded by bytes too: a run of large messages makes a shorter batch (at
            // least one message); the rest go back to the front of the list.
            let sizes = conn.sizes(&chunk).await?;
            let keep =
                super::within_batch_bytes(chunk.iter().map(|u| sizes.get(u).copied().unwrap_or(0)));
            for uid in chunk.drain(keep..).rev() {
                pending.uids.push_front(uid);
            }
            let last_uid = chunk[chunk.len() - 1];
            pending.after = last_uid;
            let left = pending.uids.len();

            let started = Instant::now();
            let mails = conn.fetch(&chunk).await?;
            let checkpoint = Checkpoint {
                uid_validity,
                last_uid,
            };
            self.fetched = Some(checkpoint);
            if mails.is_empty() {
                // All of them were expunged meanwhile: go on with the next ones.
                continue;
            }
            debug!(
                messages = mails.len(),
                first_uid = chunk[0],
                last_uid,
                bytes = mails.iter().map(|m| m.raw.len()).sum::<usize>(),
                pending = left,
                fetch_ms = started.elapsed().as_millis() as u64,
                "fetched IMAP batch"
            );
            return Ok(Batch {
                mails,
                checkpoint: Some(checkpoint),
            });
        }
    }

    /// Records that `batch` is committed, then sets `\Seen` on its messages. The flag is
    /// an extra: when it fails, the checkpoint has still advanced.
    pub async fn mark_done(&mut self, batch: &Batch) -> Result<()> {
        let Some(checkpoint) = batch.checkpoint else {
            return Ok(());
        };
        self.committed = Some(advance(self.committed, checkpoint));
        self.fetched = Some(advance(self.fetched, checkpoint));
        let mut uids: Vec<u32> = batch
            .mails
            .iter()
            .filter_map(|m| match m.key {
                MailKey::Imap { uid } => Some(uid),
                MailKey::Maildir { .. } => None,
            })
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        uids.sort_unstable();
        uids.dedup();
        let result = self.mark_seen(checkpoint.uid_validity, &uids).await;
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    async fn mark_seen(&mut self, uid_validity: u32, uids: &[u32]) -> Result<()> {
        self.ensure_connected().await?;
        let Some(conn) = self.conn.as_mut() else {
            bail!("IMAP connection missing after connect")
        };
        if conn.uid_validity != uid_validity {
            // These UIDs name other messages now; leave the flags alone.
            warn!(
                folder = %self.cfg.folder,
                batch_uid_validity = uid_validity,
                uid_validity = conn.uid_validity,
                "UIDVALIDITY changed since the batch was fetched; not setting \\Seen"
            );
            return Ok(());
        }
        conn.store_seen(uids).await
    }

    /// Returns when new mail may be there: at once if some is already waiting, when the
    /// server reports it during IDLE (re-issued every 25 minutes, which also returns),
    /// or after the poll interval when IDLE is off or not offered. Returns `Ok` promptly
    /// when `shutdown` is cancelled. An error means the connection was lost.
    pub async fn wait_for_mail(&mut self, shutdown: &CancellationToken) -> Result<()> {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        if self.pending.as_ref().is_some_and(|p| !p.uids.is_empty()) {
            return Ok(());
        }
        if !self.cfg.idle {
            return self.poll_wait(shutdown).await;
        }
        let result = self.idle_wait(shutdown).await;
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    async fn poll_wait(&mut self, shutdown: &CancellationToken) -> Result<()> {
        if self.cfg.poll_interval >= IDLE_RENEW {
            // The server would log an unused connection out meanwhile (Dovecot after
            // 30 minutes); reconnect afterwards instead of failing on a dead one.
            self.drop_connection();
        }
        tokio::select! {
            _ = tokio::time::sleep(self.cfg.poll_interval) => {}
            _ = shutdown.cancelled() => {}
        }
        Ok(())
    }

    async fn idle_wait(&mut self, shutdown: &CancellationToken) -> Result<()> {
        tokio::select! {
            connected = self.ensure_connected() => connected?,
            _ = shutdown.cancelled() => return Ok(()),
        }
        let Some(conn) = self.conn.as_mut() else {
            bail!("IMAP connection missing after connect")
        };
        if !conn.has_capability("IDLE") {
            debug!(addr = %conn.addr, "server offers no IDLE; polling");
            return self.poll_wait(shutdown).await;
        }

        // Mail that arrived after the last fetch must not wait for the next event: look
        // now. Whatever arrives after this SEARCH is reported during IDLE (or just before
        // it starts, which `Conn::idle` checks).
        conn.drain_unsolicited();
        let uid_validity = conn.uid_validity;
        let after = position(self.fetched, uid_validity);
        let uids = conn.sync_and_search_after(after).await?;
        if !uids.is_empty() {
            debug!(
                after,
                found = uids.len(),
                "new mail already waiting; not entering IDLE"
            );
            self.pending = Some(Pending {
                uid_validity,
                after,
                uids: uids.into(),
            });
            return Ok(());
        }
        if conn.mail_hint {
            // EXISTS came with the SEARCH answer: mail arrived while it ran and may not be
            // in its result. Let the caller fetch rather than IDLE past it.
            debug!("mail arrived during the check; not entering IDLE");
            return Ok(());
        }

        let Some(conn) = self.conn.take() else {
            bail!("IMAP connection missing after connect")
        };
        match (*conn).idle(shutdown).await? {
            Some((conn, end)) => {
                debug!(?end, "IDLE ended");
                self.conn = Some(Box::new(conn));
            }
            None => debug!("IDLE stopped for shutdown; connection dropped"),
        }
        Ok(())
    }

    /// Drops the connection (the next call reconnects) and rewinds to the committed
    /// checkpoint, so uncommitted messages are fetched again.
    pub fn reset(&mut self) {
        self.drop_connection();
        self.fetched = self.committed;
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.pending = None;
    }

    /// Connects and describes the server, the folder and what waits above the
    /// checkpoint, for `ticketpost check`. Logs out afterwards.
    pub async fn probe(&mut self) -> Result<String> {
        let result = self.probe_inner().await;
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    async fn probe_inner(&mut self) -> Result<String> {
        self.ensure_connected().await?;
        let Some(conn) = self.conn.as_mut() else {
            bail!("IMAP connection missing after connect")
        };
        conn.noop().await?;
        let uid_validity = conn.uid_validity;
        let (after, about_checkpoint) = match self.committed {
            None => (0, "no checkpoint yet".to_string()),
            Some(c) if c.uid_validity == uid_validity => {
                (c.last_uid, format!("checkpoint at UID {}", c.last_uid))
            }
            Some(c) => (
                0,
                format!(
                    "checkpoint is for UIDVALIDITY {} (changed): the folder will be read again",
                    c.uid_validity
                ),
            ),
        };
        let waiting = conn.search_after(after).await?.len();

        let cfg = &self.cfg;
        let tls = match cfg.tls {
            TlsMode::None => "no TLS",
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
        };
        let idle = conn.has_capability("IDLE");
        let waiting_how = match (cfg.idle, idle) {
            (true, true) => "waits with IDLE".to_string(),
            (true, false) => format!("server has no IDLE: polls every {:?}", cfg.poll_interval),
            (false, _) => format!("idle = false: polls every {:?}", cfg.poll_interval),
        };
        let mut auth: Vec<&str> = conn
            .greeting_capabilities
            .iter()
            .chain(&conn.capabilities)
            .filter_map(|c| c.strip_prefix("AUTH="))
            .collect();
        auth.sort_unstable();
        auth.dedup();
        let used = match &cfg.auth {
            Auth::Password(_) => "LOGIN is used".to_string(),
            Auth::OAuth2(_) => format!(
                "auth = oauth2: AUTHENTICATE XOAUTH2 is used; server advertises AUTH=XOAUTH2: {}",
                if auth.iter().any(|m| m.eq_ignore_ascii_case("XOAUTH2")) {
                    "yes"
                } else {
                    "no"
                }
            ),
        };
        let mut s = String::new();
        let _ = writeln!(s, "IMAP {} ({tls}) as {}", conn.addr, cfg.username);
        let _ = writeln!(s, "  greeting: {}", conn.greeting);
        let _ = writeln!(s, "  capabilities: {}", conn.capabilities.join(" "));
        let _ = writeln!(
            s,
            "  IDLE: {} ({waiting_how}); AUTH methods: {} ({used})",
            if idle { "yes" } else { "no" },
            if auth.is_empty() {
                "none advertised".to_string()
            } else {
                auth.join(" ")
            }
        );
        if let Some(tokens) = &self.tokens {
            let _ = writeln!(s, "  OAuth2: {}", tokens.status().await);
        }
        let _ = write!(
            s,
            "  folder {:?}: UIDVALIDITY {uid_validity}, {} messages, {waiting} waiting ({about_checkpoint})",
            cfg.folder, conn.exists
        );

        if let Some(mut conn) = self.conn.take() {
            self.pending = None;
            if let Err(e) = conn.logout().await {
                debug!(error = %format!("{e:#}"), "IMAP LOGOUT failed; connection dropped anyway");
            }
        }
        Ok(s)
    }

    async fn ensure_connected(&mut self) -> Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        self.pending = None;
        let conn = self.connect().await?;
        let uid_validity = conn.uid_validity;
        if let Some(known) = self.fetched.or(self.committed)
            && known.uid_validity != uid_validity
        {
            warn!(
                folder = %self.cfg.folder,
                old_uid_validity = known.uid_validity,
                uid_validity,
                "UIDVALIDITY changed: reading the folder again from the start; the store drops what it already has"
            );
        }
        info!(
            addr = %conn.addr,
            user = %self.cfg.username,
            folder = %self.cfg.folder,
            tls = ?self.cfg.tls,
            uid_validity,
            messages = conn.exists,
            idle = conn.has_capability("IDLE"),
            "connected to IMAP"
        );
        self.conn = Some(Box::new(conn));
        Ok(())
    }

    async fn connect(&self) -> Result<Conn> {
        let cfg = &self.cfg;
        let addr = format!("{}:{}", cfg.host, cfg.port);
        let limit = cfg.timeout;
        let tcp = timed(
            limit,
            "connect",
            &addr,
            TcpStream::connect((cfg.host.as_str(), cfg.port)),
        )
        .await?;
        // Commands are small and answered one at a time: do not let Nagle delay them.
        let _ = tcp.set_nodelay(true);

        let (client, greeting) = match cfg.tls {
            TlsMode::None => {
                let stream: Box<dyn ImapIo> = Box::new(BufWriter::new(tcp));
                let mut client = async_imap::Client::new(stream);
                let greeting = read_greeting(&mut client, limit, &addr).await?;
                (client, greeting)
            }
            TlsMode::Implicit => {
                let tls = self.tls_handshake(tcp, &addr).await?;
                let stream: Box<dyn ImapIo> = Box::new(BufWriter::new(tls));
                let mut client = async_imap::Client::new(stream);
                let greeting = read_greeting(&mut client, limit, &addr).await?;
                (client, greeting)
            }
            TlsMode::StartTls => {
                let mut plain = async_imap::Client::new(BufWriter::new(tcp));
                let greeting = read_greeting(&mut plain, limit, &addr).await?;
                if !greeting.capabilities.is_empty()
                    && !greeting
                        .capabilities
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case("STARTTLS"))
                {
                    bail!(
                        "IMAP server {addr} does not offer STARTTLS (set [mailbox] tls = \"implicit\" or \"none\")"
                    );
                }
                timed(
                    limit,
                    "STARTTLS",
                    &addr,
                    plain.run_command_and_check_ok("STARTTLS", None),
                )
                .await?;
                // Anything the server sent after its OK, still unencrypted, is dropped
                // with the plain client's buffer: only the TLS stream is read from now.
                let tcp = plain.into_inner().into_inner();
                let tls = self.tls_handshake(tcp, &addr).await?;
                let stream: Box<dyn ImapIo> = Box::new(BufWriter::new(tls));
                (async_imap::Client::new(stream), greeting)
            }
        };

        let session = match &cfg.auth {
            Auth::Password(password) => {
                let step = format!("LOGIN as {:?}", cfg.username);
                timed(limit, &step, &addr, async {
                    client
                        .login(&cfg.username, password)
                        .await
                        .map_err(|(e, _client)| login_error(e))
                })
                .await?
            }
            Auth::OAuth2(_) => {
                self.authenticate_xoauth2(client, &addr, &greeting.capabilities)
                    .await?
            }
        };
        let mut conn = Conn {
            session,
            addr,
            timeout: limit,
            greeting: greeting.text,
            greeting_capabilities: greeting.capabilities,
            capabilities: Vec::new(),
            uid_validity: 0,
            exists: 0,
            mail_hint: false,
        };
        conn.capabilities = conn.capability().await?;
        conn.select(&cfg.folder).await?;
        Ok(conn)
    }

    /// `AUTHENTICATE XOAUTH2` with a valid token; when the server refuses it, once more
    /// on the same connection with a fresh one from the token endpoint.
    async fn authenticate_xoauth2(
        &self,
        mut client: async_imap::Client<Box<dyn ImapIo>>,
        addr: &str,
        advertised: &[String],
    ) -> Result<ImapSession> {
        let Some(tokens) = &self.tokens else {
            bail!("[mailbox] auth = \"oauth2\" without a token source");
        };
        let (user, limit) = (&self.cfg.username, self.cfg.timeout);
        let step = format!("AUTHENTICATE XOAUTH2 as {user:?}");
        let mut retried = false;
        loop {
            let token = tokens.token().await?;
            let authenticator = XOAuth2 {
                response: Some(xoauth2_response(user, &token)),
            };
            let refusal =
                match tokio::time::timeout(limit, client.authenticate("XOAUTH2", authenticator))
                    .await
                {
                    Err(_) => bail!("IMAP {step} with {addr} timed out after {limit:?}"),
                    Ok(Ok(session)) => return Ok(session),
                    Ok(Err((async_imap::error::Error::No(info), back))) => {
                        client = back;
                        info
                    }
                    Ok(Err((e, _))) => {
                        return Err(anyhow::Error::from(e)
                            .context(format!("IMAP {step} with {addr} failed")));
                    }
                };
            if !retried && tokens.refused(&token).await {
                warn!(
                    addr = %addr,
                    user = %user,
                    answer = %refusal,
                    "IMAP server refused the OAuth2 access token; refreshing it and trying once more"
                );
                retried = true;
                continue;
            }
            let offered = advertised
                .iter()
                .any(|c| c.eq_ignore_ascii_case("AUTH=XOAUTH2"));
            bail!(
                "IMAP {step} with {addr}: the server refused the OAuth2 access token{} \
                 (check [mailbox] username, the token's scopes and the account's IMAP access){}: {refusal}",
                if tokens.can_refresh() {
                    ", also a freshly refreshed one"
                } else {
                    " (a fixed token from oauth2_access_token_env; it cannot be refreshed)"
                },
                if offered || advertised.is_empty() {
                    ""
                } else {
                    "; the server did not advertise AUTH=XOAUTH2"
                }
            );
        }
    }

    async fn tls_handshake(
        &self,
        tcp: TcpStream,
        addr: &str,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let Some(name) = self.server_name.clone() else {
            bail!("TLS requested without a server name")
        };
        let limit = self.cfg.timeout;
        match tokio::time::timeout(limit, self.tls.connect(name, tcp)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(anyhow::Error::from(e).context(format!(
                "IMAP TLS handshake with {addr} failed (the certificate must be for {:?} and \
                 signed by a webpki root or by [mailbox] tls_ca_file)",
                self.cfg.host
            ))),
            Err(_) => Err(anyhow!(
                "IMAP TLS handshake with {addr} timed out after {limit:?}"
            )),
        }
    }
}

/// The client side of `AUTHENTICATE XOAUTH2`: the token string at the first challenge;
/// an empty answer to any later one (the server's JSON error report, after which it
/// sends NO).
struct XOAuth2 {
    response: Option<String>,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response.take().unwrap_or_default()
    }
}

/// A refused LOGIN says where to look; other errors stay as they are.
fn login_error(e: async_imap::error::Error) -> anyhow::Error {
    match e {
        async_imap::error::Error::No(info) => {
            anyhow!("the server refused the login (check [mailbox] username and password): {info}")
        }
        other => anyhow::Error::from(other),
    }
}

/// Where to continue under `uid_validity`: after `checkpoint`, or from the start when the
/// checkpoint belongs to another UIDVALIDITY (or there is none).
fn position(checkpoint: Option<Checkpoint>, uid_validity: u32) -> u32 {
    match checkpoint {
        Some(c) if c.uid_validity == uid_validity => c.last_uid,
        _ => 0,
    }
}

/// `to`, unless `from` is already further under the same UIDVALIDITY.
fn advance(from: Option<Checkpoint>, to: Checkpoint) -> Checkpoint {
    match from {
        Some(f) if f.uid_validity == to.uid_validity && f.last_uid > to.last_uid => f,
        _ => to,
    }
}

/// Runs `fut` with a time limit; errors and timeouts name the step and the server.
async fn timed<T, E>(
    limit: Duration,
    step: &str,
    addr: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.into().context(format!("IMAP {step} with {addr} failed"))),
        Err(_) => Err(anyhow!("IMAP {step} with {addr} timed out after {limit:?}")),
    }
}

struct Greeting {
    text: String,
    capabilities: Vec<String>,
}

/// Reads the server's first line. It must be read before anything is sent: LOGIN would
/// otherwise wait for an answer that async-imap takes for the greeting.
async fn read_greeting<T>(
    client: &mut async_imap::Client<T>,
    limit: Duration,
    addr: &str,
) -> Result<Greeting>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    let Some(response) = timed(limit, "greeting", addr, client.read_response()).await? else {
        bail!("IMAP greeting from {addr}: the server closed the connection");
    };
    match response.parsed() {
        Response::Data {
            status: Status::Ok,
            outcome,
        } => {
            let capabilities = match &outcome.code {
                Some(ResponseCode::Capabilities(list)) => {
                    list.iter().map(capability_name).collect()
                }
                _ => Vec::new(),
            };
            Ok(Greeting {
                text: outcome.information.as_deref().unwrap_or("").to_string(),
                capabilities,
            })
        }
        Response::Data {
            status: Status::Bye,
            outcome,
        } => bail!(
            "IMAP greeting from {addr}: the server refused the connection: {}",
            outcome.information.as_deref().unwrap_or("")
        ),
        Response::Data {
            status: Status::PreAuth,
            ..
        } => {
            bail!("IMAP greeting from {addr}: PREAUTH connections are not supported")
        }
        other => bail!("IMAP greeting from {addr}: unexpected first response {other:?}"),
    }
}

fn capability_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".to_string(),
        Capability::Auth(m) => format!("AUTH={m}"),
        Capability::Atom(a) => a.to_string(),
    }
}

fn status_name(s: &Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::No => "NO",
        Status::Bad => "BAD",
        Status::PreAuth => "PREAUTH",
        Status::Bye => "BYE",
    }
}

/// A folder name as an IMAP quoted string. Names outside ASCII would need modified
/// UTF-7; they are refused rather than sent wrong.
fn validate_folder(folder: &str) -> Result<()> {
    if folder.is_empty()
        || !folder
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control())
    {
        bail!("[mailbox] folder {folder:?}: only printable ASCII folder names are supported");
    }
    Ok(())
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Compresses UIDs into IMAP sets (`1:500,502,510:512`), each at most `max_len` long.
fn uid_sets(uids: &[u32], max_len: usize) -> Vec<String> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut sets = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && end.checked_add(1) == Some(sorted[i + 1]) {
            i += 1;
            end = sorted[i];
        }
        i += 1;
        let part = if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        };
        if !current.is_empty() && current.len() + 1 + part.len() > max_len {
            sets.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&part);
    }
    if !current.is_empty() {
        sets.push(current);
    }
    sets
}

/// A logged-in session with the folder selected.
struct Conn {
    session: ImapSession,
    /// `host:port`, for messages.
    addr: String,
    timeout: Duration,
    greeting: String,
    /// From the greeting (before login): where the AUTH methods are listed.
    greeting_capabilities: Vec<String>,
    /// After login.
    capabilities: Vec<String>,
    uid_validity: u32,
    /// Message count, from SELECT and EXISTS/EXPUNGE responses.
    exists: u32,
    /// Set by any EXISTS: new mail may have arrived.
    mail_hint: bool,
}

impl Conn {
    fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Sends `command` and reads until its tagged answer, which must be OK. Untagged
    /// responses go to `on_data` first; those it does not take (returns `false`) are
    /// noted as unsolicited. Each response must come within the time limit.
    async fn run(
        &mut self,
        step: &str,
        command: &str,
        mut on_data: impl FnMut(&Response<'_>) -> bool,
    ) -> Result<()> {
        let (limit, addr) = (self.timeout, self.addr.clone());
        let tag = timed(limit, step, &addr, self.session.run_command(command)).await?;
        loop {
            let Some(response) = timed(limit, step, &addr, self.session.read_response()).await?
            else {
                bail!("IMAP {step} with {addr} failed: the server closed the connection");
            };
            match response.parsed() {
                Response::Done {
                    tag: done,
                    status,
                    outcome,
                } if *done == tag => {
                    return match status {
                        Status::Ok => Ok(()),
                        other => Err(anyhow!(
                            "IMAP {step} with {addr} failed: server answered {} {}",
                            status_name(other),
                            outcome.information.as_deref().unwrap_or("")
                        )),
                    };
                }
                parsed => {
                    if !on_data(parsed) {
                        self.note(parsed);
                    }
                }
            }
        }
    }

    fn note(&mut self, response: &Response<'_>) {
        match response {
            Response::MailboxData(MailboxDatum::Exists(n)) => {
                self.exists = *n;
                self.mail_hint = true;
            }
            Response::Expunge(_) => self.exists = self.exists.saturating_sub(1),
            _ => {}
        }
    }

    /// Empties async-imap's queue of unsolicited responses (filled during IDLE); it
    /// drops new entries once full.
    fn drain_unsolicited(&mut self) {
        while let Ok(response) = self.session.unsolicited_responses.try_recv() {
            match response {
                UnsolicitedResponse::Exists(n) => {
                    self.exists = n;
                    self.mail_hint = true;
                }
                UnsolicitedResponse::Expunge(_) => self.exists = self.exists.saturating_sub(1),
                _ => {}
            }
        }
    }

    async fn capability(&mut self) -> Result<Vec<String>> {
        let mut caps = Vec::new();
        self.run("CAPABILITY", "CAPABILITY", |r| match r {
            Response::Capabilities(list) => {
                caps.extend(list.iter().map(capability_name));
                true
            }
            _ => false,
        })
        .await?;
        Ok(caps)
    }

    async fn select(&mut self, folder: &str) -> Result<()> {
        let (mut uid_validity, mut exists) = (None, None);
        let step = format!("SELECT {folder:?}");
        self.run(&step, &format!("SELECT {}", quote(folder)), |r| match r {
            Response::MailboxData(MailboxDatum::Exists(n)) => {
                exists = Some(*n);
                true
            }
            Response::Data { outcome, .. } => {
                if let Some(ResponseCode::UidValidity(v)) = outcome.code {
                    uid_validity = Some(v);
                }
                true
            }
            _ => false,
        })
        .await?;
        self.uid_validity = uid_validity.ok_or_else(|| {
            anyhow!(
                "IMAP {step} with {}: the server sent no UIDVALIDITY",
                self.addr
            )
        })?;
        self.exists = exists.unwrap_or(0);
        Ok(())
    }

    async fn noop(&mut self) -> Result<()> {
        self.run("NOOP", "NOOP", |_| false).await
    }

    /// Like [`Conn::search_after`], after a NOOP: a server shows a session new messages
    /// only when it syncs the session's view, and Dovecot does not do that before a
    /// SEARCH (the EXISTS comes with its answer, for a result without the new mail).
    /// Afterwards `mail_hint` tells whether mail arrived while the SEARCH ran.
    async fn sync_and_search_after(&mut self, after: u32) -> Result<Vec<u32>> {
        self.noop().await?;
        self.mail_hint = false;
        self.search_after(after).await
    }

    /// UIDs above `after`, ascending. `UID SEARCH UID n:*` always includes the highest UID
    /// (`*` is the highest existing one, even when below `n`), hence the filter.
    async fn search_after(&mut self, after: u32) -> Result<Vec<u32>> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut uids = self.search(&format!("UID {from}:*")).await?;
        uids.retain(|&uid| uid > after);
        Ok(uids)
    }

    async fn search(&mut self, criteria: &str) -> Result<Vec<u32>> {
        let mut uids = Vec::new();
        self.run(
            "UID SEARCH",
            &format!("UID SEARCH {criteria}"),
            |r| match r {
                Response::MailboxData(MailboxDatum::Search(found)) => {
                    uids.extend_from_slice(found);
                    true
                }
                _ => false,
            },
        )
        .await?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The raw messages with these UIDs, in UID order, without setting `\Seen`. UIDs
    /// expunged meanwhile are left out; any other missing message is an error.
    /// The sizes (RFC822.SIZE) of `uids`; expunged ones are missing.
    async fn sizes(&mut self, uids: &[u32]) -> Result<HashMap<u32, usize>> {
        let mut sizes = HashMap::with_capacity(uids.len());
        for set in uid_sets(uids, MAX_UID_SET_LEN) {
            self.run(
                "UID FETCH",
                &format!("UID FETCH {set} (UID RFC822.SIZE)"),
                |r| {
                    let Response::Fetch(_, attributes) = r else {
                        return false;
                    };
                    let (mut uid, mut size) = (None, None);
                    for a in attributes {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::Rfc822Size(n) => size = Some(*n as usize),
                            _ => {}
                        }
                    }
                    match (uid, size) {
                        (Some(uid), Some(size)) => {
                            sizes.insert(uid, size);
                            true
                        }
                        _ => false,
                    }
                },
            )
            .await?;
        }
        Ok(sizes)
    }

    async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<FetchedMail>> {
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut bodies: HashMap<u32, Vec<u8>> = HashMap::with_capacity(uids.len());
        for set in uid_sets(uids, MAX_UID_SET_LEN) {
            self.run(
                "UID FETCH",
                &format!("UID FETCH {set} (UID BODY.PEEK[])"),
                |r| {
                    let Response::Fetch(_, attributes) = r else {
                        return false;
                    };
                    let (mut uid, mut body) = (None, None);
                    for a in attributes {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::BodySection {
                                section: None,
                                index: None,
                                data: Some(data),
                            } => body = Some(data),
                            _ => {}
                        }
                    }
                    match (uid, body) {
                        (Some(uid), Some(body)) if wanted.contains(&uid) => {
                            bodies.entry(uid).or_insert_with(|| body.to_vec());
                            true
                        }
                        // Flag changes and the like, for this or other messages.
                        _ => false,
                    }
                },
            )
            .await?;
        }

        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let missing: Vec<u32> = sorted
            .iter()
            .copied()
            .filter(|u| !bodies.contains_key(u))
            .collect();
        if !missing.is_empty() {
            // UID FETCH passes over expunged messages in silence; make sure that is what
            // happened before moving past them.
            let mut still_there = Vec::new();
            for set in uid_sets(&missing, MAX_UID_SET_LEN) {
                still_there.extend(self.search(&format!("UID {set}")).await?);
            }
            still_there.retain(|u| missing.contains(u));
            if !still_there.is_empty() {
                bail!(
                    "IMAP UID FETCH with {}: the server sent no content for UIDs {} although they exist",
                    self.addr,
                    uid_sets(&still_there, usize::MAX).join(",")
                );
            }
            warn!(uids = %uid_sets(&missing, usize::MAX).join(","), "messages were expunged before they could be fetched; skipped");
        }
        Ok(sorted
            .into_iter()
            .filter_map(|uid| {
                bodies.remove(&uid).map(|raw| FetchedMail {
                    key: MailKey::Imap { uid },
                    raw,
                })
            })
            .collect())
    }

    async fn store_seen(&mut self, uids: &[u32]) -> Result<()> {
        for set in uid_sets(uids, MAX_UID_SET_LEN) {
            self.run(
                "UID STORE",
                &format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"),
                |_| false,
            )
            .await?;
        }
        Ok(())
    }

    async fn logout(&mut self) -> Result<()> {
        self.run("LOGOUT", "LOGOUT", |_| false).await
    }

    /// IDLEs until the server reports new mail, until it is time to renew the IDLE, or
    /// until `shutdown`. Gives the connection back, except on shutdown (dropped: closing
    /// the socket ends the IDLE on the server too) and on errors.
    async fn idle(mut self, shutdown: &CancellationToken) -> Result<Option<(Conn, IdleEnd)>> {
        let (limit, addr) = (self.timeout, self.addr.clone());
        // The handle owns the session; keep a receiver for what it routes aside.
        let unsolicited = self.session.unsolicited_responses.clone();
        let mut handle = self.session.idle();
        timed(limit, "IDLE", &addr, handle.init()).await?;

        let renew_at = Instant::now() + IDLE_RENEW;
        let end = loop {
            // EXISTS sent while IDLE started (or with a tagged answer) lands here.
            let mut new_mail = false;
            while let Ok(response) = unsolicited.try_recv() {
                new_mail |= matches!(
                    response,
                    UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                );
            }
            if new_mail {
                break IdleEnd::NewMail;
            }
            // `_stop` must live while waiting: dropping it interrupts the wait.
            let (wait, _stop) = handle.wait_with_timeout(IDLE_RENEW);
            let response = tokio::select! {
                r = wait => r,
                _ = tokio::time::sleep_until(renew_at) => break IdleEnd::Renew,
                _ = shutdown.cancelled() => return Ok(None),
            };
            match response {
                Ok(IdleResponse::NewData(data)) => match data.parsed() {
                    Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                        break IdleEnd::NewMail;
                    }
                    Response::Data {
                        status: Status::Bye,
                        outcome,
                    } => bail!(
                        "IMAP IDLE with {addr}: the server closed the connection: {}",
                        outcome.information.as_deref().unwrap_or("")
                    ),
                    other => debug!(response = ?other, "IDLE: not about new mail; waiting on"),
                },
                Ok(IdleResponse::Timeout) => break IdleEnd::Renew,
                // We never use the stop handle, so this is the stream ending: the server
                // closed the connection.
                Ok(IdleResponse::ManualInterrupt) => {
                    bail!("IMAP IDLE with {addr}: connection lost (closed by the server)")
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::from(e).context(format!("IMAP IDLE with {addr} failed"))
                    );
                }
            }
        };

        self.session = timed(limit, "IDLE DONE", &addr, handle.done()).await?;
        self.drain_unsolicited();
        Ok(Some((self, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_sets(&[1, 2, 3, 5, 7, 8, 9], 100), vec!["1:3,5,7:9"]);
        assert_eq!(uid_sets(&[9, 3, 1, 2, 2], 100), vec!["1:3,9"]);
        assert_eq!(uid_sets(&(1..=500).collect::<Vec<_>>(), 100), vec!["1:500"]);
        assert_eq!(
            uid_sets(&[u32::MAX - 1, u32::MAX], 100),
            vec![format!("{}:{}", u32::MAX - 1, u32::MAX)]
        );
        assert!(uid_sets(&[], 100).is_empty());
    }

    #[test]
    fn uid_sets_split_long_lists() {
        let scattered: Vec<u32> = (1..=2000).map(|i| i * 2).collect();
        let sets = uid_sets(&scattered, 50);
        assert!(sets.len() > 1);
        assert!(sets.iter().all(|s| s.len() <= 50), "{sets:?}");
        let back: Vec<u32> = sets
            .iter()
            .flat_map(|s| s.split(','))
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(back, scattered);
    }

    #[test]
    fn position_depends_on_uid_validity() {
        let cp = Some(Checkpoint {
            uid_validity: 7,
            last_uid: 42,
        });
        assert_eq!(position(cp, 7), 42);
        assert_eq!(position(cp, 8), 0);
        assert_eq!(position(None, 7), 0);
    }

    #[test]
    fn checkpoints_only_advance() {
        let cp = |uid_validity, last_uid| Checkpoint {
            uid_validity,
            last_uid,
        };
        assert_eq!(advance(None, cp(7, 3)), cp(7, 3));
        assert_eq!(advance(Some(cp(7, 3)), cp(7, 6)), cp(7, 6));
        assert_eq!(advance(Some(cp(7, 6)), cp(7, 3)), cp(7, 6));
        assert_eq!(advance(Some(cp(7, 6)), cp(8, 2)), cp(8, 2));
    }

    #[test]
    fn folder_names_are_quoted_and_checked() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert!(validate_folder("INBOX").is_ok());
        assert!(validate_folder("Tickets/Neu\u{e4}").is_err());
        assert!(validate_folder("a\r\nb").is_err());
    }

    fn config(ca: Option<&std::path::Path>) -> ImapConfig {
        ImapConfig {
            host: "localhost".into(),
            port: 993,
            tls: TlsMode::Implicit,
            tls_ca_file: ca.map(std::path::Path::to_path_buf),
            username: "u".into(),
            auth: Auth::Password("p".into()),
            folder: "INBOX".into(),
            idle: true,
            poll_interval: Duration::from_secs(60),
            batch_size: 100,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn bad_ca_file_names_the_key() {
        let dir = std::env::temp_dir().join(format!("ticketpost-imap-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = ImapSource::new(config(Some(&missing)), None)
            .err()
            .expect("missing file must fail");
        assert!(format!("{e:#}").contains("[mailbox] tls_ca_file"), "{e:#}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = ImapSource::new(config(Some(&empty)), None)
            .err()
            .expect("empty file must fail");
        assert!(format!("{e:#}").contains("[mailbox] tls_ca_file"), "{e:#}");
        std::fs::remove_dir_all(&dir).ok();

        assert!(ImapSource::new(config(None), None).is_ok());
    }

    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let mut source = ImapSource::new(config(None), None).unwrap();
        let token = CancellationToken::new();
        assert_send(&source.wait_for_mail(&token));
        let mut source = ImapSource::new(config(None), None).unwrap();
        assert_send(&source.fetch_batch(10));
        let mut source = ImapSource::new(config(None), None).unwrap();
        assert_send(&source.probe());
        let mut source = ImapSource::new(config(None), None).unwrap();
        let batch = Batch::default();
        assert_send(&source.mark_done(&batch));
    }
}
