//! Merging and linking tickets (`/merge TP-n`, `/link TP-n`) and the canned texts an
//! agent's reply can pull in (`/reply KB-n`, `/macro <name>`): the facts ingest gathers
//! about the tickets and knowledge-base entries a reply names, the checks that refuse a
//! merge into itself, into an unknown ticket or round a loop, and the resolution of a
//! merge chain to its last survivor.
//!
//! Pure: reading the store is ingest's job, writing the outcome the writer's; the
//! lifecycle calls these while it decides an agent's reply.

use super::quick_actions::{self, AgentReply, Command};
use super::roster::DeskConfig;
pub use super::roster::Macro;
use super::threading;

/// A ticket an agent's command names, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedTicket {
    pub id: i64,
    /// The tickets it was merged into, hop by hop (itself not included): empty when it
    /// was not merged; the last is the survivor.
    pub chain: Vec<i64>,
}

/// A knowledge-base entry an agent's `/reply KB-n` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbSolution {
    pub id: i64,
    pub solution: String,
    /// Who wrote (or last edited) the entry: they cannot approve it.
    pub author: String,
}

/// What ingest read, before deciding, about an agent's reply: the tickets and
/// knowledge-base entries it names (one missing here does not exist), and whether it
/// carries files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandFacts {
    pub tickets: Vec<NamedTicket>,
    pub kb: Vec<KbSolution>,
    /// The reply has attached files (not inline images such as a signature's logo):
    /// it is relayed for them even when it holds no text besides commands.
    pub carries_files: bool,
    /// The ticket's change plan, if it has one (`desk::change_review`).
    pub change: Option<super::change_plan::ChangePlan>,
}

impl CommandFacts {
    fn ticket(&self, id: i64) -> Option<&NamedTicket> {
        self.tickets.iter().find(|t| t.id == id)
    }

    /// The solution of `KB-id`, if the entry exists.
    pub fn kb_solution(&self, id: i64) -> Option<&str> {
        self.kb
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.solution.as_str())
    }
}

/// Where mail for a ticket goes: the last ticket of its merge chain, else itself.
pub fn last_survivor(id: i64, chain: &[i64]) -> i64 {
    chain.last().copied().unwrap_or(id)
}

/// The ticket `/merge <argument>` on ticket `this` merges into (the last survivor of
/// the named ticket's chain), or why it is refused.
pub fn merge_target(
    this: i64,
    argument: &str,
    facts: &CommandFacts,
    desk: &DeskConfig,
) -> Result<i64, String> {
    let (target, named) = named_ticket(argument, facts, desk)?;
    let token = threading::token(&desk.token_prefix, target);
    if target == this {
        return Err("cannot merge a ticket into itself".to_string());
    }
    if named.chain.contains(&this) {
        return Err(format!(
            "{token} is already merged into this ticket: merging would make a loop"
        ));
    }
    Ok(last_survivor(target, &named.chain))
}

/// The ticket `/link <argument>` on ticket `this` links to (a merged ticket's survivor),
/// or why it is refused.
pub fn link_target(
    this: i64,
    argument: &str,
    facts: &CommandFacts,
    desk: &DeskConfig,
) -> Result<i64, String> {
    let (target, named) = named_ticket(argument, facts, desk)?;
    let token = threading::token(&desk.token_prefix, target);
    if target == this {
        return Err("cannot link a ticket to itself".to_string());
    }
    let survivor = last_survivor(target, &named.chain);
    if survivor == this || named.chain.contains(&this) {
        return Err(format!("{token} is merged into this ticket already"));
    }
    Ok(survivor)
}

/// The ticket number an argument names and what is known of it.
fn named_ticket<'a>(
    argument: &str,
    facts: &'a CommandFacts,
    desk: &DeskConfig,
) -> Result<(i64, &'a NamedTicket), String> {
    let prefix = &desk.token_prefix;
    let target = ticket_number(argument, prefix)
        .ok_or_else(|| format!("{argument:?} is not a ticket token (use {prefix}-n)"))?;
    let named = facts
        .ticket(target)
        .ok_or_else(|| format!("no ticket {}", threading::token(prefix, target)))?;
    Ok((target, named))
}

/// `TP-42`, `[TP-42]` or `42`; another prefix (`XY-42`) is not ours.
fn ticket_number(argument: &str, prefix: &str) -> Option<i64> {
    let bare = argument
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if bare.chars().any(|c| c.is_ascii_alphabetic())
        && !bare
            .get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
    {
        return None;
    }
    threading::parse_token(bare, prefix)
}

/// The macro called `name` (any case).
pub fn find_macro<'a>(name: &str, desk: &'a DeskConfig) -> Option<&'a Macro> {
    desk.macros
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
}

/// What an agent's reply names, for ingest to look up before deciding: ticket numbers
/// of `/merge` and `/link`, and knowledge-base ids of `/reply` (also inside macros).
/// A reply that does not parse names nothing (it is refused anyway).
pub fn named_in(text: &str, desk: &DeskConfig) -> (Vec<i64>, Vec<i64>) {
    let Ok(reply) = quick_actions::parse_agent_reply(text) else {
        return (Vec::new(), Vec::new());
    };
    let mut commands: Vec<Command> = Vec::new();
    for command in reply.commands {
        match &command {
            Command::Macro(name) => {
                if let Some(m) = find_macro(name, desk)
                    && let Ok(inner) = quick_actions::parse_agent_reply(&m.commands.join("\n"))
                {
                    commands.extend(inner.commands);
                }
            }
            _ => commands.push(command),
        }
    }
    let mut tickets = Vec::new();
    let mut kb = Vec::new();
    for command in &commands {
        match command {
            Command::Merge(a) | Command::Link(a) => {
                tickets.extend(ticket_number(a, &desk.token_prefix));
            }
            Command::Reply(id) | Command::KbApprove(id) => kb.push(*id),
            _ => {}
        }
    }
    tickets.sort_unstable();
    tickets.dedup();
    kb.sort_unstable();
    kb.dedup();
    (tickets, kb)
}

