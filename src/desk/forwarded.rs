//! Tickets on someone's behalf: an agent's new mail that forwards a requester's mail
//! (inline, as Outlook, Gmail, Apple Mail and Thunderbird write it, in English or
//! Chinese headers, or as an attached message), or that starts with `/new Name
//! <address>` (a phone call). This module reads the forward out of the text and
//! decides who the ticket is for, what the request is and what the agent's own words
//! do; ingest gathers the facts (the text, the attached original, the proof of the
//! sender) and writes the ticket. Pure: no store, no mail.

use std::sync::LazyLock;

use regex::Regex;

use super::arrival::{Arrival, StaffMail};
use super::lifecycle::{Change, resolve_agent};
use super::quick_actions::{Command, parse_agent_reply};
use super::roster::DeskConfig;
use crate::inbound::Address;
pub use crate::inbound::attached::AttachedOriginal;

/// A forwarded mail read out of the forward: who sent it, its subject, its text, and
/// what the forwarding agent wrote above it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forwarded {
    /// The original sender; `None` when no address could be read.
    pub sender: Option<Address>,
    pub subject: String,
    pub text: String,
    /// The agent's own words above the forward (empty when none).
    pub preface: String,
}

/// What ingest knows about a new mail when it asks whether it opens a ticket on
/// someone's behalf.
pub struct BehalfFacts<'a> {
    /// The mail's whole text (a new mail is not trimmed).
    pub text: &'a str,
    /// The mail's own subject.
    pub subject: &'a str,
    /// The sender (lower-cased address).
    pub sender: &'a str,
    pub staff: bool,
    pub automatic: bool,
    /// The sender proved who they are (signed thread, or DKIM/SPF pass from our MTA).
    pub proven: bool,
    pub verify_staff: bool,
    /// The first attached original, if any.
    pub attached: Option<&'a AttachedOriginal>,
}

/// How the mail named the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BehalfKind {
    /// An inline forward.
    Inline,
    /// An attached message.
    Attached,
    /// `/new Name <address>`.
    New,
}

impl BehalfKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BehalfKind::Inline => "forward",
            BehalfKind::Attached => "attached forward",
            BehalfKind::New => "/new",
        }
    }
}

/// A ticket opened on someone's behalf, as decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behalf {
    pub kind: BehalfKind,
    /// Who the ticket is for; the agent themself when the forward named nobody usable
    /// (`problem` says why).
    pub requester: Address,
    pub subject: String,
    /// The request: the original's text.
    pub request: String,
    /// The agent's own words (commands taken out): an internal note, when not empty.
    pub note: String,
    /// Ticket changes from the agent's commands that shape the ticket's first steps
    /// (`/priority`, `/assign`, `/team`).
    pub changes: Vec<Change>,
    /// Timeline lines for the changes.
    pub events: Vec<String>,
    /// The agent's other commands, one canonical line each (with the note after them
    /// when one is `/kb`): once the ticket is open they run on it as the agent's reply
    /// to its notice would, so a refused one is mailed back to the agent with its
    /// reason and nothing of them applies. Empty when there are none.
    pub later: String,
    /// Why the ticket is the agent's own rather than the named requester's.
    pub problem: Option<String>,
}

