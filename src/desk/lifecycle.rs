//! The ticket lifecycle by email (stages 2–4 of the support process): what a reply on an
//! existing ticket does, depending on who wrote it and where the ticket stands. Agents'
//! commands, relays to the requester, status mails, authorisation answers, the
//! confirmation of a resolution, reopening, and the auto-close timer.
//!
//! Pure: [`decide_reply`] and [`decide_auto_close`] take the ticket's state and the
//! reply, and return a [`Decision`] (changes, timeline entries, mails to send); the
//! ingest shell stores it in the message's transaction and renders the mails.

use super::roster::{DeskConfig, NamedAddress};

use super::change_plan::{ChangeNotice, Outcome, PlanChange};
use super::change_review;
use super::consent::{self, Confirmation, Consent};
use super::kb_review;
use super::merge::{self, CommandFacts};
use super::quick_actions::{self, AgentReply, Command, CommandError};
use super::threading::token;
use super::worklog;
use super::{MessageKind, Priority, Status};

/// What the store knows about a ticket, as the lifecycle needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    pub id: i64,
    pub status: Status,
    pub priority: Priority,
    pub requester: String,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Addresses besides the requester who receive the desk's replies (Cc'd people).
    pub participants: Vec<String>,
    /// What an open authorisation request asks for.
    pub authorization: Option<String>,
    pub resolution: Option<String>,
    pub closed_at: Option<i64>,
}

/// Who wrote a reply, relative to the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// An agent, team member or supervisor; their name for relays.
    Staff {
        address: String,
        name: String,
    },
    Requester,
    Participant,
    /// Anyone else (a stranger who knew the token, a forwarded thread).
    Other,
}

impl Author {
    /// Classifies `address` for `ticket`. The requester is a requester even when they
    /// are also staff (an agent who opened a ticket for themselves).
    pub fn of(address: &str, ticket: &TicketState, desk: &DeskConfig) -> Author {
        if address.eq_ignore_ascii_case(&ticket.requester) {
            return Author::Requester;
        }
        if desk.is_staff(address) {
            let name = desk
                .agent(address)
                .or_else(|| {
                    desk.supervisors
                        .iter()
                        .find(|s| s.address.eq_ignore_ascii_case(address))
                })
                .map(display_name)
                .unwrap_or_else(|| address.to_string());
            return Author::Staff {
                address: address.to_ascii_lowercase(),
                name,
            };
        }
        if ticket
            .participants
            .iter()
            .any(|p| p.eq_ignore_ascii_case(address))
        {
            return Author::Participant;
        }
        Author::Other
    }
}

/// A person's name as shown to others: the configured name, else the local part.
pub fn display_name(a: &NamedAddress) -> String {
    a.name.clone().unwrap_or_else(|| {
        a.address
            .split('@')
            .next()
            .unwrap_or(&a.address)
            .to_string()
    })
}

/// A change to the ticket row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Status(Status),
    Priority(Priority),
    Assignee(String),
    Team(String),
    AddParticipant(String),
    /// `Some(what)` opens an authorisation request; `None` settles it.
    Authorization(Option<String>),
    Resolution(String),
    /// When the ticket closes by itself; `None` cancels the timer.
    AutoCloseAt(Option<i64>),
    ClosedAt(Option<i64>),
    /// The first public agent reply (the first-response clock stops).
    FirstResponse,
    /// `/requester`: the ticket is this person's.
    Requester {
        address: String,
        name: Option<String>,
    },
    /// Create or update the ticket's knowledge-base entry (empty fields keep what is
    /// stored; the shell fills an empty problem from the request).
    Knowledge(KbDraft),
    /// The ticket is merged into `into` (the last survivor): mail for it goes there
    /// from now on, `participants` (its requester and participants) join `into`, and
    /// `note` goes on `into`'s timeline.
    MergedInto {
        into: i64,
        participants: Vec<String>,
        note: String,
    },
    /// The ticket is related to `with`; `note` goes on `with`'s timeline.
    Link {
        with: i64,
        note: String,
    },
    /// A requester's satisfaction rating (1..=5), replacing any earlier one; the writer
    /// records who rated (`desk::satisfaction`).
    Satisfaction {
        rating: u8,
        comment: String,
    },
    /// `/time`: minutes an agent spent on the ticket (`desk::worklog`).
    TimeSpent(worklog::Spent),
    /// `/kb approve KB-n`: another agent approved the entry (`desk::kb_review`).
    KbApproved(kb_review::Approval),
    /// The ticket's change plan: recorded, moved, or a window event stamped
    /// (`desk::change_review`, written by `store::changes`).
    ChangePlan(PlanChange),
}

/// A knowledge-base entry as an agent wrote it (by `/kb`, or a `/resolve` summary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KbDraft {
    pub problem: String,
    pub cause: String,
    pub steps: String,
    pub solution: String,
    pub lessons: String,
}

/// Splits a `/kb` reply into its sections, headed `Problem:`, `Cause:`, `Steps:`,
/// `Solution:`, `Lessons:` (or 问题/原因/步骤/解决方案/经验教训, any case, heading text
/// may continue on the same line). Text before any heading, or a reply without
/// headings, is the solution.
pub fn parse_kb_sections(text: &str) -> KbDraft {
    let mut draft = KbDraft::default();
    let mut current: Option<usize> = None;
    let mut parts: [Vec<&str>; 5] = Default::default();
    for line in text.lines() {
        let t = line.trim_start();
        let heading = KB_HEADINGS.iter().find_map(|(names, slot)| {
            names.iter().find_map(|n| {
                let head = t.get(..n.len())?;
                if !head.eq_ignore_ascii_case(n) {
                    return None;
                }
                let rest = t[n.len()..].trim_start();
                let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
                Some((*slot, rest.trim()))
            })
        });
        match heading {
            Some((slot, rest)) => {
                current = Some(slot);
                if !rest.is_empty() {
                    parts[slot].push(rest);
                }
            }
            None => parts[current.unwrap_or(3)].push(line),
        }
    }
    let join = |lines: &Vec<&str>| lines.join("\n").trim().to_string();
    draft.problem = join(&parts[0]);
    draft.cause = join(&parts[1]);
    draft.steps = join(&parts[2]);
    draft.solution = join(&parts[3]);
    draft.lessons = join(&parts[4]);
    draft
}

/// Section headings of a `/kb` reply and the slot each fills.
const KB_HEADINGS: &[(&[&str], usize)] = &[
    (&["problem", "symptom", "问题", "现象"], 0),
    (&["cause", "root cause", "原因"], 1),
    (&["steps", "what we did", "步骤", "处理步骤"], 2),
    (
        &[
            "solution",
            "fix",
            "resolution",
            "解决方案",
            "解决办法",
            "解决",
        ],
        3,
    ),
    (
        &[
            "lessons learned",
            "lessons learnt",
            "lessons",
            "lesson",
            "经验教训",
            "经验",
            "教训",
        ],
        4,
    ),
];