/// The reply's text with the canned texts it asks for appended, in command order: each
/// `/reply KB-n` entry's solution and each macro's text. Unknown entries were refused
/// before this is called, and are skipped.
pub fn with_canned_text(
    reply: &AgentReply,
    macro_texts: &[String],
    facts: &CommandFacts,
) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !reply.text.trim().is_empty() {
        parts.push(reply.text.trim());
    }
    for command in &reply.commands {
        if let Command::Reply(id) = command
            && let Some(solution) = facts.kb_solution(*id)
            && !solution.trim().is_empty()
        {
            parts.push(solution.trim());
        }
    }
    parts.extend(
        macro_texts
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty()),
    );
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::lifecycle::tests::desk;

    fn facts(tickets: &[(i64, &[i64])]) -> CommandFacts {
        CommandFacts {
            tickets: tickets
                .iter()
                .map(|(id, chain)| NamedTicket {
                    id: *id,
                    chain: chain.to_vec(),
                })
                .collect(),
            kb: vec![KbSolution {
                id: 3,
                solution: "Restart the print spooler.".into(),
                author: String::new(),
            }],
            carries_files: false,
            change: None,
        }
    }

    #[test]
    fn a_merge_goes_to_the_last_survivor() {
        let d = desk();
        let f = facts(&[(2, &[]), (5, &[6, 7])]);
        assert_eq!(merge_target(1, "TP-2", &f, &d), Ok(2));
        assert_eq!(merge_target(1, "[tp-2]", &f, &d), Ok(2));
        assert_eq!(merge_target(1, "2", &f, &d), Ok(2));
        assert_eq!(merge_target(1, "TP-5", &f, &d), Ok(7));
        assert_eq!(last_survivor(4, &[]), 4);
        assert_eq!(last_survivor(4, &[8, 9]), 9);
    }

    #[test]
    fn a_merge_into_itself_an_unknown_ticket_or_a_loop_is_refused() {
        let d = desk();
        let f = facts(&[(1, &[]), (2, &[1]), (3, &[4, 1]), (4, &[1])]);
        let self_merge = merge_target(1, "TP-1", &f, &d).unwrap_err();
        assert!(self_merge.contains("into itself"), "{self_merge}");
        let unknown = merge_target(1, "TP-99", &f, &d).unwrap_err();
        assert_eq!(unknown, "no ticket TP-99");
        let looped = merge_target(1, "TP-2", &f, &d).unwrap_err();
        assert!(looped.contains("loop"), "{looped}");
        // Deeper chains too.
        assert!(
            merge_target(1, "TP-3", &f, &d)
                .unwrap_err()
                .contains("loop")
        );
        let foreign = merge_target(1, "XY-2", &f, &d).unwrap_err();
        assert!(foreign.contains("not a ticket token"), "{foreign}");
        assert!(merge_target(1, "soon", &f, &d).is_err());
    }

    #[test]
    fn links_are_checked_like_merges() {
        let d = desk();
        let f = facts(&[(1, &[]), (2, &[]), (5, &[1]), (6, &[7])]);
        assert_eq!(link_target(1, "TP-2", &f, &d), Ok(2));
        assert_eq!(link_target(1, "TP-6", &f, &d), Ok(7));
        assert!(
            link_target(1, "TP-1", &f, &d)
                .unwrap_err()
                .contains("itself")
        );
        assert_eq!(
            link_target(1, "TP-9", &f, &d).unwrap_err(),
            "no ticket TP-9"
        );
        assert!(
            link_target(1, "TP-5", &f, &d)
                .unwrap_err()
                .contains("merged into this")
        );
    }

    #[test]
    fn named_in_finds_tickets_and_kb_entries_also_inside_macros() {
        let mut d = desk();
        d.macros.push(Macro {
            name: "printer".into(),
            text: "Try the other tray.".into(),
            commands: vec!["/reply KB-8".into(), "/link TP-4".into()],
        });
        let (tickets, kb) = named_in(
            "Hi\n/merge TP-3\n/link tp-2\n/reply KB-3\n/macro PRINTER",
            &d,
        );
        assert_eq!(tickets, vec![2, 3, 4]);
        assert_eq!(kb, vec![3, 8]);
        assert_eq!(named_in("/bogus", &d), (Vec::new(), Vec::new()));
    }

    #[test]
    fn canned_text_follows_the_agents_own() {
        let f = facts(&[]);
        let reply = quick_actions::parse_agent_reply("Hello Bob,\n/reply KB-3").unwrap();
        assert_eq!(
            with_canned_text(&reply, &["Regards, the desk".into()], &f),
            "Hello Bob,\n\nRestart the print spooler.\n\nRegards, the desk"
        );
        let only = quick_actions::parse_agent_reply("/reply KB-3").unwrap();
        assert_eq!(
            with_canned_text(&only, &[], &f),
            "Restart the print spooler."
        );
    }
}
