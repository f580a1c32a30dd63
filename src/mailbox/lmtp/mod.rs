//! Push delivery: ticketpost as an LMTP server (RFC 2033) on a TCP address or a Unix
//! socket, so the MTA hands each message over directly instead of ticketpost fetching
//! it from a mailbox.
//!
//! The exactly-once contract is the mailbox one turned round: a recipient's `250`
//! is written only after the message committed in the store (through the
//! [`collector`], in the same transaction as its ticket and outbox rows); anything
//! else gets a `4xx` or no answer at all (a crash, a cut connection), and the MTA
//! keeps the message and delivers it again. A repeat is dropped by the store's
//! identity index and answered `250`, so a lost `250` never makes a second ticket.
//!
//! This module owns the listener (bind, connection limit, stale socket files) and
//! each connection's I/O (reading lines and data with time limits, writing each
//! batch of replies in one write); the conversation itself is [`protocol`]'s.

mod collector;
pub mod protocol;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::config::{Config, LmtpConfig, LmtpListen};
use crate::ingest::{self, BatchSummary, IngestContext};
use crate::store::Writer;
use crate::telemetry::Telemetry;
use collector::{Collector, Delivery, Incoming, IncomingCount};
use protocol::{DataReader, Delivered, MAX_COMMAND_LINE, Reply, Rules, Session, Step};

/// The session's rules from the config: the desk's addresses (`[desk]
/// support_address` and `other_addresses`, any case) and `[limits] max_message_bytes`.
pub fn rules(cfg: &Config) -> Rules {
    let support = &cfg.desk.support_address;
    let hostname = support
        .rsplit_once('@')
        .map_or("ticketpost", |(_, domain)| domain)
        .to_string();
    Rules {
        hostname,
        max_message_bytes: cfg.limits.parse.max_message_bytes,
        addresses: cfg
            .desk
            .own_addresses()
            .map(|a| a.to_ascii_lowercase())
            .collect(),
    }
}

/// What the listener needs from the service: the store and the loops it wakes.
pub struct LmtpDeps {
    pub writer: Writer,
    pub cx: Arc<IngestContext>,
    pub clock: Arc<dyn Clock>,
    /// The outbox sender, woken after a commit that queued mail.
    pub wake: Arc<Notify>,
    /// The timer loop, woken after a commit that touched tickets.
    pub timers_wake: Arc<Notify>,
    pub telemetry: Arc<Telemetry>,
}

