//! A new ticket's first decisions, from facts the shell gathered: its priority, whether
//! the requester gets an acknowledgement (the per-sender loop guard), who becomes a
//! participant (capped), and which staff are told: the urgent alert and the new-ticket
//! notices, or, for a sender who floods the desk, one summary. Pure: no store, no I/O.

use crate::inbound::Address;

use super::Priority;
use super::lifecycle::staff_to_tell;
use super::roster::DeskConfig;

/// What the shell knows when a request opens a ticket.
#[derive(Debug, Clone)]
pub struct ArrivalFacts<'a, 'f> {
    /// Automatic mail (a list, a monitor): not triaged, nobody told.
    pub automatic: bool,
    /// Whether intake would answer the sender (before the loop guard).
    pub wants_acknowledgement: bool,
    pub triage_priority: Priority,
    /// A routing rule's priority: it may make a request more urgent, never less.
    pub routed_priority: Option<Priority>,
    pub routed_team: Option<&'f str>,
    pub requester: &'f str,
    /// Tickets the requester opened within the hour before this one.
    pub opened_before: i64,
    /// The request's Cc, then To addresses.
    pub addresses: Vec<&'a Address>,
    /// `[limits] acknowledgements_per_sender_per_hour`.
    pub acknowledgements_per_sender_per_hour: i64,
}

/// Which staff mail a new ticket sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffMail {
    /// Automatic mail: nobody.
    Nobody,
    /// The urgent alert (P1: supervisors and on-call) and the new-ticket notices (the
    /// team, else every agent), each address once, never the requester.
    Each {
        urgent: Vec<String>,
        notices: Vec<String>,
    },
    /// The first ticket past the sender's hourly limit: one summary to every agent
    /// and supervisor instead of a notice per ticket.
    FloodSummary { to: Vec<String> },
    /// Later tickets of the same flood: nothing.
    Flooded,
}

/// What a new ticket does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival<'a> {
    pub priority: Priority,
    pub acknowledge: bool,
    /// The acknowledgement was withheld by the loop guard.
    pub acknowledgement_withheld: bool,
    /// Tickets the requester opened within the hour, this one included.
    pub opened_lately: i64,
    pub participants: Vec<&'a Address>,
    /// Addresses past `[limits] max_participants`.
    pub left_out: usize,
    pub staff_mail: StaffMail,
}

/// Decides a new ticket's priority, acknowledgement, participants and staff mail.
pub fn decide_arrival<'a>(f: &ArrivalFacts<'a, '_>, desk: &DeskConfig) -> Arrival<'a> {
    let priority = match (f.automatic, f.routed_priority) {
        (true, _) => Priority::P3,
        (false, Some(routed)) => routed.min(f.triage_priority),
        (false, None) => f.triage_priority,
    };
    let limit = f.acknowledgements_per_sender_per_hour;
    let opened_lately = f.opened_before + 1;
    let flooding = opened_lately > limit;
    let acknowledge = f.wants_acknowledgement && !flooding;
    let (participants, left_out) = if f.automatic {
        (Vec::new(), 0)
    } else {
        participants_of(&f.addresses, f.requester, desk)
    };
    let staff_mail = if f.automatic {
        StaffMail::Nobody
    } else if flooding && opened_lately == limit + 1 {
        let everyone = desk
            .all_agents()
            .into_iter()
            .chain(desk.supervisors.iter())
            .map(|a| a.address.clone());
        StaffMail::FloodSummary {
            to: once_each(everyone),
        }
    } else if flooding {
        StaffMail::Flooded
    } else {
        let urgent = if priority == Priority::P1 {
            let who = desk.supervisors.iter().chain(desk.oncall.iter());
            once_each(who.map(|a| a.address.clone()))
        } else {
            Vec::new()
        };
        let notices = staff_to_tell(None, f.routed_team, desk, Some(f.requester))
            .into_iter()
            .filter(|a| !urgent.iter().any(|u| u.eq_ignore_ascii_case(a)))
            .collect();
        StaffMail::Each { urgent, notices }
    };
    Arrival {
        priority,
        acknowledge,
        acknowledgement_withheld: f.wants_acknowledgement && flooding,
        opened_lately,
        participants,
        left_out,
        staff_mail,
    }
}

/// The participants a request makes (each address once; not the requester, the desk
/// or staff), up to `max_participants`, and how many more there were. Linear in the
/// number of addresses, however many a flood lists.
fn participants_of<'a>(
    addresses: &[&'a Address],
    requester: &str,
    desk: &DeskConfig,
) -> (Vec<&'a Address>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    let mut left_out = 0;
    for a in addresses {
        let eligible = !a.email.eq_ignore_ascii_case(requester)
            && !desk.is_own_address(&a.email)
            && !desk.is_staff(&a.email);
        if !eligible || !seen.insert(a.email.to_ascii_lowercase()) {
            continue;
        }
        if kept.len() < desk.max_participants {
            kept.push(*a);
        } else {
            left_out += 1;
        }
    }
    (kept, left_out)
}

