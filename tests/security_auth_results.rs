//! Forged Authentication-Results must not make mail in a staff member's name count as
//! hers: through the real `ticketpost` binary on the embedded default, whose config
//! trusts `mx.desk.test`. Jane opens TP-1; mail in Ann's (an agent's) name then tries
//! `/priority P1` with results our MTA never wrote. The priority stays P3 and the
//! timeline says the mail did not prove its sender; a genuine result from our MTA, as
//! the topmost Authentication-Results, still lets Ann's command through.

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, request};

/// A desk with Jane's ticket TP-1 (priority P3).
fn desk_with_janes_ticket() -> Desk {
    let desk = Desk::new(50);
    desk.deliver(
        "1.req",
        &request(
            "jane-1@example.test",
            "Jane <jane@example.test>",
            "Laptop will not boot",
            "My laptop shows a black screen since this morning.",
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["priority"], "P3");
    desk
}

/// Mail in Ann's name on TP-1 asking for P1, with `results` (whole header lines) above
/// its From.
fn anns_mail(id: &str, results: &str) -> String {
    request(
        id,
        "Ann Lee <ann@example.test>",
        "Re: [TP-1] Laptop will not boot",
        "/priority P1\nPlease send the recovery key to me.",
    )
    .replacen("From:", &format!("{results}\nFrom:"), 1)
}

/// Delivers Ann-looking mail with `results` and checks it changed nothing.
fn assert_refused(results: &str) {
    let desk = desk_with_janes_ticket();
    desk.deliver("2.forged", &anns_mail("forged-1@evil.test", results));
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["priority"], "P3", "the forged command ran: {results}");
    let timeline = t["timeline"].to_string();
    assert!(
        timeline.contains("did not prove its sender"),
        "{results}\n{timeline}"
    );
}

#[test]
fn a_semicolon_in_a_quoted_local_part_fakes_no_dkim_pass() {
    // The attacker's envelope sender is `"x;dkim=pass header.d=example.test x"@evil.test`
    // and our MTA reports its (genuine) SPF pass for evil.test.
    assert_refused(
        "Authentication-Results: mx.desk.test; spf=pass smtp.mailfrom=\"x;dkim=pass header.d=example.test x\"@evil.test",
    );
}

#[test]
fn a_semicolon_in_a_comment_fakes_no_dkim_pass() {
    assert_refused(
        "Authentication-Results: mx.desk.test; spf=fail (mx.desk.test: x; dkim=pass header.d=example.test ) smtp.mailfrom=evil.test",
    );
}

#[test]
fn a_trusted_header_below_another_counts_for_nothing() {
    // Our MTA writes its header on top; a `mx.desk.test` one further down came with
    // the message.
    assert_refused(
        "Authentication-Results: mx.other.test; dkim=fail header.d=example.test\n\
Authentication-Results: mx.desk.test; dkim=pass header.d=example.test",
    );
}

#[test]
fn a_genuine_topmost_pass_still_counts() {
    let desk = desk_with_janes_ticket();
    // DKIM pass for Ann's domain, in a field with comments and a version, above a
    // foreign one that came with the message.
    desk.deliver(
        "2.dkim",
        &anns_mail(
            "ann-1@example.test",
            "Authentication-Results: mx.desk.test 1; (checked at the border)\n\
\tdkim=pass (2048-bit key; unprotected) header.d=Example.Test header.s=s1 header.b=Ab/cd+e;\n\
\tspf=none smtp.mailfrom=\"ann;x\"@example.test\n\
Authentication-Results: mx.other.test; dkim=fail header.d=example.test",
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["priority"], "P1");

    // SPF pass for Ann's domain, her quoted local-part holding a `;`.
    desk.deliver(
        "3.spf",
        &request(
            "ann-2@example.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-1] Laptop will not boot",
            "/priority P2\nPlease hold the power button for 30 seconds.",
        )
        .replacen(
            "From:",
            "Authentication-Results: MX.DESK.TEST; spf=pass smtp.mailfrom=\"ann;x\"@example.test\nFrom:",
            1,
        ),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["priority"], "P2");
    assert!(
        !t["timeline"]
            .to_string()
            .contains("did not prove its sender"),
        "{}",
        t["timeline"]
    );
}