/// Time allowed at shutdown for connections to finish the message in hand.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A bound listener, not yet serving.
pub struct LmtpServer {
    listener: Listener,
    cfg: LmtpConfig,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl LmtpServer {
    /// Binds `[mailbox] listen`. A Unix socket file left by an earlier run is
    /// replaced, unless a server still answers on it; any other file there is an error.
    pub async fn bind(cfg: &LmtpConfig) -> Result<LmtpServer> {
        let listener = match &cfg.listen {
            LmtpListen::Tcp(addr) => Listener::Tcp(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("[mailbox] listen: cannot listen on {addr}"))?,
            ),
            LmtpListen::Unix(path) => {
                remove_stale_socket(path).await?;
                let listener = UnixListener::bind(path).with_context(|| {
                    format!("[mailbox] listen: cannot listen on unix:{}", path.display())
                })?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.socket_mode))
                    .with_context(|| {
                        format!("[mailbox] socket_mode: cannot set it on {}", path.display())
                    })?;
                Listener::Unix(listener, path.clone())
            }
        };
        Ok(LmtpServer {
            listener,
            cfg: cfg.clone(),
        })
    }

    /// Where it listens (`127.0.0.1:2424`, `unix:/path`), the port resolved.
    pub fn local_addr(&self) -> String {
        match &self.listener {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| self.cfg.listen.to_string(), |a| a.to_string()),
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// Serves until `shutdown`: then stops accepting, lets connections finish the
    /// message in hand (for a while), and returns what was stored.
    pub async fn serve(
        self,
        deps: LmtpDeps,
        rules: Rules,
        shutdown: &CancellationToken,
    ) -> Result<BatchSummary> {
        // Each connection has at most one message waiting for its commit.
        let (deliveries, rx) = mpsc::channel(self.cfg.max_connections);
        let incoming = Arc::new(IncomingCount::default());
        let collector = Collector {
            writer: deps.writer,
            cx: deps.cx.clone(),
            clock: deps.clock,
            wake: deps.wake,
            timers_wake: deps.timers_wake,
            telemetry: deps.telemetry,
            batch_size: self.cfg.batch_size,
            rx,
            incoming: incoming.clone(),
        };
        let collector = tokio::spawn(collector.run());
        let shared = Arc::new(Shared {
            rules: Arc::new(rules),
            cx: deps.cx,
            deliveries,
            incoming,
            parsers: Semaphore::new(parallel_parsers()),
            timeout: self.cfg.timeout,
            shutdown: shutdown.clone(),
        });
        info!(listen = %self.local_addr(), "LMTP listener ready");
        let permits = Arc::new(Semaphore::new(self.cfg.max_connections));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = done {
                        warn!(error = %e, "an LMTP connection task failed");
                    }
                }
                accepted = self.listener.accept() => match accepted {
                    Ok(stream) => {
                        let permit = permits.clone().try_acquire_owned().ok();
                        let shared = shared.clone();
                        connections.spawn(async move {
                            match permit {
                                Some(_permit) => stream.converse(shared).await,
                                None => stream.refuse(shared.timeout).await,
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: pause, not spin.
                        warn!(error = %e, "LMTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        self.listener.close();
        drop(shared);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("LMTP connections still open at shutdown were cut; the MTA delivers again");
            connections.shutdown().await;
        }
        collector.await.context("the LMTP group commit task failed")
    }
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                // Replies are small and awaited: no Nagle delay on them.
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream, peer.to_string()))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }

    /// Stops listening; a Unix socket's file is removed.
    fn close(self) {
        if let Listener::Unix(listener, path) = self {
            drop(listener);
            if let Err(e) = std::fs::remove_file(&path) {
                debug!(error = %e, path = %path.display(), "could not remove the LMTP socket");
            }
        }
    }
}

/// A socket file at `path` from an earlier run is removed; a live server there or a
/// file that is not a socket is an error.
async fn remove_stale_socket(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        bail!(
            "[mailbox] listen: {} exists and is not a socket; not replacing it",
            path.display()
        );
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        bail!(
            "[mailbox] listen: a server already answers on unix:{} (is ticketpost running?)",
            path.display()
        );
    }
    std::fs::remove_file(path).with_context(|| {
        format!(
            "[mailbox] listen: cannot remove the stale socket {}",
            path.display()
        )
    })
}

/// For `ticketpost check`: whether the listener can be set up, or a server (the
/// running service) already answers there with its greeting.
pub async fn probe(cfg: &LmtpConfig) -> Result<String> {
    let answering = match &cfg.listen {
        LmtpListen::Tcp(addr) => match TcpListener::bind(addr).await {
            Ok(_) => {
                return Ok(format!(
                    "lmtp listener on {addr}: the address is free to listen on"
                ));
            }
            Err(e) => match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => greeting_of(s).await,
                Err(_) => Err(e).with_context(|| format!("cannot listen on {addr}")),
            },
        },
        LmtpListen::Unix(path) => {
            if let Ok(s) = tokio::net::UnixStream::connect(path).await {
                greeting_of(s).await
            } else {
                let dir = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                if !dir.is_dir() {
                    bail!("the folder {} of the socket does not exist", dir.display());
                }
                return Ok(format!(
                    "lmtp listener on unix:{}: nothing listens there yet; the service creates the socket (mode {:o})",
                    path.display(),
                    cfg.socket_mode
                ));
            }
        }
    };
    answering.map(|greeting| {
        format!(
            "lmtp listener on {}: a server answers: {greeting}",
            cfg.listen
        )
    })
}

/// The first line a server sends, within a few seconds.
async fn greeting_of(mut stream: impl AsyncRead + Unpin) -> Result<String> {
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .context("no greeting within 5 s")?
        .context("reading the greeting")?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if !line.starts_with("220") {
        bail!("something else listens there (it said {line:?})");
    }
    Ok(
        crate::terminal::escape_for_terminal(&line, crate::terminal::TextLayout::OneLine)
            .into_owned(),
    )
}

/// Messages parsed at once: one per core (at least two), so parsing uses the cores
/// the writer leaves, and parsing threads (each warms its own regex caches) are not
/// multiplied by the number of connections.
fn parallel_parsers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// What every connection shares.
struct Shared {
    rules: Arc<Rules>,
    cx: Arc<IngestContext>,
    deliveries: mpsc::Sender<Delivery>,
    /// Messages being read or parsed, for the collector's batches.
    incoming: Arc<IncomingCount>,
    /// Messages parsed at once ([`parallel_parsers`]).
    parsers: Semaphore,
    timeout: Duration,
    shutdown: CancellationToken,
}