/// Each address once (any case), in order.
fn once_each(addresses: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    addresses
        .filter(|a| seen.insert(a.to_ascii_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::roster::{NamedAddress, Team, parse_named_address};

    fn named(s: &str) -> NamedAddress {
        parse_named_address(s).unwrap()
    }

    fn desk() -> DeskConfig {
        DeskConfig {
            macros: Vec::new(),
            dashboard_url: None,
            change: Default::default(),
            support_address: "support@desk.test".into(),
            support_name: "Support".into(),
            token_prefix: "TP".into(),
            agents: vec![named("ann@desk.test"), named("bob@desk.test")],
            supervisors: vec![named("sue@desk.test")],
            teams: vec![Team {
                name: "network".into(),
                members: vec![named("nina@desk.test")],
            }],
            message_id_domain: "desk.test".into(),
            lifecycle: Default::default(),
            triage: Default::default(),
            oncall: vec![named("bob@desk.test"), named("sue@desk.test")],
            default_language: "en".into(),
            other_addresses: vec!["hr@desk.test".into()],
            routes: Vec::new(),
            max_participants: 2,
        }
    }

    fn address(email: &str) -> Address {
        Address {
            name: None,
            email: email.into(),
        }
    }

    fn facts<'a>(addresses: Vec<&'a Address>) -> ArrivalFacts<'a, 'static> {
        ArrivalFacts {
            automatic: false,
            wants_acknowledgement: true,
            triage_priority: Priority::P3,
            routed_priority: None,
            routed_team: None,
            requester: "jane@x.test",
            opened_before: 0,
            addresses,
            acknowledgements_per_sender_per_hour: 10,
        }
    }

    #[test]
    fn routing_makes_a_request_more_urgent_never_less_and_automatic_mail_is_p3() {
        let desk = desk();
        let mut f = facts(Vec::new());
        f.routed_priority = Some(Priority::P2);
        assert_eq!(decide_arrival(&f, &desk).priority, Priority::P2);
        f.triage_priority = Priority::P1;
        assert_eq!(decide_arrival(&f, &desk).priority, Priority::P1);
        f.automatic = true;
        let a = decide_arrival(&f, &desk);
        assert_eq!(a.priority, Priority::P3);
        assert_eq!(a.staff_mail, StaffMail::Nobody);
        assert!(a.participants.is_empty());
    }

    #[test]
    fn p1_alerts_supervisors_and_oncall_once_and_the_rest_get_notices() {
        let desk = desk();
        let mut f = facts(Vec::new());
        f.triage_priority = Priority::P1;
        let a = decide_arrival(&f, &desk);
        assert_eq!(
            a.staff_mail,
            StaffMail::Each {
                urgent: vec!["sue@desk.test".into(), "bob@desk.test".into()],
                notices: vec!["ann@desk.test".into(), "nina@desk.test".into()],
            }
        );
        // A routed team hears of it alone; the requester never gets a notice.
        let mut f = facts(Vec::new());
        f.routed_team = Some("network");
        f.requester = "nina@desk.test";
        let a = decide_arrival(&f, &desk);
        assert_eq!(
            a.staff_mail,
            StaffMail::Each {
                urgent: Vec::new(),
                notices: Vec::new()
            }
        );
    }

    #[test]
    fn a_flooding_sender_gets_no_acknowledgement_and_the_staff_one_summary() {
        let desk = desk();
        let mut f = facts(Vec::new());
        f.opened_before = 9;
        let a = decide_arrival(&f, &desk);
        assert!(a.acknowledge && !a.acknowledgement_withheld);
        assert!(matches!(a.staff_mail, StaffMail::Each { .. }));
        f.opened_before = 10;
        let a = decide_arrival(&f, &desk);
        assert!(!a.acknowledge && a.acknowledgement_withheld);
        assert_eq!(a.opened_lately, 11);
        assert_eq!(
            a.staff_mail,
            StaffMail::FloodSummary {
                to: vec![
                    "ann@desk.test".into(),
                    "bob@desk.test".into(),
                    "nina@desk.test".into(),
                    "sue@desk.test".into()
                ]
            }
        );
        f.opened_before = 11;
        assert_eq!(decide_arrival(&f, &desk).staff_mail, StaffMail::Flooded);
        // Intake's own "no" is no loop guard.
        f.wants_acknowledgement = false;
        f.opened_before = 0;
        let a = decide_arrival(&f, &desk);
        assert!(!a.acknowledge && !a.acknowledgement_withheld);
    }

    #[test]
    fn participants_are_outsiders_once_each_up_to_the_limit() {
        let desk = desk();
        let list = [
            address("jane@x.test"),
            address("ann@desk.test"),
            address("hr@desk.test"),
            address("support@desk.test"),
            address("cc1@x.test"),
            address("CC1@x.test"),
            address("cc2@x.test"),
            address("cc3@x.test"),
            address("cc4@x.test"),
        ];
        let a = decide_arrival(&facts(list.iter().collect()), &desk);
        let kept: Vec<&str> = a.participants.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(kept, vec!["cc1@x.test", "cc2@x.test"]);
        assert_eq!(a.left_out, 2);
    }
}
