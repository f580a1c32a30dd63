//! Generated support requests for the benchmarks: the vocabulary (names, domains,
//! systems, subject and sentence templates, mail clients), the text helpers (filled
//! templates, wrapped paragraphs), the MIME helpers (RFC 2047 words, HTML alternative,
//! quoted-printable, base64, CRLF) and one whole request, and their delivery into a
//! Maildir. Which requests a benchmark sends, and how many, is its own.
//!
//! Use it with `#[path = "support/generated_mail.rs"] mod generated_mail;`.

#![allow(dead_code)]

use std::path::Path;

use anyhow::{Context, Result};

#[rustfmt::skip]
pub const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Carla", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Katarzyna", "Liam", "Mei", "Nora", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomás",
    "Ursula", "Viktor", "Wen", "Yusuf", "Zoë", "Jürgen", "Åsa", "Chloé",
];
pub const LAST_NAMES: &[&str] = &[
    "Andersen", "Becker", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Novak", "Weber", "Yilmaz", "Zhang", "Øster",
];
pub const DOMAINS: &[&str] = &[
    "acme-logistics.test",
    "mail.contoso.test",
    "northwind.test",
    "fabrikam.test",
    "example.org",
    "hospital-nord.test",
    "uni-sued.test",
    "stadtwerke.test",
    "globex.test",
    "initech.test",
];
#[rustfmt::skip]
pub const SYSTEMS: &[&str] = &[
    "the VPN", "Outlook", "the CRM", "SAP", "the intranet",
    "Teams", "the payroll portal", "the shared drive", "Jira", "the ticket scanner",
    "the warehouse app", "Citrix",
];
#[rustfmt::skip]
pub const DEVICES: &[&str] = &[
    "laptop", "docking station", "monitor", "headset", "phone", "badge reader", "label printer",
];
pub const SUBJECTS: &[&str] = &[
    "Cannot log in to {sys}",
    "{sys} is very slow since this morning",
    "Error {code} when opening {sys}",
    "Password reset for {sys}",
    "Request: new {dev} for a new colleague",
    "My {dev} does not start any more",
    "Printer on floor {n} prints blank pages",
    "Access to the shared folder Finance/{n}",
    "URGENT: {sys} down for the whole team",
    "Question about my invoice {code}",
    "Fwd: {sys} certificate expired?",
    "Re: {dev} replacement",
    "Drucker im {n}. OG druckt nur leere Seiten",
    "Impossible d'accéder à {sys} depuis ce matin",
    "VPN に接続できません ({code})",
    "Problem z {sys} – pilne",
];
pub const SENTENCES: &[&str] = &[
    "Since this morning I cannot open {sys} at all.",
    "The error message says that the session has expired, even right after logging in.",
    "I already restarted my {dev} twice and cleared the browser cache, but nothing changed.",
    "Colleagues in the same office have the same problem, so I think it is not just me.",
    "It worked fine yesterday afternoon until about half past four.",
    "We need this for the month-end closing, which is due on Friday.",
    "Could you please have a look as soon as possible?",
    "I attached a screenshot of the error in case it helps.",
    "The error code shown is {code} and it appears after about thirty seconds.",
    "When I try again it sometimes works, but then it fails on the next page.",
    "My manager asked me to open a ticket for this so that it is tracked.",
    "I am working from home today, so I connect through the VPN.",
    "Our new colleague starts on Monday and will need a {dev} and an account for {sys}.",
    "Please let me know if you need any more information from me.",
    "I can be reached on my mobile phone the whole day.",
    "The problem started after the update that was installed last night.",
    "Everything else on the {dev} seems to work normally.",
    "This is blocking the whole shipping team, we cannot print any labels.",
    "I have tried it with Firefox and with Edge, the result is the same.",
    "Last time a similar issue was solved by resetting my profile.",
    "The invoice number is {code}, and the amount seems to be charged twice.",
    "Kindly confirm once the access has been granted.",
    "Ich habe es auch schon mit einem anderen Gerät versucht, leider ohne Erfolg.",
    "Merci de votre aide, c'est assez urgent pour nous.",
    "There is no hurry, but it would be nice to have it fixed by next week.",
    "The message appears only for files larger than a few megabytes.",
    "I am not sure whether this is the right address for this kind of request.",
    "Our team lead is in copy so that she knows about the issue.",
];
pub const USER_AGENTS: &[&str] = &[
    "X-Mailer: Microsoft Outlook 16.0",
    "User-Agent: Mozilla Thunderbird 128.5.0",
    "X-Mailer: iPhone Mail (21G93)",
    "User-Agent: Roundcube Webmail/1.6.9",
    "X-Mailer: Apple Mail (2.3776.700.51)",
];

