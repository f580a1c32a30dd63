//! `ImapSource` against the private Dovecot of `tests/support`: batches in UID order,
//! checkpoints, reset before commit, \Seen after mark_done, resuming, UIDVALIDITY change,
//! TLS (implicit and STARTTLS), IDLE wake-ups, shutdown, and failures that must not hang.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_imap::types::Flag;
use futures::TryStreamExt;
use support::{
    MailStack, imap_append, imap_append_many, imap_login, mail_stack, subject_of, unique_user,
};
use ticketpost::config::{Auth, ImapConfig, TlsMode};
use ticketpost::mailbox::imap::ImapSource;
use ticketpost::mailbox::{Batch, Checkpoint, MailKey};
use tokio_util::sync::CancellationToken;

/// The library's log in the test output (`RUST_LOG=ticketpost=debug` for more).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ticketpost=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

fn config(stack: &MailStack, user: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port: stack.imap_port,
        tls: TlsMode::None,
        tls_ca_file: None,
        username: user.into(),
        auth: Auth::Password(stack.password.clone()),
        folder: "INBOX".into(),
        idle: true,
        poll_interval: Duration::from_secs(60),
        batch_size: 3,
        timeout: Duration::from_secs(5),
    }
}

fn message(user: &str, i: usize) -> Vec<u8> {
    format!(
        "From: customer@outside.test\r\nTo: {user}\r\nSubject: test {i}\r\n\
         Message-ID: <imap-source-{i}-{}@outside.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody {i}\r\n",
        fastrand::u64(..)
    )
    .into_bytes()
}

async fn append_n(stack: &MailStack, user: &str, range: std::ops::Range<usize>) -> Result<()> {
    let messages: Vec<Vec<u8>> = range.map(|i| message(user, i)).collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    imap_append_many(stack, user, &refs).await
}

fn uids(batch: &Batch) -> Vec<u32> {
    batch
        .mails
        .iter()
        .map(|m| match m.key {
            MailKey::Imap { uid } => uid,
            MailKey::Maildir { .. } => panic!("not an IMAP key"),
        })
        .collect()
}

fn subjects(batch: &Batch) -> Vec<String> {
    batch
        .mails
        .iter()
        .map(|m| subject_of(&m.raw).unwrap_or_default())
        .collect()
}

/// UIDs of `user`'s INBOX that carry \Seen, read over a separate connection.
async fn seen_uids(stack: &MailStack, user: &str) -> Result<HashSet<u32>> {
    let mut session = imap_login(stack, user).await?;
    session.select("INBOX").await?;
    let fetches: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS)")
        .await?
        .try_collect()
        .await?;
    let seen = fetches
        .iter()
        .filter(|f| f.flags().any(|flag| flag == Flag::Seen))
        .filter_map(|f| f.uid)
        .collect();
    session.logout().await.ok();
    Ok(seen)
}

#[tokio::test]
async fn batches_in_uid_order_with_reset_and_seen() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-batches");
    append_n(stack, &user, 0..8).await?;
    let mut source = ImapSource::new(config(stack, &user), None)?;

    let first = source.fetch_batch(3).await?;
    assert_eq!(uids(&first), [1, 2, 3]);
    assert_eq!(subjects(&first), ["test 0", "test 1", "test 2"]);
    let uid_validity = first
        .checkpoint
        .context("a batch carries a checkpoint")?
        .uid_validity;
    assert_eq!(
        first.checkpoint,
        Some(Checkpoint {
            uid_validity,
            last_uid: 3
        })
    );
    assert!(
        first
            .mails
            .iter()
            .all(|m| m.raw.ends_with(b"\r\n") && m.raw.len() > 100)
    );
    assert!(
        seen_uids(stack, &user).await?.is_empty(),
        "fetching must not set \\Seen"
    );

    // Without mark_done, the next fetch goes on after what was handed out...
    let second = source.fetch_batch(3).await?;
    assert_eq!(uids(&second), [4, 5, 6]);
    // ...but after reset (the commit failed) everything uncommitted comes again.
    source.reset();
    let again = source.fetch_batch(3).await?;
    assert_eq!(uids(&again), [1, 2, 3]);
    assert_eq!(subjects(&again), subjects(&first));
    assert_eq!(again.checkpoint, first.checkpoint);

    source.mark_done(&again).await?;
    assert_eq!(seen_uids(stack, &user).await?, HashSet::from([1, 2, 3]));

    // A reset after mark_done keeps the committed part.
    source.reset();
    let next = source.fetch_batch(3).await?;
    assert_eq!(uids(&next), [4, 5, 6]);
    assert_eq!(
        next.checkpoint,
        Some(Checkpoint {
            uid_validity,
            last_uid: 6
        })
    );
    source.mark_done(&next).await?;
    let last = source.fetch_batch(3).await?;
    assert_eq!(uids(&last), [7, 8]);
    assert_eq!(subjects(&last), ["test 6", "test 7"]);
    assert_eq!(
        last.checkpoint,
        Some(Checkpoint {
            uid_validity,
            last_uid: 8
        })
    );
    source.mark_done(&last).await?;

    let empty = source.fetch_batch(3).await?;
    assert!(empty.mails.is_empty(), "nothing new: {:?}", uids(&empty));
    assert_eq!(seen_uids(stack, &user).await?, (1..=8).collect());

    // A message arriving later is found by the next fetch on the same connection.
    imap_append(stack, &user, &message(&user, 8)).await?;
    let late = source.fetch_batch(3).await?;
    assert_eq!(uids(&late), [9]);
    Ok(())
}

