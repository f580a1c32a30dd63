//! Shared helpers for integration tests: a private Dovecot + Postfix mail
//! stack (started once per test binary by `tests/support/mailstack.sh`) and
//! small SMTP / IMAP clients to drive it.
//!
//! Use it from a test file with `mod support;`:
//!
//! ```ignore
//! mod support;
//! let stack = support::mail_stack();
//! let user = support::unique_user("intake");
//! support::smtp_send(stack, "customer@outside.test", &[&user], raw).await?;
//! let msgs = support::imap_wait_for(stack, &user, |m| m.len() == 1, Duration::from_secs(10)).await?;
//! ```
//!
//! Every user name logs in with `stack.password` (`secret`); every address in
//! `example.test` (and in `$MAIL_DOMAINS`) has its own mailbox, and mail for
//! any other domain lands in `sink@example.test`. The stack is stopped and its
//! state directory removed shortly after the test binary exits.
#![allow(dead_code)]

pub mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use async_imap::Session;
use futures::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound for one IMAP or SMTP round of the helpers below.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The domain every test mailbox lives in.
pub const DOMAIN: &str = "example.test";

/// Where mail for domains outside the stack's virtual domains ends up.
pub const SINK: &str = "sink@example.test";

/// A running private mail stack (see `tests/support/mailstack.sh`).
#[derive(Debug, Clone)]
pub struct MailStack {
    /// Plain IMAP (plaintext LOGIN allowed) on 127.0.0.1.
    pub imap_port: u16,
    /// Implicit-TLS IMAP on 127.0.0.1; the certificate is for `localhost` and
    /// `127.0.0.1`, signed by the CA in `ca_file`.
    pub imaps_port: u16,
    /// Postfix SMTP on 127.0.0.1, no TLS, no auth; relays nothing outside.
    pub smtp_port: u16,
    /// Postfix submission (SASL AUTH through Dovecot required, XOAUTH2 offered), only in
    /// a stack from [`oauth2_mail_stack`].
    pub submission_port: Option<u16>,
    /// PEM file of the test CA to trust for `imaps_port`.
    pub ca_file: PathBuf,
    /// The stack's state directory (configs, logs, mailboxes).
    pub state_dir: PathBuf,
    /// The password of every user.
    pub password: String,
    /// The test domain (`example.test`).
    pub domain: String,
    /// The desk domain (`desk.test`): its `lmtp-PORT-*` and `lmtpsock-N-*` addresses
    /// are routed by Postfix's `transport_maps` to a ticketpost LMTP listener (see
    /// [`MailStack::desk_lmtp_route`]); its other addresses are Dovecot mailboxes.
    pub desk_domain: String,
    /// The ports of the `lmtp-PORT-*` routes (free when the stack started).
    pub desk_lmtp_ports: Vec<u16>,
    /// How many `lmtpsock-N-*` routes there are (N from 1).
    pub desk_lmtp_sockets: usize,
}

/// A route Postfix has to a ticketpost LMTP listener, from [`MailStack::desk_lmtp_route`].
#[derive(Debug, Clone)]
pub struct DeskRoute {
    /// `[mailbox] listen` for ticketpost: `127.0.0.1:PORT` or `unix:/…/desk-N.sock`.
    pub listen: String,
    /// The local part every routed address starts with (`lmtp-PORT`, `lmtpsock-N`).
    prefix: String,
    domain: String,
}

impl DeskRoute {
    /// An address Postfix delivers to this listener: `<prefix>-<tag>@desk.test`.
    pub fn address(&self, tag: &str) -> String {
        format!("{}-{tag}@{}", self.prefix, self.domain)
    }
}

impl MailStack {
    /// Dovecot's and Postfix's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["postfix.log", "dovecot.log"] {
            let path = self.state_dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            out.push_str(&format!(
                "--- {} (last {} lines)\n",
                path.display(),
                tail.len()
            ));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// A rustls client config that trusts only the stack's test CA.
    pub fn tls_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        tls_config_for(&self.ca_file)
    }

    /// `127.0.0.1:port` for IMAP (`tls == false`) or IMAPS.
    pub fn imap_addr(&self, tls: bool) -> String {
        let port = if tls { self.imaps_port } else { self.imap_port };
        format!("127.0.0.1:{port}")
    }
}

