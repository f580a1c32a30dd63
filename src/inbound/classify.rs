//! Is this message automatic, and so must never be answered? Reads only what
//! `parse` collected (`auto_headers`, Return-Path, From/Sender, subject) and
//! returns a verdict naming the rule that fired, for the ticket timeline and logs.
//!
//! Rules follow RFC 3834 (Auto-Submitted), RFC 3464/6522 (DSNs, multipart/report),
//! RFC 5965 (ARF complaints), RFC 2369/2919 (list headers) and common practice
//! (Precedence, X-Autoreply & co., MAILER-DAEMON senders, out-of-office subjects).
//! It does not decide what happens to the message: the desk does, given the verdict.

use super::InboundMessage;

/// Why a message is automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomaticKind {
    /// A vacation/out-of-office or other machine answer (RFC 3834), or a read receipt.
    AutoReply,
    /// A delivery status notification: our mail (or someone's) did not arrive.
    Bounce,
    /// Bulk mail (`Precedence: bulk|junk`).
    Bulk,
    /// Mailing-list traffic.
    List,
    /// Our own mail coming back to us.
    Loop,
    /// An abuse/spam complaint (ARF feedback report).
    Complaint,
}

/// The classification of an automatic message; `reason` names the header or rule
/// that decided it, e.g. `Auto-Submitted: auto-replied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomaticVerdict {
    pub kind: AutomaticKind,
    pub reason: String,
}

