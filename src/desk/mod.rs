//! The desk: what an event means for the tickets. Pure: it takes facts (the message,
//! what the store knows about its thread) and returns a decision; it does no I/O, so
//! every rule is tested without a mailbox or a database.

pub mod arrival;
pub mod auth_results;
pub mod change_plan;
pub mod change_review;
pub mod consent;
pub mod follow_up;
pub mod forwarded;
pub mod intake;
pub mod kb_review;
pub mod kinds;
pub mod language;
pub mod lifecycle;
pub mod lookup;
pub mod merge;
pub mod quick_actions;
pub mod relay_files;
pub mod roster;
pub mod routing;
pub mod satisfaction;
pub mod severity;
pub mod sla;
pub mod staff_proof;
pub mod status;
pub mod threading;
pub mod triage;
pub mod worklog;

pub use kinds::{MailKind, MessageKind};
pub use status::{Priority, Status};

use crate::inbound::{AutomaticKind, AutomaticVerdict, InboundMessage};

/// Priority given when no rule says otherwise.
pub const DEFAULT_PRIORITY: &str = "P3";

/// What the store found about the message's thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadFacts {
    /// The number in the subject's token, when that ticket exists.
    pub token_ticket: Option<i64>,
    /// The ticket of the first In-Reply-To/References id we know.
    pub reference_ticket: Option<i64>,
}

/// How a message was matched to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadedBy {
    Token,
    Reference,
}

/// Where the message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Appended to an existing ticket.
    FollowUp { ticket: i64, by: ThreadedBy },
    /// Opens a new ticket for `requester`.
    NewTicket {
        requester: String,
        requester_name: Option<String>,
        subject: String,
    },
    /// Stored without a ticket: our own mail coming back, or a bounce, complaint or
    /// auto-reply about mail that is not ours, with no thread to join.
    Unfiled,
}

/// The decision for one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeDecision {
    pub placement: Placement,
    /// Send the acknowledgement of a new ticket to the requester.
    pub acknowledge: bool,
    /// Why no acknowledgement goes out for a new ticket, for the timeline and logs.
    pub no_ack_reason: Option<String>,
    /// The message kind recorded in the store.
    pub kind: MessageKind,
}

