//! Faults, end to end (issue 6). The real `ticketpost` binary runs as a long-running
//! child process (`ticketpost --config F run`: IMAP IDLE on the support mailbox, SMTP
//! out through Postfix) against a real Dovecot and Postfix, and the world around it
//! breaks:
//!
//! - it is killed with SIGKILL 20 times at random moments while 2,000 requests arrive
//!   through Postfix: afterwards every request is stored once, has its ticket and
//!   exactly one acknowledgement (by Message-ID) in its requester's mailbox, and
//!   nothing is left unsent;
//! - Dovecot is stopped for a while: the service reconnects and catches up;
//! - Postfix is stopped: the outbox holds the acknowledgements (queued, not failed) and
//!   drains after it is back;
//! - the store's disk fills up: nothing is marked done in the mailbox, the error is
//!   logged, and the work resumes once there is space again; a store on a read-only
//!   filesystem likewise.
//!
//! Every test prints its figures (`cargo test --test faults -- --show-output`). The
//! tests run one at a time (they measure, and two of them stop servers); the outage
//! tests stop the servers of a private stack of their own, never the shared one.
//! `TP_FAULTS_SEED` replays the kill schedule of an earlier run.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rusqlite::{Connection, OpenFlags};
use support::MailStack;

/// One test at a time, across the test threads of this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Generous upper bound for any one wait below; failures say what was missing.
const WAIT: Duration = Duration::from_secs(120);

/// The gateway under test: a config, a store, a log, and the child process.
struct Service {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    /// Every run's stderr, appended; each run starts with a `=== run N` line.
    log: PathBuf,
    support: String,
    child: Option<Child>,
    starts: usize,
    /// When the current run was spawned, and where its part of the log begins.
    spawned: Instant,
    run_log_offset: u64,
    /// Seconds from spawn to the IMAP login, for each run whose login was waited for.
    connect_times: Vec<f64>,
}