#[tokio::test]
async fn new_source_resumes_after_the_committed_checkpoint() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-resume");
    append_n(stack, &user, 0..5).await?;
    let mut source = ImapSource::new(config(stack, &user), None)?;
    let batch = source.fetch_batch(10).await?;
    assert_eq!(uids(&batch), [1, 2, 3, 4, 5]);
    source.mark_done(&batch).await?;
    let checkpoint = batch.checkpoint.context("checkpoint")?;
    drop(source);

    append_n(stack, &user, 5..7).await?;
    let mut resumed = ImapSource::new(config(stack, &user), Some(checkpoint))?;
    let batch = resumed.fetch_batch(10).await?;
    assert_eq!(uids(&batch), [6, 7]);
    assert_eq!(subjects(&batch), ["test 5", "test 6"]);
    assert!(resumed.fetch_batch(10).await?.mails.is_empty());

    // A checkpoint from another UIDVALIDITY means: read everything again.
    let stale = Checkpoint {
        uid_validity: checkpoint.uid_validity.wrapping_add(1),
        last_uid: 7,
    };
    let mut rescan = ImapSource::new(config(stack, &user), Some(stale))?;
    let batch = rescan.fetch_batch(4).await?;
    assert_eq!(uids(&batch), [1, 2, 3, 4]);
    assert_eq!(
        batch.checkpoint,
        Some(Checkpoint {
            uid_validity: checkpoint.uid_validity,
            last_uid: 4
        })
    );
    rescan.mark_done(&batch).await?;
    rescan.reset();
    assert_eq!(uids(&rescan.fetch_batch(4).await?), [5, 6, 7]);
    Ok(())
}