static STACK: OnceLock<Result<MailStack, String>> = OnceLock::new();

/// The mail stack of this test binary, started on first use. It is stopped,
/// and its state directory removed, by a watcher process once this process
/// exits. Panics (in every test that asks) if it cannot be started.
pub fn mail_stack() -> &'static MailStack {
    match STACK.get_or_init(|| start_stack().map_err(|e| format!("{e:#}"))) {
        Ok(stack) => stack,
        Err(e) => panic!("the test mail stack could not be started: {e}"),
    }
}

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mailstack.sh")
}

fn start_stack() -> anyhow::Result<MailStack> {
    start_stack_with(&[])
}

/// A private stack whose Dovecot also takes XOAUTH2/OAUTHBEARER, checking each bearer
/// token by POSTing it to `introspection_url` (an `oauth2` passdb), and whose Postfix has
/// a submission port requiring SASL AUTH through Dovecot (`submission_port`). PLAIN and
/// LOGIN with `password` work as in [`mail_stack`].
pub fn oauth2_mail_stack(introspection_url: &str) -> anyhow::Result<MailStack> {
    start_stack_with(&[("OAUTH2_INTROSPECTION_URL", introspection_url)])
}

/// Why no mail stack can run here at all (not root, packages missing and not
/// installable), for tests that skip then; `None` when one should start.
pub fn mail_stack_unavailable() -> Option<String> {
    let root = unsafe { libc::geteuid() } == 0;
    let installed = [
        "/usr/sbin/dovecot",
        "/usr/sbin/postfix",
        "/usr/lib/dovecot/imap",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    match (root, installed) {
        (false, _) => Some("the mail stack needs root (Postfix's master runs as root)".into()),
        (true, false) if Command::new("apt-get").arg("--version").output().is_err() => {
            Some("postfix/dovecot are not installed and apt-get is missing".into())
        }
        _ => None,
    }
}

fn start_stack_with(env: &[(&str, &str)]) -> anyhow::Result<MailStack> {
    let dir = tempfile::Builder::new()
        .prefix("ticketpost-mail-")
        .tempdir()
        .context("creating the mail stack's state directory")?
        // The watcher started by the script removes it (stop --purge).
        .keep();
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(script_path())
        .arg("start")
        .arg(&dir)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .context("running tests/support/mailstack.sh")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "mailstack.sh start {} failed ({}):\n{stderr}",
            dir.display(),
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stack = parse_facts(&stdout)
        .with_context(|| format!("parsing mailstack.sh output:\n{stdout}\n{stderr}"))?;
    eprintln!(
        "support: mail stack up in {:.2?}: imap={} imaps={} smtp={} dir={}",
        started.elapsed(),
        stack.imap_port,
        stack.imaps_port,
        stack.smtp_port,
        stack.state_dir.display()
    );
    Ok(stack)
}

fn parse_facts(stdout: &str) -> anyhow::Result<MailStack> {
    let facts: std::collections::HashMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.trim().split_once('='))
        .collect();
    let get = |key: &str| {
        facts
            .get(key)
            .copied()
            .ok_or_else(|| anyhow!("missing {key}="))
    };
    let port = |key: &str| -> anyhow::Result<u16> {
        get(key)?
            .parse()
            .with_context(|| format!("bad {key}= value"))
    };
    Ok(MailStack {
        imap_port: port("IMAP_PORT")?,
        imaps_port: port("IMAPS_PORT")?,
        smtp_port: port("SMTP_PORT")?,
        submission_port: match facts.get("SUBMISSION_PORT") {
            Some(_) => Some(port("SUBMISSION_PORT")?),
            None => None,
        },
        ca_file: PathBuf::from(get("CA_FILE")?),
        state_dir: PathBuf::from(get("STATE_DIR")?),
        password: get("PASSWORD")?.to_string(),
        domain: get("DOMAIN")?.to_string(),
        desk_domain: get("DESK_DOMAIN")?.to_string(),
        desk_lmtp_ports: get("DESK_LMTP_PORTS")?
            .split_whitespace()
            .map(|p| p.parse().context("bad DESK_LMTP_PORTS= value"))
            .collect::<anyhow::Result<_>>()?,
        desk_lmtp_sockets: get("DESK_LMTP_SOCKETS")?
            .parse()
            .context("bad DESK_LMTP_SOCKETS= value")?,
    })
}