impl Service {
    /// A gateway reading `support-<tag>-...@example.test` on `stack`. The store lives in
    /// `store_dir` (default: the service's own temp dir). The loop guard is raised so
    /// that many requests from one requester all get their acknowledgement; no agents,
    /// so the acknowledgements are the only mail.
    fn new(stack: &MailStack, tag: &str, store_dir: Option<&Path>, batch_size: usize) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let support = support::unique_user(tag);
        let db = store_dir.unwrap_or(dir.path()).join("ticketpost.db");
        let config = dir.path().join("ticketpost.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[store]
path = "{db}"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{support}"
password = "{password}"
idle = true
batch_size = {batch_size}
timeout = 10
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
timeout = 10
[desk]
support_address = "{support}"
support_name = "Example Support"
[limits]
acknowledgements_per_sender_per_hour = 100000
"#,
                db = db.display(),
                imap = stack.imap_port,
                smtp = stack.smtp_port,
                password = stack.password,
            ),
        )
        .expect("write config");
        Service {
            log: dir.path().join("ticketpost.log"),
            _dir: dir,
            config,
            db,
            support,
            child: None,
            starts: 0,
            spawned: Instant::now(),
            run_log_offset: 0,
            connect_times: Vec::new(),
        }
    }

    /// Starts `ticketpost run`; its stdout and stderr go to the log.
    fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        writeln!(log, "=== run {}", self.starts).unwrap();
        self.run_log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        self.spawned = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_ticketpost"))
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .env("TICKETPOST_LOG", "info")
            .env_remove("TICKETPOST_FAULT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn ticketpost run");
        self.child = Some(child);
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// SIGKILL, and reap it.
    fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().expect("wait for the killed child");
    }

    /// Waits until the current run has logged in to IMAP (it has opened the store,
    /// loaded its rules and templates, and recovered the outbox by then).
    async fn wait_connected(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.run_log().contains("connected to IMAP") {
                self.connect_times
                    .push(self.spawned.elapsed().as_secs_f64());
                return;
            }
            self.assert_running("start-up");
            if Instant::now() >= deadline {
                panic!(
                    "run {} did not connect to IMAP within {WAIT:?}\n{}",
                    self.starts,
                    self.log_tail(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Panics (with the log) if the child has exited.
    fn assert_running(&mut self, during: &str) {
        let status = self.child.as_mut().expect("started").try_wait().unwrap();
        if let Some(status) = status {
            panic!(
                "ticketpost exited ({status}) during {during}\n{}",
                self.log_tail(60)
            );
        }
    }

    /// SIGTERM; waits for the exit (SIGKILL after `WAIT`).
    async fn terminate(&mut self) -> ExitStatus {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        let mut child = self.child.take().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ticketpost did not stop within {WAIT:?} of SIGTERM\n{}",
                    self.log_tail(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current run's part of the log.
    fn run_log(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.seek(SeekFrom::Start(self.run_log_offset));
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, for failure messages.
    fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} (last {n} lines)\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    /// Counts from the store, read-only (zeros before it exists).
    fn store(&self) -> StoreCounts {
        StoreCounts::read(&self.db).unwrap_or_default()
    }

    /// Polls the store until `done` holds; panics with the logs after `WAIT`.
    async fn wait_store(
        &self,
        stack: &MailStack,
        what: &str,
        done: impl Fn(&StoreCounts) -> bool,
    ) -> StoreCounts {
        let deadline = Instant::now() + WAIT;
        loop {
            let counts = self.store();
            if done(&counts) {
                return counts;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; store: {counts:?}\n{}\n{}",
                    self.log_tail(60),
                    stack.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `TP_FAULTS_LOG_DIR=DIR` keeps each service's log for a look afterwards.
        if let Some(dir) = std::env::var_os("TP_FAULTS_LOG_DIR") {
            let name = format!(
                "{}.log",
                self.support.split('@').next().unwrap_or("service")
            );
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::copy(&self.log, Path::new(&dir).join(name));
        }
    }
}

/// What the store holds, by counting rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct StoreCounts {
    messages: i64,
    distinct_message_ids: i64,
    /// Messages kept under a derived identity (same Message-ID, other bytes).
    derived_identities: i64,
    quarantined: i64,
    tickets: i64,
    outbox: i64,
    acknowledgements: i64,
    /// Outbox rows by state.
    states: BTreeMap<String, i64>,
    /// Rows that were tried at least once and are queued again (a temporary failure).
    retrying: i64,
    max_attempts: i64,
    last_error: Option<String>,
}

impl StoreCounts {
    fn read(db: &Path) -> rusqlite::Result<StoreCounts> {
        if !db.exists() {
            return Ok(StoreCounts::default());
        }
        let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        c.busy_timeout(Duration::from_secs(5))?;
        let one = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
        let mut counts = StoreCounts {
            messages: one("SELECT count(*) FROM messages")?,
            distinct_message_ids: one("SELECT count(DISTINCT message_id) FROM messages")?,
            derived_identities: one("SELECT count(*) FROM messages WHERE identity LIKE '%#%'")?,
            quarantined: one("SELECT count(*) FROM quarantine")?,
            tickets: one("SELECT count(*) FROM tickets")?,
            outbox: one("SELECT count(*) FROM outbox")?,
            acknowledgements: one("SELECT count(*) FROM outbox WHERE kind = 'acknowledgement'")?,
            retrying: one("SELECT count(*) FROM outbox WHERE state = 'queued' AND attempts > 0")?,
            max_attempts: one("SELECT coalesce(max(attempts), 0) FROM outbox")?,
            last_error: c.query_row(
                "SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?,
            ..StoreCounts::default()
        };
        let mut stmt = c.prepare("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            counts.states.insert(state, n);
        }
        Ok(counts)
    }

    fn state(&self, state: &str) -> i64 {
        self.states.get(state).copied().unwrap_or(0)
    }

    /// Every outbox row is sent (none queued, sending or failed).
    fn all_sent(&self) -> bool {
        self.state("sent") == self.outbox
    }

    /// The ticket tokens in the store.
    fn tokens(db: &Path) -> HashSet<String> {
        let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut stmt = c.prepare("SELECT id FROM tickets").unwrap();
        stmt.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|id| format!("TP-{}", id.unwrap()))
            .collect()
    }
}

/// A plain request from `from` to `to`.
fn request(from: &str, to: &str, id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Example Support <{to}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthe printer in room 4 jams on every second page since this morning.\r\nI already tried switching it off and on again.\r\n\r\nThanks\r\n"
    )
    .into_bytes()
}

/// The first value of header `name` (continuation lines unfolded).
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            break;
        }
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_string());
        }
    }
    value
}

/// `TP-n` from a subject that carries `[TP-n]`.
fn token_of(subject: &str) -> Option<String> {
    let start = subject.find("[TP-")? + 1;
    let end = start + subject[start..].find(']')?;
    Some(subject[start..end].to_string())
}

/// The acknowledgements found in the requesters' mailboxes.
#[derive(Debug, Default)]
struct AckTally {
    /// Every copy of every acknowledgement.
    copies: usize,
    /// Token → the distinct Message-IDs of its acknowledgements.
    ids_by_token: HashMap<String, HashSet<String>>,
    /// Token → copies.
    copies_by_token: HashMap<String, usize>,
    /// Request Message-ID (from In-Reply-To) → tokens acknowledging it.
    tokens_by_request: HashMap<String, HashSet<String>>,
    /// Request Message-ID → the mailboxes its acknowledgements arrived in.
    mailboxes_by_request: HashMap<String, HashSet<String>>,
    /// Requester → distinct tokens acknowledged to them.
    tokens_by_requester: HashMap<String, HashSet<String>>,
    /// Mail in the requesters' mailboxes without a token in the subject.
    other: usize,
}

impl AckTally {
    fn distinct(&self) -> usize {
        self.ids_by_token.len()
    }

    /// Copies beyond the first of an acknowledgement (crash between SMTP 250 and the
    /// sent mark: the same mail again, same Message-ID).
    fn repeats(&self) -> usize {
        self.copies - self.ids_by_token.values().map(HashSet::len).sum::<usize>()
    }