/// Why agents are told about a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    NewTicket,
    RequesterReply,
    Reopened,
    StillFailing,
    Note,
    Assigned,
    Escalated,
    AuthorizationApproved,
    AuthorizationRefused,
    Confirmed,
    /// Mail claiming to be from a member of staff that did not prove it.
    Unverified,
    /// Our mail about the ticket bounced.
    DeliveryFailed,
    /// Mail from someone not on the ticket who used its token, held for an agent.
    HeldStranger,
    /// A reply that reads as consent or confirmation but could not be verified.
    UnverifiedAnswer,
    /// A sender opened more tickets within the hour than get notices.
    Flood,
    /// The agent's reply was held: another agent answered the requester just before.
    Collision,
    /// The requester rated the desk's work (`desk::satisfaction`).
    Rated,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::NewTicket => "new_ticket",
            Notice::RequesterReply => "requester_reply",
            Notice::Reopened => "reopened",
            Notice::StillFailing => "still_failing",
            Notice::Note => "note",
            Notice::Assigned => "assigned",
            Notice::Escalated => "escalated",
            Notice::AuthorizationApproved => "authorization_approved",
            Notice::AuthorizationRefused => "authorization_refused",
            Notice::Confirmed => "confirmed",
            Notice::Unverified => "unverified",
            Notice::DeliveryFailed => "delivery_failed",
            Notice::HeldStranger => "held_stranger",
            Notice::UnverifiedAnswer => "unverified_answer",
            Notice::Flood => "flood",
            Notice::Collision => "collision",
            Notice::Rated => "rated",
        }
    }

    /// The headline agents see in the subject.
    pub fn headline(self) -> &'static str {
        match self {
            Notice::NewTicket => "New ticket",
            Notice::RequesterReply => "Requester replied",
            Notice::Reopened => "Reopened",
            Notice::StillFailing => "Not fixed yet, reopened",
            Notice::Note => "Internal note",
            Notice::Assigned => "Assigned to you",
            Notice::Escalated => "Escalated to your team",
            Notice::AuthorizationApproved => "Authorisation approved",
            Notice::AuthorizationRefused => "Authorisation refused",
            Notice::Confirmed => "Confirmed fixed, closed",
            Notice::Unverified => "UNVERIFIED mail in a staff member's name (no command run)",
            Notice::DeliveryFailed => "Delivery failure: our mail bounced",
            Notice::HeldStranger => {
                "HELD: mail from someone not on this ticket (not added; /cc them to let them in)"
            }
            Notice::UnverifiedAnswer => {
                "UNVERIFIED answer: not recorded as consent or confirmation (ask the requester to reply to our mail)"
            }
            Notice::Flood => "FLOOD: one sender opened many tickets; further notices held back",
            Notice::Collision => {
                "HELD: another agent answered first (your reply was not sent; reply /send to send it)"
            }
            Notice::Rated => "Satisfaction rating (ticket not reopened)",
        }
    }
}

/// A mail the decision sends; the shell renders it from templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// To agents (one mail each), Reply-To the support address. `text` is what the
    /// notice is about (the request, the reply, the note).
    AgentNotice {
        to: Vec<String>,
        notice: Notice,
        text: String,
    },
    /// An agent's reply, to the requester and participants, from the support address
    /// as "<agent> via <support name>".
    Relay {
        agent_name: String,
        text: String,
    },
    /// A status change the requester should know about (open = reopened, waiting,
    /// pending).
    StatusChange(Status),
    AuthorizationRequest {
        what: String,
        again: bool,
    },
    ConfirmationRequest {
        summary: String,
    },
    Closing {
        auto: bool,
    },
    /// To the agent whose reply had bad commands.
    CommandError {
        to: String,
        errors: Vec<String>,
    },
    /// The ticket was merged into ticket `into`: its requester (and participants) are
    /// told once, in their language, where the conversation goes on.
    Merged {
        into: i64,
    },
    /// Another ticket was merged into `survivor`: the survivor's requester is told
    /// once, in their language, that its replies now also reach the people who raised
    /// the other.
    MergedHere {
        survivor: i64,
    },
    /// Change review (`desk::change_review`), to agents (one mail each) and, for the
    /// window's end, supervisors; the ticket's plan is shown with `text`.
    ChangeNotice {
        to: Vec<String>,
        notice: ChangeNotice,
        text: String,
    },
}

impl Mail {
    /// Whether the mail goes to the requester's side (and threads on their messages).
    pub fn to_requester(&self) -> bool {
        !matches!(
            self,
            Mail::AgentNotice { .. } | Mail::CommandError { .. } | Mail::ChangeNotice { .. }
        )
    }
}

/// What a reply (or a timer) does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub changes: Vec<Change>,
    /// Timeline entries: (kind, detail).
    pub events: Vec<(&'static str, String)>,
    pub mails: Vec<Mail>,
    /// How the message is recorded: reply, agent_reply, note, rejected_commands.
    pub message_kind: MessageKind,
}

impl From<Outcome> for Decision {
    fn from(o: Outcome) -> Decision {
        let mut d = Decision::default();
        d.absorb(o);
        d
    }
}

impl Decision {
    /// Takes in what a change-review decision does (`desk::change_review`).
    fn absorb(&mut self, o: Outcome) {
        self.changes
            .extend(o.changes.into_iter().map(Change::ChangePlan));
        self.events
            .extend(o.events.into_iter().map(|e| ("change", e)));
        self.mails
            .extend(o.mails.into_iter().map(|m| Mail::ChangeNotice {
                to: m.to,
                notice: m.notice,
                text: m.text,
            }));
    }

    fn event(&mut self, kind: &'static str, detail: impl Into<String>) {
        self.events.push((kind, detail.into()));
    }

