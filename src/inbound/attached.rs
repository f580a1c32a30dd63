//! The original attached to a forward (`message/rfc822`, "forward as attachment"):
//! its sender, subject and text, read from the raw message on demand (only for a
//! staff member's new mail, where `desk::forwarded` may need it). What it means for a
//! ticket is the desk's to decide.

use mail_parser::{Address as ParsedAddress, MessageParser};

use super::Address;

/// An attached original, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttachedOriginal {
    pub from: Option<Address>,
    pub subject: String,
    pub text: String,
}

/// Attached originals read at most: a forward carries one; more are other files.
const MAX_PARTS: usize = 100;

/// The first `message/rfc822` part of `raw`, if it has one. Best effort: mail-parser
/// never panics on input, and a part it cannot read is no original.
pub fn attached_original(raw: &[u8]) -> Option<AttachedOriginal> {
    let message = MessageParser::default().parse(raw)?;
    let nested = message
        .attachments()
        .take(MAX_PARTS)
        .find_map(|part| part.message())?;
    let from = nested.from().and_then(first_address);
    let text = nested
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    Some(AttachedOriginal {
        from,
        subject: nested.subject().unwrap_or_default().trim().to_string(),
        text,
    })
}

fn first_address(address: &ParsedAddress<'_>) -> Option<Address> {
    let first = address.first()?;
    let email = first.address.as_deref()?.trim();
    if email.is_empty() {
        return None;
    }
    Some(Address {
        name: first
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        email: email.to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORWARD: &str = "From: Ann Lee <ann@example.test>\r\nTo: support@example.test\r\nSubject: Fwd: VPN\r\nMessage-ID: <f1@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n/priority P2\r\nsee attached\r\n--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"vpn.eml\"\r\n\r\nFrom: =?utf-8?b?546L6Iqz?= <Wang.Fang@customer.test>\r\nTo: ann@example.test\r\nSubject: VPN drops\r\nMessage-ID: <o1@customer.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe VPN drops every hour.\r\n--b1--\r\n";

    #[test]
    fn the_attached_original_is_read() {
        let o = attached_original(FORWARD.as_bytes()).expect("an original");
        assert_eq!(
            o.from,
            Some(Address {
                name: Some("王芳".into()),
                email: "wang.fang@customer.test".into()
            })
        );
        assert_eq!(o.subject, "VPN drops");
        assert!(o.text.contains("The VPN drops every hour."));
    }

    #[test]
    fn mail_without_an_attached_message_has_none() {
        let plain = "From: a@x.test\r\nSubject: s\r\n\r\nhello\r\n";
        assert_eq!(attached_original(plain.as_bytes()), None);
        assert_eq!(attached_original(b""), None);
    }
}