impl MailStack {
    /// A route of its own to a ticketpost LMTP listener: a TCP port (`unix` false) or a
    /// Unix socket in the stack's state directory. Each route is handed out once per
    /// process; fails when they are used up.
    pub fn desk_lmtp_route(&self, unix: bool) -> anyhow::Result<DeskRoute> {
        static TAKEN: std::sync::Mutex<Vec<(PathBuf, bool)>> = std::sync::Mutex::new(Vec::new());
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        let n = taken
            .iter()
            .filter(|(dir, u)| dir == &self.state_dir && *u == unix)
            .count();
        let route = if unix {
            if n >= self.desk_lmtp_sockets {
                bail!(
                    "all {} LMTP socket routes are taken",
                    self.desk_lmtp_sockets
                );
            }
            let socket = self.state_dir.join(format!("run/desk-{}.sock", n + 1));
            DeskRoute {
                listen: format!("unix:{}", socket.display()),
                prefix: format!("lmtpsock-{}", n + 1),
                domain: self.desk_domain.clone(),
            }
        } else {
            let Some(port) = self.desk_lmtp_ports.get(n) else {
                bail!(
                    "all {} LMTP port routes are taken",
                    self.desk_lmtp_ports.len()
                );
            };
            DeskRoute {
                listen: format!("127.0.0.1:{port}"),
                prefix: format!("lmtp-{port}"),
                domain: self.desk_domain.clone(),
            }
        };
        taken.push((self.state_dir.clone(), unix));
        Ok(route)
    }
}

