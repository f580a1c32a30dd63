//! Files on outgoing mail, without a copy per recipient: a rendered mail is wrapped in
//! `multipart/mixed` (and `multipart/related` around the text for inline images, so
//! `cid:` references resolve), each file a part whose body is a placeholder line
//! unique to the mail ([`carry_files`]). The outbox stores that, plus which stored
//! file fills each placeholder; the sender fills them in ([`fill`]) just before the
//! mail leaves. The headers (Message-ID, threading) are those the renderer wrote.
//!
//! Which files a mail carries is the desk's decision (`desk::relay_files`); storing
//! the bytes is the store's (`store::file_blobs`).

use anyhow::{Context, Result, anyhow};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body};

use super::OutgoingMail;

/// A stored file a mail carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedFile {
    pub sha256: String,
    pub name: Option<String>,
    pub content_type: String,
    pub content_id: Option<String>,
    /// Shown in the HTML (by `cid:`) rather than listed as an attachment.
    pub inline: bool,
}

/// Wraps `mail` so that it carries `files`: their parts hold placeholders, recorded in
/// `mail.files` as (placeholder, sha256). No files: the mail is returned unchanged.
pub fn carry_files(mut mail: OutgoingMail, files: &[CarriedFile]) -> Result<OutgoingMail> {
    if files.is_empty() {
        return Ok(mail);
    }
    let split = find(&mail.raw, b"\r\n\r\n")
        .ok_or_else(|| anyhow!("the rendered {} mail has no header end", mail.kind))?;
    let (headers, body) = (&mail.raw[..split + 2], &mail.raw[split + 4..]);
    let (kept, content_type) = take_content_type(headers)
        .with_context(|| format!("the rendered {} mail has no Content-Type", mail.kind))?;
    let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let mixed = format!("tp-mixed-{nonce}");
    let related = format!("tp-related-{nonce}");
    let mut out = kept;
    out.extend_from_slice(
        format!("Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n").as_bytes(),
    );
    let (inline, attached): (Vec<_>, Vec<_>) = files
        .iter()
        .enumerate()
        .partition(|(_, f)| f.inline && f.content_id.is_some());
    out.extend_from_slice(format!("--{mixed}\r\n").as_bytes());
    let mut text = content_type;
    text.extend_from_slice(b"\r\n");
    text.extend_from_slice(body);
    if inline.is_empty() {
        out.extend_from_slice(&text);
    } else {
        out.extend_from_slice(
            format!("Content-Type: multipart/related; boundary=\"{related}\"\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(format!("--{related}\r\n").as_bytes());
        out.extend_from_slice(&text);
        for (i, f) in &inline {
            let placeholder = format!("ticketpost-file-{nonce}-{i}");
            out.extend_from_slice(format!("--{related}\r\n").as_bytes());
            out.extend_from_slice(&part(f, &placeholder));
            mail.files.push((placeholder, f.sha256.clone()));
        }
        out.extend_from_slice(format!("--{related}--\r\n").as_bytes());
    }
    for (i, f) in &attached {
        let placeholder = format!("ticketpost-file-{nonce}-{i}");
        out.extend_from_slice(format!("--{mixed}\r\n").as_bytes());
        out.extend_from_slice(&part(f, &placeholder));
        mail.files.push((placeholder, f.sha256.clone()));
    }
    out.extend_from_slice(format!("--{mixed}--\r\n").as_bytes());
    mail.raw = out;
    // Packed before the files were carried: pack again.
    mail.packed = None;
    Ok(mail)
}

/// One file's MIME part (headers by lettre, so names are encoded as they must be),
/// its body the placeholder.
fn part(f: &CarriedFile, placeholder: &str) -> Vec<u8> {
    let content_type = ContentType::parse(&f.content_type)
        .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid type"));
    let name = f.name.clone().unwrap_or_else(|| {
        if f.content_type == "message/rfc822" {
            "message.eml".to_string()
        } else {
            "attachment".to_string()
        }
    });
    let attachment = match (&f.content_id, f.inline) {
        (Some(cid), true) => Attachment::new_inline_with_name(cid.clone(), name),
        _ => Attachment::new(name),
    };
    let body = Body::dangerous_pre_encoded(
        placeholder.as_bytes().to_vec(),
        ContentTransferEncoding::Base64,
    );
    attachment.body(body, content_type).formatted()
}

/// The header block without its top-level `Content-Type` field (and its folded
/// lines), and that field.
fn take_content_type(headers: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut kept = Vec::with_capacity(headers.len());
    let mut field = Vec::new();
    let mut in_field = false;
    for line in headers.split_inclusive(|b| *b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            in_field = line.len() >= 13 && line[..13].eq_ignore_ascii_case(b"content-type:");
        }
        if in_field {
            field.extend_from_slice(line);
        } else {
            kept.extend_from_slice(line);
        }
    }
    (!field.is_empty()).then_some((kept, field))
}

/// Fills a stored mail's placeholders with its files' bytes (base64, 76 columns).
/// A placeholder is only ever a part's whole body, so it is looked for as one.
pub fn fill(raw: &[u8], fills: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut out = raw.to_vec();
    for (placeholder, bytes) in fills {
        let needle = format!("\r\n\r\n{placeholder}\r\n");
        let at = find(&out, needle.as_bytes())
            .with_context(|| format!("the mail has no place for file {placeholder}"))?;
        let encoded = base64_lines(bytes);
        let mut next = Vec::with_capacity(out.len() + encoded.len());
        next.extend_from_slice(&out[..at + 4]);
        next.extend_from_slice(&encoded);
        next.extend_from_slice(&out[at + needle.len() - 2..]);
        out = next;
    }
    Ok(out)
}

/// Base64 in lines of 76 characters joined by CRLF (no line end after the last).
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len() / 3 * 4 + bytes.len() / 57 * 2 + 8);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> OutgoingMail {
        let message = lettre::Message::builder()
            .from("Desk <desk@x.test>".parse().unwrap())
            .to("a@x.test".parse().unwrap())
            .subject("Hi")
            .message_id(Some("<m1@x.test>".into()))
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                "text".to_string(),
                "<p>text <img src=\"cid:shot@x\"></p>".to_string(),
            ))
            .unwrap();
        OutgoingMail {
            kind: "relay".into(),
            ticket: Some(1),
            message_id: "m1@x.test".into(),
            mail_from: "desk@x.test".into(),
            recipients: vec!["a@x.test".into()],
            subject: "Hi".into(),
            raw: message.formatted(),
            files: Vec::new(),
            packed: None,
            quotes: None,
        }
    }

    #[test]
    fn files_are_filled_in_at_send_time_byte_identical() {
        let png: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let pdf = b"%PDF-1.4 tiny".to_vec();
        let files = [
            CarriedFile {
                sha256: "p".into(),
                name: Some("shot.png".into()),
                content_type: "image/png".into(),
                content_id: Some("shot@x".into()),
                inline: true,
            },
            CarriedFile {
                sha256: "d".into(),
                name: Some("Bericht für Mai.pdf".into()),
                content_type: "application/pdf".into(),
                content_id: None,
                inline: false,
            },
        ];
        let mail = carry_files(rendered(), &files).unwrap();
        assert_eq!(mail.files.len(), 2);
        // Stored without the bytes.
        assert!(mail.raw.len() < 3000, "{}", mail.raw.len());
        let fills: Vec<(String, Vec<u8>)> = mail
            .files
            .iter()
            .map(|(p, sha)| {
                (
                    p.clone(),
                    if sha == "p" { png.clone() } else { pdf.clone() },
                )
            })
            .collect();
        let sent = fill(&mail.raw, &fills).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&sent).unwrap();
        assert_eq!(parsed.message_id(), Some("m1@x.test"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("text"));
        let got: Vec<(Option<&str>, &[u8])> = parsed
            .attachments()
            .map(|a| (mail_parser::MimeHeaders::attachment_name(a), a.contents()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("shot.png"), png.as_slice()),
                (Some("Bericht für Mai.pdf"), pdf.as_slice())
            ]
        );
        let text = String::from_utf8_lossy(&sent);
        assert!(text.contains("multipart/related"), "{text}");
        assert!(text.contains("Content-ID: <shot@x>"), "{text}");
    }

    #[test]
    fn base64_matches_the_reference() {
        assert_eq!(base64_lines(b""), b"");
        assert_eq!(base64_lines(b"f"), b"Zg==");
        assert_eq!(base64_lines(b"fo"), b"Zm8=");
        assert_eq!(base64_lines(b"foobar"), b"Zm9vYmFy");
        let long = base64_lines(&[0u8; 60]);
        assert_eq!(long.split(|b| *b == b'\n').next().unwrap().len(), 77);
    }

    #[test]
    fn a_mail_without_files_is_unchanged() {
        let mail = rendered();
        let raw = mail.raw.clone();
        assert_eq!(carry_files(mail, &[]).unwrap().raw, raw);
    }
}
