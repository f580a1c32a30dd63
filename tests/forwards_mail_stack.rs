//! A forward through the private Postfix + Dovecot: Ann (an agent) forwards a
//! requester's mail inline (Gmail's format) and another as an attached .eml; proven by
//! the trusted MTA's DKIM pass, each becomes the original sender's ticket, and the
//! acknowledgement reaches the original sender's IMAP mailbox, not Ann's.

#[path = "support/desk.rs"]
mod desk;
mod support;

use desk::{Desk, assert_count_stays, mail, wait_for_subject};

/// The trusted MTA's verdict for Ann's domain, as the desk's config names it.
fn dkim_pass(address: &str) -> String {
    let domain = address.rsplit('@').next().unwrap_or_default();
    format!("Authentication-Results: mx.desk.test; dkim=pass header.d={domain}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn forwards_cross_the_real_mail_stack_to_the_original_sender() {
    let mut desk = Desk::new("[security]\ntrusted_authserv_id = \"mx.desk.test\"\n");
    let (ann, req, sup) = (
        desk.ann.clone(),
        desk.requester.clone(),
        desk.support.clone(),
    );
    // Inline, as Gmail writes a forward.
    let inline = format!(
        "{}{}",
        dkim_pass(&ann),
        String::from_utf8(mail(
            &format!("Ann Lee <{ann}>"),
            &sup,
            "fwd-gmail@agents.test",
            "Fwd: Scanner offline",
            None,
            &format!(
                "/priority P2\nCould you take this?\n\n---------- Forwarded message ---------\nFrom: Rita Requester <{req}>\nDate: Mon, Mar 2, 2026 at 9:14 AM\nSubject: Scanner offline\nTo: <{ann}>\n\n\nThe scanner on floor 2 is offline since this morning."
            ),
        ))
        .expect("utf-8 mail")
    );
    desk.write(&ann, inline.into_bytes()).await;
    desk.run_once().await;
    let ack = wait_for_subject(&req, "[TP-1]").await;
    assert!(ack.subject.contains("Scanner offline"), "{}", ack.subject);
    let t = desk.ticket("TP-1");
    assert_eq!(t["requester"], req.as_str(), "{t:#}");
    assert_eq!(t["opened_by"], ann.as_str(), "{t:#}");
    assert_eq!(t["priority"], "P2", "{t:#}");

    // An attached original (message/rfc822).
    let original = String::from_utf8(mail(
        &format!("Rita Requester <{req}>"),
        &ann,
        "orig-2@req.test",
        "Badge reader broken",
        None,
        "The badge reader at the east door does not read any badge.",
    ))
    .expect("utf-8 mail");
    let attached = format!(
        "{}From: Ann Lee <{ann}>\nTo: {sup}\nSubject: Fwd: Badge reader broken\nMessage-ID: <fwd-eml@agents.test>\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"FW\"\n\n--FW\nContent-Type: text/plain; charset=utf-8\n\nForwarding Rita's mail.\n--FW\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"original.eml\"\n\n{original}\n--FW--\n",
        dkim_pass(&ann)
    );
    desk.write(&ann, attached.into_bytes()).await;
    desk.run_once().await;
    let ack = wait_for_subject(&req, "[TP-2]").await;
    assert!(ack.subject.contains("Badge reader"), "{}", ack.subject);
    let t = desk.ticket("TP-2");
    assert_eq!(t["requester"], req.as_str(), "{t:#}");
    assert_eq!(t["opened_by"], ann.as_str(), "{t:#}");
    // Ann gets the new-ticket notices (Bob's too go to Bob), never an acknowledgement.
    let notice = wait_for_subject(&ann, "New ticket").await;
    assert!(!notice.subject.contains("received"), "{}", notice.subject);
    // Rita holds exactly the two acknowledgements.
    assert_count_stays(&req, 2).await;
}