    /// The status after the decision's changes.
    pub fn final_status(&self, before: Status) -> Status {
        self.changes
            .iter()
            .rev()
            .find_map(|c| match c {
                Change::Status(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(before)
    }
}

/// Whether a reply on ticket `t` belongs to it, or opens a new ticket because the
/// ticket was closed longer ago than the reopen window.
pub fn reply_reopens_or_starts_new(t: &TicketState, now: i64, desk: &DeskConfig) -> bool {
    t.status == Status::Closed
        && t.closed_at
            .is_some_and(|at| now - at > desk.lifecycle.reopen_window)
}

/// The agents to tell about ticket `t`: its assignee, else its team, else every agent;
/// never `except` (the person who caused it).
pub fn agents_to_notify(t: &TicketState, desk: &DeskConfig, except: Option<&str>) -> Vec<String> {
    staff_to_tell(t.assignee.as_deref(), t.team.as_deref(), desk, except)
}

/// The staff told about a ticket with this assignee and team: the assignee, else the
/// team's members, else every agent; never `except`.
pub fn staff_to_tell(
    assignee: Option<&str>,
    team: Option<&str>,
    desk: &DeskConfig,
    except: Option<&str>,
) -> Vec<String> {
    let mut to: Vec<String> = match (assignee, team.and_then(|n| desk.team(n))) {
        (Some(a), _) => vec![a.to_string()],
        (None, Some(team)) => team.members.iter().map(|m| m.address.clone()).collect(),
        (None, None) => desk
            .all_agents()
            .into_iter()
            .map(|a| a.address.clone())
            .collect(),
    };
    if let Some(x) = except {
        to.retain(|a| !a.eq_ignore_ascii_case(x));
    }
    to.dedup();
    to
}

/// Decides what a human reply on an existing ticket does. `text` is the reply with
/// quotes and signatures trimmed; `author` who wrote it; `message_ref` its Message-ID
/// (or identity) for the record.
pub fn decide_reply(
    t: &TicketState,
    author: &Author,
    text: &str,
    message_ref: &str,
    now: i64,
    desk: &DeskConfig,
    proof: AnswerProof,
) -> Decision {
    let none = CommandFacts::default();
    decide_reply_with_facts(t, author, text, message_ref, now, desk, proof, &none)
}

/// [`decide_reply`] with what ingest read about the tickets and knowledge-base entries
/// the reply's commands name (`/merge`, `/link`, `/reply`; see `desk::merge::named_in`).
#[allow(clippy::too_many_arguments)]
pub fn decide_reply_with_facts(
    t: &TicketState,
    author: &Author,
    text: &str,
    message_ref: &str,
    now: i64,
    desk: &DeskConfig,
    proof: AnswerProof,
    facts: &CommandFacts,
) -> Decision {
    match author {
        Author::Staff { address, name } => {
            let agent = Acting {
                address,
                name,
                facts,
            };
            decide_agent_reply(t, &agent, text, now, desk)
        }
        Author::Requester | Author::Participant | Author::Other => {
            decide_requester_reply(t, author, text, message_ref, now, desk, proof)
        }
    }
}

/// Whether a reply proves that the requester wrote it in answer to our request mail:
/// it carries the Message-ID of that mail signed for the requester, or the trusted
/// MTA saw DKIM/SPF pass for the requester's domain. A From header proves nothing,
/// so consent and confirmation are recorded only with this proof.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerProof {
    /// An answer to our authorisation request.
    pub authorization: bool,
    /// An answer to our confirmation request.
    pub confirmation: bool,
}

impl AnswerProof {
    /// Both proven (DKIM/SPF pass, or tests).
    pub const VERIFIED: AnswerProof = AnswerProof {
        authorization: true,
        confirmation: true,
    };
}

/// The agent whose reply is being decided, and the facts their commands need.
struct Acting<'a> {
    address: &'a str,
    name: &'a str,
    facts: &'a CommandFacts,
}

fn decide_agent_reply(
    t: &TicketState,
    acting: &Acting,
    text: &str,
    now: i64,
    desk: &DeskConfig,
) -> Decision {
    let (agent, agent_name) = (acting.address, acting.name);
    let mut d = Decision {
        message_kind: MessageKind::AgentReply,
        ..Decision::default()
    };
    let reply = match parse_and_check(text, desk, t, acting) {
        Ok(Checked {
            mut reply,
            macro_texts,
        }) => {
            reply.text = merge::with_canned_text(&reply, &macro_texts, acting.facts);
            reply
        }
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            d.message_kind = MessageKind::RejectedCommands;
            d.event(
                "command_error",
                format!(
                    "reply not applied (nothing changed, nothing relayed): {}",
                    lines.join("; ")
                ),
            );
            d.mails.push(Mail::CommandError {
                to: agent.to_string(),
                errors: lines,
            });
            return d;
        }
    };
    if reply.is_kb() {
        d.message_kind = MessageKind::Kb;
        let draft = parse_kb_sections(&reply.text);
        d.event("kb", "knowledge-base entry written from this reply");
        d.changes.push(Change::Knowledge(draft));
    }
    let change = change_review::is_internal(&reply);
    let note = reply.is_note() || reply.is_kb() || change;
    if change && !reply.is_kb() {
        d.message_kind = MessageKind::Note;
    }
    if reply.is_note() {
        d.message_kind = MessageKind::Note;
        d.event("note", reply.text.clone());
        let others: Vec<String> = desk
            .all_agents()
            .into_iter()
            .map(|a| a.address.clone())
            .filter(|a| !a.eq_ignore_ascii_case(agent))
            .collect();
        if !others.is_empty() {
            d.mails.push(Mail::AgentNotice {
                to: others,
                notice: Notice::Note,
                text: reply.text.clone(),
            });
        }
    }

    let mut state = t.clone();
    for command in &reply.commands {
        d.event("command", command.to_string());
        apply_command(&mut d, &mut state, command, &reply, acting, now, desk);
    }
    if change {
        d.absorb(change_review::apply_reply(&change_check(
            t, acting, &reply, desk,
        )));
    }

    // Files alone are worth relaying: "here is the driver", attached, with no text.
    if !note && (!reply.text.trim().is_empty() || acting.facts.carries_files) {
        d.mails.push(Mail::Relay {
            agent_name: agent_name.to_string(),
            text: reply.text.clone(),
        });
        d.event(
            "relayed",
            format!("reply of {agent_name} relayed to the requester"),
        );
        d.changes.push(Change::FirstResponse);
        if state.assignee.is_none() {
            d.changes.push(Change::Assignee(agent.to_string()));
            d.event("assigned", format!("assigned to {agent} (first reply)"));
        }
    } else if !note && reply.only_commands() {
        d.event("commands_only", "commands only: nothing relayed");
    }
    d
}

/// Parses the commands and checks their arguments against the configuration.
/// A reply whose commands all check out, with its macros expanded: their commands in
/// `reply.commands`, their texts (to relay after the agent's) in `macro_texts`.
struct Checked {
    reply: AgentReply,
    macro_texts: Vec<String>,
}

fn parse_and_check(
    text: &str,
    desk: &DeskConfig,
    t: &TicketState,
    acting: &Acting,
) -> Result<Checked, Vec<CommandError>> {
    let (this, facts) = (t.id, acting.facts);
    let reply = quick_actions::parse_agent_reply(text)?;
    let mut errors = Vec::new();
    let change = change_check(t, acting, &reply, desk);
    for (i, command) in reply.commands.iter().enumerate() {
        let problem = command_problem(command, desk, this, facts)
            .or_else(|| change_review::command_problem(command, &change));
        if let Some(reason) = problem {
            let (line_number, line) = command_line(text, command, i);
            errors.push(CommandError {
                line_number,
                line,
                reason,
            });
        }
    }
    if errors.is_empty() {
        expand_macros(reply, text, desk, t, acting)
    } else {
        Err(errors)
    }
}

/// What `desk::change_review` checks a reply's commands against.
fn change_check<'a>(
    t: &'a TicketState,
    acting: &'a Acting,
    reply: &'a AgentReply,
    desk: &'a DeskConfig,
) -> change_review::Check<'a> {
    // `/authorize` runs after the reply's `/priority` and `/team`: it is held by them.
    let priority = reply.commands.iter().rev().find_map(|c| match c {
        Command::Priority(p) => Some(*p),
        _ => None,
    });
    let team = reply.commands.iter().rev().find_map(|c| match c {
        Command::Team(name) => desk.team(name).map(|t| t.name.as_str()),
        _ => None,
    });
    change_review::Check {
        priority: priority.unwrap_or(t.priority),
        team: team.or(t.team.as_deref()),
        assignee: t.assignee.as_deref(),
        agent: acting.address,
        reply,
        plan: acting.facts.change.as_ref(),
        desk,
    }
}

/// Why a well-formed command cannot run here, if it cannot: an unknown agent, team,
/// ticket, knowledge-base entry or macro, a refused merge, staff as a participant.
fn command_problem(
    command: &Command,
    desk: &DeskConfig,
    this: i64,
    facts: &CommandFacts,
) -> Option<String> {
    match command {
        Command::Assign(who) if resolve_agent(who, desk).is_none() => {
            Some(format!("no agent {who:?} (use an agent's address or name)"))
        }
        Command::Requester { address, .. }
            if desk.is_staff(address) || desk.is_own_address(address) =>
        {
            Some(format!(
                "{address} is staff or the desk's own address: it cannot be a ticket's requester"
            ))
        }
        Command::Cc(address) if desk.is_staff(address) || desk.is_own_address(address) => {
            Some(format!(
                "{address} is staff or the desk's own address: staff are never participants (they get the agents' notices)"
            ))
        }
        Command::Team(name) if desk.team(name).is_none() => Some(format!(
            "no team {name:?} (configured: {})",
            configured(desk.teams.iter().map(|t| t.name.as_str()))
        )),
        Command::Merge(target) => merge::merge_target(this, target, facts, desk).err(),
        Command::Link(target) => merge::link_target(this, target, facts, desk).err(),
        Command::Reply(id) | Command::KbApprove(id) if facts.kb_solution(*id).is_none() => {
            Some(format!("no knowledge-base entry KB-{id}"))
        }
        Command::Macro(name) if merge::find_macro(name, desk).is_none() => Some(format!(
            "no macro {name:?} (configured: {})",
            configured(desk.macros.iter().map(|m| m.name.as_str()))
        )),
        _ => None,
    }
}

