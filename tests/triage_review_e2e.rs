//! Agents' `/priority` overrides kept as labelled examples, end to end through the real
//! binary on the embedded default: the rules' reading of a request (impact, urgency,
//! deciding words) goes on its timeline, an agent's different priority is recorded, and
//! `ticketpost triage review` lists the disagreement with the deciding words; an
//! override that agrees with the rules is not listed.

#[path = "support/embedded.rs"]
mod embedded;

use embedded::{Desk, header, request};

/// Ann's reply to her notice about `token` (its signed Message-ID proves her).
fn ann_replies(desk: &Desk, file: &str, token: &str, body: &str) {
    let notice = desk
        .sent("-agent_notice.eml")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .rfind(|m| header(m, "Subject").is_some_and(|s| s.contains(&format!("[{token}]"))))
        .unwrap_or_else(|| panic!("no notice about {token}"));
    let id = header(&notice, "Message-ID").unwrap().to_string();
    desk.deliver(
        file,
        &format!(
            "From: Ann Lee <ann@example.test>\nTo: support@example.test\nSubject: Re: [{token}] notice\n\
             Message-ID: <{file}@example.test>\nIn-Reply-To: {id}\nReferences: {id}\n\
             Date: Wed, 25 Nov 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
        ),
    );
    desk.run_once();
}

#[test]
fn an_agents_different_priority_is_kept_and_listed_with_the_deciding_words() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], "");
    desk.deliver(
        "1.req",
        &request(
            "r1@example.org",
            "Jane <jane@example.org>",
            "Card terminals",
            "The card terminals in every store stopped taking payments, customers are waiting at the tills.",
        ),
    );
    desk.deliver(
        "2.req",
        &request(
            "r2@example.org",
            "Carl <carl@example.org>",
            "Mouse",
            "My mouse is a bit sticky, no hurry.",
        ),
    );
    desk.run_once();
    let t1 = desk.show("TP-1");
    assert_eq!(t1["priority"], "P1", "{}", t1["timeline"]);
    let timeline = t1["timeline"].to_string();
    assert!(timeline.contains("impact high"), "{timeline}");
    assert!(timeline.contains("urgency high"), "{timeline}");
    let rules_p2 = desk.show("TP-2")["priority"].as_str().unwrap().to_string();

    // Ann thinks the mouse is P2 (a disagreement) and sets P1 again on TP-1 (no change).
    ann_replies(&desk, "ann-1", "TP-2", "/priority P2");
    ann_replies(&desk, "ann-2", "TP-1", "/priority P1");
    assert_eq!(desk.show("TP-2")["priority"], "P2");

    let out = desk.ticketpost(&["triage", "review", "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["token"], "TP-2");
    assert_eq!(rows[0]["rules_priority"], rules_p2.as_str());
    assert_eq!(rows[0]["agent_priority"], "P2");
    assert_eq!(rows[0]["agent"], "ann@example.test");
    assert!(
        rows[0]["words"].as_str().unwrap().contains("no hurry"),
        "{}",
        rows[0]["words"]
    );
    let text = desk.ticketpost(&["triage", "review"], None);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TP-2"), "{text}");
}
