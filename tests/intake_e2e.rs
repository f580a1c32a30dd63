//! Intake and triage end to end on the private Dovecot + Postfix: missing facts asked
//! for, priority and the urgent path, the requester's language, and the knowledge base
//! from `/resolve` to the next requester's acknowledgement. The gateway runs in-process
//! (`--once` style); every assertion about mail looks into IMAP mailboxes.

mod support;

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
    clock: ManualClock,
    support: String,
    ann: String,
    bob: String,
    sue: String,
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
        let sue = support::unique_user("sue");
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
supervisors = ["Sue Park <{sue}>"]
[triage]
systems = ["mail", "ERP", "VPN", "邮箱"]
oncall = ["Bob Ray <{bob}>"]
[kb]
suggest_threshold = 0.3
similar_threshold = 0.3
"#,
            root = dir.path().display(),
            imap = stack.imap_port,
            smtp = stack.smtp_port,
        );
        let path = dir.path().join("ticketpost.toml");
        let cfg = Config::from_toml(&path, &text, &Default::default()).unwrap();
        Desk {
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
async fn facts_priority_language_urgent_path_and_knowledge_base() {
    let mut desk = Desk::new();
    let (req, ann, bob, sue) = (
        desk.requester.clone(),
        desk.ann.clone(),
        desk.bob.clone(),
        desk.sue.clone(),
    );
    let sup = desk.support.clone();
    let colleague = support::unique_user("col");

    // A Chinese request about the VPN, with little detail: a Chinese acknowledgement
    // that asks for the missing facts.
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "zh-1@req.test",
            "VPN 连不上",
            None,
            "你好，我的 VPN 连不上了，请帮忙看一下。",
        ),
    )
    .await;
    desk.run_once().await;
    let ack = wait_for_subject(&req, "[TP-1]").await;
    assert!(
        ack.text_body.contains("我们已收到您的请求"),
        "{}",
        ack.text_body
    );
    assert!(
        ack.text_body.contains("请回复以下信息"),
        "asks for facts: {}",
        ack.text_body
    );
    let t = desk.ticket("TP-1");
    assert_eq!(t["language"], "zh");
    let facts = t["facts"].as_array().unwrap();
    assert_eq!(facts.len(), 6);
    assert!(facts.iter().any(|f| f["present"] == false), "{facts:?}");

    // The requester's reply supplies facts: the checklist fills in.
    let missing_before = facts.iter().filter(|f| f["present"] == false).count();
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "zh-2@req.test",
            &format!("回复：{}", ack.subject),
            ack.message_id.as_deref(),
            "我用的是 ThinkPad X1 笔记本，Windows 11 23H2，从昨天早上开始的，提示“错误 809”。已经重启过电脑了。",
        ),
    )
    .await;
    desk.run_once().await;
    let t = desk.ticket("TP-1");
    let missing_after = t["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["present"] == false)
        .count();
    assert!(
        missing_after < missing_before,
        "{missing_before} -> {missing_after}: {}",
        t["facts"]
    );
    assert!(desk.timeline("TP-1").contains("facts given"));

    // Ann resolves it, answering in the thread of her notice (which proves it is her):
    // the resolution becomes a knowledge-base entry.
    let notice1 = wait_for_subject(&ann, "[TP-1] New ticket")
        .await
        .message_id
        .unwrap();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-kb-1@agents.test",
            "Re: [TP-1] VPN 连不上",
            Some(&notice1),
            "/resolve VPN 错误 809：防火墙拦截了 L2TP，已在 VPN 客户端改用 IKEv2 连接。",
        ),
    )
    .await;
    desk.run_once().await;
    wait_for_subject(&req, "[TP-1] 已解决").await;
    let mut out = Vec::new();
    ticketpost::knowledge::kb_list(&desk.cfg, true, &mut out).unwrap();
    let kb: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(kb.as_array().unwrap().len(), 1, "{kb}");
    assert!(kb[0]["solution"].as_str().unwrap().contains("IKEv2"));

    // Ann refines it by mail with /kb; nothing reaches the requester.
    let requester_mails = inbox(&req).await.len();
    desk.write(
        &ann,
        mail(&ann, &sup, "ann-kb-2@agents.test", "Re: [TP-1] VPN 连不上", Some(&notice1), "/kb\nProblem: VPN 连接失败，错误 809\nCause: 防火墙拦截 L2TP/IPsec\nSolution: VPN 客户端改用 IKEv2"),
    )
    .await;
    desk.run_once().await;
    let mut out = Vec::new();
    ticketpost::knowledge::kb_list(&desk.cfg, true, &mut out).unwrap();
    let kb: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(kb[0]["cause"], "防火墙拦截 L2TP/IPsec", "{kb}");
    assert_count_stays(&req, requester_mails).await;

    // The next requester with the same problem is offered the entry, and the agents'
    // notice lists it and the similar ticket.
    desk.write(
        &colleague,
        mail(
            &colleague,
            &sup,
            "zh-3@col.test",
            "VPN 报错 809",
            None,
            "VPN 连接时提示错误 809，连不上公司网络。",
        ),
    )
    .await;
    desk.run_once().await;
    let ack2 = wait_for_subject(&colleague, "[TP-2]").await;
    assert!(
        ack2.text_body.contains("IKEv2"),
        "KB entry offered: {}",
        ack2.text_body
    );
    let notice = wait_for_subject(&ann, "[TP-2] New ticket").await;
    assert!(
        notice.text_body.contains("Knowledge base:"),
        "{}",
        notice.text_body
    );
    assert!(
        notice.text_body.contains("TP-1"),
        "similar ticket listed: {}",
        notice.text_body
    );

    // An English request about a business system down for a whole department: P1, the
    // urgent path (supervisor and on-call alerted), an acknowledgement that says so.
    desk.write(
        &colleague,
        mail(&colleague, &sup, "en-1@col.test", "ERP is down for the whole finance department", None, "Nobody in finance can log in to the ERP since 9:00. Error: \"Service unavailable (503)\"."),
    )
    .await;
    desk.run_once().await;
    let ack3 = wait_for_subject(&colleague, "[TP-3]").await;
    assert!(ack3.text_body.contains("URGENT"), "{}", ack3.text_body);
    let t = desk.ticket("TP-3");
    assert_eq!(t["priority"], "P1");
    assert_eq!(t["language"], "en");
    let alert = wait_for_subject(&sue, "URGENT").await;
    assert!(alert.subject.contains("[TP-3]"));
    assert!(
        alert.text_body.contains("Service unavailable"),
        "{}",
        alert.text_body
    );
    wait_for_subject(&bob, "URGENT (P1)").await;
    assert!(desk.timeline("TP-3").contains("triage"));
}