impl AutomaticVerdict {
    fn new(kind: AutomaticKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// Subject starts of out-of-office replies, lower-case. A weak signal, checked after
/// every header rule. Each entry is matched at the start of the subject only.
const AUTO_REPLY_SUBJECT_PREFIXES: &[&str] = &[
    "auto-reply:",
    "auto reply:",
    "autoreply:",
    "automatic reply:",
    "autosvar",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "自动回复",
    "自動回覆",
    "自動応答",
];

/// "Out of office" also starts ordinary human subjects ("Out of office tomorrow,
/// please reassign"), so it only counts when followed by nothing, punctuation, or
/// one of these words.
const OUT_OF_OFFICE_FOLLOWERS: &[&str] = &[
    "autoreply",
    "auto reply",
    "auto-reply",
    "reply",
    "notice",
    "notification",
    "message",
    "response",
];

/// Subjects of delivery failure notices, lower-case; used only to tell a bounce
/// from another auto-generated message when the stronger DSN signs are missing.
const BOUNCE_SUBJECT_PREFIXES: &[&str] = &[
    "undelivered mail",
    "undeliverable",
    "delivery failure",
    "mail delivery failed",
    "delivery status",
    "there was an error sending your mail",
    "mail delivery failure",
    "failure notice",
    "returned mail",
    "mail system error",
    "delivery notification",
    "non remis",
    "unzustellbar",
    "メールエラー通知",
    "配信エラー",
    "配送エラー",
    "退信",
    "系统退信",
    "邮件退回",
    "投递失败",
];

/// Subjects of abuse complaints sent as a plain mail with the reported message
/// attached (Microsoft's JMRP, before ARF), lower-case; only with that attachment.
const COMPLAINT_SUBJECT_PREFIXES: &[&str] = &["complaint about message from"];

/// Local parts of senders that say nobody reads answers.
const NO_REPLY_LOCAL_PARTS: &[&str] = &[
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "do_not_reply",
    "no_reply",
];

/// Headers of list managers besides List-Id / List-Unsubscribe: the other RFC 2369
/// fields, ezmlm's Mailing-List and fml's X-ML-Name / X-MLServer.
const LIST_MANAGER_HEADERS: &[(&str, &str)] = &[
    ("list-subscribe", "List-Subscribe"),
    ("list-post", "List-Post"),
    ("list-help", "List-Help"),
    ("list-owner", "List-Owner"),
    ("mailing-list", "Mailing-List"),
    ("x-ml-name", "X-ML-Name"),
    ("x-mlserver", "X-MLServer"),
];

/// Headers only notification systems put on their mail (issue trackers answering
/// would add comments, and comments send notifications: a loop).
const NOTIFICATION_HEADERS: &[(&str, &str)] = &[("x-jira-fingerprint", "X-JIRA-FingerPrint")];

/// Returns a verdict when `msg` is automatic and must never be answered; `None` for
/// mail a human wrote. `own_addresses` are the desk's addresses (any case) for loop
/// checks.
///
/// Order matters only for the kind and reason reported (any verdict means "do not
/// answer"): our own mail first, then the structural DSN/complaint signs, then the
/// explicit RFC 3834 header, then the conventional headers, then the weak signals.
pub fn classify(msg: &InboundMessage, own_addresses: &[&str]) -> Option<AutomaticVerdict> {
    own_mail(msg, own_addresses)
        .or_else(|| report(msg))
        .or_else(|| auto_reply_headers(msg))
        .or_else(|| bulk_or_list(msg))
        .or_else(|| weak_signals(msg))
}

/// Our own mail coming back, from any of the desk's addresses.
fn own_mail(msg: &InboundMessage, own_addresses: &[&str]) -> Option<AutomaticVerdict> {
    use AutomaticKind::*;

    for own in own_addresses
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        if let Some(from) = &msg.from
            && from.email.eq_ignore_ascii_case(own)
        {
            return Some(AutomaticVerdict::new(
                Loop,
                format!("From: {} (our own address)", from.email),
            ));
        }
        if let Some(value) = header_values(msg, "x-loop").find(|v| contains_ignore_case(v, own)) {
            return Some(AutomaticVerdict::new(Loop, format!("X-Loop: {value}")));
        }
    }

    None
}

/// Reports: DSNs, ARF complaints, read receipts, SES notifications.
fn report(msg: &InboundMessage) -> Option<AutomaticVerdict> {
    use AutomaticKind::*;

    if let Some(verdict) = report_verdict(msg) {
        return Some(verdict);
    }
    if let Some(value) = header_values(msg, "feedback-type").next() {
        return Some(AutomaticVerdict::new(
            Complaint,
            format!("Feedback-Type: {value}"),
        ));
    }
    if let Some(value) = header_values(msg, "x-failed-recipients").next() {
        return Some(AutomaticVerdict::new(
            Bounce,
            format!("X-Failed-Recipients: {value}"),
        ));
    }
    if let Some(sender) = daemon_sender(msg) {
        return Some(AutomaticVerdict::new(
            Bounce,
            format!("{sender} (mail system sender)"),
        ));
    }
    if let Some(kind) = ses_notification(msg) {
        return Some(AutomaticVerdict::new(
            kind,
            "Amazon SES notification (notificationType in the body)",
        ));
    }
    if starts_with_any(&msg.subject, COMPLAINT_SUBJECT_PREFIXES)
        && msg
            .attachments
            .iter()
            .any(|a| a.content_type == "message/rfc822")
    {
        return Some(AutomaticVerdict::new(
            Complaint,
            format!(
                "complaint with the reported message attached: {}",
                msg.subject
            ),
        ));
    }

    None
}

/// RFC 3834's Auto-Submitted, the conventional auto-reply headers and Exchange's
/// inbox-rule replies.
fn auto_reply_headers(msg: &InboundMessage) -> Option<AutomaticVerdict> {
    use AutomaticKind::*;

    // RFC 3834. Mail systems mark their DSNs auto-replied (Postfix, Exim) or
    // auto-generated, so one that looks like a DSN is reported as a bounce.
    if let Some(value) = header_values(msg, "auto-submitted").find(|v| {
        let keyword = first_keyword(v);
        !keyword.is_empty() && !keyword.eq_ignore_ascii_case("no")
    }) {
        let kind = if has_bounce_subject(msg) {
            Bounce
        } else {
            AutoReply
        };
        return Some(AutomaticVerdict::new(
            kind,
            format!("Auto-Submitted: {value}"),
        ));
    }

    for (name, label) in [
        ("x-autoreply", "X-Autoreply"),
        ("x-autorespond", "X-Autorespond"),
        ("x-autogenerated", "X-Autogenerated"),
    ] {
        if let Some(value) = header_values(msg, name).next() {
            return Some(AutomaticVerdict::new(
                AutoReply,
                format!("{label}: {value}"),
            ));
        }
    }
    // Exchange inbox-rule replies carry both; either alone is common on human mail
    // (Outlook sets X-Auto-Response-Suppress on meeting mail, the loop header marks
    // any rule-forwarded message).
    if let (Some(suppress), Some(_)) = (
        header_values(msg, "x-auto-response-suppress").next(),
        header_values(msg, "x-ms-exchange-inbox-rules-loop").next(),
    ) {
        return Some(AutomaticVerdict::new(
            AutoReply,
            format!("X-Auto-Response-Suppress: {suppress} with X-MS-Exchange-Inbox-Rules-Loop"),
        ));
    }

    None
}

/// Precedence, mailing-list and notification headers, and no-reply senders.
fn bulk_or_list(msg: &InboundMessage) -> Option<AutomaticVerdict> {
    use AutomaticKind::*;

    if let Some(value) = header_values(msg, "precedence").next() {
        let kind = match first_keyword(value).to_ascii_lowercase().as_str() {
            "bulk" | "junk" => Some(Bulk),
            "list" => Some(List),
            "auto_reply" | "auto-reply" => Some(AutoReply),
            _ => None,
        };
        if let Some(kind) = kind {
            return Some(AutomaticVerdict::new(kind, format!("Precedence: {value}")));
        }
    }

    for (name, label) in [
        ("list-id", "List-Id"),
        ("list-unsubscribe", "List-Unsubscribe"),
    ]
    .iter()
    .chain(LIST_MANAGER_HEADERS)
    {
        if let Some(value) = header_values(msg, name).next() {
            return Some(AutomaticVerdict::new(List, format!("{label}: {value}")));
        }
    }
    for (name, label) in NOTIFICATION_HEADERS {
        if let Some(value) = header_values(msg, name).next() {
            return Some(AutomaticVerdict::new(Bulk, format!("{label}: {value}")));
        }
    }
    if let Some(address) = no_reply_sender(msg) {
        // A mail system's notice carries the undelivered message.
        let kind = if has_bounce_subject(msg) || !msg.reported_ids.is_empty() {
            Bounce
        } else {
            Bulk
        };
        return Some(AutomaticVerdict::new(
            kind,
            format!("From: {address} (a no-reply sender)"),
        ));
    }

    None
}

/// Weak signals, read last: an automatic-looking subject, a null sender, a
/// failure-notice subject with no From address.
fn weak_signals(msg: &InboundMessage) -> Option<AutomaticVerdict> {
    use AutomaticKind::*;

    // Weak signals last.
    if is_auto_reply_subject(&msg.subject) {
        return Some(AutomaticVerdict::new(
            AutoReply,
            format!("subject looks automatic: {}", msg.subject),
        ));
    }
    if msg.return_path.as_deref() == Some("") {
        let kind = if is_auto_reply_subject(&msg.subject) {
            AutoReply
        } else {
            Bounce
        };
        return Some(AutomaticVerdict::new(kind, "Return-Path: <> (null sender)"));
    }
    // A failure-notice subject alone is something a person may write ("Delivery
    // failure on my order?"); with no usable From address it is a mail system's.
    if msg.from.is_none() && has_bounce_subject(msg) {
        return Some(AutomaticVerdict::new(
            Bounce,
            format!(
                "subject looks like a failure notice and From has no address: {}",
                msg.subject
            ),
        ));
    }
    None
}

fn has_bounce_subject(msg: &InboundMessage) -> bool {
    starts_with_any(&msg.subject, BOUNCE_SUBJECT_PREFIXES)
}

/// Values of a collected header, by lower-case name, in header order.
fn header_values<'a>(msg: &'a InboundMessage, name: &'a str) -> impl Iterator<Item = &'a str> {
    msg.auto_headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The value before any `;` parameters or `(comment)`, trimmed.
fn first_keyword(value: &str) -> &str {
    value.split([';', '(']).next().unwrap_or_default().trim()
}

/// The kind a report part's content type stands for.
fn report_part_kind(content_type: &str) -> Option<AutomaticKind> {
    match content_type {
        "message/delivery-status" | "message/global-delivery-status" => Some(AutomaticKind::Bounce),
        "message/feedback-report" => Some(AutomaticKind::Complaint),
        "message/disposition-notification" | "message/global-disposition-notification" => {
            Some(AutomaticKind::AutoReply)
        }
        _ => None,
    }
}

/// A verdict from a top-level `multipart/report` content type (its report-type, or
/// when that is missing its report part), or from a machine-readable report part
/// at the top level of another multipart (some MTAs send DSNs as multipart/mixed).
/// A report forwarded by a person sits inside a message/rfc822 attachment and is
/// not seen here.
fn report_verdict(msg: &InboundMessage) -> Option<AutomaticVerdict> {
    let report_part = msg.attachments.iter().find_map(|a| {
        report_part_kind(&a.content_type).map(|kind| (kind, a.content_type.as_str()))
    });
    let content_type = header_values(msg, "content-type")
        .next()
        .unwrap_or_default();
    if first_keyword(content_type).eq_ignore_ascii_case("multipart/report") {
        let report_type = content_type_param(content_type, "report-type").unwrap_or_default();
        let kind = match report_type.to_ascii_lowercase().as_str() {
            "delivery-status" | "global-delivery-status" => AutomaticKind::Bounce,
            "feedback-report" => AutomaticKind::Complaint,
            "disposition-notification" => AutomaticKind::AutoReply,
            // Missing or unknown report-type: the report part says, else the subject;
            // either way a machine wrote it.
            _ => match report_part {
                Some((kind, _)) => kind,
                None if has_bounce_subject(msg) => AutomaticKind::Bounce,
                None => AutomaticKind::AutoReply,
            },
        };
        let reason = if report_type.is_empty() {
            "Content-Type: multipart/report".to_string()
        } else {
            format!("Content-Type: multipart/report; report-type={report_type}")
        };
        return Some(AutomaticVerdict::new(kind, reason));
    }
    report_part
        .map(|(kind, content_type)| AutomaticVerdict::new(kind, format!("{content_type} part")))
}

/// A parameter of a raw Content-Type value, unquoted; names compare case-insensitively.
fn content_type_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|param| {
        let (key, val) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"').trim())
    })
}