/// Decides whether a new mail opens a ticket on someone's behalf. `None`: it does not
/// (not staff, automatic, no forward or `/new` in it, or its sender proved nothing:
/// then it is an ordinary request of its sender and nothing goes to the address named
/// inside it).
pub fn decide_behalf(facts: &BehalfFacts, desk: &DeskConfig) -> Option<Behalf> {
    if !facts.staff || facts.automatic {
        return None;
    }
    let (kind, found) = if let Some(f) = parse_new(facts.text) {
        (BehalfKind::New, f)
    } else if let Some(f) = parse_inline(facts.text) {
        (BehalfKind::Inline, f)
    } else if let Some(a) = facts.attached {
        let f = Forwarded {
            sender: a.from.clone(),
            subject: a.subject.clone(),
            text: a.text.trim().to_string(),
            preface: facts.text.trim().to_string(),
        };
        (BehalfKind::Attached, f)
    } else {
        return None;
    };
    if facts.verify_staff && !facts.proven {
        return None;
    }
    let agent = Address {
        name: desk.agent(facts.sender).and_then(|a| a.name.clone()),
        email: facts.sender.to_string(),
    };
    let (requester, problem) = match &found.sender {
        None => (
            agent,
            Some(format!(
                "the {} names no sender address ticketpost could read, so this ticket's requester is you; reply with /requester <address> to change it",
                kind.as_str()
            )),
        ),
        Some(s) if desk.is_own_address(&s.email) => (
            agent,
            Some(format!(
                "the {} names the desk's own address {} as its sender, so this ticket's requester is you; reply with /requester <address> to change it",
                kind.as_str(),
                s.email
            )),
        ),
        Some(s) if desk.is_staff(&s.email) => (
            agent,
            Some(format!(
                "the {} names {}, a member of staff, as its sender (staff are never requesters), so this ticket's requester is you; reply with /requester <address> to change it",
                kind.as_str(),
                s.email
            )),
        ),
        Some(s) => (s.clone(), None),
    };
    let subject = clean_subject(&found.subject)
        .or_else(|| clean_subject(facts.subject))
        .unwrap_or_else(|| "(no subject)".to_string());
    let request = if problem.is_some() {
        // Nothing is lost: the whole mail is the request.
        facts.text.trim().to_string()
    } else {
        found.text.clone()
    };
    let mut behalf = Behalf {
        kind,
        requester,
        subject,
        request,
        note: String::new(),
        changes: Vec::new(),
        events: Vec::new(),
        later: String::new(),
        problem,
    };
    agent_words(&found.preface, desk, &mut behalf);
    Some(behalf)
}

/// The agent's words above the forward: the note, the commands that shape the new
/// ticket's first steps, and the rest of the commands, which run once it is open.
/// Any command the desk would refuse sends every command to `later`, where the agent
/// is told, as for a reply; nothing of them is applied at the opening.
fn agent_words(preface: &str, desk: &DeskConfig, behalf: &mut Behalf) {
    let reply = match parse_agent_reply(preface) {
        Ok(reply) => reply,
        Err(_) => {
            behalf.note = preface.trim().to_string();
            let lines: Vec<&str> = preface
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .collect();
            behalf.later = lines.join("\n");
            return;
        }
    };
    behalf.note = reply.text.clone();
    let mut later = Vec::new();
    let mut first_steps = Vec::new();
    let mut refused = false;
    for command in &reply.commands {
        match opening_change(command, desk) {
            Some(Ok(change)) => first_steps.push((change, command.to_string())),
            Some(Err(())) => {
                refused = true;
                later.push(command.to_string());
            }
            // The agent's words are a note anyway.
            None if *command == Command::Note => {}
            None => later.push(command.to_string()),
        }
    }
    if refused {
        // All or nothing, as for a reply: the refusal reaches the agent from the
        // lifecycle's check of every command.
        let mut all: Vec<String> = first_steps.into_iter().map(|(_, line)| line).collect();
        all.append(&mut later);
        later = all;
    } else {
        for (change, line) in first_steps {
            behalf.changes.push(change);
            behalf.events.push(line);
        }
    }
    if reply.is_kb() && !reply.text.is_empty() {
        later.push(String::new());
        later.push(reply.text.clone());
    }
    behalf.later = later.join("\n");
}

/// The change a command makes to a ticket being opened, for the commands that shape
/// its first steps (`Err` when the agent or team named is unknown); `None` for the
/// commands that run once it is open.
fn opening_change(command: &Command, desk: &DeskConfig) -> Option<Result<Change, ()>> {
    Some(match command {
        Command::Priority(p) => Ok(Change::Priority(*p)),
        Command::Assign(who) => resolve_agent(who, desk)
            .map(|a| Change::Assignee(a.address.clone()))
            .ok_or(()),
        Command::Team(name) => desk
            .team(name)
            .map(|t| Change::Team(t.name.clone()))
            .ok_or(()),
        _ => return None,
    })
}

