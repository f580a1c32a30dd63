//! The LMTP listener (`[mailbox] kind = "lmtp"`) of the real binary, spoken to
//! directly over TCP or a Unix socket (no MTA): the desk's addresses get 250 and
//! others 550, an over-size message 552, bad commands the RFC's errors; garbage,
//! pipelining and connections cut at any point leave the service running; a store
//! that fails gives 451 and the retry is stored; a message delivered twice (a lost
//! 250) is one ticket; concurrent connections share commits. Acknowledgements go to
//! the file transport. The way through Postfix is `tests/lmtp_postfix.rs`.

#[path = "support/lmtp_client.rs"]
mod lmtp_client;
#[path = "support/running.rs"]
mod running;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lmtp_client::{LmtpClient, free_port, request, write_config};
use running::{Running, count};

const WAIT: Duration = Duration::from_secs(30);

const SUPPORT: &str = "support@desk.test";
const HELP: &str = "help@desk.test";
const ANN: &str = "ann@example.test";

/// A desk listening on a fresh port (or `listen`), acknowledging into `outbox/`.
struct Desk {
    dir: tempfile::TempDir,
    listen: String,
    db: PathBuf,
    service: Running,
}

impl Desk {
    /// `mailbox` and `limits`: more keys for those tables.
    fn start(mailbox: &str, limits: &str, fault: Option<&str>) -> Desk {
        let port = free_port();
        Desk::start_on(&format!("127.0.0.1:{port}"), mailbox, limits, fault)
    }

    fn start_on(listen: &str, mailbox: &str, limits: &str, fault: Option<&str>) -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let transport = format!(
            "kind = \"file\"\npath = \"{}\"",
            dir.path().join("outbox").display()
        );
        let desk = format!("support_address = \"{SUPPORT}\"\nother_addresses = [\"{HELP}\"]");
        let rest = format!("[limits]\nacknowledgements_per_sender_per_hour = 100000\n{limits}");
        let (config, db) = write_config(dir.path(), listen, mailbox, &transport, &desk, &rest);
        let mut service = Running::new(&config, &dir.path().join("service.log"));
        service.set_fault(fault);
        service.start();
        Desk {
            listen: listen.to_string(),
            db,
            service,
            dir,
        }
    }

    fn client(&self) -> LmtpClient {
        LmtpClient::ready(&self.listen, WAIT)
    }

    fn tickets(&self) -> i64 {
        count(&self.db, "SELECT count(*) FROM tickets")
    }

    /// Raw messages stored, oldest first.
    fn raw_messages(&self) -> Vec<Vec<u8>> {
        let Some(c) = running::read_store(&self.db) else {
            return Vec::new();
        };
        let mut stmt = c
            .prepare("SELECT id FROM messages ORDER BY id")
            .expect("query");
        let rows: Vec<i64> = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("ids");
        rows.into_iter()
            .map(|id| {
                ticketpost::store::messages::raw_of(&c, id)
                    .expect("readable")
                    .expect("raw")
            })
            .collect()
    }

    /// Waits until the file transport has written `n` acknowledgements.
    fn wait_acks(&mut self, n: usize) -> usize {
        let outbox = self.dir.path().join("outbox");
        self.service.wait_for("acknowledgements written", WAIT, || {
            let found = count_suffix(&outbox, "-acknowledgement.eml");
            if found >= n { Ok(found) } else { Err(found) }
        })
    }
}