/// Decides where an inbound message goes and whether it is answered.
///
/// Threading, in order: the subject token of an existing ticket; a known id in
/// In-Reply-To/References; otherwise a new ticket. Subject text alone never threads.
/// Automatic mail is never answered; mail from our own address, and bounces, complaints
/// and auto-replies, that thread nowhere are kept unfiled rather than opening a ticket
/// (a loop must not create tickets). Other automatic mail (bulk, lists, monitoring
/// notifications) opens a ticket without an answer.
pub fn decide_intake(
    msg: &InboundMessage,
    automatic: Option<&AutomaticVerdict>,
    facts: ThreadFacts,
    own_addresses: &[&str],
) -> IntakeDecision {
    let kind = if automatic.is_some() {
        MessageKind::Automatic
    } else {
        MessageKind::Reply
    };
    if let Some(ticket) = facts.token_ticket {
        return IntakeDecision {
            placement: Placement::FollowUp {
                ticket,
                by: ThreadedBy::Token,
            },
            acknowledge: false,
            no_ack_reason: None,
            kind,
        };
    }
    if let Some(ticket) = facts.reference_ticket {
        return IntakeDecision {
            placement: Placement::FollowUp {
                ticket,
                by: ThreadedBy::Reference,
            },
            acknowledge: false,
            no_ack_reason: None,
            kind,
        };
    }

    let requester = msg.reply_address();
    let is_own = |email: &str| own_addresses.iter().any(|o| o.eq_ignore_ascii_case(email));
    let from_us = msg.from.as_ref().is_some_and(|a| is_own(&a.email));
    if from_us {
        return IntakeDecision {
            placement: Placement::Unfiled,
            acknowledge: false,
            no_ack_reason: Some("mail from our own address".into()),
            kind: MessageKind::Automatic,
        };
    }
    // Answers to mail (bounces, complaints, out-of-office replies) that name no mail
    // of ours have no ticket to go to and are no request: kept, never a ticket.
    if let Some(v) = automatic
        && matches!(
            v.kind,
            AutomaticKind::Bounce | AutomaticKind::Complaint | AutomaticKind::AutoReply
        )
    {
        return IntakeDecision {
            placement: Placement::Unfiled,
            acknowledge: false,
            no_ack_reason: Some(format!(
                "automatic mail ({}) about no mail of ours",
                v.reason
            )),
            kind: MessageKind::Automatic,
        };
    }
    let subject = if msg.subject.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        msg.subject.clone()
    };
    let placement = Placement::NewTicket {
        requester: requester.map(|a| a.email.clone()).unwrap_or_default(),
        requester_name: requester.and_then(|a| a.name.clone()),
        subject,
    };
    let no_ack_reason = match (automatic, requester) {
        (Some(v), _) => Some(format!("automatic mail ({})", v.reason)),
        (None, None) => Some("no sender address to answer".into()),
        (None, Some(a)) if is_own(&a.email) => Some("reply address is our own".into()),
        (None, Some(_)) => None,
    };
    IntakeDecision {
        placement,
        acknowledge: no_ack_reason.is_none(),
        no_ack_reason,
        kind: if automatic.is_some() {
            MessageKind::Automatic
        } else {
            MessageKind::Request
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{Address, AutomaticKind};

    fn msg(from: &str, subject: &str) -> InboundMessage {
        InboundMessage {
            raw: Vec::new(),
            reported_ids: Vec::new(),
            message_id: Some("m1@example.test".into()),
            content_hash: "00".into(),
            subject: subject.into(),
            from: Some(Address {
                name: Some("Req".into()),
                email: from.into(),
            }),
            sender: None,
            reply_to: Vec::new(),
            to: Vec::new(),
            cc: Vec::new(),
            date: None,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            text_body: String::new(),
            trimmed_text: None,
            html_body: None,
            attachments: Vec::new(),
            return_path: None,
            auto_headers: Vec::new(),
            problems: Vec::new(),
            oversized: None,
        }
    }

    const US: &str = "support@example.test";

    #[test]
    fn new_request_is_acknowledged() {
        let d = decide_intake(
            &msg("a@x.test", "Printer"),
            None,
            ThreadFacts::default(),
            &[US],
        );
        assert!(d.acknowledge);
        assert_eq!(
            d.placement,
            Placement::NewTicket {
                requester: "a@x.test".into(),
                requester_name: Some("Req".into()),
                subject: "Printer".into()
            }
        );
    }

    #[test]
    fn token_wins_over_references() {
        let facts = ThreadFacts {
            token_ticket: Some(4),
            reference_ticket: Some(9),
        };
        let d = decide_intake(&msg("a@x.test", "Re: [TP-4]"), None, facts, &[US]);
        assert_eq!(
            d.placement,
            Placement::FollowUp {
                ticket: 4,
                by: ThreadedBy::Token
            }
        );
        assert!(!d.acknowledge);
        let facts = ThreadFacts {
            token_ticket: None,
            reference_ticket: Some(9),
        };
        let d = decide_intake(&msg("a@x.test", "Re: x"), None, facts, &[US]);
        assert_eq!(
            d.placement,
            Placement::FollowUp {
                ticket: 9,
                by: ThreadedBy::Reference
            }
        );
    }

    #[test]
    fn automatic_mail_opens_a_ticket_but_gets_no_answer() {
        let v = AutomaticVerdict {
            kind: AutomaticKind::Bulk,
            reason: "Precedence: bulk".into(),
        };
        let d = decide_intake(
            &msg("a@x.test", "Weekly report"),
            Some(&v),
            ThreadFacts::default(),
            &[US],
        );
        assert!(!d.acknowledge);
        assert!(matches!(d.placement, Placement::NewTicket { .. }));
        assert!(d.no_ack_reason.unwrap().contains("Precedence"));
    }

    #[test]
    fn bounces_complaints_and_auto_replies_without_a_thread_open_no_ticket() {
        for kind in [
            AutomaticKind::Bounce,
            AutomaticKind::Complaint,
            AutomaticKind::AutoReply,
        ] {
            let v = AutomaticVerdict {
                kind,
                reason: "test".into(),
            };
            let d = decide_intake(
                &msg("mailer-daemon@x.test", "Undelivered"),
                Some(&v),
                ThreadFacts::default(),
                &[US],
            );
            assert_eq!(d.placement, Placement::Unfiled, "{kind:?}");
            assert!(!d.acknowledge);
            // With a thread, they go to their ticket.
            let d = decide_intake(
                &msg("mailer-daemon@x.test", "Undelivered"),
                Some(&v),
                ThreadFacts {
                    token_ticket: None,
                    reference_ticket: Some(4),
                },
                &[US],
            );
            assert!(matches!(d.placement, Placement::FollowUp { ticket: 4, .. }));
        }
    }

    #[test]
    fn our_own_mail_never_opens_a_ticket() {
        let d = decide_intake(&msg(US, "[TP-1] ack"), None, ThreadFacts::default(), &[US]);
        assert_eq!(d.placement, Placement::Unfiled);
        assert!(!d.acknowledge);
    }

    #[test]
    fn no_sender_no_answer() {
        let mut m = msg("a@x.test", "");
        m.from = None;
        let d = decide_intake(&m, None, ThreadFacts::default(), &[US]);
        assert!(!d.acknowledge);
        assert!(
            matches!(d.placement, Placement::NewTicket { ref subject, .. } if subject == "(no subject)")
        );
    }
}