/// One of `templates`, with its placeholders filled in.
pub fn fill_from(rng: &mut fastrand::Rng, templates: &[&str]) -> String {
    let template = templates[rng.usize(..templates.len())];
    fill(rng, template)
}

pub fn fill(rng: &mut fastrand::Rng, template: &str) -> String {
    template
        .replace("{sys}", SYSTEMS[rng.usize(..SYSTEMS.len())])
        .replace("{dev}", DEVICES[rng.usize(..DEVICES.len())])
        .replace("{code}", &format!("0x{:04X}", rng.u16(..)))
        .replace("{n}", &rng.u8(1..9).to_string())
}

/// Paragraphs of plain text, wrapped at 72 columns, about `target` bytes long.
pub fn paragraphs(rng: &mut fastrand::Rng, target: usize) -> String {
    let mut text = String::new();
    while text.len() < target {
        let mut paragraph = String::new();
        for _ in 0..rng.usize(2..6) {
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(&fill_from(rng, SENTENCES));
        }
        text.push_str(&wrap(&paragraph, 72));
        text.push('\n');
    }
    text
}

pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out.push('\n');
    out
}

pub fn request(
    rng: &mut fastrand::Rng,
    i: usize,
    sender: usize,
    nonce: &str,
    alternative: bool,
    attachment: bool,
) -> Vec<u8> {
    let first = FIRST_NAMES[sender % FIRST_NAMES.len()];
    let last = LAST_NAMES[(sender / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let domain = DOMAINS[sender % DOMAINS.len()];
    let local = format!("{}.{}{}", ascii_fold(first), ascii_fold(last), sender / 100);
    let address = format!("{local}@{domain}");
    let subject = fill_from(rng, SUBJECTS);
    let date = chrono::DateTime::from_timestamp(1_795_420_800 + i as i64 * 13, 0)
        .unwrap_or_default()
        .to_rfc2822();
    let message_id = format!("<{i}.{nonce}.{:06x}@{domain}>", rng.u32(..1 << 24));

    let greeting = [
        "Hi support team,",
        "Hello,",
        "Dear IT support,",
        "Guten Tag,",
        "Hi,",
    ][rng.usize(..5)];
    let mut text = format!("{greeting}\n\n");
    let target = rng.usize(900..2700);
    text.push_str(&paragraphs(rng, target));
    if rng.u8(..10) == 0 {
        text.push_str(&format!(
            "\nOn Mon, 23 Nov 2026 at 09:12, Example Support wrote:\n{}",
            wrap(&fill_from(rng, SENTENCES), 70)
                .lines()
                .map(|l| format!("> {l}\n"))
                .collect::<String>()
        ));
    }
    text.push_str(&format!(
        "\nThanks,\n{first}\n\n-- \n{first} {last}\n{}\nPhone +1 555 01{:02}\n",
        domain.split('.').next().unwrap_or(domain),
        sender % 100
    ));

    let mut head = String::new();
    head.push_str(&format!(
        "Received: from mail-{0}.{domain} (mail-{0}.{domain} [203.0.113.{1}])\n\tby mx.example.test (Postfix) with ESMTPS id {2:010X}\n\tfor <support@example.test>; {date}\n",
        sender % 7,
        sender % 250 + 1,
        rng.u64(..1 << 40)
    ));
    head.push_str(&format!(
        "From: {} <{address}>\n",
        encode_word(&format!("{first} {last}"))
    ));
    head.push_str("To: Example Support <support@example.test>\n");
    if rng.u8(..8) == 0 {
        head.push_str(&format!("Cc: Team Lead <lead@{domain}>\n"));
    }
    head.push_str(&format!("Subject: {}\n", encode_word(&subject)));
    head.push_str(&format!("Date: {date}\nMessage-ID: {message_id}\n"));
    head.push_str(USER_AGENTS[sender % USER_AGENTS.len()]);
    head.push_str("\nMIME-Version: 1.0\n");

    (head + &mime_body(rng, i, &text, alternative, attachment)).into_bytes()
}

/// The MIME body of request `i` whose text is `text` (after its headers, from its
/// `Content-Type` on): a plain-text part, as `multipart/alternative` with an HTML
/// rendering of the text when `alternative`, all wrapped in `multipart/mixed` with a
/// small PNG screenshot when `attachment`.
pub fn mime_body(
    rng: &mut fastrand::Rng,
    i: usize,
    text: &str,
    alternative: bool,
    attachment: bool,
) -> String {
    let text_part = "Content-Type: text/plain; charset=utf-8; format=flowed\nContent-Transfer-Encoding: 8bit\n\n".to_string() + text;
    let body_part = if alternative {
        let boundary = format!("----=_Alt_{i}_{:08x}", rng.u32(..));
        let html = html_of(text);
        format!(
            "Content-Type: multipart/alternative; boundary=\"{boundary}\"\n\n--{boundary}\n{text_part}\n--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n{}\n--{boundary}--\n",
            quoted_printable(&html)
        )
    } else {
        text_part
    };
    if attachment {
        let boundary = format!("----=_Mixed_{i}_{:08x}", rng.u32(..));
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend((0..rng.usize(1000..4000)).map(|_| rng.u8(..)));
        format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n--{boundary}\n{body_part}\n--{boundary}\nContent-Type: image/png; name=\"screenshot-{i}.png\"\nContent-Disposition: attachment; filename=\"screenshot-{i}.png\"\nContent-Transfer-Encoding: base64\n\n{}--{boundary}--\n",
            base64(&bytes)
        )
    } else {
        body_part
    }
}

pub fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'å' | 'Å' => Some('a'),
            'é' | 'ë' => Some('e'),
            'í' => Some('i'),
            'ö' | 'ø' | 'Ø' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// RFC 2047 B-encoding when the text is not plain ASCII.
pub fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    format!("=?UTF-8?B?{}?=", base64(s.as_bytes()).replace('\n', ""))
}