/// Configured names for an error message, or "none".
fn configured<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Replaces each `/macro <name>` by the macro's commands, checked as the agent's own
/// are (conflicts included); a problem is reported on the first `/macro` line.
fn expand_macros(
    reply: AgentReply,
    text: &str,
    desk: &DeskConfig,
    t: &TicketState,
    acting: &Acting,
) -> Result<Checked, Vec<CommandError>> {
    let (this, facts) = (t.id, acting.facts);
    let Some(first) = reply
        .commands
        .iter()
        .position(|c| matches!(c, Command::Macro(_)))
    else {
        return Ok(Checked {
            reply,
            macro_texts: Vec::new(),
        });
    };
    let mut lines: Vec<String> = Vec::new();
    let mut macro_texts = Vec::new();
    for command in &reply.commands {
        match command {
            Command::Macro(name) => {
                if let Some(m) = merge::find_macro(name, desk) {
                    lines.extend(m.commands.iter().cloned());
                    macro_texts.push(m.text.clone());
                }
            }
            other => lines.push(other.to_string()),
        }
    }
    let (line_number, line) = command_line(text, &reply.commands[first], first);
    let fail = |problems: Vec<String>| {
        vec![CommandError {
            line_number,
            line: line.clone(),
            reason: format!("with the macro's commands: {}", problems.join("; ")),
        }]
    };
    let combined = quick_actions::parse_agent_reply(&lines.join("\n")).map_err(|errors| {
        fail(
            errors
                .iter()
                .map(|e| format!("{:?}: {}", e.line, e.reason))
                .collect(),
        )
    })?;
    let change = change_check(t, acting, &reply, desk);
    let problems: Vec<String> = combined
        .commands
        .iter()
        .filter_map(|c| {
            command_problem(c, desk, this, facts)
                .or_else(|| change_review::command_problem(c, &change))
        })
        .collect();
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(Checked {
        reply: AgentReply {
            commands: combined.commands,
            text: reply.text,
        },
        macro_texts,
    })
}

/// The 1-based line number and text of the `nth` command line of `text` (command
/// lines start with `/`), for error messages.
fn command_line(text: &str, command: &Command, nth: usize) -> (usize, String) {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            l.starts_with('/')
                && l[1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
        })
        .nth(nth)
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .unwrap_or_else(|| (0, command.to_string()))
}

/// Finds an agent by address, display name or local part (any case).
pub fn resolve_agent<'a>(who: &str, desk: &'a DeskConfig) -> Option<&'a NamedAddress> {
    desk.resolve_agent(who)
}

fn set_status(d: &mut Decision, state: &mut TicketState, to: Status) {
    if state.status != to {
        d.event("status", format!("{} → {to}", state.status));
        state.status = to;
        d.changes.push(Change::Status(to));
    }
}

fn resolve(d: &mut Decision, state: &mut TicketState, summary: &str, now: i64, desk: &DeskConfig) {
    set_status(d, state, Status::Resolved);
    d.changes.push(Change::Resolution(summary.to_string()));
    let at = now + desk.lifecycle.auto_close_after;
    d.changes.push(Change::AutoCloseAt(Some(at)));
    state.resolution = Some(summary.to_string());
    d.changes.push(Change::Knowledge(KbDraft {
        solution: summary.to_string(),
        ..KbDraft::default()
    }));
    d.mails.push(Mail::ConfirmationRequest {
        summary: summary.to_string(),
    });
}

fn close(d: &mut Decision, state: &mut TicketState, now: i64, auto: bool) {
    set_status(d, state, Status::Closed);
    d.changes.push(Change::ClosedAt(Some(now)));
    d.changes.push(Change::AutoCloseAt(None));
    state.closed_at = Some(now);
    d.mails.push(Mail::Closing { auto });
}

fn reopen(d: &mut Decision, state: &mut TicketState) {
    set_status(d, state, Status::Open);
    d.changes.push(Change::AutoCloseAt(None));
    d.changes.push(Change::ClosedAt(None));
    state.closed_at = None;
}

fn apply_command(
    d: &mut Decision,
    state: &mut TicketState,
    command: &Command,
    reply: &AgentReply,
    acting: &Acting,
    now: i64,
    desk: &DeskConfig,
) {
    let agent = acting.address;
    match command {
        Command::Status(_) | Command::Resolve(_) | Command::Close | Command::Reopen => {
            apply_status_command(d, state, command, reply, now, desk)
        }
        Command::Priority(p) => {
            if state.priority != *p {
                d.event("priority", format!("{} → {p}", state.priority));
                state.priority = *p;
                d.changes.push(Change::Priority(*p));
            }
        }
        Command::Assign(who) => assign(d, state, who, reply, agent, desk),
        Command::Team(name) => escalate(d, state, name, reply, agent, desk),
        Command::Time(minutes) => outcome(d, agent, worklog::spent(agent, *minutes)),
        Command::KbApprove(id) => outcome(d, agent, kb_review::approve(*id, agent, acting.facts)),
        // `/send` is read before the lifecycle (`follow_up`): here it does nothing.
        Command::Note | Command::Kb | Command::Send | Command::Reply(_) | Command::Macro(_) => {}
        Command::Merge(target) => {
            // Checked in `parse_and_check`; the facts have not changed since.
            if let Ok(into) = merge::merge_target(state.id, target, acting.facts, desk) {
                merge_into(d, state, into, agent, now, desk);
            }
        }
        Command::Link(target) => {
            if let Ok(with) = merge::link_target(state.id, target, acting.facts, desk) {
                let prefix = &desk.token_prefix;
                let (this, other) = (token(prefix, state.id), token(prefix, with));
                d.event("linked", format!("linked to {other}"));
                d.changes.push(Change::Link {
                    with,
                    note: format!("linked to {this} by {agent}"),
                });
            }
        }
        Command::Authorize(what) => {
            d.event("authorization", format!("authorisation requested: {what}"));
            state.authorization = Some(what.clone());
            d.changes.push(Change::Authorization(Some(what.clone())));
            d.mails.push(Mail::AuthorizationRequest {
                what: what.clone(),
                again: false,
            });
        }
        Command::Requester { address, name } => {
            // Staff and the desk's own addresses were refused in `parse_and_check`.
            if !address.eq_ignore_ascii_case(&state.requester) {
                d.event("requester", format!("{} → {address}", state.requester));
                state.requester = address.clone();
                d.changes.push(Change::Requester {
                    address: address.clone(),
                    name: name.clone(),
                });
            }
        }
        Command::Cc(address) => add_participant(d, state, address, agent, desk),
        // `desk::change_review::apply_reply`, after every other command.
        Command::Plan
        | Command::Review(_)
        | Command::Approve
        | Command::Reject(_)
        | Command::Done(_)
        | Command::Rollback(_) => {}
    }
}

/// `/status`, `/resolve`, `/close` and `/reopen`.
fn apply_status_command(
    d: &mut Decision,
    state: &mut TicketState,
    command: &Command,
    reply: &AgentReply,
    now: i64,
    desk: &DeskConfig,
) {
    match command {
        Command::Status(Status::Resolved) | Command::Resolve(_) => {
            let summary = match command {
                Command::Resolve(s) => s.clone(),
                _ => reply.text.clone(),
            };
            resolve(d, state, &summary, now, desk);
        }
        Command::Status(Status::Closed) | Command::Close if state.status != Status::Closed => {
            close(d, state, now, false);
        }
        Command::Status(Status::Open) | Command::Reopen if state.status != Status::Open => {
            let was_closed = matches!(state.status, Status::Closed | Status::Resolved);
            reopen(d, state);
            if was_closed {
                d.mails.push(Mail::StatusChange(Status::Open));
            }
        }
        Command::Status(s @ (Status::Waiting | Status::Pending)) if state.status != *s => {
            set_status(d, state, *s);
            d.changes.push(Change::AutoCloseAt(None));
            d.mails.push(Mail::StatusChange(*s));
        }
        // The ticket is already in that status.
        _ => {}
    }
}