enum Stream {
    Tcp(tokio::net::TcpStream, String),
    Unix(tokio::net::UnixStream),
}

impl Stream {
    async fn converse(self, shared: Arc<Shared>) {
        let (peer, result) = match self {
            Stream::Tcp(s, peer) => (peer, Connection::new(s, shared).run().await),
            Stream::Unix(s) => ("unix".to_string(), Connection::new(s, shared).run().await),
        };
        match result {
            Ok(()) => debug!(peer = %peer, "LMTP connection closed"),
            Err(e) => debug!(peer = %peer, error = %format!("{e:#}"), "LMTP connection ended"),
        }
    }

    /// Over the connection limit: `421` and close.
    async fn refuse(self, limit: Duration) {
        let reply = Reply::closing("4.3.2", "Too many connections; try again later");
        let mut out = Vec::new();
        reply.write_to(&mut out);
        let write = async {
            match self {
                Stream::Tcp(mut s, _) => s.write_all(&out).await,
                Stream::Unix(mut s) => s.write_all(&out).await,
            }
        };
        let _ = tokio::time::timeout(limit.min(Duration::from_secs(5)), write).await;
        warn!("LMTP connection refused: [mailbox] max_connections reached");
    }
}

/// How the bytes read are taken.
enum Mode {
    Command,
    /// Inside a message after `354`.
    Data(DataReader),
    /// Dropping the rest of an over-long command line.
    SkipLine,
}

/// One connection's I/O around its [`Session`].
struct Connection<S> {
    stream: S,
    shared: Arc<Shared>,
    session: Session,
    /// Held from DATA until the message is handed over (or refused).
    incoming: Option<Incoming>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(stream: S, shared: Arc<Shared>) -> Connection<S> {
        Connection {
            stream,
            session: Session::new(shared.rules.clone()),
            incoming: None,
            shared,
            input: Vec::with_capacity(READ_CHUNK),
            output: Vec::new(),
        }
    }

    /// The greeting, then commands and messages until QUIT, EOF, an error, the idle
    /// limit or shutdown. Replies are written when the input read so far is used up,
    /// so a pipelined group of commands gets its replies in one write.
    async fn run(mut self) -> Result<()> {
        Reply::greeting(&self.shared.rules).write_to(&mut self.output);
        let mut mode = Mode::Command;
        loop {
            let mut used = 0;
            while used < self.input.len() {
                let (n, next, close) = self.take(mode, used).await?;
                used += n;
                mode = next;
                if close {
                    self.flush().await?;
                    return Ok(());
                }
                if n == 0 {
                    break;
                }
            }
            self.input.drain(..used);
            self.flush().await?;
            if !self.read_more(&mode).await? {
                return Ok(());
            }
        }
    }

    /// Uses bytes from `self.input[from..]` in `mode`: returns how many, the next
    /// mode, and whether to close after writing what is queued. 0 means more input
    /// is needed first.
    async fn take(&mut self, mode: Mode, from: usize) -> Result<(usize, Mode, bool)> {
        let input = &self.input[from..];
        match mode {
            Mode::Command => {
                let Some(end) = input.iter().position(|&b| b == b'\n') else {
                    if input.len() >= MAX_COMMAND_LINE {
                        Reply::new(500, "5.5.2", "Line too long").write_to(&mut self.output);
                        return Ok((input.len(), Mode::SkipLine, false));
                    }
                    return Ok((0, Mode::Command, false));
                };
                if end >= MAX_COMMAND_LINE {
                    Reply::new(500, "5.5.2", "Line too long").write_to(&mut self.output);
                    return Ok((end + 1, Mode::Command, false));
                }
                let step = self.session.command(&input[..end]);
                match step {
                    Step::Reply(reply) => {
                        reply.write_to(&mut self.output);
                        Ok((end + 1, Mode::Command, false))
                    }
                    Step::Close(reply) => {
                        reply.write_to(&mut self.output);
                        Ok((end + 1, Mode::Command, true))
                    }
                    Step::Data(reply) => {
                        reply.write_to(&mut self.output);
                        // A message on its way: the collector may wait for it.
                        self.incoming = Some(Incoming::new(&self.shared.incoming));
                        let prefix = match self.session.envelope() {
                            Some(envelope) => envelope.return_path(),
                            None => Vec::new(),
                        };
                        let limit = self.shared.rules.max_message_bytes;
                        Ok((end + 1, Mode::Data(DataReader::new(prefix, limit)), false))
                    }
                }
            }
            Mode::SkipLine => match input.iter().position(|&b| b == b'\n') {
                Some(end) => Ok((end + 1, Mode::Command, false)),
                None => Ok((input.len(), Mode::SkipLine, false)),
            },
            Mode::Data(mut reader) => {
                let (n, done) = reader.feed(input);
                if !done {
                    return Ok((n, Mode::Data(reader), false));
                }
                self.deliver(reader).await?;
                Ok((n, Mode::Command, false))
            }
        }
    }

