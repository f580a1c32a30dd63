//! Attachments through the private Postfix + Dovecot: a requester's PNG and PDF reach
//! both agents' IMAP mailboxes byte-identical as attachments, an `.exe` is listed and
//! not attached, and an agent's file reaches the requester's mailbox byte-identical.

#[path = "support/desk.rs"]
mod desk;
mod support;

#[path = "support/mail_files.rs"]
mod mail_files;

use desk::{Desk, wait_for_subject};
use mail_files::{noise, with_files};

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
        )
        .into_bytes(),
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
        )
        .into_bytes(),
    )
    .await;
    desk.run_once().await;
    let relay = wait_for_subject(&req, "Re: [TP-1]").await;
    assert_eq!(
        files(&relay),
        vec![("scanner-profile.pdf".to_string(), fix)]
    );
}