/// Local parts (and bare names) of the mail system's own senders.
const DAEMON_LOCAL_PARTS: &[&str] = &["mailer-daemon", "postmaster", "post_master"];

/// From or Sender naming the mail system itself, as "Header: value". The raw From
/// is checked too: bounces often say `From: MAILER-DAEMON <>` or a bare
/// `mailer-daemon`, which have no address.
fn daemon_sender(msg: &InboundMessage) -> Option<String> {
    let is_daemon_address = |email: &str| {
        let local = email.rsplit_once('@').map_or(email, |(l, _)| l);
        DAEMON_LOCAL_PARTS
            .iter()
            .any(|d| local.eq_ignore_ascii_case(d))
    };
    for (header, address) in [("From", &msg.from), ("Sender", &msg.sender)] {
        if let Some(address) = address
            && is_daemon_address(&address.email)
        {
            return Some(format!("{header}: {}", address.email));
        }
    }
    if msg.from.is_none() {
        let raw_from = header_values(msg, "from").next()?;
        let name = raw_from
            .split('<')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .trim();
        if is_daemon_address(name) {
            return Some(format!("From: {raw_from}"));
        }
    }
    None
}

/// A reply-to-nobody sender (From, or Reply-To when that is where answers would go).
fn no_reply_sender(msg: &InboundMessage) -> Option<&str> {
    let is_no_reply = |email: &str| {
        let local = email.rsplit_once('@').map_or(email, |(l, _)| l);
        NO_REPLY_LOCAL_PARTS
            .iter()
            .any(|n| local.eq_ignore_ascii_case(n))
    };
    let answer_to = msg.reply_address()?;
    is_no_reply(&answer_to.email).then_some(answer_to.email.as_str())
}

