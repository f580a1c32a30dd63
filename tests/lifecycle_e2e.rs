//! The ticket lifecycle by email, end to end on the private Dovecot + Postfix: the
//! requester and the agents write from their own mailboxes through Postfix; the gateway
//! (run in-process, `--once` style, with a clock the test moves) reads the support
//! mailbox over IMAP, keeps the store in a real SQLite file and sends through Postfix;
//! every assertion about mail looks into the recipients' IMAP mailboxes.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ticketpost::clock::ManualClock;
use ticketpost::config::Config;
use ticketpost::inbound::{self, InboundMessage};
use ticketpost::service::{self, RunOptions};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);
/// How long a mailbox must stay unchanged to count as "got nothing".
const QUIET: Duration = Duration::from_millis(1500);
const START: i64 = 1_790_000_000;

struct Desk {
    _dir: tempfile::TempDir,
    cfg: Config,
    db: PathBuf,
    clock: ManualClock,
    support: String,
    ann: String,
    bob: String,
    requester: String,
    /// Messages sent to the support address so far.
    sent_to_support: usize,
}

impl Desk {
    fn new() -> Desk {
        let stack = support::mail_stack();
        let dir = tempfile::tempdir().unwrap();
        let support = support::unique_user("life");
        let ann = support::unique_user("ann");
        let bob = support::unique_user("bob");
        let requester = support::unique_user("req");
        let text = format!(
            r#"
[store]
path = "{root}/ticketpost.db"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{support}"
password = "secret"
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
agents = ["Ann Lee <{ann}>", "Bob Ray <{bob}>"]
[lifecycle]
auto_close_after = "5d"
"#,
            root = dir.path().display(),
            imap = stack.imap_port,
            smtp = stack.smtp_port,
        );
        let path = dir.path().join("ticketpost.toml");
        let cfg = Config::from_toml(&path, &text, &Default::default()).unwrap();
        Desk {
            db: dir.path().join("ticketpost.db"),
            _dir: dir,
            cfg,
            clock: ManualClock::new(START),
            support,
            ann,
            bob,
            requester,
            sent_to_support: 0,
        }
    }

    /// Sends `raw` from `from` to the support address and waits until it is there.
    async fn write(&mut self, from: &str, raw: Vec<u8>) {
        let stack = support::mail_stack();
        support::smtp_send(stack, from, &[&self.support], &raw)
            .await
            .unwrap();
        self.sent_to_support += 1;
        let n = self.sent_to_support;
        support::imap_wait_for(stack, &self.support, |m| m.len() >= n, WAIT)
            .await
            .unwrap();
    }