pub fn html_of(text: &str) -> String {
    let mut html = String::from(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><div style=\"font-family: Calibri, Arial, sans-serif; font-size: 11pt; color: #1f1f1f\">",
    );
    for paragraph in text.split("\n\n") {
        let escaped = paragraph
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>\n");
        html.push_str("<p class=\"MsoNormal\">");
        html.push_str(&escaped);
        html.push_str("</p>\n");
    }
    html.push_str("</div></body></html>\n");
    html
}

/// Quoted-printable with soft line breaks at 76 columns.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 11 / 10);
    for line in text.split('\n') {
        let mut col = 0;
        let bytes = line.as_bytes();
        for (k, &b) in bytes.iter().enumerate() {
            let last = k + 1 == bytes.len();
            let plain = (b == b' ' && !last) || ((33..=126).contains(&b) && b != b'=');
            let piece = if plain {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if col + piece.len() > 75 {
                out.push_str("=\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
        out.push('\n');
    }
    out
}

/// Base64 with lines of 76 characters, each ended by a line feed.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 + 4);
    for (n, chunk) in data.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push('\n');
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push('\n');
    out
}

pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Writes each message the Maildir way: into `tmp/`, then renamed into `new/`. Names
/// sort in generation order.
pub fn deliver_maildir(root: &Path, messages: &[Vec<u8>]) -> Result<()> {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(root.join(sub))
            .with_context(|| format!("creating {}", root.join(sub).display()))?;
    }
    let pid = std::process::id();
    let base = 1_795_000_000u64;
    for (i, raw) in messages.iter().enumerate() {
        let name = format!("{}.M{i:07}P{pid}.bench.example.test", base + i as u64);
        let tmp = root.join("tmp").join(&name);
        std::fs::write(&tmp, raw).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, root.join("new").join(&name))
            .with_context(|| format!("moving {name} into new/"))?;
    }
    Ok(())
}