fn count_suffix(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn desk_addresses_get_250_others_550_and_the_ack_is_written() {
    let mut desk = Desk::start("", "", None);
    let mut c = desk.client();
    let raw = request(
        ANN,
        SUPPORT,
        "first.1@example.test",
        "Laptop does not start",
    );
    let d = c.deliver(
        ANN,
        &[
            "nobody@desk.test",
            "SUPPORT@Desk.Test",
            HELP,
            "support@elsewhere.test",
        ],
        &raw,
    );
    assert_eq!(d.mail.code, 250);
    let rcpt: Vec<(u16, &str)> = d.rcpt.iter().map(|r| (r.code, r.status())).collect();
    assert_eq!(
        rcpt,
        [
            (550, "5.1.1"),
            (250, "2.1.5"),
            (250, "2.1.5"),
            (550, "5.1.1")
        ],
        "{:?}",
        d.rcpt
    );
    assert_eq!(d.data.code, 354);
    // One reply per accepted recipient, after the commit.
    assert_eq!(d.codes(), [250, 250], "{:?}", d.after);
    assert_eq!(
        desk.tickets(),
        1,
        "one ticket for one message with two recipients"
    );
    let stored = desk.raw_messages();
    let text = String::from_utf8_lossy(&stored[0]);
    assert!(
        text.starts_with("Return-Path: <ann@example.test>\r\nFrom: Requester"),
        "{text}"
    );
    assert!(
        text.contains("\r\n.hidden line that starts with a dot\r\n"),
        "dot-stuffing undone: {text}"
    );
    assert_eq!(desk.wait_acks(1), 1);
    assert_eq!(c.command("QUIT").code, 221);
    assert!(c.closed());
}

#[test]
fn over_size_gets_552_before_and_after_the_text_and_the_connection_goes_on() {
    let desk = Desk::start("", "max_message_bytes = 65536", None);
    let mut c = desk.client();
    let lhlo = c.command("LHLO again.example.test");
    assert!(lhlo.lines.contains(&"SIZE 65536".to_string()), "{lhlo:?}");
    let r = c.command("MAIL FROM:<ann@example.test> SIZE=70000");
    assert_eq!((r.code, r.status()), (552, "5.3.4"));
    // Not announced: read to its end, then refused for each recipient.
    let mut big = request(ANN, SUPPORT, "big.1@example.test", "Huge log");
    big.extend(
        std::iter::repeat_n(b"0123456789abcdef0123456789abcdef\r\n".as_slice(), 2200).flatten(),
    );
    let d = c.deliver(ANN, &[SUPPORT, HELP], &big);
    assert_eq!(d.codes(), [552, 552], "{:?}", d.after);
    assert_eq!(d.after[0].status(), "5.3.4");
    // The same connection still works.
    let small = request(ANN, SUPPORT, "small.1@example.test", "Small one");
    assert_eq!(c.deliver(ANN, &[SUPPORT], &small).codes(), [250]);
    assert_eq!(desk.tickets(), 1, "only the small message is stored");
}

#[test]
fn commands_out_of_order_and_bad_syntax_get_rfc_errors() {
    let desk = Desk::start("", "", None);
    let mut c = LmtpClient::greeted(&desk.listen, WAIT);
    for (line, code, status) in [
        ("MAIL FROM:<ann@example.test>", 503, "5.5.1"),
        ("EHLO client", 500, "5.5.1"),
        ("LHLO", 501, "5.5.4"),
        ("LHLO client", 250, ""),
        ("RCPT TO:<support@desk.test>", 503, "5.5.1"),
        ("DATA", 503, "5.5.1"),
        ("MAIL FROM:ann@example.test", 501, "5.1.7"),
        ("MAIL FROM:<ann@example.test> RET=FULL", 555, "5.5.4"),
        ("MAIL FROM:<ann@example.test>", 250, "2.1.0"),
        ("MAIL FROM:<ann@example.test>", 503, "5.5.1"),
        ("RCPT TO:<>", 501, "5.1.3"),
        ("DATA", 503, "5.5.1"),
        ("VRFY support", 252, "2.5.0"),
        ("NOOP", 250, "2.0.0"),
        ("RSET", 250, "2.0.0"),
        ("FROB", 500, "5.5.2"),
    ] {
        let r = c.command(line);
        assert_eq!(r.code, code, "{line}: {r:?}");
        if !status.is_empty() {
            assert_eq!(r.status(), status, "{line}: {r:?}");
        }
    }
    assert_eq!(desk.tickets(), 0);
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let desk = Desk::start("", "", None);
    let mut c = LmtpClient::greeted(&desk.listen, WAIT);
    c.send(b"LHLO pipe.example.test\r\nMAIL FROM:<ann@example.test>\r\nRCPT TO:<support@desk.test>\r\nRCPT TO:<x@desk.test>\r\nRCPT TO:<help@desk.test>\r\nDATA\r\n")
        .expect("send");
    let codes: Vec<u16> = (0..6).map(|_| c.reply().expect("reply").code).collect();
    assert_eq!(codes, [250, 250, 250, 550, 250, 354]);
    c.send(&lmtp_client::dot_stuffed(&request(
        ANN,
        SUPPORT,
        "pipe.1@example.test",
        "Pipelined",
    )))
    .expect("send");
    assert_eq!(c.reply().expect("reply").code, 250);
    assert_eq!(c.reply().expect("reply").code, 250);
    // A second transaction in one write, RSET first.
    c.send(b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<support@desk.test>\r\nDATA\r\n")
        .expect("send");
    let codes: Vec<u16> = (0..4).map(|_| c.reply().expect("reply").code).collect();
    assert_eq!(codes, [250, 250, 250, 354]);
    c.send(&lmtp_client::dot_stuffed(&request(
        "mailer-daemon@example.test",
        SUPPORT,
        "pipe.2@example.test",
        "Undelivered Mail Returned to Sender",
    )))
    .expect("send");
    assert_eq!(c.reply().expect("reply").code, 250);
    let stored = desk.raw_messages();
    assert_eq!(stored.len(), 2);
    assert!(
        stored[1].starts_with(b"Return-Path: <>\r\n"),
        "the bounce keeps its null sender"
    );
}

#[test]
fn garbage_long_lines_and_cut_connections_leave_the_service_running() {
    let mut desk = Desk::start("", "", None);
    // Binary garbage: errors, then the server closes after too many.
    let mut c = LmtpClient::greeted(&desk.listen, WAIT);
    let mut rng = fastrand::Rng::with_seed(5321);
    let mut codes = Vec::new();
    for _ in 0..30 {
        let mut line: Vec<u8> = (0..rng.usize(1..60))
            .map(|_| rng.u8(..))
            .filter(|b| *b != b'\n')
            .collect();
        line.extend_from_slice(b"\r\n");
        if c.send(&line).is_err() {
            break;
        }
        match c.reply() {
            Ok(r) => codes.push(r.code),
            Err(_) => break,
        }
    }
    assert!(
        codes.iter().all(|&code| code == 500 || code == 421),
        "{codes:?}"
    );
    assert_eq!(
        codes.last(),
        Some(&421),
        "closed after too many errors: {codes:?}"
    );
    assert!(c.closed());
    // An over-long line: 500, and the connection goes on.
    let mut c = desk.client();
    let mut long = vec![b'A'; 5000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&long).expect("send");
    let r = c.reply().expect("reply");
    assert_eq!((r.code, r.status()), (500, "5.5.2"));
    assert_eq!(c.reply().expect("reply").code, 250);
    // Cut in the middle of the text: nothing is stored.
    let raw = request(ANN, SUPPORT, "cut.1@example.test", "Cut off");
    let mut c = desk.client();
    c.command("MAIL FROM:<ann@example.test>");
    c.command("RCPT TO:<support@desk.test>");
    assert_eq!(c.command("DATA").code, 354);
    c.send(&raw[..raw.len() / 2]).expect("send");
    drop(c);
    // Cut right after LHLO, and a connection that never speaks.
    drop(desk.client());
    drop(LmtpClient::connect(&desk.listen).expect("connect"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(desk.tickets(), 0, "a message cut off is not stored");
    // The whole message, later, is stored once.
    let mut c = desk.client();
    assert_eq!(c.deliver(ANN, &[SUPPORT], &raw).codes(), [250]);
    assert_eq!(desk.tickets(), 1);
    desk.service.assert_running("bad clients");
}

#[test]
fn a_message_delivered_again_after_a_lost_250_is_one_ticket() {
    let desk = Desk::start("", "", None);
    let raw = request(ANN, SUPPORT, "twice.1@example.test", "Printer jammed");
    // The client sends the text and goes away before reading the 250 (as when the
    // reply is lost): the message is committed all the same.
    let mut c = desk.client();
    c.command("MAIL FROM:<ann@example.test>");
    c.command("RCPT TO:<support@desk.test>");
    c.command("DATA");
    c.send(&lmtp_client::dot_stuffed(&raw)).expect("send");
    drop(c);
    let deadline = Instant::now() + WAIT;
    while desk.tickets() < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(desk.tickets(), 1);
    // The MTA delivers it again: 250, and still one ticket.
    let mut c = desk.client();
    let d = c.deliver(ANN, &[SUPPORT, HELP], &raw);
    assert_eq!(d.codes(), [250, 250], "{:?}", d.after);
    assert_eq!(desk.tickets(), 1, "the repeat made no second ticket");
    assert_eq!(count(&desk.db, "SELECT count(*) FROM messages"), 1);
    assert_eq!(
        count(
            &desk.db,
            "SELECT count(*) FROM outbox WHERE kind = 'acknowledgement'"
        ),
        1,
        "and no second acknowledgement"
    );
}

#[test]
fn a_store_that_fails_gets_451_and_the_retry_is_stored() {
    let desk = Desk::start("", "", Some("store-fails:1"));
    let raw = request(ANN, SUPPORT, "retry.1@example.test", "Disk full?");
    let mut c = desk.client();
    let d = c.deliver(ANN, &[SUPPORT, HELP], &raw);
    let after: Vec<(u16, &str)> = d.after.iter().map(|r| (r.code, r.status())).collect();
    assert_eq!(after, [(451, "4.3.0"), (451, "4.3.0")], "{:?}", d.after);
    assert_eq!(desk.tickets(), 0, "nothing stored on a 451");
    // The MTA tries again (on the same connection here): now the store takes it.
    assert_eq!(c.deliver(ANN, &[SUPPORT], &raw).codes(), [250]);
    assert_eq!(desk.tickets(), 1);
    assert!(
        desk.service
            .log_text()
            .contains("LMTP batch not stored; answered 451"),
        "the failure is logged"
    );
}

#[test]
fn concurrent_connections_share_group_commits() {
    let mut desk = Desk::start("", "", None);
    const CONNECTIONS: usize = 8;
    const EACH: usize = 25;
    let listen = desk.listen.clone();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|t| {
            let listen = listen.clone();
            std::thread::spawn(move || {
                let mut c = LmtpClient::ready(&listen, WAIT);
                (0..EACH)
                    .map(|i| {
                        let from = format!("user{t}@example.test");
                        let raw = request(
                            &from,
                            SUPPORT,
                            &format!("c{t}.{i}@example.test"),
                            &format!("Request {t}-{i}"),
                        );
                        c.deliver(&from, &[SUPPORT], &raw).codes()
                    })
                    .filter(|codes| codes == &[250])
                    .count()
            })
        })
        .collect();
    let stored: usize = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .sum();
    assert_eq!(stored, CONNECTIONS * EACH, "every message answered 250");
    assert_eq!(desk.tickets(), (CONNECTIONS * EACH) as i64);
    assert_eq!(desk.wait_acks(CONNECTIONS * EACH), CONNECTIONS * EACH);
    let log = desk.service.log_text();
    let batches: Vec<usize> = log
        .lines()
        .filter(|l| l.contains("LMTP batch stored"))
        .filter_map(|l| l.split("messages=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    let total: usize = batches.iter().sum();
    assert_eq!(
        total,
        CONNECTIONS * EACH,
        "every message in one logged batch"
    );
    println!(
        "{} messages in {} commits, the largest of {}",
        total,
        batches.len(),
        batches.iter().max().unwrap_or(&0)
    );
    assert!(
        batches.len() < total,
        "messages of concurrent connections share commits: {batches:?}"
    );
}

#[test]
fn connections_past_the_limit_get_421() {
    let desk = Desk::start("max_connections = 2", "", None);
    let first = desk.client();
    let mut second = desk.client();
    let mut third = LmtpClient::connect(&desk.listen).expect("connect");
    let r = third.reply().expect("a reply");
    assert_eq!((r.code, r.status()), (421, "4.3.2"), "{r:?}");
    assert!(third.closed());
    drop(first);
    // A place is free again once a connection ends.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = LmtpClient::connect(&desk.listen).expect("connect");
        if c.reply().expect("a reply").code == 220 {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(second.command("NOOP").code, 250);
}

#[test]
fn an_idle_connection_is_closed_with_421() {
    let desk = Desk::start("timeout = 0.5", "", None);
    let mut c = desk.client();
    std::thread::sleep(Duration::from_millis(900));
    let r = c.reply().expect("a reply");
    assert_eq!((r.code, r.status()), (421, "4.4.2"), "{r:?}");
    assert!(c.closed());
}

#[test]
fn a_unix_socket_listener_replaces_a_stale_socket_and_removes_its_own() {
    let sockets = tempfile::tempdir().expect("temp dir");
    let path = sockets.path().join("lmtp.sock");
    let listen = format!("unix:{}", path.display());
    let mut desk = Desk::start_on(&listen, "socket_mode = \"0666\"", "", None);
    let raw = request(ANN, SUPPORT, "unix.1@example.test", "Over a socket");
    assert_eq!(desk.client().deliver(ANN, &[SUPPORT], &raw).codes(), [250]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o666);
    // Killed: the socket file stays behind; the next start replaces it.
    desk.service.kill9();
    assert!(path.exists(), "a killed service leaves its socket file");
    desk.service.start();
    let again = request(ANN, SUPPORT, "unix.2@example.test", "After a restart");
    assert_eq!(
        desk.client().deliver(ANN, &[SUPPORT], &again).codes(),
        [250]
    );
    assert_eq!(desk.tickets(), 2);
    // Stopped: the socket file is removed.
    assert!(desk.service.terminate(WAIT).success());
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[test]
fn check_shows_the_listener() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("127.0.0.1:{port}");
    let (config, _) = write_config(
        dir.path(),
        &listen,
        "max_connections = 16",
        &format!(
            "kind = \"file\"\npath = \"{}\"",
            dir.path().join("outbox").display()
        ),
        &format!("support_address = \"{SUPPORT}\""),
        "",
    );
    let check = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticketpost"))
            .arg("--config")
            .arg(&config)
            .arg("check")
            .env_remove("TICKETPOST_FAULT")
            .output()
            .expect("run check");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), text)
    };
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "mailbox lmtp listener on {listen} (at most 16 connection(s)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ok mailbox: lmtp listener on {listen}: the address is free"
        )),
        "{text}"
    );
    let mut service = Running::new(&config, &dir.path().join("service.log"));
    service.start();
    drop(LmtpClient::greeted(&listen, WAIT));
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "ok mailbox: lmtp listener on {listen}: a server answers: 220 desk.test LMTP"
        )),
        "{text}"
    );
    // Something else on the port is a problem.
    assert!(service.terminate(WAIT).success());
    let other = std::net::TcpListener::bind(&listen).expect("bind");
    let accepting = std::thread::spawn(move || {
        if let Ok((mut s, _)) = other.accept() {
            let _ = std::io::Write::write_all(&mut s, b"+OK POP3 ready\r\n");
        }
    });
    let (ok, text) = check();
    assert!(!ok, "{text}");
    assert!(
        text.contains("PROBLEM mailbox: something else listens there"),
        "{text}"
    );
    let _ = accepting.join();
}
