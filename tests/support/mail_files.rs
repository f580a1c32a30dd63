//! Mail with files, for tests of attachments: deterministic incompressible bytes,
//! PNG/PDF/EXE-looking files, a multipart mail that attaches them in base64, and the
//! files and text of a mail as a mail client would see them.
//!
//! Use it with `#[path = "support/mail_files.rs"] mod mail_files;`.

#![allow(dead_code)]

use mail_parser::{MessageParser, MimeHeaders};

/// Base64 in lines of 76 characters.
pub fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push('\n');
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Pseudo-random bytes (no compression can shrink them), deterministic.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A PNG signature and header, then 20,000 bytes of noise.
pub fn png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.extend(noise(20_000, 7));
    v
}

/// A PDF header, then 30,000 bytes of noise.
pub fn pdf() -> Vec<u8> {
    let mut v = b"%PDF-1.4\n".to_vec();
    v.extend(noise(30_000, 11));
    v
}

/// A Windows executable's `MZ` start, then 2,000 bytes of noise.
pub fn exe() -> Vec<u8> {
    let mut v = b"MZ\x90\0\x03\0\0\0".to_vec();
    v.extend(noise(2_000, 13));
    v
}

/// A mail with `head` (header lines, each ending in `\n`), a text part and these files
/// (name, type, bytes).
pub fn with_files(head: &str, text: &str, files: &[(&str, &str, &[u8])]) -> String {
    let mut m = format!(
        "{head}Date: Wed, 25 Nov 2026 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BB\"\n\n--BB\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
    );
    for (name, ct, bytes) in files {
        m.push_str(&format!(
            "--BB\nContent-Type: {ct}; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{}\n",
            b64(bytes)
        ));
    }
    m.push_str("--BB--\n");
    m
}

/// (file name, bytes) of each attachment of a mail.
pub fn files_of(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let m = MessageParser::default().parse(raw).expect("mail parses");
    m.attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect()
}

/// A mail's first text part, decoded.
pub fn text_of(raw: &[u8]) -> String {
    let m = MessageParser::default().parse(raw).expect("mail parses");
    m.body_text(0).unwrap_or_default().into_owned()
}