/// Amazon SES notifications delivered by SNS: a JSON body (the SES record itself, or
/// SNS's envelope holding it as an escaped string) whose `notificationType` says
/// which: a bounce or a delivery report is a DSN, a complaint a complaint.
fn ses_notification(msg: &InboundMessage) -> Option<AutomaticKind> {
    let body = msg.text_body.trim_start();
    if !body.starts_with('{') {
        return None;
    }
    let at = body.find("notificationType")?;
    let after: String = body[at + "notificationType".len()..]
        .chars()
        .take(24)
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    if after.starts_with("Bounce") || after.starts_with("Delivery") {
        Some(AutomaticKind::Bounce)
    } else if after.starts_with("Complaint") {
        Some(AutomaticKind::Complaint)
    } else {
        Some(AutomaticKind::Bulk)
    }
}

fn is_auto_reply_subject(subject: &str) -> bool {
    let subject = subject.trim_start();
    if starts_with_any(subject, AUTO_REPLY_SUBJECT_PREFIXES) {
        return true;
    }
    let Some(rest) = strip_prefix_ignore_case(subject, "out of office")
        .or_else(|| strip_prefix_ignore_case(subject, "out of the office"))
    else {
        return false;
    };
    let rest = rest.trim_start();
    rest.is_empty()
        || rest.starts_with([':', '-', '(', '[', '–'])
        || starts_with_any(rest, OUT_OF_OFFICE_FOLLOWERS)
}

