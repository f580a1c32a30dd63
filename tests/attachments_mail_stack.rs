//! Attachments through the private Postfix + Dovecot: a requester's PNG and PDF reach
//! both agents' IMAP mailboxes byte-identical as attachments, an `.exe` is listed and
//! not attached, and an agent's file reaches the requester's mailbox byte-identical.

#[path = "support/desk.rs"]
mod desk;
mod support;

use desk::{Desk, wait_for_subject};

fn b64(bytes: &[u8]) -> String {
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

fn noise(len: usize, seed: u64) -> Vec<u8> {
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

fn with_files(head: &str, text: &str, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
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
    m.into_bytes()
}

fn files(m: &ticketpost::inbound::InboundMessage) -> Vec<(String, Vec<u8>)> {
    m.attachments
        .iter()
        .map(|a| (a.name.clone().unwrap_or_default(), a.bytes.to_vec()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_cross_the_real_mail_stack_both_ways() {
    let mut desk = Desk::new("");
    let (req, ann, bob) = (desk.requester.clone(), desk.ann.clone(), desk.bob.clone());
    let sup = desk.support.clone();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(noise(40_000, 3));
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend(noise(60_000, 5));
    let mut exe = b"MZ\x90\0".to_vec();
    exe.extend(noise(1_000, 9));
    desk.write(
        &req,
        with_files(
            &format!(
                "From: {req}\nTo: {sup}\nSubject: Scanner error\nMessage-ID: <req-a1@req.test>\n"
            ),
            "The scanner shows this; the log is attached.",
            &[
                ("error.png", "image/png", &png),
                ("scan-log.pdf", "application/pdf", &pdf),
                ("fixer.exe", "application/octet-stream", &exe),
            ],
        ),
    )
    .await;
    desk.run_once().await;
    let expected = vec![
        ("error.png".to_string(), png.clone()),
        ("scan-log.pdf".to_string(), pdf.clone()),
    ];
    let mut ann_notice = None;
    for agent in [&ann, &bob] {
        let notice = wait_for_subject(agent, "New ticket").await;
        assert_eq!(files(&notice), expected, "notice to {agent}");
        assert!(
            notice.text_body.contains("fixer.exe")
                && notice
                    .text_body
                    .contains("ticketpost attachments get TP-1 3"),
            "{}",
            notice.text_body
        );
        if agent == &ann {
            ann_notice = Some(notice);
        }
    }
    let notice = ann_notice.unwrap();
    let fix = noise(25_000, 11);
    desk.write(
        &ann,
        with_files(
            &format!(
                "From: {ann}\nTo: {sup}\nSubject: Re: {}\nMessage-ID: <ann-a1@agents.test>\nIn-Reply-To: <{id}>\nReferences: <{id}>\n",
                notice.subject,
                id = notice.message_id.clone().unwrap()
            ),
            "Please load this profile.",
            &[("scanner-profile.pdf", "application/pdf", &fix)],
        ),
    )
    .await;
    desk.run_once().await;
    let relay = wait_for_subject(&req, "Re: [TP-1]").await;
    assert_eq!(
        files(&relay),
        vec![("scanner-profile.pdf".to_string(), fix)]
    );
}
