//! Takes the transfer encoding (base64, quoted-printable) off the parts of a rendered
//! MIME body before it is compressed, and puts it back, byte-exact, when it is read.
//!
//! A mail's text and HTML parts say the same thing (the request quoted back, names,
//! the ticket), but once encoded as base64 (or quoted-printable, with soft line breaks
//! every 76 characters) zstd no longer sees that: each part costs the whole of its
//! text. Decoded, the HTML part is mostly a copy of the text part and the text is
//! compressed once. Owns the byte format of a decoded body ([`split`], [`join`]); the
//! compression and the storage are `mail_packing`'s and the store's.
//!
//! The encoders are lettre's own (`quoted_printable::encode`,
//! `email_encoding::body::base64::encode`); a part is decoded only when encoding it
//! again gives back exactly the bytes rendered, and a body only when all of it comes
//! back byte for byte, so what is sent never depends on how it was kept.

use anyhow::{Result, bail};
use base64::Engine as _;

/// Part of a body as kept: bytes as rendered, or a part's payload decoded.
const VERBATIM: u8 = 0;
const QUOTED_PRINTABLE: u8 = 1;
const BASE64: u8 = 2;

/// The body with the payloads of its base64 and quoted-printable parts decoded, as a
/// list of segments (a tag, a 4-byte length, the bytes); None when nothing is
/// decoded or the body would not come back byte for byte. `delimiter` starts each
/// part (the MIME boundary, or what stands for it).
pub fn split(body: &[u8], delimiter: &[u8]) -> Option<Vec<u8>> {
    if delimiter.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut done = 0;
    let mut at = 0;
    let mut decoded_any = false;
    let end_of_payload = [b"\r\n--".as_slice(), delimiter].concat();
    while let Some(found) = find(&body[at..], delimiter) {
        let part = at + found;
        let Some(header_len) = find(&body[part..], b"\r\n\r\n") else {
            break;
        };
        let payload = part + header_len + 4;
        let Some(payload_len) = find(&body[payload..], &end_of_payload) else {
            break;
        };
        at = payload + payload_len;
        let header = &body[part..payload];
        let encoded = &body[payload..at];
        let Some((tag, decoded)) = decode(header, encoded) else {
            continue;
        };
        segment(&mut out, VERBATIM, &body[done..payload])?;
        segment(&mut out, tag, &decoded)?;
        done = at;
        decoded_any = true;
    }
    if !decoded_any {
        return None;
    }
    segment(&mut out, VERBATIM, &body[done..])?;
    (join(&out).ok()? == body).then_some(out)
}

/// The body as rendered, from [`split`]'s segments.
pub fn join(segments: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(segments.len() * 2);
    let mut rest = segments;
    while !rest.is_empty() {
        let Some((&tag, after)) = rest.split_first() else {
            break;
        };
        let Some((len, after)) = after.split_first_chunk::<4>() else {
            bail!("a decoded mail body is cut short");
        };
        let len = u32::from_le_bytes(*len) as usize;
        if after.len() < len {
            bail!("a decoded mail body is cut short");
        }
        let (bytes, after) = after.split_at(len);
        match tag {
            VERBATIM => out.extend_from_slice(bytes),
            QUOTED_PRINTABLE => out.extend_from_slice(&quoted_printable::encode(bytes)),
            BASE64 => {
                let mut text = String::with_capacity(bytes.len() * 4 / 3 + 8);
                email_encoding::body::base64::encode(bytes, &mut text)
                    .map_err(|_| anyhow::anyhow!("base64: cannot encode a mail part"))?;
                out.extend_from_slice(text.as_bytes());
            }
            other => bail!("unknown segment {other} in a decoded mail body"),
        }
        rest = after;
    }
    Ok(out)
}

/// The payload of a part decoded, with its tag, when its header names an encoding
/// this module puts back exactly.
fn decode(header: &[u8], encoded: &[u8]) -> Option<(u8, Vec<u8>)> {
    let header = String::from_utf8_lossy(header).to_ascii_lowercase();
    if header.contains("content-transfer-encoding: base64\r\n") {
        let compact: Vec<u8> = encoded
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()?;
        let mut again = String::with_capacity(encoded.len());
        email_encoding::body::base64::encode(&decoded, &mut again).ok()?;
        return (again.as_bytes() == encoded).then_some((BASE64, decoded));
    }
    if header.contains("content-transfer-encoding: quoted-printable\r\n") {
        let decoded =
            quoted_printable::decode(encoded, quoted_printable::ParseMode::Strict).ok()?;
        return (quoted_printable::encode(&decoded) == encoded)
            .then_some((QUOTED_PRINTABLE, decoded));
    }
    None
}

fn segment(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) -> Option<()> {
    out.push(tag);
    out.extend_from_slice(&u32::try_from(bytes.len()).ok()?.to_le_bytes());
    out.extend_from_slice(bytes);
    Some(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(text: &str, html: &str) -> (Vec<u8>, Vec<u8>) {
        let m = lettre::Message::builder()
            .from("a@x.test".parse().unwrap())
            .to("b@x.test".parse().unwrap())
            .subject("s")
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .unwrap()
            .formatted();
        let head_end = find(&m, b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&m[..head_end]).to_string();
        let start = head.find("boundary=\"").unwrap() + 10;
        let len = head[start..].find('"').unwrap();
        let boundary = head.as_bytes()[start..start + len].to_vec();
        (m[head_end..].to_vec(), boundary)
    }

    #[test]
    fn encoded_parts_come_back_byte_exact_and_smaller_once_compressed() {
        let line = "我们已收到您的请求, the VPN drops every 10 minutes = ok?\r\n";
        let text = line.repeat(40);
        let html = format!("<p>{}</p>", line.repeat(40));
        let (body, boundary) = body_of(&text, &html);
        assert!(String::from_utf8_lossy(&body).contains("Content-Transfer-Encoding: base64"));
        let segments = split(&body, &boundary).expect("decoded");
        assert_eq!(join(&segments).unwrap(), body);
        let plain = zstd::bulk::compress(&body, 3).unwrap().len();
        let decoded = zstd::bulk::compress(&segments, 3).unwrap().len();
        assert!(decoded * 2 < plain, "{decoded} vs {plain}");
    }

    #[test]
    fn quoted_printable_parts_come_back_byte_exact() {
        let text = format!("{}\r\n", "Caf\u{e9} = long line of the request ".repeat(8)).repeat(5);
        let (body, boundary) = body_of(&text, &format!("<p>{text}</p>"));
        assert!(String::from_utf8_lossy(&body).contains("quoted-printable"));
        let segments = split(&body, &boundary).expect("decoded");
        assert_eq!(join(&segments).unwrap(), body);
    }

    #[test]
    fn plain_or_damaged_bodies_are_left_alone() {
        let (body, boundary) = body_of("plain ascii\r\n", "<p>plain ascii</p>");
        assert_eq!(split(&body, &boundary), None, "nothing to decode");
        let odd = b"--bnd\r\nContent-Transfer-Encoding: base64\r\n\r\n!!notbase64\r\n--bnd--\r\n";
        assert_eq!(split(odd, b"bnd"), None);
        // A base64 payload not wrapped as lettre wraps it would not come back: kept.
        let unwrapped =
            b"--bnd\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\r\nZGVm\r\n--bnd--\r\n";
        assert_eq!(split(unwrapped, b"bnd"), None);
        assert!(join(&[2, 9, 0, 0, 0, 1]).is_err(), "cut short");
        assert!(join(&[7, 1, 0, 0, 0, 1]).is_err(), "unknown tag");
    }
}
