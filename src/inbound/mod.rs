//! Inbound: raw bytes from a mailbox become an [`InboundMessage`]: decoded headers,
//! bodies, attachment facts, identity for deduplication, and the "automatic mail"
//! classification. Nothing here touches the store or the network; deciding what a
//! message means for a ticket is the desk's job.

pub mod classify;
pub mod parse;

pub use classify::{AutomaticKind, AutomaticVerdict, classify};
pub use parse::{ParseFailure, parse};

/// An address from a header, decoded. `email` is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

/// What we keep of an attachment (its bytes stay in the raw message).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentInfo {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
}

/// A parsed message, ready for the desk.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The bytes exactly as received; stored unchanged.
    pub raw: Vec<u8>,
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
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// The envelope sender from `Return-Path:` if present: `Some("")` for `<>`.
    pub return_path: Option<String>,
    /// Header facts the classifier reads, lower-cased names → raw values.
    pub auto_headers: Vec<(String, String)>,
    /// Problems noticed while decoding (unknown charset, no From, ...); the message is
    /// still usable.
    pub problems: Vec<String>,
}

impl InboundMessage {
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
}