#[tokio::test]
async fn implicit_tls_and_starttls_with_the_test_ca() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-tls");
    append_n(stack, &user, 0..2).await?;

    let implicit = ImapConfig {
        host: "localhost".into(),
        port: stack.imaps_port,
        tls: TlsMode::Implicit,
        tls_ca_file: Some(stack.ca_file.clone()),
        ..config(stack, &user)
    };
    let mut source = ImapSource::new(implicit.clone(), None)?;
    assert_eq!(uids(&source.fetch_batch(10).await?), [1, 2]);
    let probe = source.probe().await?;
    eprintln!("probe:\n{probe}");
    assert!(probe.contains("implicit TLS"), "{probe}");
    assert!(probe.contains("IDLE: yes"), "{probe}");
    assert!(probe.contains("2 messages, 2 waiting"), "{probe}");
    // After probe (which logs out) the source reconnects by itself.
    assert!(source.fetch_batch(10).await?.mails.is_empty());

    let starttls = ImapConfig {
        host: "127.0.0.1".into(),
        port: stack.imap_port,
        tls: TlsMode::StartTls,
        tls_ca_file: Some(stack.ca_file.clone()),
        ..config(stack, &user)
    };
    let mut source = ImapSource::new(starttls, None)?;
    assert_eq!(uids(&source.fetch_batch(10).await?), [1, 2]);

    // Without the test CA the certificate is refused, quickly.
    let untrusted = ImapConfig {
        tls_ca_file: None,
        ..implicit
    };
    let mut source = ImapSource::new(untrusted, None)?;
    let started = Instant::now();
    let e = source
        .fetch_batch(10)
        .await
        .expect_err("an unknown CA must fail");
    let text = format!("{e:#}");
    assert!(
        text.contains("TLS handshake") && text.contains("certificate"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

/// The poll interval of the IDLE test: long, so that a wake-up well inside it can only
/// come from the server's push (IDLE), however slow the machine.
const IDLE_TEST_POLL: Duration = Duration::from_secs(120);
/// How soon after the APPEND the IDLE wait must end: a twelfth of the poll interval.
/// Dovecot reports a change to an IDLE session after ~0.5 s; the rest is room for a
/// loaded machine, while a wake by polling would come ~120 s after the wait started.
const IDLE_WAKE_BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn idle_wakes_up_on_new_mail() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-idle");
    let mut cfg = config(stack, &user);
    cfg.poll_interval = IDLE_TEST_POLL;
    assert!(IDLE_WAKE_BOUND * 4 < IDLE_TEST_POLL);
    let mut source = ImapSource::new(cfg, None)?;
    assert!(source.fetch_batch(10).await?.mails.is_empty());

    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let waiter = tokio::spawn(async move {
        let result = source.wait_for_mail(&token).await;
        (source, result, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiter.is_finished(),
        "wait_for_mail returned with nothing new"
    );

    imap_append(stack, &user, &message(&user, 0)).await?;
    let appended = Instant::now();
    let (mut source, result, woke) = tokio::time::timeout(IDLE_TEST_POLL / 2, waiter)
        .await
        .context("IDLE did not wake up")??;
    result?;
    let delay = woke.saturating_duration_since(appended);
    eprintln!(
        "IDLE woke {delay:?} after the APPEND completed (bound {IDLE_WAKE_BOUND:?}, poll interval {IDLE_TEST_POLL:?})"
    );
    assert!(
        delay < IDLE_WAKE_BOUND,
        "IDLE took {delay:?}: not a push (bound {IDLE_WAKE_BOUND:?}, poll interval {IDLE_TEST_POLL:?})"
    );

    let batch = source.fetch_batch(10).await?;
    assert_eq!(uids(&batch), [1]);
    source.mark_done(&batch).await?;

    // Mail arriving between the last fetch and the wait is not left for the next event.
    assert!(source.fetch_batch(10).await?.mails.is_empty());
    imap_append(stack, &user, &message(&user, 1)).await?;
    let started = Instant::now();
    // At once means without waiting for a push or a poll: well inside the poll interval.
    tokio::time::timeout(IDLE_WAKE_BOUND, source.wait_for_mail(&shutdown))
        .await
        .context("mail that was already there must end the wait at once")??;
    eprintln!(
        "wait with mail already there returned in {:?}",
        started.elapsed()
    );
    assert_eq!(uids(&source.fetch_batch(10).await?), [2]);
    Ok(())
}

#[tokio::test]
async fn wait_returns_promptly_on_shutdown() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-shutdown");
    for idle in [true, false] {
        let mut source = ImapSource::new(
            ImapConfig {
                idle,
                ..config(stack, &user)
            },
            None,
        )?;
        assert!(source.fetch_batch(10).await?.mails.is_empty());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let waiter = tokio::spawn(async move { source.wait_for_mail(&token).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiter.is_finished(),
            "idle = {idle}: returned before shutdown"
        );
        let cancelled = Instant::now();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .with_context(|| format!("idle = {idle}: no prompt return on shutdown"))???;
        eprintln!(
            "idle = {idle}: returned {:?} after cancel",
            cancelled.elapsed()
        );
    }

    // Already cancelled: no connection, no wait.
    let mut source = ImapSource::new(config(stack, &user), None)?;
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(200), source.wait_for_mail(&shutdown)).await??;
    Ok(())
}

#[tokio::test]
async fn connection_closed_during_idle_is_an_error() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-kick");
    let mut source = ImapSource::new(config(stack, &user), None)?;
    assert!(source.fetch_batch(10).await?.mails.is_empty());
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let waiter = tokio::spawn(async move {
        let result = source.wait_for_mail(&token).await;
        (source, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let output = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(stack.state_dir.join("dovecot.conf"))
        .args(["kick", &user])
        .output()
        .context("running doveadm kick")?;
    assert!(
        output.status.success(),
        "doveadm kick: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (mut source, result) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .context("a closed IDLE must end the wait")??;
    let e = result.expect_err("a connection closed by the server is an error");
    eprintln!("kicked during IDLE: {e:#}");
    assert!(format!("{e:#}").contains("IDLE"), "{e:#}");

    // The caller resets and carries on: a new connection.
    source.reset();
    imap_append(stack, &user, &message(&user, 0)).await?;
    assert_eq!(uids(&source.fetch_batch(10).await?), [1]);
    Ok(())
}

#[tokio::test]
async fn failures_do_not_hang() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-fail");

    let mut source = ImapSource::new(
        ImapConfig {
            auth: Auth::Password("wrong".into()),
            ..config(stack, &user)
        },
        None,
    )?;
    let started = Instant::now();
    let e = source
        .fetch_batch(10)
        .await
        .expect_err("a wrong password must fail");
    let text = format!("{e:#}");
    eprintln!("wrong password: {text} (after {:?})", started.elapsed());
    assert!(
        text.contains("LOGIN") && text.contains(&format!("127.0.0.1:{}", stack.imap_port)),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));

    // A server that accepts and then says nothing: the greeting times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let silent = tokio::spawn(async move {
        let (socket, _) = listener.accept().await?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
        anyhow::Ok(())
    });
    let cfg = ImapConfig {
        port,
        timeout: Duration::from_millis(500),
        ..config(stack, &user)
    };
    let mut source = ImapSource::new(cfg, None)?;
    let started = Instant::now();
    let e = source
        .fetch_batch(10)
        .await
        .expect_err("a silent server must fail");
    let text = format!("{e:#}");
    eprintln!("silent server: {text} (after {:?})", started.elapsed());
    assert!(
        text.contains("greeting") && text.contains("timed out"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    silent.abort();

    // Nobody listening: connect fails at once.
    let mut source = ImapSource::new(
        ImapConfig {
            port,
            ..config(stack, &user)
        },
        None,
    )?;
    let e = source.probe().await.expect_err("nobody listens");
    assert!(format!("{e:#}").contains("connect"), "{e:#}");

    // A folder that does not exist.
    let mut source = ImapSource::new(
        ImapConfig {
            folder: "Nope".into(),
            ..config(stack, &user)
        },
        None,
    )?;
    let e = source.fetch_batch(10).await.expect_err("no such folder");
    assert!(format!("{e:#}").contains("SELECT \"Nope\""), "{e:#}");
    Ok(())
}

#[tokio::test]
async fn fetch_rate_for_2000_messages() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-rate");
    let count = 2000;
    let started = Instant::now();
    append_n(stack, &user, 0..count).await?;
    eprintln!("appended {count} messages in {:?}", started.elapsed());

    let mut source = ImapSource::new(config(stack, &user), None)?;
    let started = Instant::now();
    let (mut fetched, mut bytes, mut last_uid, mut batches) = (0, 0, 0, 0);
    let mut mark_time = Duration::ZERO;
    loop {
        let batch = source.fetch_batch(500).await?;
        if batch.mails.is_empty() {
            break;
        }
        let batch_uids = uids(&batch);
        assert!(
            batch_uids.iter().all(|&u| u > last_uid),
            "UIDs must ascend across batches"
        );
        assert!(batch_uids.windows(2).all(|w| w[0] < w[1]));
        last_uid = *batch_uids.last().unwrap_or(&0);
        fetched += batch.mails.len();
        bytes += batch.mails.iter().map(|m| m.raw.len()).sum::<usize>();
        batches += 1;
        let marking = Instant::now();
        source.mark_done(&batch).await?;
        mark_time += marking.elapsed();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fetched {fetched} messages ({bytes} bytes) in {batches} batches in {elapsed:?} \
         ({:.0} messages/s including mark_done; mark_done took {mark_time:?})",
        fetched as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(fetched, count);
    assert_eq!(batches, 4);
    assert_eq!(seen_uids(stack, &user).await?.len(), count);
    Ok(())
}

#[tokio::test]
async fn expunged_between_search_and_fetch_is_skipped() -> Result<()> {
    logs();
    let stack = mail_stack();
    let user = unique_user("imap-expunge");
    append_n(stack, &user, 0..5).await?;
    let mut source = ImapSource::new(config(stack, &user), None)?;
    let first = source.fetch_batch(2).await?;
    assert_eq!(uids(&first), [1, 2]);
    source.mark_done(&first).await?;

    // UIDs 3..5 are in the pending list now; another client deletes 3 and 5.
    let mut other = imap_login(stack, &user).await?;
    other.select("INBOX").await?;
    let _: Vec<_> = other
        .uid_store("3,5", "+FLAGS.SILENT (\\Deleted)")
        .await?
        .try_collect()
        .await?;
    let _: Vec<_> = other.expunge().await?.try_collect().await?;
    other.logout().await.ok();

    // Like the service: on an error, reset and try again.
    let mut got = Vec::new();
    for attempt in 0..3 {
        match source.fetch_batch(10).await {
            Ok(batch) if batch.mails.is_empty() => break,
            Ok(batch) => {
                got.extend(uids(&batch));
                source.mark_done(&batch).await?;
            }
            Err(e) => {
                eprintln!("attempt {attempt}: {e:#}");
                source.reset();
            }
        }
    }
    assert_eq!(got, [4]);
    Ok(())
}

/// A scripted IMAP server for what Dovecot will not do on request: it answers the
/// commands ImapSource sends up to IDLE, then behaves as `after_idle` says.
#[derive(Clone, Copy, Debug)]
enum AfterIdle {
    /// Close the connection without a word.
    Close,
    /// Report new mail, then never answer DONE.
    IgnoreDone,
}

async fn fake_server(after_idle: AfterIdle) -> Result<u16> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await?;
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] fake ready\r\n")
            .await?;
        while let Some(line) = lines.next_line().await? {
            let (tag, command) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let command = command.to_ascii_uppercase();
            let reply = if command.starts_with("LOGIN") {
                format!("{tag} OK logged in\r\n")
            } else if command.starts_with("CAPABILITY") {
                format!("* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n")
            } else if command.starts_with("SELECT") {
                format!(
                    "* 0 EXISTS\r\n* OK [UIDVALIDITY 42] ok\r\n{tag} OK [READ-WRITE] selected\r\n"
                )
            } else if command.starts_with("UID SEARCH") {
                format!("* SEARCH\r\n{tag} OK done\r\n")
            } else if command.starts_with("IDLE") {
                write.write_all(b"+ idling\r\n").await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                match after_idle {
                    AfterIdle::Close => return anyhow::Ok(()),
                    AfterIdle::IgnoreDone => {
                        write.write_all(b"* 1 EXISTS\r\n").await?;
                        // Read DONE and stay silent until the client gives up.
                        while lines.next_line().await?.is_some() {}
                        return Ok(());
                    }
                }
            } else {
                format!("{tag} OK done\r\n")
            };
            write.write_all(reply.as_bytes()).await?;
        }
        Ok(())
    });
    Ok(port)
}

