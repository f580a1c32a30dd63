//! Inbound: raw bytes from a mailbox become an [`InboundMessage`]: decoded headers,
//! bodies, attachment facts, identity for deduplication, and the "automatic mail"
//! classification. Nothing here touches the store or the network; deciding what a
//! message means for a ticket is the desk's job.

pub mod attached;
pub mod classify;
pub mod parse;
pub mod trim;

pub use classify::{AutomaticKind, AutomaticVerdict, classify};
pub use parse::{ParseFailure, ParseLimits, parse, parse_with};
pub use trim::trim_reply;

/// An address from a header, decoded. `email` is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

/// What we keep of an attachment: its facts (stored as JSON on the message) and its
/// decoded bytes (stored once, by SHA-256, in `store::file_blobs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentInfo {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 (hex) of the decoded bytes.
    #[serde(default)]
    pub sha256: String,
    /// The part's Content-ID without `<>`, when it has one (inline images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// `Content-Disposition: inline` (or none) with a Content-ID: shown in the HTML.
    #[serde(default)]
    pub inline: bool,
    /// The decoded bytes; shared, so copies of the message do not copy them.
    #[serde(skip)]
    pub bytes: std::sync::Arc<[u8]>,
}

/// A parsed message, ready for the desk.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The bytes exactly as received; stored unchanged.
    pub raw: Vec<u8>,
    /// Message-IDs of the message(s) this one reports on: the original attached to a
    /// delivery status notification or a complaint (`message/rfc822`,
    /// `text/rfc822-headers`). How a bounce finds the ticket whose mail bounced.
    pub reported_ids: Vec<String>,
    /// The Message-ID without `<>`, domain part lower-cased; `None` when absent or empty.
    pub message_id: Option<String>,
    /// SHA-256 (hex) over the message without its trace headers (Received, Return-Path,
    /// Delivered-To, ...), so the same message delivered twice hashes the same.
    pub content_hash: String,
    /// Decoded subject, single line (folded whitespace collapsed); empty when absent.
    pub subject: String,
    pub from: Option<Address>,
    pub sender: Option<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// `Date:` as Unix seconds, when present and valid.
    pub date: Option<i64>,
    /// Normalised like `message_id`.
    pub in_reply_to: Vec<String>,
    /// Normalised like `message_id`, in header order (oldest first).
    pub references: Vec<String>,
    /// The text body; for HTML-only mail a text rendering of the HTML.
    pub text_body: String,
    /// For replies: what the author wrote, `text_body` with quotes, reply headers and
    /// signatures trimmed ([`trim_reply`]); computed while parsing, off the store's
    /// writer. `None` for mail that is not a reply, which keeps its whole text (a new
    /// request's signature and forwarded content are facts for the agents).
    pub trimmed_text: Option<String>,
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// The envelope sender from `Return-Path:` if present: `Some("")` for `<>`.
    pub return_path: Option<String>,
    /// Header facts the classifier reads, lower-cased names → raw values.
    pub auto_headers: Vec<(String, String)>,
    /// Problems noticed while decoding (unknown charset, no From, ...); the message is
    /// still usable.
    pub problems: Vec<String>,
    /// Set when the message was over the size limit: kept raw, read only in part,
    /// attachments not listed; the sender is told.
    pub oversized: Option<Oversized>,
}

/// A message over `[limits] max_message_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    pub bytes: usize,
    pub limit: usize,
}

impl Oversized {
    /// Sizes in MB with one decimal, for mail to people: ("31.5", "25.0").
    pub fn in_megabytes(&self) -> (String, String) {
        let mb = |n: usize| format!("{:.1}", n as f64 / (1024.0 * 1024.0));
        (mb(self.bytes), mb(self.limit))
    }
}