    /// The message is read: store it (or not), then queue one reply per recipient.
    async fn deliver(&mut self, reader: DataReader) -> Result<()> {
        let Some(envelope) = self.session.finish_data() else {
            bail!("end of data without a transaction (a bug)");
        };
        let received = reader.received();
        let outcome = match reader.finish() {
            None => {
                info!(
                    bytes = received,
                    "LMTP message over [limits] max_message_bytes refused"
                );
                Delivered::TooBig
            }
            Some(raw) => {
                // The 354 may still be queued: the MTA sees it before waiting on us.
                self.flush().await?;
                self.store(raw).await
            }
        };
        self.incoming = None;
        for reply in protocol::delivery_replies(&envelope, outcome) {
            reply.write_to(&mut self.output);
        }
        Ok(())
    }

    /// Parses the message (off the async threads) and waits for its commit.
    async fn store(&mut self, raw: Vec<u8>) -> Delivered {
        let bytes = raw.len();
        let cx = self.shared.cx.clone();
        let Ok(parsing) = self.shared.parsers.acquire().await else {
            return Delivered::Failed;
        };
        let parsed = tokio::task::spawn_blocking(move || {
            ingest::parse_batch(vec![raw], &cx).into_iter().next()
        })
        .await;
        drop(parsing);
        let parsed = match parsed {
            Ok(Some(parsed)) => parsed,
            Ok(None) | Err(_) => {
                warn!("LMTP message could not be parsed (the parser task failed); answered 451");
                return Delivered::Failed;
            }
        };
        if let Ok(p) = &parsed {
            debug!(message_id = %p.msg.identity(), bytes, "LMTP message read");
        }
        let (answer, outcome) = oneshot::channel();
        let delivery = Delivery {
            parsed,
            bytes,
            answer,
        };
        let sent = self.shared.deliveries.send(delivery).await;
        // Handed over (or refused): no longer a message on its way.
        self.incoming = None;
        if sent.is_err() {
            return Delivered::Failed;
        }
        outcome.await.unwrap_or(Delivered::Failed)
    }

    /// Writes the queued replies in one write.
    async fn flush(&mut self) -> Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        tokio::time::timeout(self.shared.timeout, self.stream.write_all(&self.output))
            .await
            .context("writing a reply timed out")?
            .context("writing a reply")?;
        self.output.clear();
        Ok(())
    }

    /// Reads more input; false at EOF, at shutdown and at the idle limit (the last two
    /// answered `421` between messages).
    async fn read_more(&mut self, mode: &Mode) -> Result<bool> {
        self.input.reserve(READ_CHUNK);
        let read = tokio::select! {
            _ = self.shared.shutdown.cancelled() => None,
            read = tokio::time::timeout(self.shared.timeout, self.stream.read_buf(&mut self.input)) => Some(read),
        };
        let closing = match read {
            Some(Ok(Ok(0))) => return Ok(false),
            Some(Ok(Ok(_))) => return Ok(true),
            Some(Ok(Err(e))) => return Err(e).context("reading from the LMTP client"),
            Some(Err(_)) => Reply::closing("4.4.2", "Idle for too long; closing"),
            None => Reply::closing("4.3.2", "Shutting down; try again later"),
        };
        // Inside a message a reply would be read as out of turn: the MTA sees the
        // connection drop, and delivers again later.
        if matches!(mode, Mode::Command | Mode::SkipLine) {
            closing.write_to(&mut self.output);
            let _ = self.flush().await;
        }
        Ok(false)
    }
}