    /// How many tokens had N copies, as "Nx: count".
    fn repeat_histogram(&self) -> String {
        let mut h: BTreeMap<usize, usize> = BTreeMap::new();
        for n in self.copies_by_token.values() {
            *h.entry(*n).or_default() += 1;
        }
        h.iter()
            .map(|(copies, tokens)| format!("{copies}x: {tokens}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads every requester's INBOX (8 at a time) and tallies the acknowledgements.
async fn tally_acks(stack: &MailStack, requesters: &[String]) -> AckTally {
    let inboxes: Vec<(String, Vec<Vec<u8>>)> = futures::stream::iter(requesters.iter().cloned())
        .map(|user| async move {
            let mail = support::imap_fetch_all(stack, &user)
                .await
                .unwrap_or_else(|e| panic!("reading the INBOX of {user}: {e:#}"));
            (user, mail)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut tally = AckTally::default();
    for (user, mails) in inboxes {
        let mine = tally.tokens_by_requester.entry(user.clone()).or_default();
        for raw in mails {
            let Some(token) = support::subject_of(&raw).as_deref().and_then(token_of) else {
                tally.other += 1;
                continue;
            };
            tally.copies += 1;
            mine.insert(token.clone());
            let id = header(&raw, "Message-ID").unwrap_or_default();
            tally
                .ids_by_token
                .entry(token.clone())
                .or_default()
                .insert(id);
            *tally.copies_by_token.entry(token.clone()).or_default() += 1;
            let request = header(&raw, "In-Reply-To")
                .unwrap_or_default()
                .trim_matches(['<', '>'])
                .to_string();
            tally
                .mailboxes_by_request
                .entry(request.clone())
                .or_default()
                .insert(user.clone());
            tally
                .tokens_by_request
                .entry(request)
                .or_default()
                .insert(token);
        }
    }
    tally
}

/// Polls the requesters' mailboxes until `expected` distinct acknowledgements are there
/// and Postfix's queue is empty, then once more after a settle time for late repeats.
async fn wait_acks(
    stack: &MailStack,
    svc: &Service,
    requesters: &[String],
    expected: usize,
) -> AckTally {
    let deadline = Instant::now() + WAIT;
    loop {
        let tally = tally_acks(stack, requesters).await;
        if tally.distinct() >= expected && stack.postfix_queue_len() == 0 {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {WAIT:?}: {} of {expected} acknowledgements arrived, {} mail(s) in Postfix's queue\n{}\n{}",
                tally.distinct(),
                stack.postfix_queue_len(),
                svc.log_tail(40),
                stack.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    tally_acks(stack, requesters).await
}

/// Sends `requests` (requester, Message-ID, raw) to `to` through Postfix over `parallel`
/// connections at a time, request k not before `start + span * k / n`; a refused
/// submission is tried again (up to 5 times). Returns when the last is accepted.
async fn submit_paced(
    stack: MailStack,
    to: String,
    requests: Arc<Vec<(String, String, Vec<u8>)>>,
    span: Duration,
    parallel: usize,
) -> Duration {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let n = requests.len();
    let mut workers = Vec::new();
    for _ in 0..parallel {
        let (stack, to, requests, next) =
            (stack.clone(), to.clone(), requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return;
                }
                let due = start + span.mul_f64(k as f64 / n as f64);
                tokio::time::sleep_until(due.into()).await;
                let (from, _, raw) = &requests[k];
                let mut tries = 0;
                loop {
                    tries += 1;
                    match support::smtp_send(&stack, from, &[to.as_str()], raw).await {
                        Ok(()) => break,
                        Err(e) if tries < 5 => {
                            eprintln!("submission {k} failed (try {tries}): {e:#}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => panic!("submission {k} failed {tries} times: {e:#}"),
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("sender task");
    }
    start.elapsed()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_twenty_times_while_2000_requests_arrive() {
    const REQUESTERS: usize = 100;
    const PER_REQUESTER: usize = 20;
    const TOTAL: usize = REQUESTERS * PER_REQUESTER;
    const KILLS: usize = 20;
    const PARALLEL_SUBMISSIONS: usize = 8;
    const BATCH_SIZE: usize = 50;

    let _serial = SERIAL.lock().await;
    let stack = support::mail_stack();
    let seed = std::env::var("TP_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("kill -9: seed {seed} (replay with TP_FAULTS_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Each kill comes 0.2-2 s after a moment: for three kills in four, the moment the
    // run has connected to IMAP (a debug build takes over a second to load its rules
    // and templates, and kills timed from the spawn would mostly hit that), else the
    // spawn itself, so start-up is hit too.
    let schedule: Vec<(bool, Duration)> = (0..KILLS)
        .map(|_| {
            (
                rng.u8(0..4) != 0,
                Duration::from_millis(rng.u64(200..=2000)),
            )
        })
        .collect();

    // Small batches: several commit between two kills even in a debug build (where a
    // batch of 500 takes seconds to parse and store).
    let mut svc = Service::new(stack, "kill", None, BATCH_SIZE);
    let requesters: Vec<String> = (0..REQUESTERS)
        .map(|_| support::unique_user("killreq"))
        .collect();
    let tag = svc.support.split('@').next().unwrap().to_string();
    // Interleaved, so each requester's requests spread over the whole run.
    let mut requests = Vec::with_capacity(TOTAL);
    for i in 0..PER_REQUESTER {
        for (r, from) in requesters.iter().enumerate() {
            let id = format!("{tag}-{r}-{i}@requests.test");
            let subject = format!("Request {r}-{i}: printer jams");
            let raw = request(from, &svc.support, &id, &subject);
            requests.push((from.clone(), id, raw));
        }
    }
    let request_ids: Vec<(String, String)> = requests
        .iter()
        .map(|(from, id, _)| (from.clone(), id.clone()))
        .collect();

    let started = Instant::now();
    svc.start();
    svc.wait_connected().await;
    let startup = started.elapsed();
    // The requests arrive over most of the expected kill window, so kills hit every
    // phase: fetching, parsing, storing, marking \Seen, sending, idling.
    let kill_window: Duration = schedule
        .iter()
        .map(|(after_connect, delay)| {
            *delay
                + if *after_connect {
                    startup
                } else {
                    Duration::ZERO
                }
        })
        .sum();
    let send_span = kill_window.mul_f64(0.8);
    let sender = tokio::spawn(submit_paced(
        stack.clone(),
        svc.support.clone(),
        Arc::new(requests),
        send_span,
        PARALLEL_SUBMISSIONS,
    ));

    let mut kills = Vec::with_capacity(KILLS);
    for (k, (after_connect, delay)) in schedule.iter().enumerate() {
        if *after_connect && k > 0 {
            svc.wait_connected().await;
        }
        tokio::time::sleep(*delay).await;
        svc.assert_running("the kill run");
        let store = svc.store();
        svc.kill9();
        kills.push((
            started.elapsed(),
            *after_connect,
            store.messages,
            store.state("sent"),
        ));
        svc.start();
    }
    let last_restart = Instant::now();
    let submit_time = sender.await.expect("sender");
    let submitted_at = started + submit_time;

    svc.wait_store(stack, "all 2,000 stored and the outbox empty", |c| {
        c.messages as usize >= TOTAL && c.outbox >= c.tickets && c.all_sent()
    })
    .await;
    let catch_up = last_restart.elapsed();
    let quiet_after_submit = submitted_at.elapsed();
    let status = svc.terminate().await;
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    let wall_service = started.elapsed();

    let acks = wait_acks(stack, &svc, &requesters, TOTAL).await;
    let wall = started.elapsed();
    let store = svc.store();
    let tokens = StoreCounts::tokens(&svc.db);
    let log = svc.log_text();
    let repeats_logged = log
        .matches("mail interrupted by a crash is queued again")
        .count();

    println!(
        "kill -9: {} kills, {} runs in all; spawn to IMAP login: first run {}, later runs (of those waited for) {}",
        kills.len(),
        svc.starts,
        secs(startup),
        svc.connect_times[1..]
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "kill -9: kill times (s since start, c: timed from the run's IMAP connect, s: from its spawn; messages stored / mails sent just before): {}",
        kills
            .iter()
            .map(|(t, c, m, s)| format!(
                "{:.2}{} ({m}/{s})",
                t.as_secs_f64(),
                if *c { "c" } else { "s" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "kill -9: {TOTAL} requests from {REQUESTERS} requesters submitted through Postfix in {} (paced over {}, {PARALLEL_SUBMISSIONS} connections)",
        secs(submit_time),
        secs(send_span)
    );
    println!(
        "kill -9: caught up {} after the last restart ({} after the last submission); service wall time {}; whole test {}",
        secs(catch_up),
        secs(quiet_after_submit),
        secs(wall_service),
        secs(wall)
    );
    println!(
        "kill -9: store: {} messages ({} distinct Message-IDs, {} derived identities, {} quarantined), {} tickets, {} outbox rows ({} acknowledgements), states {:?}, at most {} attempts",
        store.messages,
        store.distinct_message_ids,
        store.derived_identities,
        store.quarantined,
        store.tickets,
        store.outbox,
        store.acknowledgements,
        store.states,
        store.max_attempts
    );
    println!(
        "kill -9: mailboxes: {} acknowledgement copies, {} distinct (one per ticket), {} repeats with the same Message-ID (copies per ticket: {}); restarts that requeued interrupted mail: {repeats_logged}; other mail: {}",
        acks.copies,
        acks.distinct(),
        acks.repeats(),
        acks.repeat_histogram(),
        acks.other
    );

    assert_eq!(store.messages as usize, TOTAL, "messages stored");
    assert_eq!(
        store.distinct_message_ids as usize, TOTAL,
        "distinct Message-IDs"
    );
    assert_eq!(store.derived_identities, 0, "no request stored twice");
    assert_eq!(store.quarantined, 0, "nothing quarantined");
    assert_eq!(store.tickets as usize, TOTAL, "one ticket per request");
    assert_eq!(store.outbox as usize, TOTAL, "one outgoing mail per ticket");
    assert_eq!(
        store.acknowledgements as usize, TOTAL,
        "all acknowledgements"
    );
    assert!(store.all_sent(), "nothing left unsent: {:?}", store.states);

    // Exactly one acknowledgement per ticket (by Message-ID; a crash between the SMTP
    // 250 and the sent mark may repeat a mail, with the same Message-ID).
    let got: HashSet<String> = acks.ids_by_token.keys().cloned().collect();
    assert_eq!(got, tokens, "every ticket acknowledged, nothing else");
    for (token, ids) in &acks.ids_by_token {
        assert_eq!(ids.len(), 1, "{token}: acknowledgements {ids:?}");
    }
    for (from, id) in &request_ids {
        let by = acks.tokens_by_request.get(id);
        assert_eq!(
            by.map(HashSet::len),
            Some(1),
            "request {id}: acknowledged by {by:?}"
        );
        let to = &acks.mailboxes_by_request[id];
        assert!(
            to.len() == 1 && to.contains(from),
            "request {id} from {from}: acknowledged to {to:?}"
        );
    }
    assert_eq!(acks.tokens_by_request.len(), TOTAL);
    for (user, tokens) in &acks.tokens_by_requester {
        assert_eq!(tokens.len(), PER_REQUESTER, "acknowledgements to {user}");
    }
    assert_eq!(acks.other, 0, "no other mail to the requesters");
    // A crash repeats at most the mails between their "250" and their sent mark: the
    // chunk of finished sends being marked (at most the sender's parallelism, 8,
    // `outbox::PARALLEL_SENDS`) and the sends still in flight meanwhile, which a server
    // may accept while the mark waits for the writer (8 more). A slow machine, whose
    // writer is busy with a batch at most kills, comes close to that bound.
    const REPEATS_PER_KILL: usize = 2 * 8;
    assert!(
        acks.repeats() <= KILLS * REPEATS_PER_KILL,
        "{} repeats after {KILLS} kills (at most {REPEATS_PER_KILL} each)",
        acks.repeats()
    );
}

/// A private stack, stopped (and its state removed) when the test ends.
struct PrivateStack(MailStack);

impl PrivateStack {
    fn start() -> PrivateStack {
        PrivateStack(
            support::private_mail_stack()
                .unwrap_or_else(|e| panic!("starting a private mail stack: {e:#}")),
        )
    }
}

impl std::ops::Deref for PrivateStack {
    type Target = MailStack;
    fn deref(&self) -> &MailStack {
        &self.0
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        if let Err(e) = self.0.stop() {
            eprintln!("stopping the private mail stack: {e:#}");
        }
    }
}

/// Sends one request from each of `requesters` through Postfix; returns their
/// Message-IDs.
async fn send_requests(
    stack: &MailStack,
    svc: &Service,
    requesters: &[String],
    what: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, from) in requesters.iter().enumerate() {
        let id = format!(
            "{}-{what}-{i}@requests.test",
            from.split('@').next().unwrap()
        );
        let raw = request(
            from,
            &svc.support,
            &id,
            &format!("{what} {i}: printer jams"),
        );
        support::smtp_send(stack, from, &[&svc.support], &raw)
            .await
            .unwrap_or_else(|e| panic!("submitting {id}: {e:#}\n{}", stack.logs()));
        ids.push(id);
    }
    ids
}

/// One request through the whole loop (Postfix, Dovecot, the service, Postfix,
/// Dovecot), before the fault: proves the service is up and working.
async fn warm_up(stack: &MailStack, svc: &Service) {
    let requester = support::unique_user("warmup");
    send_requests(stack, svc, std::slice::from_ref(&requester), "Warm-up").await;
    support::imap_wait_for(stack, &requester, |m| !m.is_empty(), WAIT)
        .await
        .unwrap_or_else(|e| panic!("warm-up acknowledgement: {e:#}\n{}", svc.log_tail(40)));
}

/// Every requester got exactly one acknowledgement, and nothing else.
fn assert_one_ack_each(acks: &AckTally, requesters: &[String]) {
    for user in requesters {
        let got = acks.tokens_by_requester.get(user).map(HashSet::len);
        assert_eq!(got, Some(1), "acknowledgements to {user}");
    }
    assert_eq!(acks.repeats(), 0, "no repeated acknowledgement");
    assert_eq!(acks.other, 0, "no other mail");
}

/// WARN lines in `text` (ANSI colours stripped) that contain `needle`.
fn warnings<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.contains("WARN") && l.contains(needle))
        .collect()
}

/// `text` without ANSI colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_stopped_and_started_again() {
    const REQUESTS: usize = 20;
    const OUTAGE: Duration = Duration::from_secs(6);
    let _serial = SERIAL.lock().await;
    let stack = PrivateStack::start();
    let mut svc = Service::new(&stack, "dove", None, 500);
    svc.start();
    svc.wait_connected().await;
    warm_up(&stack, &svc).await;

    let down = Instant::now();
    stack.stop_dovecot().expect("stop dovecot");
    let stopping = down.elapsed();
    // Postfix takes the requests and queues them: it cannot deliver to Dovecot.
    let requesters: Vec<String> = (0..REQUESTS)
        .map(|_| support::unique_user("dovereq"))
        .collect();
    send_requests(&stack, &svc, &requesters, "While Dovecot was down").await;
    tokio::time::sleep_until((down + OUTAGE).into()).await;
    svc.assert_running("the Dovecot outage");
    let queued = stack.postfix_queue_len();
    let before = svc.store();
    let log_down = plain(&svc.run_log());
    let logins_before = log_down.matches("connected to IMAP").count();
    let errors_down = warnings(&log_down, "").len();

    stack.start_dovecot().expect("start dovecot");
    let up = Instant::now();
    stack.postfix_flush().expect("postqueue -f");
    let done = svc
        .wait_store(&stack, "every request after Dovecot came back", |c| {
            c.tickets as usize == REQUESTS + 1 && c.outbox == c.tickets && c.all_sent()
        })
        .await;
    let stored = up.elapsed();
    let acks = wait_acks(&stack, &svc, &requesters, REQUESTS).await;
    let caught_up = up.elapsed();
    let log = plain(&svc.run_log());
    let logins = log.matches("connected to IMAP").count();
    let reconnect_errors = warnings(&log, "").len();
    let status = svc.terminate().await;

    println!(
        "dovecot: stopped in {}, down for {} in all; {REQUESTS} requests sent meanwhile, {queued} in Postfix's queue just before the restart; store then: {} ticket(s)",
        secs(stopping),
        secs(up - down),
        before.tickets
    );
    println!(
        "dovecot: the service logged {errors_down} warning(s) during the outage and {reconnect_errors} in all; IMAP logins: {logins_before} before Dovecot came back, {logins} in all"
    );
    println!(
        "dovecot: after the restart: all {} tickets stored and their mail sent in {}, every acknowledgement in its mailbox in {}",
        done.tickets,
        secs(stored),
        secs(caught_up)
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert_eq!(before.tickets, 1, "nothing new while Dovecot was down");
    assert!(
        queued >= 1,
        "Postfix held the requests while Dovecot was down"
    );
    assert!(
        logins >= 2,
        "the service logged in again:\n{}",
        svc.log_tail(40)
    );
    assert_eq!(done.messages as usize, REQUESTS + 1);
    assert_one_ack_each(&acks, &requesters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_stopped_outbox_holds_then_drains() {
    const REQUESTS: usize = 20;
    const OUTAGE: Duration = Duration::from_secs(5);
    let _serial = SERIAL.lock().await;
    let stack = PrivateStack::start();
    let mut svc = Service::new(&stack, "postfix", None, 500);
    svc.start();
    svc.wait_connected().await;
    warm_up(&stack, &svc).await;

    let down = Instant::now();
    stack.stop_postfix().expect("stop postfix");
    let stopping = down.elapsed();
    // Requests straight into the support mailbox: tickets are made while SMTP is down.
    let requesters: Vec<String> = (0..REQUESTS)
        .map(|_| support::unique_user("pfreq"))
        .collect();
    for (i, from) in requesters.iter().enumerate() {
        let id = format!("{}-pf-{i}@requests.test", from.split('@').next().unwrap());
        let raw = request(
            from,
            &svc.support,
            &id,
            &format!("While Postfix was down {i}"),
        );
        support::imap_append(&stack, &svc.support, &raw)
            .await
            .expect("IMAP APPEND");
    }
    // Each acknowledgement is tried, fails (connection refused) and waits for a retry.
    let held = svc
        .wait_store(&stack, "every acknowledgement tried once and held", |c| {
            c.tickets as usize == REQUESTS + 1 && c.retrying as usize == REQUESTS
        })
        .await;
    // Down for a while longer: the held mail stays queued, nothing is given up.
    tokio::time::sleep_until((down + OUTAGE).into()).await;
    svc.assert_running("the Postfix outage");
    let still = svc.store();
    let depth = held.state("queued");

    stack.start_postfix().expect("start postfix");
    let up = Instant::now();
    let drained = svc
        .wait_store(&stack, "the outbox drained after Postfix came back", |c| {
            c.all_sent()
        })
        .await;
    let drain = up.elapsed();
    let acks = wait_acks(&stack, &svc, &requesters, REQUESTS).await;
    let caught_up = up.elapsed();
    let status = svc.terminate().await;

    println!(
        "postfix: stopped in {}, down for {}; {REQUESTS} requests appended over IMAP meanwhile: {} tickets, outbox depth {depth} (states {:?}, {} retrying), last error: {}",
        secs(stopping),
        secs(up - down),
        held.tickets,
        held.states,
        held.retrying,
        held.last_error.as_deref().unwrap_or("-")
    );
    println!(
        "postfix: after the restart the outbox drained in {} (the first retry comes 30-36 s after the failure) with at most {} attempts per mail; every acknowledgement in its mailbox in {}",
        secs(drain),
        drained.max_attempts,
        secs(caught_up)
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert_eq!(held.state("failed"), 0, "nothing marked failed for good");
    assert_eq!(still.state("failed"), 0, "nothing marked failed for good");
    assert_eq!(still.state("queued") as usize, REQUESTS, "still held");
    assert_eq!(depth as usize, REQUESTS, "the acknowledgements were held");
    assert_eq!(drained.outbox as usize, REQUESTS + 1);
    assert_one_ack_each(&acks, &requesters);
}

/// A small tmpfs to put a store on, mounted for the test (needs root: CI runs as
/// root) and unmounted afterwards.
struct SmallFs {
    _dir: tempfile::TempDir,
    path: PathBuf,
    size_mib: u64,
}

impl SmallFs {
    /// Mounts it, or says why it cannot.
    fn mount(size_mib: u64) -> Result<SmallFs, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: mounting a tmpfs needs root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("store");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_mib}m,mode=0755"))
            .arg("ticketpost-faults")
            .arg(&path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallFs {
            _dir: dir,
            path,
            size_mib,
        })
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Fills the filesystem up to the last page; returns the bytes written.
    fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.filler()).expect("create filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        for size in [chunk.len(), 4096, 512, 1] {
            loop {
                match f.write(&chunk[..size]) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling the store's filesystem: {e}"),
                }
            }
        }
        written
    }

    fn clear(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }

    /// Free bytes, as statvfs sees them.
    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    }

    fn remount(&self, option: &str) {
        let out = Command::new("mount")
            .arg("-o")
            .arg(format!("remount,{option}"))
            .arg(&self.path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mount -o remount,{option}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The size of the store's WAL file.
fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

/// Checkpoints the store and truncates its WAL to nothing, so that the next write
/// transaction needs new space on the disk (a WAL with room left would take a few
/// more transactions before the full disk shows).
fn truncate_wal(db: &Path) {
    let c = Connection::open(db).expect("open the store");
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    for _ in 0..50 {
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .expect("checkpoint");
        if busy == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the current run has logged `n` warnings containing `needle`.
async fn wait_warnings(
    svc: &mut Service,
    stack: &MailStack,
    needle: &str,
    n: usize,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = plain(&svc.run_log());
        let found: Vec<String> = warnings(&log, needle)
            .into_iter()
            .map(str::to_string)
            .collect();
        if found.len() >= n {
            return found;
        }
        svc.assert_running("the fault");
        if Instant::now() >= deadline {
            panic!(
                "timed out after {WAIT:?} waiting for {n} warning(s) with {needle:?} ({} so far)\n{}\n{}",
                found.len(),
                svc.log_tail(40),
                stack.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_disk_full_then_space_again() {
    const REQUESTS: usize = 10;
    let _serial = SERIAL.lock().await;
    let fs = match SmallFs::mount(16) {
        Ok(fs) => fs,
        Err(why) => {
            support::skip::skip(format!(
                "disk full: the store's filesystem cannot be set up: {why}"
            ));
            return;
        }
    };
    let stack = support::mail_stack();
    let mut svc = Service::new(stack, "full", Some(&fs.path), 500);
    svc.start();
    svc.wait_connected().await;
    warm_up(stack, &svc).await;

    // The disk fills up while the service idles. (Should a write slip in between the
    // WAL truncation and the filling, do both again.)
    let mut filled = 0;
    for _ in 0..5 {
        truncate_wal(&svc.db);
        filled = fs.fill();
        if wal_size(&svc.db) == 0 {
            break;
        }
        fs.clear();
    }
    assert_eq!(wal_size(&svc.db), 0, "the WAL could not be emptied");
    let full = Instant::now();
    let free = fs.free();
    let requesters: Vec<String> = (0..REQUESTS)
        .map(|_| support::unique_user("fullreq"))
        .collect();
    send_requests(stack, &svc, &requesters, "While the disk was full").await;
    support::imap_wait_for(stack, &svc.support, |m| m.len() == REQUESTS + 1, WAIT)
        .await
        .expect("the requests in the support mailbox");
    // The service fails, says so, and retries: three failed attempts.
    let failures = wait_warnings(&mut svc, stack, "ingest failed", 3).await;
    let flags = support::imap_seen_flags(stack, &svc.support)
        .await
        .expect("flags");
    let during = svc.store();
    let seen_during = flags.iter().filter(|(_, seen)| *seen).count();

    fs.clear();
    let cleared = Instant::now();
    let done = svc
        .wait_store(stack, "the requests stored once there was space", |c| {
            c.tickets as usize == REQUESTS + 1 && c.outbox == c.tickets && c.all_sent()
        })
        .await;
    let resumed = cleared.elapsed();
    let acks = wait_acks(stack, &svc, &requesters, REQUESTS).await;
    let caught_up = cleared.elapsed();
    let flags_after = support::imap_seen_flags(stack, &svc.support)
        .await
        .expect("flags");
    let status = svc.terminate().await;

    println!(
        "disk full: a {} MiB tmpfs filled with {filled} bytes ({free} bytes free), the WAL emptied first; {REQUESTS} requests arrived",
        fs.size_mib
    );
    println!(
        "disk full: {} failed attempt(s) logged in {} before space came back; first: {}",
        failures.len(),
        secs(cleared - full),
        failures[0].trim()
    );
    println!(
        "disk full: meanwhile {} of {} messages in the support mailbox were \\Seen (the warm-up only), the store held {} ticket(s)",
        seen_during,
        flags.len(),
        during.tickets
    );
    println!(
        "disk full: after the space came back: stored and sent in {}, every acknowledgement in its mailbox in {}",
        secs(resumed),
        secs(caught_up)
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert!(
        failures.iter().all(|l| l.contains("disk is full")),
        "the error names the cause: {failures:#?}"
    );
    assert_eq!(during.tickets, 1, "nothing stored while the disk was full");
    assert_eq!(during.messages, 1);
    assert_eq!(flags.len(), REQUESTS + 1);
    assert_eq!(
        seen_during, 1,
        "nothing marked done while the disk was full: {flags:?}"
    );
    assert!(
        flags_after.iter().all(|(_, seen)| *seen),
        "all marked done after: {flags_after:?}"
    );
    assert_eq!(done.messages as usize, REQUESTS + 1);
    assert_one_ack_each(&acks, &requesters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_on_a_read_only_filesystem_then_writable() {
    const REQUESTS: usize = 5;
    let _serial = SERIAL.lock().await;
    let fs = match SmallFs::mount(16) {
        Ok(fs) => fs,
        Err(why) => {
            support::skip::skip(format!(
                "read-only: the store's filesystem cannot be set up: {why}"
            ));
            return;
        }
    };
    let stack = support::mail_stack();
    let mut svc = Service::new(stack, "ro", Some(&fs.path), 500);
    svc.start();
    svc.wait_connected().await;
    warm_up(stack, &svc).await;
    let status = svc.terminate().await;
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );

    // A filesystem cannot become read-only under open files (EBUSY), so the store goes
    // read-only between two runs, and requests wait in the mailbox.
    fs.remount("ro");
    let requesters: Vec<String> = (0..REQUESTS)
        .map(|_| support::unique_user("roreq"))
        .collect();
    send_requests(stack, &svc, &requesters, "While the store was read-only").await;
    support::imap_wait_for(stack, &svc.support, |m| m.len() == REQUESTS + 1, WAIT)
        .await
        .expect("the requests in the support mailbox");
    let t = Instant::now();
    svc.start();
    let status = loop {
        if let Some(status) = svc.child.as_mut().unwrap().try_wait().unwrap() {
            svc.child = None;
            break status;
        }
        assert!(
            t.elapsed() < WAIT,
            "the service kept running on a read-only store\n{}",
            svc.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exited_after = t.elapsed();
    let error = plain(&svc.run_log())
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    let flags = support::imap_seen_flags(stack, &svc.support)
        .await
        .expect("flags");
    let seen_during = flags.iter().filter(|(_, seen)| *seen).count();

    fs.remount("rw");
    let writable = Instant::now();
    svc.start();
    let done = svc
        .wait_store(
            stack,
            "the requests stored once the store was writable",
            |c| c.tickets as usize == REQUESTS + 1 && c.outbox == c.tickets && c.all_sent(),
        )
        .await;
    let resumed = writable.elapsed();
    let acks = wait_acks(stack, &svc, &requesters, REQUESTS).await;
    let flags_after = support::imap_seen_flags(stack, &svc.support)
        .await
        .expect("flags");
    let status_after = svc.terminate().await;

    println!(
        "read-only: the run on the read-only store exited with {status} after {}: {error}",
        secs(exited_after)
    );
    println!(
        "read-only: meanwhile {seen_during} of {} messages in the support mailbox were \\Seen (the warm-up only); once writable, the next run stored and sent the {REQUESTS} requests in {}",
        flags.len(),
        secs(resumed)
    );
    assert!(!status.success(), "a read-only store is an error");
    assert!(
        error.contains("read-only") && error.contains(&svc.db.display().to_string()),
        "the error names the store and the cause: {error:?}\n{}",
        svc.log_tail(20)
    );
    assert_eq!(seen_during, 1, "nothing marked done: {flags:?}");
    assert!(status_after.success(), "SIGTERM exit: {status_after}");
    assert!(
        flags_after.iter().all(|(_, seen)| *seen),
        "all marked done after: {flags_after:?}"
    );
    assert_eq!(done.messages as usize, REQUESTS + 1);
    assert_one_ack_each(&acks, &requesters);
}