/// `/assign <agent>`: the assignee, told unless they assigned themself.
fn assign(
    d: &mut Decision,
    state: &mut TicketState,
    who: &str,
    reply: &AgentReply,
    agent: &str,
    desk: &DeskConfig,
) {
    let Some(a) = resolve_agent(who, desk) else {
        return;
    };
    d.event("assigned", format!("assigned to {}", a.address));
    state.assignee = Some(a.address.clone());
    d.changes.push(Change::Assignee(a.address.clone()));
    if !a.address.eq_ignore_ascii_case(agent) {
        d.mails.push(Mail::AgentNotice {
            to: vec![a.address.clone()],
            notice: Notice::Assigned,
            text: reply.text.clone(),
        });
    }
}

/// `/team <team>`: escalated to the team, whose other members are told.
fn escalate(
    d: &mut Decision,
    state: &mut TicketState,
    name: &str,
    reply: &AgentReply,
    agent: &str,
    desk: &DeskConfig,
) {
    let Some(team) = desk.team(name) else {
        return;
    };
    d.event("team", format!("escalated to team {}", team.name));
    state.team = Some(team.name.clone());
    d.changes.push(Change::Team(team.name.clone()));
    let to: Vec<String> = team
        .members
        .iter()
        .map(|m| m.address.clone())
        .filter(|m| !m.eq_ignore_ascii_case(agent))
        .collect();
    if !to.is_empty() {
        d.mails.push(Mail::AgentNotice {
            to,
            notice: Notice::Escalated,
            text: reply.text.clone(),
        });
    }
}

/// `/cc <address>`: a participant, within `[limits] max_participants` (past it the
/// agent is told).
fn add_participant(
    d: &mut Decision,
    state: &mut TicketState,
    address: &str,
    agent: &str,
    desk: &DeskConfig,
) {
    // Staff and the desk's own addresses were refused in `parse_and_check`.
    let address = address.to_ascii_lowercase();
    if state.participants.len() >= desk.max_participants {
        let why = format!(
            "{address} not added: the ticket has {} participants, the limit ([limits] max_participants)",
            state.participants.len()
        );
        d.event("participant", why.clone());
        d.mails.push(Mail::CommandError {
            to: agent.to_string(),
            errors: vec![why],
        });
        return;
    }
    if !address.eq_ignore_ascii_case(&state.requester)
        && !state
            .participants
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&address))
    {
        d.event("participant", format!("{address} added as a participant"));
        state.participants.push(address.clone());
        d.changes.push(Change::AddParticipant(address));
    }
}