    /// One `run --once`: everything waiting is processed, timers fire, mail is sent.
    async fn run_once(&self) {
        service::run(
            &self.cfg,
            RunOptions {
                once: true,
                ..Default::default()
            },
            Arc::new(self.clock.clone()),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    }

    fn ticket(&self, token: &str) -> serde_json::Value {
        let mut out = Vec::new();
        ticketpost::commands::tickets_show(
            &self.cfg,
            token,
            true,
            ticketpost::clock::Clock::now(&self.clock),
            &mut out,
        )
        .unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn timeline(&self, token: &str) -> String {
        let t = self.ticket(token);
        t["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}\n", e["kind"], e["actor"], e["detail"]))
            .collect()
    }
}

fn mail(
    from: &str,
    to: &str,
    id: &str,
    subject: &str,
    in_reply_to: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let thread = in_reply_to
        .map(|r| format!("In-Reply-To: <{r}>\nReferences: <{r}>\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{id}>\n{thread}Date: Wed, 25 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n"
    )
    .into_bytes()
}

fn parsed(raw: &[u8]) -> InboundMessage {
    inbound::parse(raw.to_vec()).unwrap()
}

/// Waits for a message in `user`'s INBOX whose decoded subject contains `needle`.
async fn wait_for_subject(user: &str, needle: &str) -> InboundMessage {
    let stack = support::mail_stack();
    let found = support::imap_wait_for(
        stack,
        user,
        |m| m.iter().any(|raw| parsed(raw).subject.contains(needle)),
        WAIT,
    )
    .await
    .unwrap();
    found
        .iter()
        .map(|raw| parsed(raw))
        .find(|m| m.subject.contains(needle))
        .unwrap()
}

/// Asserts that `user`'s INBOX holds `count` messages and stays so for a while.
async fn assert_count_stays(user: &str, count: usize) {
    tokio::time::sleep(QUIET).await;
    let all = support::imap_fetch_all(support::mail_stack(), user)
        .await
        .unwrap();
    let subjects: Vec<String> = all.iter().map(|r| parsed(r).subject).collect();
    assert_eq!(all.len(), count, "{user}: {subjects:?}");
}

async fn inbox(user: &str) -> Vec<InboundMessage> {
    support::imap_fetch_all(support::mail_stack(), user)
        .await
        .unwrap()
        .iter()
        .map(|r| parsed(r))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_work_a_ticket_from_their_mail_clients() {
    let mut desk = Desk::new();
    let (req, ann, bob) = (desk.requester.clone(), desk.ann.clone(), desk.bob.clone());
    let sup = desk.support.clone();

    // The request: acknowledged to the requester, announced to both agents.
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-1@req.test",
            "Printer prints blank pages",
            None,
            "The 3rd floor printer prints blank pages since this morning.",
        ),
    )
    .await;
    desk.run_once().await;
    let ack = wait_for_subject(&req, "[TP-1]").await;
    assert!(
        ack.subject.contains("Printer prints blank pages"),
        "{}",
        ack.subject
    );
    let notice = wait_for_subject(&ann, "New ticket").await;
    assert!(notice.subject.contains("[TP-1]"), "{}", notice.subject);
    assert!(
        notice.text_body.contains("prints blank pages"),
        "{}",
        notice.text_body
    );
    assert_eq!(
        notice.reply_to[0].email, sup,
        "Reply-To is the support address"
    );
    wait_for_subject(&bob, "New ticket").await;

    // Ann replies from her mailbox with a command and text, quoting the notice.
    let notice_id = notice.message_id.clone().unwrap();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-1@agents.test",
            &format!("Re: {}", notice.subject),
            Some(&notice_id),
            &format!(
                "/priority P2\nPlease switch the printer off and on, and tell me what the display says.\n\nAnn\n\nOn Wed, 25 Nov 2026 at 10:00, Example Support <{sup}> wrote:\n> New ticket — ticket TP-1\n> The 3rd floor printer prints blank pages since this morning.\n"
            ),
        ),
    )
    .await;
    desk.run_once().await;
    let relay = wait_for_subject(&req, "Re: [TP-1]").await;
    assert!(
        relay
            .text_body
            .contains("Please switch the printer off and on"),
        "{}",
        relay.text_body
    );
    assert!(
        !relay.text_body.contains("/priority"),
        "{}",
        relay.text_body
    );
    let from = relay.from.clone().unwrap();
    assert_eq!(from.email, sup);
    assert_eq!(from.name.as_deref(), Some("Ann Lee via Example Support"));
    assert!(
        !String::from_utf8_lossy(&relay.raw).contains(&ann),
        "agent address exposed"
    );
    assert_eq!(
        relay.in_reply_to,
        vec!["req-1@req.test"],
        "threaded on the request"
    );
    let t = desk.ticket("TP-1");
    assert_eq!(t["priority"], "P2");
    assert_eq!(t["assignee"], ann.as_str());

    // An internal note reaches Bob, never the requester.
    let requester_mails = inbox(&req).await.len();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-2@agents.test",
            "Re: [TP-1] Printer prints blank pages",
            Some(&notice_id),
            "/note\nThe spooler log shows a driver crash at 08:12.",
        ),
    )
    .await;
    desk.run_once().await;
    let note = wait_for_subject(&bob, "Internal note").await;
    assert!(
        note.text_body.contains("driver crash"),
        "{}",
        note.text_body
    );
    assert_count_stays(&req, requester_mails).await;
    assert!(
        inbox(&req)
            .await
            .iter()
            .all(|m| !m.text_body.contains("driver crash"))
    );

    // Authorisation: asked, answered "同意" by the requester, recorded with time and id.
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-3@agents.test",
            "Re: [TP-1] Printer prints blank pages",
            Some(&notice_id),
            "/authorize Reinstall the printer driver on your laptop tonight",
        ),
    )
    .await;
    desk.run_once().await;
    let ask = wait_for_subject(&req, "authorisation").await;
    assert!(
        ask.text_body.contains("Reinstall the printer driver"),
        "{}",
        ask.text_body
    );
    assert_eq!(
        desk.ticket("TP-1")["authorization_pending"],
        "Reinstall the printer driver on your laptop tonight"
    );
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-2@req.test",
            &format!("Re: {}", ask.subject),
            ask.message_id.as_deref(),
            "同意",
        ),
    )
    .await;
    desk.run_once().await;
    let timeline = desk.timeline("TP-1");
    assert!(
        timeline.contains("APPROVED") && timeline.contains("req-2@req.test"),
        "{timeline}"
    );
    assert!(desk.ticket("TP-1")["authorization_pending"].is_null());
    wait_for_subject(&ann, "Authorisation approved").await;

    // Resolve, and the requester confirms: closed, with a closing mail.
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-4@agents.test",
            "Re: [TP-1] Printer prints blank pages",
            Some(&notice_id),
            "/resolve Reinstalled the printer driver; test pages print fine.",
        ),
    )
    .await;
    desk.run_once().await;
    let confirm = wait_for_subject(&req, "please confirm").await;
    assert!(
        confirm.text_body.contains("Reinstalled the printer driver"),
        "{}",
        confirm.text_body
    );
    assert_eq!(desk.ticket("TP-1")["status"], "resolved");
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-3@req.test",
            &format!("Re: {}", confirm.subject),
            confirm.message_id.as_deref(),
            "Yes, it works now. Thanks!\n\n> we believe ticket TP-1 is solved",
        ),
    )
    .await;
    desk.run_once().await;
    wait_for_subject(&req, "Closed: Printer").await;
    let t = desk.ticket("TP-1");
    assert_eq!(t["status"], "closed");
    assert!(!t["closed_at"].is_null());

    // A second ticket: resolved, but the requester says it still fails → reopened,
    // and the assignee is told.
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-4@req.test",
            "VPN drops every hour",
            None,
            "The VPN disconnects every hour.",
        ),
    )
    .await;
    desk.run_once().await;
    let ack2 = wait_for_subject(&req, "[TP-2]").await;
    assert!(ack2.subject.contains("VPN drops"));
    // Ann answers in the thread of her notice: the signed Message-ID proves it is her.
    let notice2 = wait_for_subject(&ann, "[TP-2] New ticket")
        .await
        .message_id
        .unwrap();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-5@agents.test",
            "Re: [TP-2] VPN drops every hour",
            Some(&notice2),
            "/resolve Updated your VPN profile to keep-alive 30 s.",
        ),
    )
    .await;
    desk.run_once().await;
    let confirm2 = wait_for_subject(&req, "[TP-2] Resolved").await;
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-5@req.test",
            &format!("Re: {}", confirm2.subject),
            confirm2.message_id.as_deref(),
            "Sorry, still broken: it dropped again at 11:00.",
        ),
    )
    .await;
    desk.run_once().await;
    assert_eq!(desk.ticket("TP-2")["status"], "open");
    let still = wait_for_subject(&ann, "Not fixed yet").await;
    assert!(still.subject.contains("[TP-2]"));

    // A bad command: nothing changes, nothing reaches the requester, Ann is told
    // which line was wrong.
    let requester_mails = inbox(&req).await.len();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-6@agents.test",
            "Re: [TP-2] VPN drops every hour",
            Some(&notice2),
            "/priority P7\nCould you send me the VPN client log?",
        ),
    )
    .await;
    desk.run_once().await;
    let error = wait_for_subject(&ann, "not applied").await;
    assert!(
        error.text_body.contains("/priority P7"),
        "{}",
        error.text_body
    );
    assert_eq!(desk.ticket("TP-2")["priority"], "P3");
    assert_count_stays(&req, requester_mails).await;

    // A third ticket: resolved, then silence; five simulated days later it closes.
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "req-6@req.test",
            "New mouse please",
            None,
            "My mouse wheel is broken.",
        ),
    )
    .await;
    desk.run_once().await;
    wait_for_subject(&req, "[TP-3]").await;
    let notice3 = wait_for_subject(&ann, "[TP-3] New ticket")
        .await
        .message_id
        .unwrap();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-7@agents.test",
            "Re: [TP-3] New mouse please",
            Some(&notice3),
            "/resolve A new mouse is on your desk.",
        ),
    )
    .await;
    desk.run_once().await;
    wait_for_subject(&req, "[TP-3] Resolved").await;
    desk.clock.advance(5 * 86_400 - 60);
    desk.run_once().await;
    assert_eq!(desk.ticket("TP-3")["status"], "resolved", "not yet");
    desk.clock.advance(61);
    desk.run_once().await;
    let closing = wait_for_subject(&req, "[TP-3] Closed").await;
    assert!(
        closing.text_body.contains("did not"),
        "{}",
        closing.text_body
    );
    assert_eq!(desk.ticket("TP-3")["status"], "closed");
    let timeline = desk.timeline("TP-3");
    assert!(timeline.contains("auto_closed"), "{timeline}");

    // The store file is a real SQLite database the CLI reads.
    assert!(desk.db.exists());
}