fn starts_with_any(text: &str, prefixes: &[&str]) -> bool {
    let text = text.trim_start();
    prefixes
        .iter()
        .any(|p| strip_prefix_ignore_case(text, p).is_some())
}

/// `text` without `prefix` when it starts with it, comparing case-insensitively
/// (Unicode-aware, so "Réponse" matches "réponse").
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut rest = text.char_indices();
    for expected in prefix.chars() {
        let (_, actual) = rest.next()?;
        if !actual.to_lowercase().eq(expected.to_lowercase()) {
            return None;
        }
    }
    Some(rest.next().map_or("", |(i, _)| &text[i..]))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::parse;

    const US: &str = "Support@Desk.test";

    /// Parses a fixture made of `headers` plus a fixed human-looking body.
    fn msg(headers: &str) -> InboundMessage {
        let raw = format!(
            "{headers}\nTo: support@desk.test\nDate: Tue, 1 Jul 2025 10:00:00 +0000\n\
Message-ID: <{}@x.test>\n\nHello, please help.\n",
            headers.len()
        );
        match parse(raw.into_bytes()) {
            Ok(m) => m,
            Err(f) => panic!("fixture: {f}"),
        }
    }

    fn verdict(headers: &str) -> Option<AutomaticVerdict> {
        classify(&msg(headers), &[US])
    }

    fn kind(headers: &str) -> Option<AutomaticKind> {
        verdict(headers).map(|v| v.kind)
    }

    #[test]
    fn human_mail_passes() {
        for headers in [
            "From: Ann <ann@example.com>\nSubject: Printer broken",
            "From: Ann <ann@example.com>\nSubject: Re: [TP-12] Printer broken\nIn-Reply-To: <a@desk.test>",
            "From: Ann <ann@example.com>\nSubject: Re: Automatic reply: your ticket",
            "From: Ann <ann@example.com>\nSubject: Out of office tomorrow, please reassign",
            "From: Ann <ann@example.com>\nSubject: x\nAuto-Submitted: no",
            "From: Ann <ann@example.com>\nSubject: x\nAuto-Submitted: No ; comment",
            "From: Ann <ann@example.com>\nSubject: x\nPrecedence: normal",
            "From: Ann <ann@example.com>\nSubject: x\nX-Auto-Response-Suppress: All",
            "From: Ann <ann@example.com>\nSubject: x\nContent-Type: multipart/mixed; boundary=\"b\"",
            "From: Ann <ann@example.com>\nSubject: x\nReturn-Path: <ann@example.com>",
            "From: Ann <ann@example.com>\nSubject: x\nX-Loop: other@elsewhere.test",
            "From: Postmaster-Team Lead <lead@example.com>\nSubject: mail server question",
        ] {
            assert_eq!(verdict(headers), None, "{headers}");
        }
    }

    #[test]
    fn auto_submitted() {
        let v = verdict("From: ann@example.com\nSubject: Re: help\nAuto-Submitted: auto-replied")
            .unwrap();
        assert_eq!(v.kind, AutomaticKind::AutoReply);
        assert_eq!(v.reason, "Auto-Submitted: auto-replied");
        let v = verdict(
            "From: ann@example.com\nSubject: x\nAuto-Submitted: Auto-Generated; owner=\"x\"",
        )
        .unwrap();
        assert_eq!(v.kind, AutomaticKind::AutoReply);
        assert!(v.reason.starts_with("Auto-Submitted: Auto-Generated"));
        assert_eq!(
            kind("From: ann@example.com\nSubject: x\nAuto-Submitted: auto-notified"),
            Some(AutomaticKind::AutoReply)
        );
        // Auto-generated with the look of a DSN (null sender, failure subject).
        assert_eq!(
            kind(
                "Return-Path: <>\nFrom: mail@mx.example.com\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-generated"
            ),
            Some(AutomaticKind::Bounce)
        );
    }

    #[test]
    fn precedence() {
        assert_eq!(
            kind("From: a@x.test\nSubject: x\nPrecedence: bulk"),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind("From: a@x.test\nSubject: x\nPrecedence: JUNK"),
            Some(AutomaticKind::Bulk)
        );
        let v = verdict("From: a@x.test\nSubject: x\nPrecedence: list").unwrap();
        assert_eq!(
            (v.kind, v.reason.as_str()),
            (AutomaticKind::List, "Precedence: list")
        );
    }

    #[test]
    fn list_headers() {
        let v = verdict("From: a@x.test\nSubject: x\nList-Id: Users <users.lists.example.org>")
            .unwrap();
        assert_eq!(v.kind, AutomaticKind::List);
        assert_eq!(v.reason, "List-Id: Users <users.lists.example.org>");
        assert_eq!(
            kind("From: a@x.test\nSubject: x\nList-Unsubscribe: <mailto:leave@x.test>"),
            Some(AutomaticKind::List)
        );
    }

    #[test]
    fn x_auto_headers() {
        for (header, label) in [
            ("X-Autoreply: yes", "X-Autoreply: yes"),
            ("X-Autorespond: vacation", "X-Autorespond: vacation"),
            ("X-AutoGenerated: yes", "X-Autogenerated: yes"),
        ] {
            let v = verdict(&format!("From: a@x.test\nSubject: x\n{header}")).unwrap();
            assert_eq!(
                (v.kind, v.reason.as_str()),
                (AutomaticKind::AutoReply, label)
            );
        }
    }

    #[test]
    fn reports() {
        let v = verdict(
            "From: MAILER-DAEMON@mx.x.test\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status;\n boundary=\"b\"",
        )
        .unwrap();
        assert_eq!(v.kind, AutomaticKind::Bounce);
        assert_eq!(
            v.reason,
            "Content-Type: multipart/report; report-type=delivery-status"
        );
        assert_eq!(
            kind(
                "From: abuse@isp.test\nSubject: complaint\nContent-Type: multipart/report; report-type=\"feedback-report\"; boundary=b"
            ),
            Some(AutomaticKind::Complaint)
        );
        assert_eq!(
            kind(
                "From: ann@example.com\nSubject: Read: x\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b"
            ),
            Some(AutomaticKind::AutoReply)
        );
        assert_eq!(
            kind("From: abuse@isp.test\nSubject: x\nFeedback-Type: abuse"),
            Some(AutomaticKind::Complaint)
        );
    }

    #[test]
    fn bounce_signs() {
        let v = verdict("Return-Path: <>\nFrom: mail@mx.example.com\nSubject: Delivery failed")
            .unwrap();
        assert_eq!(v.kind, AutomaticKind::Bounce);
        assert!(v.reason.starts_with("Return-Path: <>"));
        let v = verdict("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\nSubject: x")
            .unwrap();
        assert_eq!(v.kind, AutomaticKind::Bounce);
        assert!(
            v.reason.starts_with("From: mailer-daemon@mx.example.com"),
            "{}",
            v.reason
        );
        assert_eq!(
            kind("From: PostMaster@example.com\nSubject: x"),
            Some(AutomaticKind::Bounce)
        );
        assert_eq!(
            kind("From: ann@example.com\nSender: postmaster@example.com\nSubject: x"),
            Some(AutomaticKind::Bounce)
        );
        let v = verdict("From: mx@example.com\nSubject: x\nX-Failed-Recipients: gone@example.com")
            .unwrap();
        assert_eq!(
            (v.kind, v.reason.as_str()),
            (
                AutomaticKind::Bounce,
                "X-Failed-Recipients: gone@example.com"
            )
        );
    }

    #[test]
    fn loops() {
        let v = verdict("From: SUPPORT@desk.TEST\nSubject: [TP-1] ack").unwrap();
        assert_eq!(v.kind, AutomaticKind::Loop);
        let v = verdict("From: ann@example.com\nSubject: x\nX-Loop: support@desk.test").unwrap();
        assert_eq!(
            (v.kind, v.reason.as_str()),
            (AutomaticKind::Loop, "X-Loop: support@desk.test")
        );
        // Without an own address configured, nothing is a loop.
        assert_eq!(
            classify(&msg("From: support@desk.test\nSubject: x"), &[" "]),
            None
        );
    }

    #[test]
    fn auto_reply_subjects() {
        for subject in [
            "Auto-Reply: your request",
            "Automatic reply: Printer",
            "AUTOMATIC REPLY: Printer",
            "Out of Office",
            "Out of Office: Printer",
            "Out of office AutoReply: Printer",
            "Autosvar: Skrivare",
            "Abwesenheitsnotiz: Drucker",
            "自动回复: 打印机",
            "=?UTF-8?B?6Ieq5Yqo5Zue5aSNOiDmiZPljbDmnLo=?=",
        ] {
            let v = verdict(&format!("From: ann@example.com\nSubject: {subject}"));
            assert_eq!(
                v.map(|v| v.kind),
                Some(AutomaticKind::AutoReply),
                "{subject}"
            );
        }
    }

    #[test]
    fn prefix_matching_is_unicode_safe() {
        assert_eq!(
            strip_prefix_ignore_case("Réponse automatique: x", "réponse automatique"),
            Some(": x")
        );
        assert_eq!(strip_prefix_ignore_case("自动", "自动回复"), None);
        assert_eq!(strip_prefix_ignore_case("ab", "ab"), Some(""));
        assert_eq!(first_keyword("  auto-replied ; x=y"), "auto-replied");
        assert_eq!(
            content_type_param(
                "multipart/report; Report-Type = \"delivery-status\" ; boundary=x",
                "report-type"
            ),
            Some("delivery-status")
        );
    }

    #[test]
    fn list_managers_notifications_and_no_reply_senders() {
        for (headers, expected) in [
            (
                "From: a@x.test\nSubject: hi\nList-Subscribe: <mailto:l-ctl@x.test>",
                AutomaticKind::List,
            ),
            (
                "From: a@x.test\nSubject: hi\nMailing-List: contact l-help@x.test; run by ezmlm",
                AutomaticKind::List,
            ),
            (
                "From: l-admin@x.test\nSubject: Loop Alert\nX-MLServer: fml [fml 4.0.3]",
                AutomaticKind::List,
            ),
            (
                "From: IT <it@jira.example>\nSubject: [JIRA] (SYS-1) x\nX-JIRA-FingerPrint: 97a",
                AutomaticKind::Bulk,
            ),
            (
                "From: Shop <no-reply@shop.example>\nSubject: Your order",
                AutomaticKind::Bulk,
            ),
            (
                "From: no-reply@carrier.example.jp\nSubject: =?UTF-8?B?44Oh44O844Or44Ko44Op44O86YCa55+l?=",
                AutomaticKind::Bounce,
            ),
        ] {
            assert_eq!(kind(headers), Some(expected), "{headers}");
        }
        // A web form: sent from a no-reply address, answers go to the customer.
        assert_eq!(
            kind(
                "From: Forms <noreply@forms.example>\nReply-To: Jane <jane@x.test>\nSubject: Contact form"
            ),
            None
        );
    }

    #[test]
    fn ses_notifications_and_attached_complaints() {
        let ses = parse(
            b"From: SES <sns@aws.example>\nSubject: AWS Notification Message\n\n{\"notificationType\":\"Bounce\",\"bounce\":{}}\n"
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            classify(&ses, &[US]).map(|v| v.kind),
            Some(AutomaticKind::Bounce)
        );
        let complaint = parse(
            b"From: staff@mail.example\nSubject: complaint about message from 192.0.2.1\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nSpam.\n--b\nContent-Type: message/rfc822\n\nFrom: x@y.test\nSubject: buy\n\nbuy\n--b--\n"
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            classify(&complaint, &[US]).map(|v| v.kind),
            Some(AutomaticKind::Complaint)
        );
        // The same words from a person, with nothing attached, are a request.
        assert_eq!(
            kind("From: a@x.test\nSubject: Complaint about message from your agent"),
            None
        );
    }
}
