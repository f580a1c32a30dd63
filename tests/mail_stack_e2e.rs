//! End to end on a real mail stack: requests go through Postfix into the support
//! mailbox in Dovecot; the `ticketpost` binary reads it over IMAP (plain and implicit
//! TLS), stores tickets in SQLite and sends acknowledgements through Postfix, which
//! arrive in the requesters' IMAP mailboxes.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

struct Gateway {
    _dir: tempfile::TempDir,
    config: PathBuf,
    support: String,
}

impl Gateway {
    fn new(tag: &str, tls: bool, batch_size: usize) -> Gateway {
        Gateway::with_keys(tag, tls, batch_size, "", "")
    }

    /// A gateway with `mailbox_keys` added to `[mailbox]` and `extra` at the end.
    fn with_keys(
        tag: &str,
        tls: bool,
        batch_size: usize,
        mailbox_keys: &str,
        extra: &str,
    ) -> Gateway {
        let stack = support::mail_stack();
        let dir = tempfile::tempdir().unwrap();
        let support = support::unique_user(tag);
        let config = dir.path().join("ticketpost.toml");
        let (port, tls_lines) = if tls {
            (
                stack.imaps_port,
                format!(
                    "tls = \"implicit\"\nhost = \"localhost\"\ntls_ca_file = \"{}\"",
                    stack.ca_file.display()
                ),
            )
        } else {
            (
                stack.imap_port,
                "tls = \"none\"\nhost = \"127.0.0.1\"".to_string(),
            )
        };
        std::fs::write(
            &config,
            format!(
                r#"
[store]
path = "{root}/ticketpost.db"
[mailbox]
kind = "imap"
{tls_lines}
port = {port}
username = "{support}"
password_env = "TP_TEST_IMAP_PASSWORD"
batch_size = {batch_size}
timeout = 10
{mailbox_keys}
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
timeout = 10
[desk]
support_address = "{support}"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>"]
{extra}
"#,
                root = dir.path().display(),
                smtp = stack.smtp_port,
            ),
        )
        .unwrap();
        Gateway {
            _dir: dir,
            config,
            support,
        }
    }

    fn command(&self, args: &[&str], fault: Option<&str>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketpost"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("TICKETPOST_LOG", "warn")
            .env("TP_TEST_IMAP_PASSWORD", &support::mail_stack().password);
        match fault {
            Some(f) => cmd.env("TICKETPOST_FAULT", f),
            None => cmd.env_remove("TICKETPOST_FAULT"),
        };
        cmd
    }

    fn output(&self, args: &[&str], fault: Option<&str>) -> Output {
        self.command(args, fault).output().unwrap()
    }