impl InboundMessage {
    /// A copy without the raw bytes (for rendering replies, which never need them).
    pub fn without_raw(&self) -> InboundMessage {
        InboundMessage {
            raw: Vec::new(),
            reported_ids: self.reported_ids.clone(),
            message_id: self.message_id.clone(),
            content_hash: self.content_hash.clone(),
            subject: self.subject.clone(),
            from: self.from.clone(),
            sender: self.sender.clone(),
            reply_to: self.reply_to.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            date: self.date,
            in_reply_to: self.in_reply_to.clone(),
            references: self.references.clone(),
            text_body: self.text_body.clone(),
            trimmed_text: self.trimmed_text.clone(),
            html_body: self.html_body.clone(),
            attachments: self.attachments.clone(),
            return_path: self.return_path.clone(),
            auto_headers: self.auto_headers.clone(),
            problems: self.problems.clone(),
            oversized: self.oversized,
        }
    }

    /// What the author wrote: the trimmed text of a reply, the whole text otherwise.
    pub fn visible_text(&self) -> &str {
        self.trimmed_text
            .as_deref()
            .unwrap_or_else(|| self.text_body.trim_end())
    }

    /// Whether the message answers an earlier one: it names one (In-Reply-To,
    /// References), or its subject carries a reply prefix or a ticket token.
    pub fn is_reply(&self) -> bool {
        is_reply(&self.in_reply_to, &self.references, &self.subject)
    }

    /// The identity used for exactly-once ingest: the Message-ID, or the content hash
    /// when the message has none.
    pub fn identity(&self) -> String {
        match &self.message_id {
            Some(id) => id.clone(),
            None => format!("sha256:{}", self.content_hash),
        }
    }

    /// Who should get answers: Reply-To if given, else From, else Sender.
    pub fn reply_address(&self) -> Option<&Address> {
        self.reply_to
            .first()
            .or(self.from.as_ref())
            .or(self.sender.as_ref())
    }
}

/// Normalises a Message-ID: strips `<>` and white space, lower-cases the domain part.
/// Returns `None` for an empty id.
pub fn normalize_message_id(raw: &str) -> Option<String> {
    let t = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if t.is_empty() {
        return None;
    }
    Some(match t.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => t.to_string(),
    })
}

/// See [`InboundMessage::is_reply`].
pub(crate) fn is_reply(in_reply_to: &[String], references: &[String], subject: &str) -> bool {
    static REPLY_SUBJECT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)^\s*(?:re|aw|sv|vs|antw|odp|r|rif|res|回复|答复|回覆|答覆)\s*(?:\[\d+\])?\s*[:：]|\[[a-z0-9]{1,16}-\d+\]",
        )
        .expect("valid regex")
    });
    !in_reply_to.is_empty() || !references.is_empty() || REPLY_SUBJECT.is_match(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_normalise() {
        assert_eq!(
            normalize_message_id(" <Abc.1@Mail.Example.COM> ").as_deref(),
            Some("Abc.1@mail.example.com")
        );
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(
            normalize_message_id("no-at-sign").as_deref(),
            Some("no-at-sign")
        );
    }

    #[test]
    fn replies_are_trimmed_and_requests_keep_their_whole_text() {
        let body = "It still fails.\n\nOn Mon, 2 Nov 2026 at 10:00, Desk <d@x.test> wrote:\n> Did it work?\n\n-- \nBob, +1 555 0100\n";
        let reply =
            parse(format!("From: b@x.test\r\nSubject: Re: [TP-3] VPN\r\n\r\n{body}").into_bytes())
                .unwrap();
        assert!(reply.is_reply());
        assert_eq!(reply.visible_text(), "It still fails.");
        let request = parse(
            "From: b@x.test\r\nSubject: VPN broken\r\n\r\nHelp.\r\n\r\n-- \r\nBob, +1 555 0100\r\n"
                .as_bytes()
                .to_vec(),
        )
        .unwrap();
        assert!(!request.is_reply());
        assert!(request.visible_text().contains("+1 555 0100"));
        for subject in ["RE: x", "AW: x", "回复：x", "Sv: x", "x [HD-12] y"] {
            assert!(is_reply(&[], &[], subject), "{subject}");
        }
        for subject in ["Reminder", "Array of things", "[urgent] printer"] {
            assert!(!is_reply(&[], &[], subject), "{subject}");
        }
    }
}
