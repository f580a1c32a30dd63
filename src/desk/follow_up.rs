//! What a message threaded onto an existing ticket does, before the lifecycle reads
//! it: a stranger who only knows the token, a reply after the reopen window, automatic
//! mail, the per-ticket loop guard and staff mail that does not prove its sender each
//! take their own way; everything else is a reply the lifecycle decides.
//!
//! Pure: [`decide_follow_up`] takes the facts the writer gathered and returns one
//! [`FollowUp`]; the ingest shell applies it.
//!
//! The collision guard lives here too: an agent's public reply that arrives within
//! `[desk] collision_window` after another agent's reply was relayed to the same
//! requester message is held, and its author told; `/send` in their next reply
//! relays the held reply after all.

use super::ThreadedBy;
use super::lifecycle::Mail;
use super::lifecycle::{self, AnswerProof, Author, Decision, TicketState};
use super::merge::CommandFacts;
use super::quick_actions;
use super::roster::DeskConfig;
use super::satisfaction;
use crate::inbound::{AutomaticKind, AutomaticVerdict};

/// The last agent reply relayed on a ticket since the requester's latest message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRelay {
    /// The agent's address.
    pub by: String,
    /// When it was taken in (and relayed).
    pub at: i64,
    /// What it said (quotes trimmed).
    pub text: String,
}

/// A reply of the sender's that the collision guard holds on the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldReply {
    /// Its row in the store.
    pub message: i64,
    /// What it said (quotes trimmed), commands included.
    pub text: String,
}

/// What the writer read about a follow-up on `ticket`.
pub struct FollowUpFacts<'a> {
    pub ticket: &'a TicketState,
    pub by: ThreadedBy,
    /// Who wrote it, relative to the ticket (`Author::of`).
    pub author: Author,
    pub automatic: Option<&'a AutomaticVerdict>,
    /// Messages the ticket took within the last hour, this one not counted.
    pub messages_last_hour: i64,
    /// Staff mail proved its sender (a signed id of ours in its thread, or DKIM/SPF
    /// pass from the trusted MTA); only read for staff.
    pub staff_proven: bool,
    /// What the reply proves it answers (consent, confirmation); only read for
    /// replies from outside the staff.
    pub answer_proof: AnswerProof,
    /// The reply's text with quotes and signatures trimmed.
    pub text: &'a str,
    /// The message's identity in the store, for the record.
    pub identity: &'a str,
    pub now: i64,
    /// Staff only: the last reply relayed since the requester's latest message.
    pub last_relay: Option<LastRelay>,
    /// Staff only: the sender's latest reply held by the collision guard.
    pub held_reply: Option<HeldReply>,
    /// What the store knows of the tickets and knowledge-base entries a staff reply's
    /// commands name (`desk::merge::named_in`); empty for everyone else.
    pub commands: &'a CommandFacts,
}

/// The desk's rules for follow-ups that come from config.
#[derive(Debug, Clone, Copy)]
pub struct FollowUpRules {
    /// `[security] stranger_with_token = "hold"`: a stranger's mail is held on the
    /// ticket instead of opening a ticket of its own.
    pub hold_strangers: bool,
    /// `[security] verify_staff`: staff mail must prove its sender to run commands.
    pub verify_staff: bool,
    /// `[limits] messages_per_ticket_per_hour`: the loop guard.
    pub messages_per_ticket_per_hour: i64,
    /// `[desk] collision_window`, seconds: an agent's public reply this soon after
    /// another agent's relay is held.
    pub collision_window: i64,
}