/// A fresh address `support-<prefix>-<random>@example.test`, so tests never
/// share a mailbox.
pub fn unique_user(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "support-{prefix}-{}{n}-{:08x}@{DOMAIN}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// Submits `raw` (an RFC 5322 message; bare LF line ends are sent as CRLF)
/// through Postfix on 127.0.0.1 with the given envelope; no TLS, no auth;
/// dot-stuffing is done by lettre. `from` may be empty for a null sender.
/// Recipients outside the stack's domains are delivered to [`SINK`].
pub async fn smtp_send(
    stack: &MailStack,
    from: &str,
    to: &[&str],
    raw: &[u8],
) -> anyhow::Result<()> {
    let from = if from.is_empty() {
        None
    } else {
        Some(
            from.parse()
                .with_context(|| format!("bad sender address {from:?}"))?,
        )
    };
    let to = to
        .iter()
        .map(|addr| {
            addr.parse()
                .with_context(|| format!("bad recipient address {addr:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let envelope = Envelope::new(from, to).context("building the SMTP envelope")?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack.smtp_port)
        .timeout(Some(IO_TIMEOUT))
        .build();
    let data = smtp_data(raw);
    let result = timeout(IO_TIMEOUT, transport.send_raw(&envelope, &data)).await;
    transport.shutdown().await;
    match result {
        Err(_) => bail!("SMTP submission timed out after {IO_TIMEOUT:?}"),
        Ok(Err(e)) => Err(e).context("SMTP submission to the test Postfix failed"),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The message as lettre should get it: bare LF line ends become CRLF (lettre
/// dot-stuffs only after CRLF, and Postfix also ends lines at a bare LF), and
/// one final CRLF is dropped because lettre always appends `CRLF . CRLF`.
/// What arrives over IMAP is then byte-for-byte the CRLF form of `raw`.
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            data.push(b'\r');
        }
        data.push(b);
        prev = b;
    }
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    data
}

/// Logs in over plain IMAP as `user` and returns a session. The caller should
/// `logout()` when done.
pub async fn imap_login(stack: &MailStack, user: &str) -> anyhow::Result<Session<TcpStream>> {
    let tcp = timeout(IO_TIMEOUT, TcpStream::connect(stack.imap_addr(false)))
        .await
        .context("IMAP connect timed out")?
        .context("IMAP connect failed")?;
    login_on(tcp, user, &stack.password).await
}

/// Connects to the IMAPS port over implicit TLS (trusting only the test CA,
/// server name `localhost`) and logs in as `user`.
pub async fn imaps_login(
    stack: &MailStack,
    user: &str,
) -> anyhow::Result<Session<TlsStream<TcpStream>>> {
    let tls = imaps_connect(stack).await?;
    login_on(tls, user, &stack.password).await
}

/// A TLS stream to the IMAPS port, before the server greeting.
pub async fn imaps_connect(stack: &MailStack) -> anyhow::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(stack.tls_config()?);
    let tcp = timeout(IO_TIMEOUT, TcpStream::connect(stack.imap_addr(true)))
        .await
        .context("IMAPS connect timed out")?
        .context("IMAPS connect failed")?;
    let name = ServerName::try_from("localhost").expect("valid server name");
    timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .context("TLS handshake timed out")?
        .context("TLS handshake with the test Dovecot failed")
}

/// A rustls client config (ring provider) that trusts only the CA in `ca_file`.
pub fn tls_config_for(ca_file: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("reading {}", ca_file.display()))?
    {
        roots
            .add(cert.with_context(|| format!("parsing {}", ca_file.display()))?)
            .context("adding the test CA")?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("rustls protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn login_on<T>(stream: T, user: &str, password: &str) -> anyhow::Result<Session<T>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    // async-imap does not read the greeting itself; LOGIN before it hangs.
    let greeting = timeout(IO_TIMEOUT, client.read_response())
        .await
        .context("IMAP greeting timed out")?
        .context("reading the IMAP greeting")?;
    if greeting.is_none() {
        bail!("IMAP server closed the connection before its greeting");
    }
    match timeout(IO_TIMEOUT, client.login(user, password)).await {
        Err(_) => bail!("IMAP LOGIN as {user} timed out"),
        Ok(Err((e, _))) => Err(anyhow!(e)).with_context(|| format!("IMAP LOGIN as {user} failed")),
        Ok(Ok(session)) => Ok(session),
    }
}

async fn fetch_all_in<T>(session: &mut Session<T>) -> anyhow::Result<Vec<Vec<u8>>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    timeout(IO_TIMEOUT, session.select("INBOX"))
        .await
        .context("IMAP SELECT timed out")?
        .context("IMAP SELECT INBOX failed")?;
    let fetches: Vec<_> = timeout(IO_TIMEOUT, async {
        let stream = session.uid_fetch("1:*", "(UID BODY.PEEK[])").await?;
        // Drain the stream fully, or the next command reads stale responses.
        stream.try_collect::<Vec<_>>().await
    })
    .await
    .context("IMAP UID FETCH timed out")?
    .context("IMAP UID FETCH failed")?;
    let mut messages: Vec<(u32, Vec<u8>)> = fetches
        .iter()
        .filter_map(|f| Some((f.uid.unwrap_or(0), f.body()?.to_vec())))
        .collect();
    messages.sort_by_key(|(uid, _)| *uid);
    Ok(messages.into_iter().map(|(_, body)| body).collect())
}

async fn logout<T>(mut session: Session<T>)
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let _ = timeout(Duration::from_secs(5), session.logout()).await;
}

/// The raw bytes of every message in `user`'s INBOX, oldest first (plain
/// IMAP, `UID FETCH 1:* BODY.PEEK[]`, so nothing is marked seen).
pub async fn imap_fetch_all(stack: &MailStack, user: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut session = imap_login(stack, user).await?;
    let result = fetch_all_in(&mut session).await;
    logout(session).await;
    result.with_context(|| format!("fetching the INBOX of {user}"))
}

/// Polls `user`'s INBOX every 50 ms until `predicate` holds for its messages
/// and returns them; fails (with the mail logs) after `wait`.
pub async fn imap_wait_for(
    stack: &MailStack,
    user: &str,
    predicate: impl Fn(&[Vec<u8>]) -> bool,
    wait: Duration,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let deadline = Instant::now() + wait;
    loop {
        let messages = imap_fetch_all(stack, user).await?;
        if predicate(&messages) {
            return Ok(messages);
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {wait:?} waiting for the INBOX of {user} ({} messages there)\n{}",
                messages.len(),
                stack.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts `raw` straight into `user`'s INBOX with IMAP APPEND (no SMTP, no
/// Received: headers); for loading many messages fast.
pub async fn imap_append(stack: &MailStack, user: &str, raw: &[u8]) -> anyhow::Result<()> {
    imap_append_many(stack, user, &[raw]).await
}

/// Like [`imap_append`] for many messages over one connection.
pub async fn imap_append_many(
    stack: &MailStack,
    user: &str,
    messages: &[&[u8]],
) -> anyhow::Result<()> {
    let mut session = imap_login(stack, user).await?;
    let mut result = Ok(());
    for raw in messages {
        match timeout(IO_TIMEOUT, session.append("INBOX", None, None, raw)).await {
            Err(_) => result = Err(anyhow!("IMAP APPEND timed out")),
            Ok(Err(e)) => result = Err(anyhow!(e).context("IMAP APPEND failed")),
            Ok(Ok(())) => continue,
        }
        break;
    }
    logout(session).await;
    result.with_context(|| format!("appending to the INBOX of {user}"))
}

/// Creates `folder` in `user`'s mailbox when it is missing and appends `raw` to it.
pub async fn imap_append_to_folder(
    stack: &MailStack,
    user: &str,
    folder: &str,
    raw: &[u8],
) -> anyhow::Result<()> {
    let mut session = imap_login(stack, user).await?;
    // CREATE fails harmlessly when the folder exists; APPEND then says what is wrong.
    let _ = timeout(IO_TIMEOUT, session.create(folder)).await;
    let result = match timeout(IO_TIMEOUT, session.append(folder, None, None, raw)).await {
        Err(_) => Err(anyhow!("IMAP APPEND timed out")),
        Ok(Err(e)) => Err(anyhow!(e).context("IMAP APPEND failed")),
        Ok(Ok(())) => Ok(()),
    };
    logout(session).await;
    result.with_context(|| format!("appending to {folder} of {user}"))
}

/// The value of the first `Subject:` header of a raw message (unfolded, not
/// MIME-decoded), for quick assertions.
pub fn subject_of(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let mut subject: Option<String> = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some(s) = subject.as_mut() {
            if line.starts_with([' ', '\t']) {
                s.push_str(line);
                continue;
            }
            break;
        }
        if let Some(head) = line.get(..8)
            && head.eq_ignore_ascii_case("subject:")
        {
            subject = Some(line[8..].trim_start().to_string());
        }
    }
    subject.map(|s| s.trim_end().to_string())
}

/// Starts a second private stack of its own (separate ports, state directory and
/// watcher), for tests that stop and start its servers without disturbing the
/// other tests of the binary, which share [`mail_stack`]. Stop it with
/// [`MailStack::stop`]; the watcher stops it anyway when the process exits.
pub fn private_mail_stack() -> anyhow::Result<MailStack> {
    start_stack()
}

/// How long stopping or starting one server of the stack may take.
const DAEMON_WAIT: Duration = Duration::from_secs(20);

impl MailStack {
    fn dovecot_conf(&self) -> PathBuf {
        self.state_dir.join("dovecot.conf")
    }

    fn postfix_dir(&self) -> PathBuf {
        self.state_dir.join("postfix")
    }

    /// Stops the whole stack and removes its state directory (for stacks from
    /// [`private_mail_stack`]).
    pub fn stop(&self) -> anyhow::Result<()> {
        let out = Command::new("bash")
            .arg(script_path())
            .arg("stop")
            .arg(&self.state_dir)
            .arg("--purge")
            .stdin(Stdio::null())
            .output()
            .context("running mailstack.sh stop")?;
        if !out.status.success() {
            bail!(
                "mailstack.sh stop failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The PID of this stack's Dovecot master, if it runs.
    pub fn dovecot_pid(&self) -> Option<u32> {
        let pid = read_pid_file(&self.state_dir.join("run/master.pid"))?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let conf = self.dovecot_conf();
        let needle = conf.to_string_lossy();
        String::from_utf8_lossy(&cmdline)
            .contains(needle.as_ref())
            .then_some(pid)
    }

    /// The PID of this stack's Postfix master, if it runs.
    pub fn postfix_pid(&self) -> Option<u32> {
        let pid = read_pid_file(&self.postfix_dir().join("queue/pid/master.pid"))?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "master" && proc_is_running(pid)).then_some(pid)
    }

    /// Stops Dovecot (IMAP and the LMTP socket Postfix delivers to) and waits until
    /// its master and every process it started are gone; Postfix keeps running and
    /// queues what it cannot deliver.
    pub fn stop_dovecot(&self) -> anyhow::Result<()> {
        let Some(master) = self.dovecot_pid() else {
            bail!("dovecot of {} is not running", self.state_dir.display());
        };
        let family = process_tree(master);
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dovecot_conf())
            .arg("stop")
            .stdin(Stdio::null())
            .output()
            .context("running doveadm stop")?;
        if !out.status.success() {
            // Fall back to the signal `doveadm stop` sends.
            unsafe { libc::kill(master as i32, libc::SIGTERM) };
        }
        wait_gone(&family, "dovecot")?;
        let _ = std::fs::remove_file(self.state_dir.join("run/master.pid"));
        Ok(())
    }

    /// Starts Dovecot again with the stack's config (same ports, same mailboxes) and
    /// waits until IMAP answers and the LMTP socket is there.
    pub fn start_dovecot(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.state_dir.join("dovecot.log"))
            .context("opening dovecot.log")?;
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(self.dovecot_conf())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()
            .context("running dovecot")?;
        if !status.success() {
            bail!("dovecot failed to start ({status})\n{}", self.logs());
        }
        let lmtp = self.state_dir.join("run/lmtp");
        wait_until(DAEMON_WAIT, || {
            port_open(self.imap_port) && port_open(self.imaps_port) && lmtp.exists()
        })
        .with_context(|| format!("dovecot did not come up\n{}", self.logs()))
    }

    /// Stops Postfix (`postfix stop`) and waits until its processes are gone: SMTP
    /// is refused until [`MailStack::start_postfix`]. Its queue is kept.
    pub fn stop_postfix(&self) -> anyhow::Result<()> {
        let Some(master) = self.postfix_pid() else {
            bail!("postfix of {} is not running", self.state_dir.display());
        };
        let family = process_tree(master);
        let out = Command::new("postfix")
            .arg("-c")
            .arg(self.postfix_dir())
            .arg("abort")
            .stdin(Stdio::null())
            .output()
            .context("running postfix abort")?;
        if !out.status.success() {
            unsafe { libc::kill(master as i32, libc::SIGTERM) };
        }
        wait_gone(&family, "postfix")?;
        wait_until(DAEMON_WAIT, || !port_open(self.smtp_port))
            .context("the SMTP port stayed open after postfix stopped")
    }

    /// Starts Postfix again with the stack's config and waits until SMTP answers.
    pub fn start_postfix(&self) -> anyhow::Result<()> {
        let out = Command::new("postfix")
            .arg("-c")
            .arg(self.postfix_dir())
            .arg("start")
            .stdin(Stdio::null())
            .output()
            .context("running postfix start")?;
        if !out.status.success() {
            bail!(
                "postfix failed to start ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
        wait_until(DAEMON_WAIT, || port_open(self.smtp_port))
            .with_context(|| format!("postfix did not come up\n{}", self.logs()))
    }

    /// `postqueue -f`: Postfix tries everything deferred at once.
    pub fn postfix_flush(&self) -> anyhow::Result<()> {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(self.postfix_dir())
            .arg("-f")
            .stdin(Stdio::null())
            .output()
            .context("running postqueue -f")?;
        if !out.status.success() {
            bail!(
                "postqueue -f failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Messages in Postfix's queue (files under incoming, active, deferred, hold and
    /// maildrop); readable whether Postfix runs or not.
    pub fn postfix_queue_len(&self) -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| match e.file_type() {
                            Ok(t) if t.is_dir() => count(&e.path()),
                            Ok(_) => 1,
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        let queue = self.postfix_dir().join("queue");
        ["incoming", "active", "deferred", "hold", "maildrop"]
            .iter()
            .map(|d| count(&queue.join(d)))
            .sum()
    }
}

fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Polls `ok` every 50 ms until it holds; fails after `wait`.
fn wait_until(wait: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    while !ok() {
        if Instant::now() >= deadline {
            bail!("still not so after {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid, ... .
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_string).collect())
}

/// Alive and not a zombie.
fn proc_is_running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|f| f[0] != "Z")
}

/// `pid` and all its descendants, each with its start time (to tell PID reuse).
fn process_tree(pid: u32) -> Vec<(u32, String)> {
    let mut parents: Vec<(u32, u32, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.filter_map(|e| e.ok()) {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = proc_stat(p)
                && let Ok(ppid) = f[1].parse::<u32>()
            {
                parents.push((p, ppid, f[19].clone()));
            }
        }
    }
    let start = |p: u32| proc_stat(p).map(|f| f[19].clone()).unwrap_or_default();
    let mut tree = vec![(pid, start(pid))];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i].0;
        for (p, ppid, st) in &parents {
            if *ppid == parent && !tree.iter().any(|(q, _)| q == p) {
                tree.push((*p, st.clone()));
            }
        }
        i += 1;
    }
    tree
}

/// Waits until every process of `family` has exited; once the master (the first)
/// is gone, stragglers get a SIGKILL (Dovecot's log and stats processes linger).
fn wait_gone(family: &[(u32, String)], what: &str) -> anyhow::Result<()> {
    let alive = |(pid, start): &(u32, String)| {
        proc_stat(*pid).is_some_and(|f| f[0] != "Z" && &f[19] == start)
    };
    let deadline = Instant::now() + DAEMON_WAIT;
    let mut killed = false;
    loop {
        let left: Vec<&(u32, String)> = family.iter().filter(|p| alive(p)).collect();
        if left.is_empty() {
            return Ok(());
        }
        let master_gone = !alive(&family[0]);
        if master_gone && !killed {
            for (pid, _) in &left {
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
            killed = true;
        }
        if Instant::now() >= deadline {
            bail!(
                "{what}: processes {:?} still running after {DAEMON_WAIT:?}",
                left.iter().map(|p| p.0).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each message's UID in `user`'s INBOX and whether it has `\Seen`, in UID order.
pub async fn imap_seen_flags(stack: &MailStack, user: &str) -> anyhow::Result<Vec<(u32, bool)>> {
    let mut session = imap_login(stack, user).await?;
    let result = async {
        timeout(IO_TIMEOUT, session.select("INBOX"))
            .await
            .context("IMAP SELECT timed out")?
            .context("IMAP SELECT INBOX failed")?;
        let fetches: Vec<_> = timeout(IO_TIMEOUT, async {
            let stream = session.uid_fetch("1:*", "(UID FLAGS)").await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await
        .context("IMAP UID FETCH timed out")?
        .context("IMAP UID FETCH FLAGS failed")?;
        let mut flags: Vec<(u32, bool)> = fetches
            .iter()
            .map(|f| {
                let seen = f
                    .flags()
                    .any(|flag| matches!(flag, async_imap::types::Flag::Seen));
                (f.uid.unwrap_or(0), seen)
            })
            .collect();
        flags.sort_by_key(|(uid, _)| *uid);
        anyhow::Ok(flags)
    }
    .await;
    logout(session).await;
    result.with_context(|| format!("fetching the flags in the INBOX of {user}"))
}