fn fake_config(port: u16) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        tls_ca_file: None,
        username: "u".into(),
        auth: Auth::Password("p".into()),
        folder: "INBOX".into(),
        idle: true,
        poll_interval: Duration::from_secs(60),
        batch_size: 3,
        timeout: Duration::from_millis(500),
    }
}

#[tokio::test]
async fn idle_on_a_closed_connection_is_an_error() -> Result<()> {
    logs();
    let port = fake_server(AfterIdle::Close).await?;
    let mut source = ImapSource::new(fake_config(port), None)?;
    assert!(source.fetch_batch(10).await?.mails.is_empty());
    let started = Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(2),
        source.wait_for_mail(&CancellationToken::new()),
    )
    .await
    .context("a closed connection must end the IDLE")?
    .expect_err("a closed connection is an error, not new mail");
    eprintln!("closed during IDLE: {e:#} (after {:?})", started.elapsed());
    assert!(format!("{e:#}").contains("connection lost"), "{e:#}");
    Ok(())
}

#[tokio::test]
async fn idle_done_is_time_boxed() -> Result<()> {
    logs();
    let port = fake_server(AfterIdle::IgnoreDone).await?;
    let mut source = ImapSource::new(fake_config(port), None)?;
    assert!(source.fetch_batch(10).await?.mails.is_empty());
    let started = Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(3),
        source.wait_for_mail(&CancellationToken::new()),
    )
    .await
    .context("an unanswered DONE must not hang")?
    .expect_err("an unanswered DONE is an error");
    eprintln!("unanswered DONE: {e:#} (after {:?})", started.elapsed());
    assert!(
        format!("{e:#}").contains("IDLE DONE") && format!("{e:#}").contains("timed out"),
        "{e:#}"
    );
    Ok(())
}