/// What a follow-up does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Automatic mail, filed on the ticket and never answered; a bounce of our mail
    /// tells the agents of the delivery failure.
    Automatic { bounce: bool },
    /// The ticket took its hourly limit of messages: kept, nothing sent (two
    /// autoresponders answering each other through the desk stop here).
    LoopGuard,
    /// Someone not on the ticket who only knew its token, held for an agent: nothing
    /// of the ticket is sent to them.
    HoldStranger,
    /// Someone not on the ticket who only knew its token: their mail opens a ticket of
    /// its own, and nothing of the ticket is sent to them.
    StrangerOpensTicket,
    /// A reply to a ticket closed longer than the reopen window: a new ticket, linked
    /// to the old one.
    LateReply,
    /// Mail in a staff member's name that did not prove its sender: kept, no command
    /// run, nothing relayed, the agents warned.
    UnverifiedStaff,
    /// A reply, as the lifecycle decided it.
    Reply { author: Author, decision: Decision },
    /// An agent's public reply right after another agent's relay: held (nothing
    /// changed or relayed), its author told who answered, when and what.
    HoldCollision { author: Author, relay: LastRelay },
    /// A requester's satisfaction rating on a resolved or closed ticket
    /// (`desk::satisfaction`): recorded, never a reopen or a new ticket.
    Rated { author: Author, decision: Decision },
    /// `/send`: the held reply `message`, decided now as the lifecycle decides it.
    SendHeld {
        author: Author,
        message: i64,
        decision: Decision,
    },
}

/// Decides what the follow-up in `f` does.
pub fn decide_follow_up(f: FollowUpFacts, rules: FollowUpRules, desk: &DeskConfig) -> FollowUp {
    let human = f.automatic.is_none();
    if human && f.by == ThreadedBy::Token && f.author == Author::Other {
        return if rules.hold_strangers {
            FollowUp::HoldStranger
        } else {
            FollowUp::StrangerOpensTicket
        };
    }
    // A rating answers the closing mail however long ago it was sent: before the
    // late-reply and reopen rules; past the hourly limit the loop guard keeps it (a
    // rating never opens a ticket).
    if human && let Some(decision) = satisfaction::decide_rating(f.ticket, &f.author, f.text, desk)
    {
        if f.messages_last_hour >= rules.messages_per_ticket_per_hour {
            return FollowUp::LoopGuard;
        }
        return FollowUp::Rated {
            author: f.author,
            decision,
        };
    }
    if human && lifecycle::reply_reopens_or_starts_new(f.ticket, f.now, desk) {
        return FollowUp::LateReply;
    }
    if let Some(v) = f.automatic {
        return FollowUp::Automatic {
            bounce: v.kind == AutomaticKind::Bounce,
        };
    }
    if f.messages_last_hour >= rules.messages_per_ticket_per_hour {
        return FollowUp::LoopGuard;
    }
    let staff = matches!(f.author, Author::Staff { .. });
    if staff && rules.verify_staff && !f.staff_proven {
        return FollowUp::UnverifiedStaff;
    }
    // Staff answer nothing for the requester: their proof is the one checked above.
    let proof = if staff {
        AnswerProof::default()
    } else {
        f.answer_proof
    };
    if let Some(sent) = send_held(&f, desk) {
        return sent;
    }
    let decision = lifecycle::decide_reply_with_facts(
        f.ticket, &f.author, f.text, f.identity, f.now, desk, proof, f.commands,
    );
    if let Some(relay) = collision(&f, &decision, rules) {
        return FollowUp::HoldCollision {
            author: f.author,
            relay,
        };
    }
    FollowUp::Reply {
        author: f.author,
        decision,
    }
}

/// `/send` from an agent with a held reply: that reply, decided now.
fn send_held(f: &FollowUpFacts, desk: &DeskConfig) -> Option<FollowUp> {
    let (Author::Staff { .. }, Some(held)) = (&f.author, &f.held_reply) else {
        return None;
    };
    let sends = quick_actions::parse_agent_reply(f.text).is_ok_and(|r| r.is_send());
    if !sends {
        return None;
    }
    let decision = lifecycle::decide_reply(
        f.ticket,
        &f.author,
        &held.text,
        f.identity,
        f.now,
        desk,
        AnswerProof::default(),
    );
    Some(FollowUp::SendHeld {
        author: f.author.clone(),
        message: held.message,
        decision,
    })
}