/// What the agent's commands change in a new ticket's first steps: their `/priority`
/// is the ticket's priority (routing rules do not raise it), and with `/assign` the
/// new-ticket notice goes to the assignee alone (the urgent alerts of a P1 still go
/// out).
pub fn adjust_arrival(behalf: &Behalf, arrival: &mut Arrival) {
    for change in &behalf.changes {
        match change {
            Change::Priority(p) => arrival.priority = *p,
            Change::Assignee(a) => {
                if let StaffMail::Each { urgent, notices } = &mut arrival.staff_mail {
                    notices.clear();
                    if !urgent.iter().any(|u| u.eq_ignore_ascii_case(a)) {
                        notices.push(a.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

fn clean_subject(subject: &str) -> Option<String> {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["fw:", "fwd:", "转发:", "转发：", "fw：", "fwd："]
            .iter()
            .find(|p| lower.starts_with(&p.to_ascii_lowercase()))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s.get(n..).unwrap_or("").trim_start(),
            None => break,
        }
    }
    (!s.is_empty()).then(|| s.to_string())
}

/// A line that starts a forward, in any of the clients' forms.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:
            -{2,}\s*(?:original\s+message|forwarded\s+message|原始邮件|转发的邮件|已转发邮件|转发邮件|转发的消息|原始消息)\s*-{2,}
          | begin\s+forwarded\s+message\s*[:：]
          | (?:开始)?转发的邮件\s*[:：]
          | 以下为转发的邮件\s*[:：]
          | _{10,}
        )\s*$",
    )
    .expect("forward marker pattern is valid")
});

/// `/new Name <address>` on the first non-blank line.
static NEW_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*/new(?:\s+(.*?))?\s*$").expect("/new pattern is valid"));

/// `/new Name <address>` at the top of the mail: the rest is the request.
pub fn parse_new(text: &str) -> Option<Forwarded> {
    let text = text.replace("\r\n", "\n");
    let mut lines = text.split('\n').skip_while(|l| l.trim().is_empty());
    let first = lines.next()?;
    let caps = NEW_LINE.captures(first)?;
    let arg = caps.get(1).map_or("", |m| m.as_str());
    let rest: Vec<&str> = lines.collect();
    Some(Forwarded {
        sender: parse_address(arg),
        subject: String::new(),
        text: rest.join("\n").trim().to_string(),
        preface: String::new(),
    })
}

/// Which forwarded header a line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Subject,
    Other,
}

fn header_line(line: &str) -> Option<(Field, &str)> {
    let line = line.trim_start_matches(['>', ' ', '\t']).trim_start();
    let (name, value) = match line.find([':', '：']) {
        Some(i) => {
            let colon = line[i..].chars().next().map_or(1, char::len_utf8);
            (&line[..i], &line[i + colon..])
        }
        None => return None,
    };
    let name = name.trim().trim_matches('*').trim().to_lowercase();
    let field = match name.as_str() {
        "from" | "发件人" | "寄件者" | "寄件人" => Field::From,
        "subject" | "主题" | "主旨" | "标题" => Field::Subject,
        "date" | "sent" | "to" | "cc" | "reply-to" | "发送时间" | "日期" | "时间" | "收件人"
        | "抄送" | "抄送人" | "回复至" | "答复至" => Field::Other,
        _ => return None,
    };
    Some((field, value.trim().trim_start_matches('*').trim()))
}

/// An inline forward: the first forward marker, the header block after it, and the
/// original's text after that. Outlook's plain form without a marker line (a `From:`
/// line directly followed by `Sent:`/`发送时间:`) is read too.
pub fn parse_inline(text: &str) -> Option<Forwarded> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let (preface_end, headers_start) = match lines.iter().position(|l| MARKER.is_match(l)) {
        Some(i) => (i, i + 1),
        None => {
            let i = lines.windows(2).position(|w| {
                matches!(header_line(w[0]), Some((Field::From, _))) && header_line(w[1]).is_some()
            })?;
            (i, i)
        }
    };
    let mut i = headers_start;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    let mut from = None;
    let mut subject = String::new();
    let mut seen = 0;
    let mut last: Option<Field> = None;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            break;
        }
        match header_line(line) {
            Some((field, value)) => {
                seen += 1;
                last = Some(field);
                match field {
                    Field::From if from.is_none() => from = Some(value.to_string()),
                    Field::Subject if subject.is_empty() => subject = value.to_string(),
                    _ => {}
                }
            }
            // A folded continuation of the previous header.
            None if seen > 0 && line.starts_with([' ', '\t']) => {
                if last == Some(Field::Subject) {
                    subject.push(' ');
                    subject.push_str(line.trim());
                }
            }
            None => break,
        }
        i += 1;
    }
    if seen == 0 {
        return None;
    }
    let body: Vec<&str> = lines[i..]
        .iter()
        .map(|l| l.strip_prefix("> ").unwrap_or(l))
        .collect();
    Some(Forwarded {
        sender: from.as_deref().and_then(parse_address),
        subject: subject.trim().to_string(),
        text: body.join("\n").trim().to_string(),
        preface: lines[..preface_end].join("\n").trim().to_string(),
    })
}

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
        .expect("address pattern is valid")
});

