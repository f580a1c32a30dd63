//! Knowledge reviewed before it is offered (stage 5): entries written from `/resolve`
//! and `/kb` are drafts until another agent approves them, by `/kb approve KB-n` in a
//! reply on any ticket (or `ticketpost kb approve`). This module owns the command's
//! syntax and the rule that an entry's author cannot approve it; the state is stored
//! by `store::kb` (an edit makes an entry a draft again), and only approved entries
//! are offered to requesters (ingest's intake).

use super::merge::CommandFacts;

/// An approval to record: `entry` approved by `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub entry: i64,
    pub by: String,
}

/// Why `agent` may not approve an entry written by `author`, if they may not.
pub fn refusal(entry: i64, author: &str, agent: &str) -> Option<String> {
    author.trim().eq_ignore_ascii_case(agent.trim()).then(|| {
        format!(
            "KB-{entry} not approved: you wrote (or last edited) it, and an entry is approved by another agent"
        )
    })
}

/// `/kb approve KB-n` by `agent`: the timeline kind and entry, and the approval or
/// the reason it is refused (mailed back to the agent). The entry exists: checked
/// with the reply's other commands.
pub fn approve(
    entry: i64,
    agent: &str,
    facts: &CommandFacts,
) -> (&'static str, String, Result<Approval, String>) {
    let author = facts
        .kb
        .iter()
        .find(|k| k.id == entry)
        .map_or("", |k| k.author.as_str());
    match refusal(entry, author, agent) {
        Some(why) => ("kb", why.clone(), Err(why)),
        None => (
            "kb",
            format!("KB-{entry} approved by {agent}"),
            Ok(Approval {
                entry,
                by: agent.to_string(),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::merge::KbSolution;
    use crate::desk::quick_actions::{Command, parse_agent_reply};

    fn facts() -> CommandFacts {
        CommandFacts {
            kb: vec![KbSolution {
                id: 3,
                solution: "New toner.".into(),
                author: "ann@example.test".into(),
            }],
            ..CommandFacts::default()
        }
    }

    #[test]
    fn approve_is_a_kb_command_with_an_entry() {
        for text in ["/kb approve KB-3", "/KB Approve kb3", "/kb approve 3"] {
            let reply = parse_agent_reply(text).unwrap();
            assert_eq!(reply.commands, vec![Command::KbApprove(3)], "{text}");
            assert!(!reply.is_kb(), "approving is not writing an entry");
        }
        assert_eq!(Command::KbApprove(3).to_string(), "/kb approve KB-3");
        for (text, why) in [
            ("/kb approve", "needs a knowledge-base entry"),
            ("/kb approve TP-3", "is not a knowledge-base entry"),
            ("/kb approve KB-3 KB-4", "/kb takes no argument, or"),
            ("/kb publish KB-3", "/kb takes no argument, or"),
        ] {
            let errors = parse_agent_reply(text).unwrap_err();
            assert!(errors[0].reason.contains(why), "{text}: {}", errors[0]);
        }
        // `/kb` alone still makes the reply an entry.
        assert!(parse_agent_reply("/kb\nSolution: x").unwrap().is_kb());
    }

    #[test]
    fn another_agent_approves_the_author_is_refused() {
        let (_, event, approval) = approve(3, "bob@example.test", &facts());
        assert_eq!(event, "KB-3 approved by bob@example.test");
        assert_eq!(
            approval,
            Ok(Approval {
                entry: 3,
                by: "bob@example.test".into()
            })
        );
        let (_, _, refused) = approve(3, "ANN@example.test", &facts());
        let why = refused.unwrap_err();
        assert!(why.contains("you wrote (or last edited) it"), "{why}");
    }
}