/// The relay a staff reply collides with: the reply would relay, and another agent's
/// reply was relayed since the requester's latest message, within the window.
fn collision(f: &FollowUpFacts, decision: &Decision, rules: FollowUpRules) -> Option<LastRelay> {
    let Author::Staff { address, .. } = &f.author else {
        return None;
    };
    let relays = decision
        .mails
        .iter()
        .any(|m| matches!(m, Mail::Relay { .. }));
    let relay = f.last_relay.as_ref()?;
    (relays
        && !relay.by.eq_ignore_ascii_case(address)
        && f.now - relay.at <= rules.collision_window)
        .then(|| relay.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::Status;
    use crate::desk::roster::NamedAddress;

    const DAY: i64 = 86_400;

    fn desk() -> DeskConfig {
        DeskConfig {
            macros: Vec::new(),
            dashboard_url: None,
            change: Default::default(),
            support_address: "support@example.test".into(),
            support_name: "Support".into(),
            token_prefix: "TP".into(),
            agents: vec![NamedAddress {
                name: Some("Ann Lee".into()),
                address: "ann@example.test".into(),
            }],
            supervisors: Vec::new(),
            teams: Vec::new(),
            message_id_domain: "example.test".into(),
            lifecycle: Default::default(),
            triage: Default::default(),
            oncall: Vec::new(),
            default_language: "en".into(),
            other_addresses: Vec::new(),
            routes: Vec::new(),
            max_participants: 20,
        }
    }

    fn ticket(status: Status, closed_at: Option<i64>) -> TicketState {
        TicketState {
            id: 7,
            status,
            priority: crate::desk::Priority::P3,
            requester: "jane@example.org".into(),
            assignee: None,
            team: None,
            participants: vec!["bob@example.org".into()],
            authorization: None,
            resolution: None,
            closed_at,
        }
    }

    const RULES: FollowUpRules = FollowUpRules {
        hold_strangers: false,
        verify_staff: true,
        messages_per_ticket_per_hour: 20,
        collision_window: 600,
    };

    fn decide(
        t: &TicketState,
        by: ThreadedBy,
        sender: &str,
        automatic: Option<&AutomaticVerdict>,
        rules: FollowUpRules,
        now: i64,
    ) -> FollowUp {
        let d = desk();
        let facts = FollowUpFacts {
            ticket: t,
            by,
            author: Author::of(sender, t, &d),
            automatic,
            messages_last_hour: 0,
            staff_proven: false,
            answer_proof: AnswerProof::default(),
            text: "any news?",
            identity: "m1@example.org",
            now,
            last_relay: None,
            held_reply: None,
            commands: &CommandFacts::default(),
        };
        decide_follow_up(facts, rules, &d)
    }

    #[test]
    fn a_stranger_with_only_the_token_opens_a_ticket_or_is_held() {
        let t = ticket(Status::Open, None);
        let by_token = |rules| decide(&t, ThreadedBy::Token, "mallory@evil.test", None, rules, 100);
        assert_eq!(by_token(RULES), FollowUp::StrangerOpensTicket);
        let hold = FollowUpRules {
            hold_strangers: true,
            ..RULES
        };
        assert_eq!(by_token(hold), FollowUp::HoldStranger);
        // Someone who replies in the thread (a reference we know) is not a stranger
        // to it, and people on the ticket may use its token.
        let by_reference = decide(
            &t,
            ThreadedBy::Reference,
            "mallory@evil.test",
            None,
            RULES,
            100,
        );
        assert!(matches!(by_reference, FollowUp::Reply { .. }));
        for on_ticket in ["jane@example.org", "BOB@example.org"] {
            let d = decide(&t, ThreadedBy::Token, on_ticket, None, RULES, 100);
            assert!(matches!(d, FollowUp::Reply { .. }), "{on_ticket}: {d:?}");
        }
        // Automatic mail with the token is filed, not treated as a stranger.
        let auto = AutomaticVerdict {
            kind: AutomaticKind::AutoReply,
            reason: "Auto-Submitted: auto-replied".into(),
        };
        let d = decide(
            &t,
            ThreadedBy::Token,
            "mallory@evil.test",
            Some(&auto),
            RULES,
            100,
        );
        assert_eq!(d, FollowUp::Automatic { bounce: false });
    }

    #[test]
    fn a_reply_after_the_reopen_window_opens_a_linked_ticket() {
        let window = desk().lifecycle.reopen_window;
        let closed = ticket(Status::Closed, Some(1_000));
        let jane = |now| {
            decide(
                &closed,
                ThreadedBy::Token,
                "jane@example.org",
                None,
                RULES,
                now,
            )
        };
        match jane(1_000 + window) {
            FollowUp::Reply { decision, .. } => {
                assert_eq!(decision.final_status(Status::Closed), Status::Open)
            }
            other => panic!("within the window the ticket reopens: {other:?}"),
        }
        assert_eq!(jane(1_000 + window + 1), FollowUp::LateReply);
        // Only a closed ticket has a window: a resolved one waits for its answer.
        let resolved = ticket(Status::Resolved, None);
        let d = decide(
            &resolved,
            ThreadedBy::Token,
            "jane@example.org",
            None,
            RULES,
            100 * DAY,
        );
        assert!(matches!(d, FollowUp::Reply { .. }), "{d:?}");
        // A bounce about a long-closed ticket is still filed on it.
        let bounce = AutomaticVerdict {
            kind: AutomaticKind::Bounce,
            reason: "delivery status notification".into(),
        };
        let d = decide(
            &closed,
            ThreadedBy::Reference,
            "mailer-daemon@example.org",
            Some(&bounce),
            RULES,
            1_000 + window + DAY,
        );
        assert_eq!(d, FollowUp::Automatic { bounce: true });
    }

    #[test]
    fn a_rating_after_closing_is_recorded_not_a_reopen_or_a_new_ticket() {
        let window = desk().lifecycle.reopen_window;
        let closed = ticket(Status::Closed, Some(1_000));
        let d = desk();
        let jane = |text: &str, now: i64| {
            decide_follow_up(
                FollowUpFacts {
                    ticket: &closed,
                    by: ThreadedBy::Reference,
                    author: Author::Requester,
                    automatic: None,
                    messages_last_hour: 0,
                    staff_proven: false,
                    answer_proof: AnswerProof::default(),
                    text,
                    identity: "r@example.org",
                    now,
                    last_relay: None,
                    held_reply: None,
                    commands: &CommandFacts::default(),
                },
                RULES,
                &d,
            )
        };
        for now in [1_100, 1_000 + window + 30 * DAY] {
            let FollowUp::Rated { decision, .. } = jane("5, thanks!", now) else {
                panic!("a rating at {now}");
            };
            assert_eq!(decision.final_status(Status::Closed), Status::Closed);
        }
        // Not a rating: the reopen rules as before.
        let FollowUp::Reply { decision, .. } = jane("it broke again", 1_100) else {
            panic!("a reply within the window");
        };
        assert_eq!(decision.final_status(Status::Closed), Status::Open);
        assert_eq!(
            jane("it broke again", 1_000 + window + 1),
            FollowUp::LateReply
        );
    }

    #[test]
    fn the_loop_guard_stops_mail_at_the_hourly_limit() {
        let t = ticket(Status::Open, None);
        let d = desk();
        let at = |n: i64| {
            decide_follow_up(
                FollowUpFacts {
                    ticket: &t,
                    by: ThreadedBy::Token,
                    author: Author::Requester,
                    automatic: None,
                    messages_last_hour: n,
                    staff_proven: false,
                    answer_proof: AnswerProof::default(),
                    text: "out of office",
                    identity: "m@example.org",
                    now: 100,
                    last_relay: None,
                    held_reply: None,
                    commands: &CommandFacts::default(),
                },
                RULES,
                &d,
            )
        };
        assert!(matches!(at(19), FollowUp::Reply { .. }));
        assert_eq!(at(20), FollowUp::LoopGuard);
        assert_eq!(at(500), FollowUp::LoopGuard);
    }

    #[test]
    fn staff_mail_runs_commands_only_with_proof() {
        let t = ticket(Status::Open, None);
        let d = desk();
        let ann = |proven: bool, rules: FollowUpRules| {
            decide_follow_up(
                FollowUpFacts {
                    ticket: &t,
                    by: ThreadedBy::Token,
                    author: Author::of("ann@example.test", &t, &d),
                    automatic: None,
                    messages_last_hour: 0,
                    staff_proven: proven,
                    answer_proof: AnswerProof::VERIFIED,
                    text: "/close",
                    identity: "a1@example.test",
                    now: 100,
                    last_relay: None,
                    held_reply: None,
                    commands: &CommandFacts::default(),
                },
                rules,
                &d,
            )
        };
        assert_eq!(ann(false, RULES), FollowUp::UnverifiedStaff);
        let FollowUp::Reply { author, decision } = ann(true, RULES) else {
            panic!("proven staff mail is a reply");
        };
        assert!(matches!(author, Author::Staff { .. }));
        assert_eq!(decision.final_status(Status::Open), Status::Closed);
        let trusting = FollowUpRules {
            verify_staff: false,
            ..RULES
        };
        assert!(matches!(ann(false, trusting), FollowUp::Reply { .. }));
    }

    /// Bob (an agent) replies `text` on ticket `t` at `now`, after `relay`, with
    /// `held` waiting.
    fn bob(
        t: &TicketState,
        text: &str,
        now: i64,
        relay: Option<LastRelay>,
        held: Option<HeldReply>,
    ) -> FollowUp {
        let mut d = desk();
        d.agents.push(NamedAddress {
            name: Some("Bob Roe".into()),
            address: "bob@example.test".into(),
        });
        decide_follow_up(
            FollowUpFacts {
                ticket: t,
                by: ThreadedBy::Reference,
                author: Author::of("bob@example.test", t, &d),
                automatic: None,
                messages_last_hour: 0,
                staff_proven: true,
                answer_proof: AnswerProof::default(),
                text,
                identity: "b1@example.test",
                now,
                last_relay: relay,
                held_reply: held,
                commands: &CommandFacts::default(),
            },
            RULES,
            &d,
        )
    }

    fn anns_relay(at: i64) -> LastRelay {
        LastRelay {
            by: "ann@example.test".into(),
            at,
            text: "Restart the printer.".into(),
        }
    }

    #[test]
    fn a_second_agents_reply_inside_the_window_is_held() {
        let t = ticket(Status::Open, None);
        let held = bob(
            &t,
            "Try another tray.",
            1_000 + 600,
            Some(anns_relay(1_000)),
            None,
        );
        assert_eq!(
            held,
            FollowUp::HoldCollision {
                author: Author::Staff {
                    address: "bob@example.test".into(),
                    name: "Bob Roe".into()
                },
                relay: anns_relay(1_000),
            }
        );
        // After the window, with no relay since the requester wrote, or from the
        // same agent, the reply goes out.
        for (now, relay) in [
            (1_000 + 601, Some(anns_relay(1_000))),
            (1_100, None),
            (
                1_100,
                Some(LastRelay {
                    by: "BOB@example.test".into(),
                    ..anns_relay(1_000)
                }),
            ),
        ] {
            let d = bob(&t, "Try another tray.", now, relay, None);
            assert!(matches!(d, FollowUp::Reply { .. }), "{now}: {d:?}");
        }
        // A note or commands alone relay nothing, so they never collide.
        for text in ["/note checking the tray", "/priority P2"] {
            let d = bob(&t, text, 1_100, Some(anns_relay(1_000)), None);
            assert!(matches!(d, FollowUp::Reply { .. }), "{text}: {d:?}");
        }
    }

    #[test]
    fn send_relays_the_held_reply() {
        let t = ticket(Status::Open, None);
        let held = HeldReply {
            message: 42,
            text: "Try another tray.".into(),
        };
        let FollowUp::SendHeld {
            message, decision, ..
        } = bob(
            &t,
            "/send",
            1_100,
            Some(anns_relay(1_000)),
            Some(held.clone()),
        )
        else {
            panic!("/send with a held reply sends it");
        };
        assert_eq!(message, 42);
        assert!(decision.mails.contains(&Mail::Relay {
            agent_name: "Bob Roe".into(),
            text: "Try another tray.".into()
        }));
        // `/send` with nothing held does nothing; other text is a reply as usual.
        let d = bob(&t, "/send", 1_100, None, None);
        let FollowUp::Reply { decision, .. } = d else {
            panic!("{d:?}");
        };
        assert!(decision.mails.is_empty());
        let d = bob(&t, "Any luck?", 1_100, None, Some(held));
        assert!(matches!(d, FollowUp::Reply { .. }), "{d:?}");
    }
}