/// What a command's own module decided (`desk::worklog`, `desk::kb_review`): a
/// timeline entry, and the change, or the reason it is refused, mailed to `agent`.
fn outcome<T: Into<Change>>(
    d: &mut Decision,
    agent: &str,
    (kind, event, result): (&'static str, String, Result<T, String>),
) {
    d.event(kind, event);
    match result {
        Ok(change) => d.changes.push(change.into()),
        Err(why) => d.mails.push(Mail::CommandError {
            to: agent.to_string(),
            errors: vec![why],
        }),
    }
}

impl From<worklog::Spent> for Change {
    fn from(spent: worklog::Spent) -> Change {
        Change::TimeSpent(spent)
    }
}

impl From<kb_review::Approval> for Change {
    fn from(approval: kb_review::Approval) -> Change {
        Change::KbApproved(approval)
    }
}

/// `/merge`: the ticket closes without a closing mail, its clocks stop, its requester
/// side joins `into` and is told once where the conversation goes on.
fn merge_into(
    d: &mut Decision,
    state: &mut TicketState,
    into: i64,
    agent: &str,
    now: i64,
    desk: &DeskConfig,
) {
    let prefix = &desk.token_prefix;
    let (this, survivor) = (token(prefix, state.id), token(prefix, into));
    d.event(
        "merged",
        format!("merged into {survivor}: its mail goes there from now on"),
    );
    if state.status != Status::Closed {
        set_status(d, state, Status::Closed);
        d.changes.push(Change::ClosedAt(Some(now)));
        state.closed_at = Some(now);
    }
    d.changes.push(Change::AutoCloseAt(None));
    if state.authorization.take().is_some() {
        d.changes.push(Change::Authorization(None));
    }
    let mut participants = vec![state.requester.clone()];
    participants.extend(state.participants.iter().cloned());
    participants.truncate(desk.max_participants.max(1));
    d.changes.push(Change::MergedInto {
        into,
        participants,
        note: format!(
            "{this} merged into this ticket by {agent}; its requester and participants now get this ticket's replies"
        ),
    });
    d.mails.push(Mail::Merged { into });
    d.mails.push(Mail::MergedHere { survivor: into });
}

fn decide_requester_reply(
    t: &TicketState,
    author: &Author,
    text: &str,
    message_ref: &str,
    now: i64,
    desk: &DeskConfig,
    proof: AnswerProof,
) -> Decision {
    let mut d = Decision {
        message_kind: MessageKind::Reply,
        ..Decision::default()
    };
    let mut state = t.clone();
    let from_requester_side = matches!(author, Author::Requester | Author::Participant);

    if state.status == Status::Closed {
        // Within the reopen window (later replies open a new ticket before this).
        reopen(&mut d, &mut state);
        d.event("reopened", "reopened by a reply after closing");
        d.mails.push(Mail::StatusChange(Status::Open));
        push_notice(&mut d, &state, desk, Notice::Reopened, text);
        return d;
    }

    let is_requester = *author == Author::Requester;
    let answer_pending = state.authorization.is_some() || state.status == Status::Resolved;
    if from_requester_side && answer_pending {
        let (proven, reads_as_answer) = match &state.authorization {
            Some(_) => (
                proof.authorization,
                consent::consent_in(text) != Consent::Unclear,
            ),
            None => (proof.confirmation, true),
        };
        if !(is_requester && proven) {
            return unverified_answer(d, state, author, text, message_ref, desk, reads_as_answer);
        }
    }

    if let (Some(what), true) = (state.authorization.clone(), from_requester_side) {
        match consent::consent_in(text) {
            Consent::Approved => {
                d.changes.push(Change::Authorization(None));
                d.event(
                    "authorization",
                    format!(
                        "APPROVED at {} by reply {message_ref}: {what}",
                        crate::clock::format_time(now)
                    ),
                );
                push_notice(&mut d, &state, desk, Notice::AuthorizationApproved, text);
            }
            Consent::Refused => {
                d.changes.push(Change::Authorization(None));
                d.event(
                    "authorization",
                    format!(
                        "REFUSED at {} by reply {message_ref}: {what}",
                        crate::clock::format_time(now)
                    ),
                );
                push_notice(&mut d, &state, desk, Notice::AuthorizationRefused, text);
            }
            Consent::Unclear => {
                d.event(
                    "authorization",
                    format!("answer {message_ref} is not a clear yes or no: asked again"),
                );
                d.mails
                    .push(Mail::AuthorizationRequest { what, again: true });
                push_notice(&mut d, &state, desk, Notice::RequesterReply, text);
            }
        }
        if state.status == Status::Waiting {
            set_status(&mut d, &mut state, Status::Open);
        }
        return d;
    }

    if state.status == Status::Resolved && from_requester_side {
        match consent::confirmation_in(text) {
            Confirmation::Confirmed => {
                d.event(
                    "confirmation",
                    format!("requester confirmed the resolution ({message_ref})"),
                );
                close(&mut d, &mut state, now, false);
                push_notice(&mut d, &state, desk, Notice::Confirmed, text);
            }
            Confirmation::NotConfirmed => {
                d.event(
                    "confirmation",
                    format!("requester says it is not fixed ({message_ref}): reopened"),
                );
                reopen(&mut d, &mut state);
                push_notice(&mut d, &state, desk, Notice::StillFailing, text);
            }
        }
        return d;
    }

    if state.status == Status::Waiting && from_requester_side {
        set_status(&mut d, &mut state, Status::Open);
    }
    push_notice(&mut d, &state, desk, Notice::RequesterReply, text);
    d
}

/// A reply that would answer our authorisation or confirmation request but does not
/// prove it (see [`AnswerProof`]), or comes from someone other than the requester:
/// kept as an ordinary message, nothing recorded, and the agents are told.
fn unverified_answer(
    mut d: Decision,
    mut state: TicketState,
    author: &Author,
    text: &str,
    message_ref: &str,
    desk: &DeskConfig,
    reads_as_answer: bool,
) -> Decision {
    let asked = if state.authorization.is_some() {
        "authorisation"
    } else {
        "confirmation"
    };
    if state.status == Status::Waiting {
        set_status(&mut d, &mut state, Status::Open);
    }
    if !reads_as_answer {
        push_notice(&mut d, &state, desk, Notice::RequesterReply, text);
        return d;
    }
    let why = if *author == Author::Requester {
        "it is not a reply to our request mail and no DKIM/SPF pass vouches for its sender"
    } else {
        "only the requester can answer it"
    };
    d.event(
        "security",
        format!("reply {message_ref} reads as an answer to the {asked} request but could not be verified ({why}): not recorded"),
    );
    push_notice(&mut d, &state, desk, Notice::UnverifiedAnswer, text);
    d
}

fn push_notice(d: &mut Decision, t: &TicketState, desk: &DeskConfig, notice: Notice, text: &str) {
    let to = agents_to_notify(t, desk, None);
    if !to.is_empty() {
        d.mails.push(Mail::AgentNotice {
            to,
            notice,
            text: text.to_string(),
        });
    }
}

/// A resolved ticket whose confirmation request went unanswered: closed, with a
/// closing mail. Anything else is left alone (the timer is stale).
pub fn decide_auto_close(t: &TicketState, now: i64) -> Decision {
    let mut d = Decision {
        message_kind: MessageKind::default(),
        ..Decision::default()
    };
    if t.status == Status::Resolved {
        let mut state = t.clone();
        d.event(
            "auto_closed",
            "no answer to the confirmation request: closed",
        );
        close(&mut d, &mut state, now, true);
    } else {
        d.changes.push(Change::AutoCloseAt(None));
    }
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::desk::roster::{LifecycleConfig, Team};

    fn named(s: &str) -> NamedAddress {
        crate::desk::roster::parse_named_address(s).unwrap()
    }

    pub(crate) fn desk() -> DeskConfig {
        DeskConfig {
            macros: Vec::new(),
            dashboard_url: None,
            change: Default::default(),
            other_addresses: Vec::new(),
            routes: Vec::new(),
            support_address: "support@example.test".into(),
            support_name: "Example Support".into(),
            token_prefix: "TP".into(),
            agents: vec![
                named("Ann Lee <ann@example.test>"),
                named("bob@example.test"),
            ],
            supervisors: vec![named("Sue <sue@example.test>")],
            teams: vec![Team {
                name: "network".into(),
                members: vec![named("Nick <nick@example.test>")],
            }],
            message_id_domain: "example.test".into(),
            lifecycle: LifecycleConfig::default(),
            triage: Default::default(),
            oncall: vec![],
            default_language: "en".into(),
            max_participants: crate::desk::roster::DEFAULT_MAX_PARTICIPANTS,
        }
    }

    fn ticket(status: Status) -> TicketState {
        TicketState {
            id: 7,
            status,
            priority: Priority::P3,
            requester: "req@x.test".into(),
            assignee: None,
            team: None,
            participants: vec!["cc@x.test".into()],
            authorization: None,
            resolution: None,
            closed_at: None,
        }
    }

    fn ann() -> Author {
        Author::Staff {
            address: "ann@example.test".into(),
            name: "Ann Lee".into(),
        }
    }

    #[test]
    fn authors_are_classified() {
        let d = desk();
        let t = ticket(Status::Open);
        assert_eq!(Author::of("ANN@example.test", &t, &d), ann());
        assert!(
            matches!(Author::of("nick@example.test", &t, &d), Author::Staff { name, .. } if name == "Nick")
        );
        assert!(matches!(
            Author::of("sue@example.test", &t, &d),
            Author::Staff { .. }
        ));
        assert_eq!(Author::of("req@x.test", &t, &d), Author::Requester);
        assert_eq!(Author::of("cc@x.test", &t, &d), Author::Participant);
        assert_eq!(Author::of("who@y.test", &t, &d), Author::Other);
    }

    #[test]
    fn agent_reply_with_priority_is_relayed_and_assigns() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/priority P2\nPlease restart the spooler.",
            "m1",
            100,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.contains(&Change::Priority(Priority::P2)));
        assert!(
            d.changes
                .contains(&Change::Assignee("ann@example.test".into()))
        );
        assert!(d.changes.contains(&Change::FirstResponse));
        assert_eq!(
            d.mails,
            vec![Mail::Relay {
                agent_name: "Ann Lee".into(),
                text: "Please restart the spooler.".into()
            }]
        );
    }

    #[test]
    fn commands_only_are_not_relayed_and_are_no_first_response() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/status pending",
            "m1",
            100,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.changes[0], Change::Status(Status::Pending));
        assert!(!d.changes.contains(&Change::FirstResponse));
        assert_eq!(d.mails, vec![Mail::StatusChange(Status::Pending)]);
    }

    #[test]
    fn files_without_text_are_relayed_but_a_note_keeps_them_inside() {
        let with_files = CommandFacts {
            carries_files: true,
            ..CommandFacts::default()
        };
        let reply = |text: &str| {
            decide_reply_with_facts(
                &ticket(Status::Open),
                &ann(),
                text,
                "m1",
                100,
                &desk(),
                AnswerProof::VERIFIED,
                &with_files,
            )
        };
        let d = reply("/priority P2");
        assert!(
            d.mails
                .iter()
                .any(|m| matches!(m, Mail::Relay { text, .. } if text.is_empty())),
            "{:?}",
            d.mails
        );
        assert!(d.changes.contains(&Change::FirstResponse));
        let d = reply("/note\nthe log, for us");
        assert!(!d.mails.iter().any(|m| matches!(m, Mail::Relay { .. })));
    }

    #[test]
    fn note_goes_to_other_agents_only() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/note\nChecked the logs.",
            "m1",
            100,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.message_kind, MessageKind::Note);
        assert_eq!(
            d.mails,
            vec![Mail::AgentNotice {
                to: vec!["bob@example.test".into(), "nick@example.test".into()],
                notice: Notice::Note,
                text: "Checked the logs.".into()
            }]
        );
    }

    #[test]
    fn bad_command_changes_nothing_and_tells_the_agent() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/priority P9\nHello",
            "m1",
            100,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.is_empty());
        assert!(
            matches!(&d.mails[..], [Mail::CommandError { to, errors }] if to == "ann@example.test" && errors[0].contains("P9"))
        );
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/assign nobody\nHello",
            "m1",
            100,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.is_empty());
        assert!(
            matches!(&d.mails[..], [Mail::CommandError { errors, .. }] if errors[0].contains("nobody"))
        );
    }

    #[test]
    fn resolve_then_confirm_closes() {
        let desk = desk();
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/resolve Replaced the toner",
            "m1",
            100,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.contains(&Change::Status(Status::Resolved)));
        assert!(
            d.changes
                .contains(&Change::AutoCloseAt(Some(100 + 5 * 86_400)))
        );
        assert_eq!(
            d.mails,
            vec![Mail::ConfirmationRequest {
                summary: "Replaced the toner".into()
            }]
        );
        let mut t = ticket(Status::Resolved);
        t.assignee = Some("ann@example.test".into());
        let d = decide_reply(
            &t,
            &Author::Requester,
            "Yes, it works now. Thanks!",
            "m2",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.final_status(t.status), Status::Closed);
        assert!(d.mails.contains(&Mail::Closing { auto: false }));
        let d = decide_reply(
            &t,
            &Author::Requester,
            "Sorry, still broken.",
            "m3",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.final_status(t.status), Status::Open);
        assert!(d.mails.iter().any(|m| matches!(m, Mail::AgentNotice { to, notice: Notice::StillFailing, .. } if to == &vec!["ann@example.test".to_string()])));
    }

    #[test]
    fn silence_closes_a_resolved_ticket_only() {
        let d = decide_auto_close(&ticket(Status::Resolved), 500);
        assert!(d.changes.contains(&Change::Status(Status::Closed)));
        assert!(d.mails.contains(&Mail::Closing { auto: true }));
        let d = decide_auto_close(&ticket(Status::Open), 500);
        assert_eq!(d.changes, vec![Change::AutoCloseAt(None)]);
        assert!(d.mails.is_empty());
    }

    #[test]
    fn authorisation_answers() {
        let desk = desk();
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/authorize Reinstall the VPN client",
            "m1",
            100,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.contains(&Change::Authorization(Some(
            "Reinstall the VPN client".into()
        ))));
        let mut t = ticket(Status::Open);
        t.authorization = Some("Reinstall the VPN client".into());
        let d = decide_reply(
            &t,
            &Author::Requester,
            "同意",
            "<m2@x>",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.contains(&Change::Authorization(None)));
        assert!(
            d.events.iter().any(|(k, e)| *k == "authorization"
                && e.contains("APPROVED")
                && e.contains("<m2@x>"))
        );
        let d = decide_reply(
            &t,
            &Author::Requester,
            "what would that change?",
            "m3",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(!d.changes.contains(&Change::Authorization(None)));
        assert!(d.mails.contains(&Mail::AuthorizationRequest {
            what: "Reinstall the VPN client".into(),
            again: true
        }));
        // A stranger cannot consent.
        let d = decide_reply(
            &t,
            &Author::Other,
            "yes",
            "m4",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(!d.changes.contains(&Change::Authorization(None)));
    }

    #[test]
    fn an_answer_without_proof_is_kept_but_not_recorded() {
        let desk = desk();
        let mut t = ticket(Status::Waiting);
        t.authorization = Some("Wipe the laptop".into());
        let unproven = AnswerProof::default();
        for author in [Author::Requester, Author::Participant] {
            let d = decide_reply(&t, &author, "Yes, I approve.", "m1", 200, &desk, unproven);
            assert!(
                !d.changes.contains(&Change::Authorization(None)),
                "{author:?}"
            );
            assert!(
                d.events
                    .iter()
                    .any(|(k, e)| *k == "security" && e.contains("could not be verified"))
            );
            assert!(d.mails.iter().any(|m| matches!(
                m,
                Mail::AgentNotice {
                    notice: Notice::UnverifiedAnswer,
                    ..
                }
            )));
            // Still an ordinary message: a waiting ticket is open again.
            assert_eq!(d.final_status(t.status), Status::Open);
        }
        // Proof for the other request does not do.
        let other = AnswerProof {
            authorization: false,
            confirmation: true,
        };
        let d = decide_reply(&t, &Author::Requester, "Yes", "m2", 200, &desk, other);
        assert!(!d.changes.contains(&Change::Authorization(None)));
        // A participant cannot consent even with proof.
        let d = decide_reply(
            &t,
            &Author::Participant,
            "Yes",
            "m3",
            200,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(!d.changes.contains(&Change::Authorization(None)));
        // A question is no answer: an ordinary reply, no warning.
        let d = decide_reply(
            &t,
            &Author::Requester,
            "what would that change?",
            "m4",
            200,
            &desk,
            unproven,
        );
        assert!(d.mails.iter().any(|m| matches!(
            m,
            Mail::AgentNotice {
                notice: Notice::RequesterReply,
                ..
            }
        )));
        // A confirmation without proof neither closes nor reopens.
        let t = ticket(Status::Resolved);
        for text in ["Thanks, it works now.", "Still broken."] {
            let d = decide_reply(&t, &Author::Requester, text, "m5", 200, &desk, unproven);
            assert_eq!(d.final_status(t.status), Status::Resolved, "{text}");
            assert!(d.mails.iter().any(|m| matches!(
                m,
                Mail::AgentNotice {
                    notice: Notice::UnverifiedAnswer,
                    ..
                }
            )));
        }
    }

    #[test]
    fn staff_are_never_participants_and_participants_are_capped() {
        let mut desk = desk();
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/cc ann@example.test",
            "m1",
            100,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(
            !d.changes
                .iter()
                .any(|c| matches!(c, Change::AddParticipant(_)))
        );
        assert!(
            matches!(&d.mails[..], [Mail::CommandError { errors, .. }] if errors[0].contains("staff"))
        );
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/cc support@example.test",
            "m2",
            100,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(matches!(&d.mails[..], [Mail::CommandError { .. }]));
        desk.max_participants = 1;
        let mut t = ticket(Status::Open);
        t.participants = vec!["first@x.test".into()];
        let d = decide_reply(
            &t,
            &ann(),
            "/cc second@x.test",
            "m3",
            100,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert!(
            !d.changes
                .iter()
                .any(|c| matches!(c, Change::AddParticipant(_)))
        );
        assert!(
            matches!(&d.mails[..], [Mail::CommandError { errors, .. }] if errors[0].contains("max_participants"))
        );
    }

    #[test]
    fn closed_tickets_reopen_within_the_window_only() {
        let desk = desk();
        let mut t = ticket(Status::Closed);
        t.closed_at = Some(1000);
        assert!(!reply_reopens_or_starts_new(&t, 1000 + 14 * 86_400, &desk));
        assert!(reply_reopens_or_starts_new(&t, 1001 + 14 * 86_400, &desk));
        let d = decide_reply(
            &t,
            &Author::Requester,
            "It broke again",
            "m",
            2000,
            &desk,
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.final_status(t.status), Status::Open);
        assert!(d.mails.contains(&Mail::StatusChange(Status::Open)));
    }

    #[test]
    fn requester_reply_on_waiting_ticket_reopens_and_notifies_the_team() {
        let mut t = ticket(Status::Waiting);
        t.team = Some("network".into());
        let d = decide_reply(
            &t,
            &Author::Requester,
            "Here is the log",
            "m",
            10,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.changes, vec![Change::Status(Status::Open)]);
        assert!(
            matches!(&d.mails[..], [Mail::AgentNotice { to, notice: Notice::RequesterReply, .. }] if to == &vec!["nick@example.test".to_string()])
        );
    }

    #[test]
    fn escalation_and_cc() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/team network\n/cc boss@x.test",
            "m",
            10,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert!(d.changes.contains(&Change::Team("network".into())));
        assert!(
            d.changes
                .contains(&Change::AddParticipant("boss@x.test".into()))
        );
        assert!(d.mails.iter().any(|m| matches!(
            m,
            Mail::AgentNotice {
                notice: Notice::Escalated,
                ..
            }
        )));
    }

    #[test]
    fn kb_replies_are_parsed_into_sections_and_not_relayed() {
        let d = decide_reply(
            &ticket(Status::Open),
            &ann(),
            "/kb\nProblem: VPN drops hourly\nCause: idle timeout 60 min\nSteps:\n1. checked logs\n2. raised timeout\nSolution: keep-alive 30 s",
            "m",
            10,
            &desk(),
            AnswerProof::VERIFIED,
        );
        assert_eq!(d.message_kind, MessageKind::Kb);
        assert!(d.mails.is_empty(), "{:?}", d.mails);
        assert_eq!(
            d.changes,
            vec![Change::Knowledge(KbDraft {
                problem: "VPN drops hourly".into(),
                cause: "idle timeout 60 min".into(),
                steps: "1. checked logs\n2. raised timeout".into(),
                solution: "keep-alive 30 s".into(),
                lessons: String::new(),
            })]
        );
        let zh = parse_kb_sections("问题：打印机空白页\n解决：更换硒鼓");
        assert_eq!(
            (zh.problem.as_str(), zh.solution.as_str()),
            ("打印机空白页", "更换硒鼓")
        );
        assert_eq!(
            parse_kb_sections("Just restart it.").solution,
            "Just restart it."
        );
    }

    fn agent_with(text: &str, facts: &CommandFacts, desk: &DeskConfig) -> Decision {
        decide_reply_with_facts(
            &ticket(Status::Open),
            &ann(),
            text,
            "m",
            100,
            desk,
            AnswerProof::default(),
            facts,
        )
    }

    fn known(tickets: &[(i64, &[i64])]) -> CommandFacts {
        CommandFacts {
            tickets: tickets
                .iter()
                .map(|(id, chain)| merge::NamedTicket {
                    id: *id,
                    chain: chain.to_vec(),
                })
                .collect(),
            kb: vec![merge::KbSolution {
                id: 3,
                solution: "Clear the print queue, then restart the spooler.".into(),
                author: String::new(),
            }],
            carries_files: false,
            change: None,
        }
    }

    fn command_errors(d: &Decision) -> Vec<String> {
        assert_eq!(d.message_kind, MessageKind::RejectedCommands, "{d:?}");
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        match d.mails.as_slice() {
            [Mail::CommandError { to, errors }] => {
                assert_eq!(to, "ann@example.test");
                errors.clone()
            }
            other => panic!("expected one command error, got {other:?}"),
        }
    }

    #[test]
    fn a_merge_closes_quietly_moves_the_requester_side_and_tells_them_once() {
        let d = agent_with("/merge TP-9", &known(&[(9, &[])]), &desk());
        assert!(d.changes.contains(&Change::Status(Status::Closed)));
        assert!(d.changes.contains(&Change::MergedInto {
            into: 9,
            participants: vec!["req@x.test".into(), "cc@x.test".into()],
            note: "TP-7 merged into this ticket by ann@example.test; its requester and participants now get this ticket's replies".into(),
        }));
        assert_eq!(
            d.mails,
            vec![Mail::Merged { into: 9 }, Mail::MergedHere { survivor: 9 }]
        );
        assert!(
            d.events
                .iter()
                .any(|(k, t)| *k == "merged" && t.contains("TP-9"))
        );
        assert_eq!(d.final_status(Status::Open), Status::Closed);
    }

    #[test]
    fn a_merge_follows_the_targets_chain_to_the_last_survivor() {
        let d = agent_with("/merge TP-9", &known(&[(9, &[12, 15])]), &desk());
        assert_eq!(
            d.mails,
            vec![Mail::Merged { into: 15 }, Mail::MergedHere { survivor: 15 }],
            "{:?}",
            d.changes
        );
    }

    #[test]
    fn merges_into_itself_an_unknown_ticket_or_a_loop_are_refused_naming_the_line() {
        let facts = known(&[(7, &[]), (9, &[7])]);
        let errors = command_errors(&agent_with("Done.\n/merge TP-7", &facts, &desk()));
        assert_eq!(
            errors,
            vec!["line 2: \"/merge TP-7\": cannot merge a ticket into itself".to_string()]
        );
        let errors = command_errors(&agent_with("/merge TP-40", &facts, &desk()));
        assert_eq!(
            errors,
            vec!["line 1: \"/merge TP-40\": no ticket TP-40".to_string()]
        );
        let errors = command_errors(&agent_with("/priority P1\n/merge tp-9", &facts, &desk()));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("line 2: \"/merge tp-9\""),
            "{errors:?}"
        );
        assert!(errors[0].contains("loop"), "{errors:?}");
    }

    #[test]
    fn a_link_is_recorded_on_both_sides() {
        let d = agent_with("/link TP-9", &known(&[(9, &[])]), &desk());
        assert_eq!(
            d.changes,
            vec![Change::Link {
                with: 9,
                note: "linked to TP-7 by ann@example.test".into()
            }]
        );
        assert!(d.mails.is_empty());
        assert!(d.events.contains(&("linked", "linked to TP-9".into())));
        let errors = command_errors(&agent_with("/link TP-8", &known(&[]), &desk()));
        assert_eq!(
            errors,
            vec!["line 1: \"/link TP-8\": no ticket TP-8".to_string()]
        );
    }

    #[test]
    fn reply_kb_puts_the_solution_in_the_relayed_text() {
        let d = agent_with("Hello Bob,\n/reply KB-3\nAnn", &known(&[]), &desk());
        assert_eq!(
            d.mails,
            vec![Mail::Relay {
                agent_name: "Ann Lee".into(),
                text: "Hello Bob,\nAnn\n\nClear the print queue, then restart the spooler.".into()
            }]
        );
        let errors = command_errors(&agent_with("/reply KB-4", &known(&[]), &desk()));
        assert_eq!(
            errors,
            vec!["line 1: \"/reply KB-4\": no knowledge-base entry KB-4".to_string()]
        );
    }

    #[test]
    fn a_macro_relays_its_text_and_runs_its_commands() {
        let mut d = desk();
        d.macros.push(merge::Macro {
            name: "need-logs".into(),
            text: "Please send us the log file.".into(),
            commands: vec!["/status waiting".into(), "/priority P2".into()],
        });
        let decision = agent_with("Hi Bob,\n/macro NEED-LOGS", &known(&[]), &d);
        assert!(decision.changes.contains(&Change::Status(Status::Waiting)));
        assert!(decision.changes.contains(&Change::Priority(Priority::P2)));
        assert!(decision.mails.contains(&Mail::Relay {
            agent_name: "Ann Lee".into(),
            text: "Hi Bob,\n\nPlease send us the log file.".into()
        }));
        assert!(
            decision
                .mails
                .contains(&Mail::StatusChange(Status::Waiting))
        );

        let errors = command_errors(&agent_with("/macro nope", &known(&[]), &d));
        assert_eq!(
            errors,
            vec!["line 1: \"/macro nope\": no macro \"nope\" (configured: need-logs)".to_string()]
        );
        // The macro's commands are checked with the agent's: a conflict is reported on
        // the /macro line.
        let errors = command_errors(&agent_with("/close\n/macro need-logs", &known(&[]), &d));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("line 2: \"/macro need-logs\""),
            "{errors:?}"
        );
        assert!(errors[0].contains("conflicts with"), "{errors:?}");
    }
}