    fn run_once(&self) -> String {
        let out = self.output(&["run", "--once"], None);
        assert!(
            out.status.success(),
            "run --once failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn tickets(&self) -> Vec<Value> {
        let out = self.output(&["tickets", "list", "--json"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn request(id: &str, from: &str, to: &str, subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: Wed, 25 Nov 2026 09:00:00 +0000\nMessage-ID: <{id}>\n{extra_headers}Content-Type: text/plain; charset=utf-8\n\nPlease help.\n"
    )
    .into_bytes()
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{}:", name.to_ascii_lowercase());
    text.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

async fn wait_count(user: &str, n: usize) -> Vec<Vec<u8>> {
    support::imap_wait_for(support::mail_stack(), user, |m| m.len() >= n, WAIT)
        .await
        .unwrap()
}

/// The mailbox of `user` holds exactly `n` messages after a short settle time.
async fn assert_count_stays(user: &str, n: usize) {
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = support::imap_fetch_all(support::mail_stack(), user)
        .await
        .unwrap();
    assert_eq!(got.len(), n, "mailbox of {user}");
}

/// Sends SIGTERM to the running service and waits (at most 15 s) for it to exit.
async fn stop_with_sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    let pid = child.id() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "service did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ack_reply_duplicate_auto_reply_over_imap_and_smtp() {
    let stack = support::mail_stack();
    let gw = Gateway::new("e2e", false, 2);
    let requester = support::unique_user("req");
    let raw = request(
        "e2e-req-1@outside.test",
        &requester,
        &gw.support,
        "VPN down for me",
        "",
    );
    support::smtp_send(stack, &requester, &[&gw.support], &raw)
        .await
        .unwrap();
    wait_count(&gw.support, 1).await;

    let out = gw.run_once();
    // The acknowledgement, and the new-ticket notice to the one agent.
    assert!(
        out.contains("1 new ticket") && out.contains("sent 2 mail"),
        "{out}"
    );
    let tickets = gw.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["requester"], requester.as_str());

    // The acknowledgement arrives in the requester's IMAP mailbox with the token.
    let inbox = wait_count(&requester, 1).await;
    let ack = &inbox[0];
    let subject = header(ack, "Subject").unwrap();
    assert_eq!(subject, "[TP-1] VPN down for me");
    assert_eq!(
        header(ack, "In-Reply-To").as_deref(),
        Some("<e2e-req-1@outside.test>")
    );
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(ack, "From").unwrap().contains(&gw.support));
    let ack_id = header(ack, "Message-ID").unwrap();

    // A reply threads onto the ticket; no new acknowledgement.
    let reply = request(
        "e2e-reply-1@outside.test",
        &requester,
        &gw.support,
        "Re: [TP-1] VPN down for me",
        &format!("In-Reply-To: {ack_id}\nReferences: <e2e-req-1@outside.test> {ack_id}\n"),
    );
    support::smtp_send(stack, &requester, &[&gw.support], &reply)
        .await
        .unwrap();
    // The same request delivered a second time: dropped as a duplicate.
    support::smtp_send(stack, &requester, &[&gw.support], &raw)
        .await
        .unwrap();
    wait_count(&gw.support, 3).await;
    let out = gw.run_once();
    assert!(
        out.contains("1 follow-up") && out.contains("1 duplicate"),
        "{out}"
    );
    let tickets = gw.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["message_count"], 2);
    assert_count_stays(&requester, 1).await;

    // An auto-reply from someone else, to no mail of ours: kept without a ticket, never
    // answered.
    let away = support::unique_user("away");
    let ooo = request(
        "e2e-ooo-1@outside.test",
        &away,
        &gw.support,
        "Out of Office: VPN",
        "Auto-Submitted: auto-replied\n",
    );
    support::smtp_send(stack, &away, &[&gw.support], &ooo)
        .await
        .unwrap();
    wait_count(&gw.support, 4).await;
    let out = gw.run_once();
    assert!(
        out.contains("1 kept without a ticket") && out.contains("sent 0 mail"),
        "{out}"
    );
    assert_count_stays(&away, 0).await;
    assert_eq!(gw.tickets().len(), 1);

    // A third run finds nothing new (UIDs are checkpointed in the store).
    let out = gw.run_once();
    assert!(out.contains("processed 0 message(s)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_batch_then_restart_gives_one_ticket_and_one_ack_each() {
    let stack = support::mail_stack();
    for fault in ["in-batch:1", "after-commit:1"] {
        let gw = Gateway::new("crash", false, 2);
        let requesters: Vec<String> = (0..5).map(|_| support::unique_user("crashreq")).collect();
        for (i, r) in requesters.iter().enumerate() {
            let raw = request(
                &format!("crash-{i}-{}", r.replace('@', "-at-") + "@outside.test"),
                r,
                &gw.support,
                &format!("Request number {i}"),
                "",
            );
            support::smtp_send(stack, r, &[&gw.support], &raw)
                .await
                .unwrap();
        }
        wait_count(&gw.support, 5).await;

        let crashed = gw.output(&["run", "--once"], Some(fault));
        assert!(!crashed.status.success(), "{fault} must stop the process");
        assert!(gw.tickets().len() < 5, "{fault}: crashed before the end");

        let out = gw.run_once();
        assert!(out.contains("processed"), "{out}");
        assert_eq!(gw.tickets().len(), 5, "{fault}: one ticket per request");
        for r in &requesters {
            let inbox = wait_count(r, 1).await;
            assert!(header(&inbox[0], "Subject").unwrap().starts_with("[TP-"));
            assert_count_stays(r, 1).await;
        }
        let out = gw.run_once();
        assert!(
            out.contains("processed 0 message(s)") && out.contains("sent 0 mail"),
            "{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_check_and_long_running_service_with_idle() {
    let stack = support::mail_stack();
    let gw = Gateway::new("tls", true, 100);

    let check = gw.output(&["check"], None);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "check failed:\n{text}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        text.contains("ok mailbox")
            && text.contains("ok transport")
            && text.contains("ok templates"),
        "{text}"
    );

    // The service keeps running (IDLE over TLS) and answers a request within seconds.
    let mut child = gw
        .command(&["run"], None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let requester = support::unique_user("idle");
    let raw = request(
        "idle-1@outside.test",
        &requester,
        &gw.support,
        "Printer jam",
        "",
    );
    let sent = Instant::now();
    support::smtp_send(stack, &requester, &[&gw.support], &raw)
        .await
        .unwrap();
    let inbox = wait_count(&requester, 1).await;
    let latency = sent.elapsed();
    println!("SMTP accept -> acknowledgement in the requester's mailbox (IDLE, TLS): {latency:?}");
    assert_eq!(header(&inbox[0], "Subject").unwrap(), "[TP-1] Printer jam");
    assert!(latency < Duration::from_secs(10), "{latency:?}");

    // SIGTERM: finishes, exits 0.
    let status = stop_with_sigterm(&mut child).await;
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit status {status:?}\n{stderr}");
    assert_eq!(gw.tickets().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_folders_are_read_side_by_side_each_routed_to_its_team() {
    let stack = support::mail_stack();
    let gw = Gateway::with_keys(
        "folders",
        false,
        10,
        r#"folders = ["INBOX", "HR"]"#,
        r#"
[teams]
hr = ["Hana Ito <hana@example.test>"]

[[route]]
folder = ["HR"]
team = "hr"
tags = ["hr"]
"#,
    );
    let hr_requester = support::unique_user("hrreq");
    let it_requester = support::unique_user("itreq");
    support::imap_append_to_folder(
        stack,
        &gw.support,
        "HR",
        &request(
            "fold-1@outside.test",
            &hr_requester,
            &gw.support,
            "Payslip wrong",
            "",
        ),
    )
    .await
    .unwrap();
    support::smtp_send(
        stack,
        &it_requester,
        &[&gw.support],
        &request(
            "fold-2@outside.test",
            &it_requester,
            &gw.support,
            "VPN down",
            "",
        ),
    )
    .await
    .unwrap();
    wait_count(&gw.support, 1).await;

    let check = gw.output(&["check"], None);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("ok mailbox folder \"INBOX\"") && text.contains("ok mailbox folder \"HR\""),
        "{text}"
    );

    let out = gw.run_once();
    assert!(out.contains("2 new ticket"), "{out}");
    let team_of = |subject: &str| -> Value {
        gw.tickets()
            .iter()
            .find(|t| t["subject"] == subject)
            .map(|t| t["team"].clone())
            .unwrap_or_else(|| panic!("no ticket {subject:?}"))
    };
    assert_eq!(team_of("Payslip wrong"), "hr");
    assert_eq!(team_of("VPN down"), Value::Null);
    let acked = wait_count(&hr_requester, 1).await;
    assert!(
        header(&acked[0], "Subject")
            .unwrap()
            .contains("Payslip wrong"),
        "{:?}",
        header(&acked[0], "Subject")
    );
    wait_count(&it_requester, 1).await;

    // Running, the service waits on both folders at once: mail appended to HR later
    // is picked up without a restart, and nothing is read twice.
    let mut child = gw
        .command(&["run"], None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    support::imap_append_to_folder(
        stack,
        &gw.support,
        "HR",
        &request(
            "fold-3@outside.test",
            &hr_requester,
            &gw.support,
            "Leave request",
            "",
        ),
    )
    .await
    .unwrap();
    wait_count(&hr_requester, 2).await;
    let status = stop_with_sigterm(&mut child).await;
    assert!(status.success(), "exit status {status:?}");
    let tickets = gw.tickets();
    assert_eq!(tickets.len(), 3, "{tickets:?}");
    assert_eq!(team_of("Leave request"), "hr");
    assert_count_stays(&hr_requester, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_imap_password_never_reaches_the_log_even_at_trace() {
    let stack = support::mail_stack();
    let gw = Gateway::new("tracelog", false, 10);
    let requester = support::unique_user("trace");
    support::smtp_send(
        stack,
        &requester,
        &[&gw.support],
        &request(
            "trace-1@outside.test",
            &requester,
            &gw.support,
            "Trace me",
            "",
        ),
    )
    .await
    .unwrap();
    wait_count(&gw.support, 1).await;
    let out = gw
        .command(&["run", "--once"], None)
        .env("TICKETPOST_LOG", "trace")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("TRACE"), "trace logging was on: {stderr}");
    assert!(
        !stderr.contains(stack.password.as_str()),
        "the IMAP password is in the log"
    );
    assert_eq!(gw.tickets().len(), 1);
}
