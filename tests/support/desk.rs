//! A desk on the private mail stack, for end-to-end tests that talk to ticketpost the
//! way its users do: mail in through Postfix, the gateway run in-process (`--once`
//! style, with a clock the test moves), mail out into IMAP mailboxes the test reads.
//!
//! Use it next to `mod support;` with `#[path = "support/desk.rs"] mod desk;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ticketpost::clock::ManualClock;
use ticketpost::config::Config;
use ticketpost::inbound::{self, InboundMessage};
use ticketpost::service::{self, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::support;

/// How long to wait for mail to arrive.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a mailbox must stay unchanged to count as "got nothing".
pub const QUIET: Duration = Duration::from_millis(1500);
/// The injected clock's start.
pub const START: i64 = 1_790_000_000;

pub struct Desk {
    _dir: tempfile::TempDir,
    pub cfg: Config,
    pub db: PathBuf,
    pub clock: ManualClock,
    pub support: String,
    pub ann: String,
    pub bob: String,
    pub sue: String,
    pub requester: String,
    /// Messages sent to the support address so far.
    sent_to_support: usize,
}

impl Desk {
    /// A desk with agents Ann and Bob. `extra` is appended to the config right after
    /// the `[desk]` agents line (so it may add `[desk]` keys first, then tables);
    /// `{ann}`, `{bob}` and `{sue}` in it become those people's addresses.
    pub fn new(extra: &str) -> Desk {
        let stack = support::mail_stack();
        let dir = tempfile::tempdir().unwrap();
        let support = support::unique_user("life");
        let ann = support::unique_user("ann");
        let bob = support::unique_user("bob");
        let sue = support::unique_user("sue");
        let requester = support::unique_user("req");
        let extra = extra
            .replace("{ann}", &ann)
            .replace("{bob}", &bob)
            .replace("{sue}", &sue);
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
{extra}
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
            sue,
            requester,
            sent_to_support: 0,
        }
    }

    /// Sends `raw` from `from` to the support address and waits until it is there.
    pub async fn write(&mut self, from: &str, raw: Vec<u8>) {
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
    pub async fn run_once(&self) {
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

    /// `tickets show TOKEN --json`.
    pub fn ticket(&self, token: &str) -> serde_json::Value {
        let mut out = Vec::new();
        ticketpost::commands::ticket_view::tickets_show(
            &self.cfg,
            token,
            true,
            ticketpost::clock::Clock::now(&self.clock),
            &mut out,
        )
        .unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    /// The timeline as text, one "kind actor detail" line per entry.
    pub fn timeline(&self, token: &str) -> String {
        let t = self.ticket(token);
        t["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}\n", e["kind"], e["actor"], e["detail"]))
            .collect()
    }
}

/// A plain-text mail; `in_reply_to` also becomes References.
pub fn mail(
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

pub fn parsed(raw: &[u8]) -> InboundMessage {
    inbound::parse(raw.to_vec()).unwrap()
}

/// Waits for a message in `user`'s INBOX whose decoded subject contains `needle`.
pub async fn wait_for_subject(user: &str, needle: &str) -> InboundMessage {
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
pub async fn assert_count_stays(user: &str, count: usize) {
    tokio::time::sleep(QUIET).await;
    let all = support::imap_fetch_all(support::mail_stack(), user)
        .await
        .unwrap();
    let subjects: Vec<String> = all.iter().map(|r| parsed(r).subject).collect();
    assert_eq!(all.len(), count, "{user}: {subjects:?}");
}

/// Everything in `user`'s INBOX.
pub async fn inbox(user: &str) -> Vec<InboundMessage> {
    support::imap_fetch_all(support::mail_stack(), user)
        .await
        .unwrap()
        .iter()
        .map(|r| parsed(r))
        .collect()
}