/// `Name <addr>`, `"Name" <addr>`, `Name [mailto:addr]`, `addr`, `Name addr`.
pub fn parse_address(value: &str) -> Option<Address> {
    let value = value.trim();
    let found = ADDRESS.find(value)?;
    let email = found.as_str().to_ascii_lowercase();
    let before = &value[..found.start()];
    let name = before
        .trim_end_matches(['<', '[', ' ', '\t'])
        .trim_end_matches("mailto:")
        .trim_end_matches(['<', '[', ' ', '\t'])
        .trim()
        .trim_matches(['"', '\'', ' ', '*'])
        .trim();
    Some(Address {
        name: (!name.is_empty()).then(|| name.to_string()),
        email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::roster::parse_named_address;

    fn desk() -> DeskConfig {
        let named = |s: &str| parse_named_address(s).expect("agent");
        DeskConfig {
            other_addresses: Vec::new(),
            routes: Vec::new(),
            support_address: "support@example.test".into(),
            support_name: "Example Support".into(),
            token_prefix: "TP".into(),
            agents: vec![
                named("Ann Lee <ann@example.test>"),
                named("Bob Roe <bob@example.test>"),
            ],
            supervisors: Vec::new(),
            teams: Vec::new(),
            message_id_domain: "example.test".into(),
            lifecycle: crate::desk::roster::LifecycleConfig::default(),
            triage: Default::default(),
            oncall: vec![],
            default_language: "en".into(),
            max_participants: crate::desk::roster::DEFAULT_MAX_PARTICIPANTS,
            macros: Vec::new(),
            dashboard_url: None,
            change: Default::default(),
        }
    }

    fn facts<'a>(text: &'a str, attached: Option<&'a AttachedOriginal>) -> BehalfFacts<'a> {
        BehalfFacts {
            text,
            subject: "Fwd: printer",
            sender: "ann@example.test",
            staff: true,
            automatic: false,
            proven: true,
            verify_staff: true,
            attached,
        }
    }

    fn sender(f: &Forwarded) -> (Option<&str>, &str) {
        let s = f.sender.as_ref().expect("a sender");
        (s.name.as_deref(), s.email.as_str())
    }

    const OUTLOOK_EN: &str = "/priority P2\nPlease look at this.\n\n-----Original Message-----\nFrom: Carol Diaz <carol@customer.test>\nSent: Monday, March 2, 2026 9:14 AM\nTo: Ann Lee <ann@example.test>\nSubject: Printer on floor 3 jams\n\nHi Ann,\nthe printer jams again.\nCarol\n";
    const OUTLOOK_ZH: &str = "请处理。\n\n-----原始邮件-----\n发件人: 王芳 <wang.fang@customer.test>\n发送时间: 2026年3月2日 9:14\n收件人: Ann Lee <ann@example.test>\n主题: 打印机卡纸\n\n你好，三楼打印机又卡纸了。\n";
    const OUTLOOK_MAILTO: &str = "FYI\n\n________________________________\nFrom: Carol Diaz [mailto:carol@customer.test]\nSent: Monday, March 2, 2026 9:14 AM\nTo: Ann Lee\nSubject: Printer\n\nIt jams.\n";
    const GMAIL_EN: &str = "see below\n\n---------- Forwarded message ---------\nFrom: Carol Diaz <carol@customer.test>\nDate: Mon, Mar 2, 2026 at 9:14 AM\nSubject: VPN drops every hour\nTo: <ann@example.test>\n\n\nThe VPN drops every hour.\n";
    const GMAIL_ZH: &str = "---------- 转发的邮件 ---------\n发件人：王芳 <wang.fang@customer.test>\n日期：2026年3月2日周一 上午9:14\n主题：VPN 每小时断开\n收件人：<ann@example.test>\n\n\nVPN 每小时断开一次。\n";
    const APPLE_EN: &str = "/assign bob\n\nBegin forwarded message:\n\n> From: Carol Diaz <carol@customer.test>\n> Subject: Laptop will not boot\n> Date: 2 March 2026 at 09:14:00 CET\n> To: Ann Lee <ann@example.test>\n> \n\nMy laptop will not boot.\n";
    const APPLE_ZH: &str = "转发的邮件：\n\n发件人: 王芳 <wang.fang@customer.test>\n主题: 笔记本无法启动\n日期: 2026年3月2日 GMT+8 09:14:00\n收件人: Ann Lee <ann@example.test>\n\n我的笔记本无法启动。\n";
    const THUNDERBIRD_EN: &str = "Carol called too.\n\n-------- Forwarded Message --------\nSubject: \tShared drive is full\nDate: \tMon, 2 Mar 2026 09:14:00 +0100\nFrom: \tCarol Diaz <carol@customer.test>\nTo: \tsupport@example.test\n\nThe shared drive is full.\n";
    const THUNDERBIRD_ZH: &str = "-------- 转发的消息 --------\n主题： \t共享盘满了\n日期： \tMon, 2 Mar 2026 09:14:00 +0800\n发件人： \t王芳 <wang.fang@customer.test>\n收件人： \tsupport@example.test\n\n共享盘满了。\n";

    #[test]
    fn every_client_format_en_and_zh_is_read() {
        let cases: [(&str, &str, &str, &str, &str); 9] = [
            (
                OUTLOOK_EN,
                "carol@customer.test",
                "Printer on floor 3 jams",
                "the printer jams again",
                "/priority P2\nPlease look at this.",
            ),
            (
                OUTLOOK_ZH,
                "wang.fang@customer.test",
                "打印机卡纸",
                "三楼打印机又卡纸了",
                "请处理。",
            ),
            (
                OUTLOOK_MAILTO,
                "carol@customer.test",
                "Printer",
                "It jams.",
                "FYI",
            ),
            (
                GMAIL_EN,
                "carol@customer.test",
                "VPN drops every hour",
                "The VPN drops every hour.",
                "see below",
            ),
            (
                GMAIL_ZH,
                "wang.fang@customer.test",
                "VPN 每小时断开",
                "VPN 每小时断开一次。",
                "",
            ),
            (
                APPLE_EN,
                "carol@customer.test",
                "Laptop will not boot",
                "My laptop will not boot.",
                "/assign bob",
            ),
            (
                APPLE_ZH,
                "wang.fang@customer.test",
                "笔记本无法启动",
                "我的笔记本无法启动。",
                "",
            ),
            (
                THUNDERBIRD_EN,
                "carol@customer.test",
                "Shared drive is full",
                "The shared drive is full.",
                "Carol called too.",
            ),
            (
                THUNDERBIRD_ZH,
                "wang.fang@customer.test",
                "共享盘满了",
                "共享盘满了。",
                "",
            ),
        ];
        for (text, from, subject, body, preface) in cases {
            for text in [text.to_string(), text.replace('\n', "\r\n")] {
                let f = parse_inline(&text).unwrap_or_else(|| panic!("no forward in {text:?}"));
                assert_eq!(sender(&f).1, from, "{text}");
                assert_eq!(f.subject, subject, "{text}");
                assert!(f.text.contains(body), "{text}: {:?}", f.text);
                assert_eq!(f.preface, preface, "{text}");
            }
        }
        let f = parse_inline(OUTLOOK_ZH).expect("forward");
        assert_eq!(sender(&f).0, Some("王芳"));
        let f = parse_inline(OUTLOOK_MAILTO).expect("forward");
        assert_eq!(sender(&f), (Some("Carol Diaz"), "carol@customer.test"));
    }

    #[test]
    fn plain_mail_is_no_forward() {
        assert_eq!(parse_inline("Hello,\nmy printer jams.\nFrom: me\n"), None);
        assert_eq!(parse_inline("no forward here"), None);
        assert!(decide_behalf(&facts("Hello, my printer jams.", None), &desk()).is_none());
    }

    #[test]
    fn a_verified_forward_is_the_original_senders_ticket_with_the_agents_words_a_note() {
        let b = decide_behalf(&facts(OUTLOOK_EN, None), &desk()).expect("behalf");
        assert_eq!(b.kind, BehalfKind::Inline);
        assert_eq!(b.requester.email, "carol@customer.test");
        assert_eq!(b.requester.name.as_deref(), Some("Carol Diaz"));
        assert_eq!(b.subject, "Printer on floor 3 jams");
        assert!(b.request.starts_with("Hi Ann,"));
        assert_eq!(b.note, "Please look at this.");
        assert_eq!(b.changes, vec![Change::Priority(crate::desk::Priority::P2)]);
        assert_eq!(b.problem, None);
        let b = decide_behalf(&facts(APPLE_EN, None), &desk()).expect("behalf");
        assert_eq!(b.changes, vec![Change::Assignee("bob@example.test".into())]);
        assert_eq!(b.note, "");
    }

    #[test]
    fn an_unproven_or_non_staff_forward_is_an_ordinary_request() {
        let mut f = facts(OUTLOOK_EN, None);
        f.proven = false;
        assert!(decide_behalf(&f, &desk()).is_none());
        f.verify_staff = false;
        assert!(decide_behalf(&f, &desk()).is_some());
        let mut f = facts(OUTLOOK_EN, None);
        f.staff = false;
        assert!(decide_behalf(&f, &desk()).is_none());
        let mut f = facts(OUTLOOK_EN, None);
        f.automatic = true;
        assert!(decide_behalf(&f, &desk()).is_none());
    }

    #[test]
    fn an_attached_original_is_the_request() {
        let original = AttachedOriginal {
            from: Some(Address {
                name: Some("Carol Diaz".into()),
                email: "carol@customer.test".into(),
            }),
            subject: "Re: Fwd: Printer".into(),
            text: "It jams.\n".into(),
        };
        let b = decide_behalf(
            &facts("/priority P1\nurgent, see attached", Some(&original)),
            &desk(),
        )
        .expect("behalf");
        assert_eq!(b.kind, BehalfKind::Attached);
        assert_eq!(b.requester.email, "carol@customer.test");
        assert_eq!(b.subject, "Re: Fwd: Printer");
        assert_eq!(b.request, "It jams.");
        assert_eq!(b.note, "urgent, see attached");
        assert_eq!(b.changes, vec![Change::Priority(crate::desk::Priority::P1)]);
    }

    #[test]
    fn no_sender_found_or_our_own_address_makes_the_agent_the_requester() {
        let text = "-----Original Message-----\nFrom: Carol Diaz\nSubject: Printer\n\nIt jams.\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.requester.email, "ann@example.test");
        assert_eq!(b.requester.name.as_deref(), Some("Ann Lee"));
        assert!(
            b.problem
                .as_deref()
                .is_some_and(|p| p.contains("no sender address"))
        );
        assert!(b.request.contains("It jams."));
        assert!(b.request.contains("Original Message"), "nothing is lost");
        let text = "---------- Forwarded message ---------\nFrom: Support <SUPPORT@example.test>\nSubject: Printer\n\nIt jams.\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.requester.email, "ann@example.test");
        assert!(
            b.problem
                .as_deref()
                .is_some_and(|p| p.contains("support@example.test"))
        );
        let text = "Begin forwarded message:\n\nFrom: Bob Roe <bob@example.test>\nSubject: Printer\n\nIt jams.\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.requester.email, "ann@example.test");
        assert!(
            b.problem
                .as_deref()
                .is_some_and(|p| p.contains("member of staff"))
        );
    }

    #[test]
    fn slash_new_opens_a_ticket_for_the_named_requester() {
        let text =
            "/new Dan Wu <Dan.Wu@customer.test>\n\nDan called: his phone cannot reach the VPN.\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.kind, BehalfKind::New);
        assert_eq!(b.requester.email, "dan.wu@customer.test");
        assert_eq!(b.requester.name.as_deref(), Some("Dan Wu"));
        assert_eq!(b.request, "Dan called: his phone cannot reach the VPN.");
        assert_eq!(b.subject, "printer");
        let b = decide_behalf(&facts("/new\nno address", None), &desk()).expect("behalf");
        assert!(b.problem.is_some());
    }

    #[test]
    fn the_agents_priority_and_assignee_shape_the_first_steps() {
        let b = decide_behalf(&facts(APPLE_EN, None), &desk()).expect("behalf");
        let mut arrival = Arrival {
            priority: crate::desk::Priority::P3,
            acknowledge: true,
            acknowledgement_withheld: false,
            opened_lately: 1,
            participants: Vec::new(),
            left_out: 0,
            staff_mail: StaffMail::Each {
                urgent: Vec::new(),
                notices: vec!["ann@example.test".into(), "bob@example.test".into()],
            },
        };
        adjust_arrival(&b, &mut arrival);
        assert_eq!(
            arrival.staff_mail,
            StaffMail::Each {
                urgent: Vec::new(),
                notices: vec!["bob@example.test".into()]
            }
        );
        let b = decide_behalf(&facts(OUTLOOK_EN, None), &desk()).expect("behalf");
        adjust_arrival(&b, &mut arrival);
        assert_eq!(arrival.priority, crate::desk::Priority::P2);
    }

    #[test]
    fn bad_commands_are_reported_not_applied() {
        let text = "/assign nobody\n/close\n\n-----Original Message-----\nFrom: c@customer.test\nSubject: x\n\ny\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert!(b.changes.is_empty());
        assert_eq!(b.later, "/assign nobody\n/close");
        let text = "/frobnicate\n/close\nsee below\n\n-----Original Message-----\nFrom: c@customer.test\nSubject: x\n\ny\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert!(b.changes.is_empty());
        assert_eq!(b.later, "/frobnicate\n/close");
    }

    #[test]
    fn the_agents_other_commands_run_once_the_ticket_is_open() {
        let text = "/priority P2\n/authorize reinstall the VPN client\n/cc Dan Wu <dan@customer.test>\n/note\nCalled her back.\n\n-----Original Message-----\nFrom: c@customer.test\nSubject: x\n\ny\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.changes, vec![Change::Priority(crate::desk::Priority::P2)]);
        assert_eq!(b.events, vec!["/priority P2".to_string()]);
        assert_eq!(
            b.later,
            "/authorize reinstall the VPN client\n/cc dan@customer.test"
        );
        assert_eq!(b.note, "Called her back.");
        let text = "/kb\nProblem: VPN\nSolution: reinstall\n\n-----Original Message-----\nFrom: c@customer.test\nSubject: x\n\ny\n";
        let b = decide_behalf(&facts(text, None), &desk()).expect("behalf");
        assert_eq!(b.later, "/kb\n\nProblem: VPN\nSolution: reinstall");
    }

    #[test]
    fn addresses_are_read_in_every_form() {
        for (v, name, email) in [
            (
                "Carol Diaz <carol@customer.test>",
                Some("Carol Diaz"),
                "carol@customer.test",
            ),
            (
                "\"Diaz, Carol\" <Carol@Customer.test>",
                Some("Diaz, Carol"),
                "carol@customer.test",
            ),
            (
                "Carol Diaz [mailto:carol@customer.test]",
                Some("Carol Diaz"),
                "carol@customer.test",
            ),
            ("carol@customer.test", None, "carol@customer.test"),
            ("<carol@customer.test>", None, "carol@customer.test"),
            // HTML rendered to text: Gmail's bold sender name.
            (
                "**Carol Diaz** <carol@customer.test>",
                Some("Carol Diaz"),
                "carol@customer.test",
            ),
        ] {
            let a = parse_address(v).expect("address");
            assert_eq!((a.name.as_deref(), a.email.as_str()), (name, email), "{v}");
        }
        assert_eq!(parse_address("Carol Diaz"), None);
    }
}
