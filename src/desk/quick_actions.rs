//! Agent quick actions: the `/status`, `/priority`, `/assign`, `/merge`, `/macro` ... lines
//! an agent puts in a reply from their mail client (GitLab quick-action style). This module owns what
//! counts as a command line, the syntax of each command, the conflicts between them, and
//! the reply text left once the command lines are taken out. Checking `/assign` and
//! `/team` against the configured agents and teams, and `/merge`, `/link`, `/reply` and
//! `/macro` against the store and the config (`desk::merge`), is the caller's job.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::status::{Priority, Status};

/// One quick action from an agent's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/status open|waiting|pending|resolved|closed`
    Status(Status),
    /// `/priority P1..P4`
    Priority(Priority),
    /// `/assign <agent>`, the agent as typed (trimmed).
    Assign(String),
    /// `/team <team>`, the team as typed (trimmed).
    Team(String),
    /// `/note`: the whole reply is an internal note, not sent to the requester.
    Note,
    /// `/resolve <summary>`: resolved, with the summary of the fix.
    Resolve(String),
    /// `/close`
    Close,
    /// `/reopen`
    Reopen,
    /// `/authorize <what will be done>` (or `/authorise`): ask the requester's consent.
    Authorize(String),
    /// `/cc <address>`: the bare address, also when given as `Name <address>`.
    Cc(String),
    /// `/kb`: the whole reply is the ticket's knowledge-base entry (sections headed
    /// Problem:/Cause:/Steps:/Solution:); internal, like a note.
    Kb,
    /// `/send`: relay the reply of the sender's that the collision guard held on this
    /// ticket, although another agent answered just before.
    Send,
    /// `/merge TP-n`: this ticket is merged into TP-n (the token as typed, trimmed).
    Merge(String),
    /// `/link TP-n`: this ticket is related to TP-n (the token as typed, trimmed).
    Link(String),
    /// `/reply KB-n`: that knowledge-base entry's solution goes into the relayed text.
    Reply(i64),
    /// `/macro <name>`: a `[[macro]]`'s text is relayed and its commands run.
    Macro(String),
    /// `/requester <address>` or `/requester Name <address>`: the ticket is that
    /// person's (the address lower-cased).
    Requester {
        address: String,
        name: Option<String>,
    },
    /// `/time 30m` (`1h15m`, `45 min`, `2h`): minutes the agent spent on the ticket.
    Time(u32),
    /// `/kb approve KB-n`: another agent's knowledge-base entry is approved.
    KbApprove(i64),
    /// `/plan`: the reply (sections Change:, Risk:, Backup:, Rollback:, Window:) is the
    /// ticket's change plan; internal (`desk::change_review`).
    Plan,
    /// `/review <agent>`: a second agent is asked to review the plan.
    Review(String),
    /// `/approve`: the plan is approved (not by its author).
    Approve,
    /// `/reject <why>`: the plan is rejected.
    Reject(String),
    /// `/done <result>`: the change was carried out.
    Done(String),
    /// `/rollback <why>`: the change was rolled back.
    Rollback(String),
}

impl Command {
    /// The status the ticket ends in because of this command, for the commands that
    /// set one.
    pub fn target_status(&self) -> Option<Status> {
        match self {
            Command::Status(status) => Some(*status),
            Command::Resolve(_) => Some(Status::Resolved),
            Command::Close => Some(Status::Closed),
            Command::Reopen => Some(Status::Open),
            _ => None,
        }
    }
}

impl fmt::Display for Command {
    /// The canonical command line, e.g. `/priority P2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status(status) => write!(f, "/status {status}"),
            Command::Priority(priority) => write!(f, "/priority {priority}"),
            Command::Assign(agent) => write!(f, "/assign {agent}"),
            Command::Team(team) => write!(f, "/team {team}"),
            Command::Note => f.write_str("/note"),
            Command::Resolve(summary) => write!(f, "/resolve {summary}"),
            Command::Close => f.write_str("/close"),
            Command::Reopen => f.write_str("/reopen"),
            Command::Authorize(what) => write!(f, "/authorize {what}"),
            Command::Cc(address) => write!(f, "/cc {address}"),
            Command::Kb => f.write_str("/kb"),
            Command::Send => f.write_str("/send"),
            Command::Merge(token) => write!(f, "/merge {token}"),
            Command::Link(token) => write!(f, "/link {token}"),
            Command::Reply(id) => write!(f, "/reply KB-{id}"),
            Command::Macro(name) => write!(f, "/macro {name}"),
            Command::Requester {
                address,
                name: Some(name),
            } => write!(f, "/requester {name} <{address}>"),
            Command::Requester { address, .. } => write!(f, "/requester {address}"),
            Command::Time(minutes) => write!(f, "/time {}", super::worklog::spent_text(*minutes)),
            Command::KbApprove(id) => write!(f, "/kb approve KB-{id}"),
            Command::Plan => f.write_str("/plan"),
            Command::Review(agent) => write!(f, "/review {agent}"),
            Command::Approve => f.write_str("/approve"),
            Command::Reject(why) => write!(f, "/reject {why}"),
            Command::Done(result) => write!(f, "/done {result}"),
            Command::Rollback(why) => write!(f, "/rollback {why}"),
        }
    }
}

/// An agent's reply split into its commands and the text for the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReply {
    /// In the order written; exact repeats are kept once.
    pub commands: Vec<Command>,
    /// The reply with command lines removed, surrounding blank lines tidied, trimmed.
    /// Lines are joined with `\n` whatever the input used.
    pub text: String,
}

impl AgentReply {
    /// The reply is an internal note (`/note`): not sent to the requester.
    pub fn is_note(&self) -> bool {
        self.commands.contains(&Command::Note)
    }

    /// `/kb`: the reply is the ticket's knowledge-base entry.
    pub fn is_kb(&self) -> bool {
        self.commands.contains(&Command::Kb)
    }

    /// `/send`: relay the reply the collision guard held.
    pub fn is_send(&self) -> bool {
        self.commands.contains(&Command::Send)
    }

    /// No text is left once the commands are taken out (also true of an empty reply).
    pub fn only_commands(&self) -> bool {
        self.text.is_empty()
    }
}

/// A command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// 1-based line number in the input.
    pub line_number: usize,
    /// The offending line, trimmed.
    pub line: String,
    /// What is wrong, in words for the agent.
    pub reason: String,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {:?}: {}",
            self.line_number, self.line, self.reason
        )
    }
}

impl std::error::Error for CommandError {}

/// A command line: optional leading white space, `/`, ASCII letters (the name), then
/// white space or the end of the line. `/etc/hosts` or `/usr/bin/foo` are not commands.
static COMMAND_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*/([A-Za-z]+)(?:\s(.*))?$").expect("command line pattern is valid")
});

/// `Display Name <address>` or `<address>`.
static NAMED_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^<>]*<([^<>]*)>$").expect("named address pattern is valid"));

/// A plausible single email address: a local part without spaces or separators, `@`,
/// and a domain of at least two dot-separated labels.
static EMAIL_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^[^\s@<>()\[\],;:"\\]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)+$"#,
    )
    .expect("email address pattern is valid")
});

const KNOWN_COMMANDS: &str = "/status, /priority, /assign, /team, /note, /resolve, /close, \
     /reopen, /authorize, /cc, /requester, /kb, /kb approve, /merge, /link, /reply, /macro, \
     /time, /send, /plan, /review, /approve, /reject, /done or /rollback";

/// The command names, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommandName {
    Status,
    Priority,
    Assign,
    Team,
    Note,
    Resolve,
    Close,
    Reopen,
    Authorize,
    Cc,
    Kb,
    Send,
    Merge,
    Link,
    Reply,
    Macro,
    Requester,
    Time,
    Plan,
    Review,
    Approve,
    Reject,
    Done,
    Rollback,
}

impl CommandName {
    fn from_typed(name: &str) -> Option<CommandName> {
        Some(match name.to_ascii_lowercase().as_str() {
            "status" => CommandName::Status,
            "priority" => CommandName::Priority,
            "assign" => CommandName::Assign,
            "team" => CommandName::Team,
            "note" => CommandName::Note,
            "resolve" => CommandName::Resolve,
            "close" => CommandName::Close,
            "reopen" => CommandName::Reopen,
            "authorize" | "authorise" => CommandName::Authorize,
            "cc" => CommandName::Cc,
            "kb" => CommandName::Kb,
            "send" => CommandName::Send,
            "merge" => CommandName::Merge,
            "link" => CommandName::Link,
            "reply" => CommandName::Reply,
            "macro" => CommandName::Macro,
            "requester" => CommandName::Requester,
            "time" => CommandName::Time,
            "plan" => CommandName::Plan,
            "review" => CommandName::Review,
            "approve" => CommandName::Approve,
            "reject" => CommandName::Reject,
            "done" => CommandName::Done,
            "rollback" => CommandName::Rollback,
            _ => return None,
        })
    }

    /// What a command that needs an argument says when it has none; `None` for the
    /// commands that take no argument.
    fn missing_argument(self) -> Option<&'static str> {
        Some(match self {
            CommandName::Status => {
                "/status needs a status (open, waiting, pending, resolved or closed)"
            }
            CommandName::Priority => "/priority needs a priority (P1, P2, P3 or P4)",
            CommandName::Assign => "/assign needs an agent",
            CommandName::Team => "/team needs a team",
            CommandName::Resolve => "/resolve needs a summary of the fix",
            CommandName::Authorize => "/authorize needs a description of what will be done",
            CommandName::Cc => "/cc needs an email address",
            CommandName::Merge => "/merge needs the ticket to merge into (TP-n)",
            CommandName::Link => "/link needs the related ticket (TP-n)",
            CommandName::Reply => "/reply needs a knowledge-base entry (KB-n)",
            CommandName::Macro => "/macro needs the name of a [[macro]]",
            CommandName::Requester => "/requester needs an email address",
            CommandName::Time => "/time needs the time spent (30m, 1h15m, 45 min, 2h)",
            CommandName::Review => "/review needs the agent to review the plan",
            CommandName::Reject => "/reject needs the reason",
            CommandName::Done => "/done needs the result",
            CommandName::Rollback => "/rollback needs the reason",
            CommandName::Note
            | CommandName::Close
            | CommandName::Reopen
            | CommandName::Kb
            | CommandName::Send
            | CommandName::Plan
            | CommandName::Approve => {
                return None;
            }
        })
    }

    fn build(self, typed_name: &str, argument: &str) -> Result<Command, String> {
        let argument = argument.trim();
        // `/kb` alone makes the reply an entry; `/kb approve KB-n` approves one.
        if self == CommandName::Kb && !argument.is_empty() {
            return kb_approve(argument);
        }
        match self.missing_argument() {
            Some(message) if argument.is_empty() => return Err(message.to_string()),
            None if !argument.is_empty() => {
                return Err(format!(
                    "/{} takes no argument",
                    typed_name.to_ascii_lowercase()
                ));
            }
            _ => {}
        }
        Ok(match self {
            CommandName::Status => Command::Status(argument.parse()?),
            CommandName::Priority => Command::Priority(argument.parse()?),
            CommandName::Assign => Command::Assign(argument.to_string()),
            CommandName::Team => Command::Team(argument.to_string()),
            CommandName::Note => Command::Note,
            CommandName::Resolve => Command::Resolve(argument.to_string()),
            CommandName::Close => Command::Close,
            CommandName::Reopen => Command::Reopen,
            CommandName::Authorize => Command::Authorize(argument.to_string()),
            CommandName::Cc => Command::Cc(cc_address(argument)?),
            CommandName::Kb => Command::Kb,
            CommandName::Send => Command::Send,
            CommandName::Merge => Command::Merge(argument.to_string()),
            CommandName::Link => Command::Link(argument.to_string()),
            CommandName::Reply => Command::Reply(kb_id(argument)?),
            CommandName::Time => Command::Time(super::worklog::parse_spent(argument)?),
            CommandName::Macro => Command::Macro(argument.to_string()),
            CommandName::Requester => {
                let address = cc_address(argument)
                    .map_err(|e| e.replace("per /cc", "per /requester"))?
                    .to_ascii_lowercase();
                let name = argument
                    .split_once('<')
                    .map(|(name, _)| name.trim().trim_matches('"').trim().to_string())
                    .filter(|n| !n.is_empty());
                Command::Requester { address, name }
            }
            CommandName::Plan => Command::Plan,
            CommandName::Review => Command::Review(argument.to_string()),
            CommandName::Approve => Command::Approve,
            CommandName::Reject => Command::Reject(argument.to_string()),
            CommandName::Done => Command::Done(argument.to_string()),
            CommandName::Rollback => Command::Rollback(argument.to_string()),
        })
    }
}

/// The address of a `/cc` argument: `a@b.example` or `Name <a@b.example>`.
fn cc_address(argument: &str) -> Result<String, String> {
    let address = NAMED_ADDRESS
        .captures(argument)
        .and_then(|caps| caps.get(1))
        .map_or(argument, |m| m.as_str())
        .trim();
    if EMAIL_ADDRESS.is_match(address) {
        Ok(address.to_string())
    } else {
        Err(format!(
            "{argument:?} is not an email address (one address per /cc, as \
             name@example.org or Name <name@example.org>)"
        ))
    }
}

/// The argument of `/kb` when it is not alone: `approve KB-n` (`desk::kb_review`).
fn kb_approve(argument: &str) -> Result<Command, String> {
    let mut words = argument.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(verb), Some(entry), None) if verb.eq_ignore_ascii_case("approve") => {
            Ok(Command::KbApprove(kb_id(entry)?))
        }
        (Some(verb), None, None) if verb.eq_ignore_ascii_case("approve") => {
            Err("/kb approve needs a knowledge-base entry (KB-n)".to_string())
        }
        _ => Err(format!(
            "/kb takes no argument, or \"approve KB-n\" (not {argument:?})"
        )),
    }
}

/// The entry of a `/reply` argument: `KB-3`, `kb-3`, `KB3` or `3`.
fn kb_id(argument: &str) -> Result<i64, String> {
    let number = match argument.get(..2) {
        Some(head) if head.eq_ignore_ascii_case("kb") => argument[2..].trim_start_matches('-'),
        _ => argument,
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{argument:?} is not a knowledge-base entry (use KB-n)"))
}

/// Two commands that cannot both be carried out: a different value for the same thing,
/// or different resulting statuses (`/close` with `/reopen`, `/resolve` with
/// `/status open` ...).
fn conflict(earlier: &Command, later: &Command) -> bool {
    if let (Some(a), Some(b)) = (earlier.target_status(), later.target_status())
        && a != b
    {
        return true;
    }
    // A merge closes the ticket its own way: no other status alongside it.
    let merge_and_status =
        |a: &Command, b: &Command| matches!(a, Command::Merge(_)) && b.target_status().is_some();
    if merge_and_status(earlier, later) || merge_and_status(later, earlier) {
        return true;
    }
    match (earlier, later) {
        (Command::Priority(a), Command::Priority(b)) => a != b,
        (Command::Merge(a), Command::Merge(b)) => !a.eq_ignore_ascii_case(b),
        (Command::Assign(a), Command::Assign(b))
        | (Command::Team(a), Command::Team(b))
        | (Command::Resolve(a), Command::Resolve(b))
        | (Command::Authorize(a), Command::Authorize(b))
        | (Command::Review(a), Command::Review(b))
        | (Command::Reject(a), Command::Reject(b))
        | (Command::Done(a), Command::Done(b))
        | (Command::Rollback(a), Command::Rollback(b)) => a != b,
        // One verdict and one outcome per reply.
        (Command::Approve, Command::Reject(_))
        | (Command::Reject(_), Command::Approve)
        | (Command::Done(_), Command::Rollback(_))
        | (Command::Rollback(_), Command::Done(_)) => true,
        (Command::Requester { address: a, .. }, Command::Requester { address: b, .. }) => a != b,
        // One `/time` per reply (see `desk::worklog`): two, even equal, are refused.
        (Command::Time(_), Command::Time(_)) => true,
        _ => false,
    }
}

/// Two commands that do the same thing: the same command written twice, or two ways of
/// setting the same status (`/close` and `/status closed`). Only one of them is kept, so
/// the result holds at most one status-setting command.
fn same_effect(earlier: &Command, later: &Command) -> bool {
    match (earlier, later) {
        (Command::Cc(a), Command::Cc(b))
        | (Command::Merge(a), Command::Merge(b))
        | (Command::Link(a), Command::Link(b))
        | (Command::Macro(a), Command::Macro(b)) => a.eq_ignore_ascii_case(b),
        _ => {
            earlier == later
                || earlier
                    .target_status()
                    .is_some_and(|status| later.target_status() == Some(status))
        }
    }
}

/// A line of the reply once commands are recognised.
enum ReplyLine<'a> {
    Text(&'a str),
    Command,
}

/// Splits an agent's reply (already trimmed of quotes and signatures) into its commands
/// and its text. Every unusable command line is reported, in line order; a command that
/// conflicts with an earlier one is reported on its own (the later) line.
pub fn parse_agent_reply(trimmed: &str) -> Result<AgentReply, Vec<CommandError>> {
    let normalised = trimmed.replace("\r\n", "\n").replace('\r', "\n");
    let mut accepted: Vec<(Command, &str, usize)> = Vec::new();
    let mut errors = Vec::new();
    let mut lines = Vec::new();

    for (index, line) in normalised.split('\n').enumerate() {
        let line_number = index + 1;
        let Some(caps) = COMMAND_LINE.captures(line) else {
            lines.push(ReplyLine::Text(line));
            continue;
        };
        lines.push(ReplyLine::Command);
        let typed_name = caps.get(1).map_or("", |m| m.as_str());
        let argument = caps.get(2).map_or("", |m| m.as_str());
        let shown_line = line.trim();
        let error = |reason: String| CommandError {
            line_number,
            line: shown_line.to_string(),
            reason,
        };

        let Some(name) = CommandName::from_typed(typed_name) else {
            errors.push(error(format!(
                "unknown command \"/{typed_name}\" (use {KNOWN_COMMANDS})"
            )));
            continue;
        };
        let command = match name.build(typed_name, argument) {
            Ok(command) => command,
            Err(reason) => {
                errors.push(error(reason));
                continue;
            }
        };
        if let Some((_, earlier_line, earlier_number)) = accepted
            .iter()
            .find(|(earlier, _, _)| conflict(earlier, &command))
        {
            errors.push(error(format!(
                "conflicts with {earlier_line:?} on line {earlier_number}"
            )));
            continue;
        }
        if let Some(earlier) = accepted
            .iter_mut()
            .find(|(earlier, _, _)| same_effect(earlier, &command))
        {
            // `/resolve <summary>` says more than `/status resolved`: keep the summary.
            if matches!(command, Command::Resolve(_)) {
                *earlier = (command, shown_line, line_number);
            }
            continue;
        }
        accepted.push((command, shown_line, line_number));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AgentReply {
        commands: accepted
            .into_iter()
            .map(|(command, _, _)| command)
            .collect(),
        text: tidy_text(&lines),
    })
}

/// Joins the text lines back together. Where command lines were taken out, the blank
/// lines around them collapse to at most one (none if the command sat directly between
/// two text lines); blank lines elsewhere are left as written. The result is trimmed.
fn tidy_text(lines: &[ReplyLine<'_>]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let gap_start = index;
        let mut removed_command = false;
        let mut blank_lines = 0;
        while let Some(line) = lines.get(index) {
            match line {
                ReplyLine::Command => removed_command = true,
                ReplyLine::Text(text) if text.trim().is_empty() => blank_lines += 1,
                ReplyLine::Text(_) => break,
            }
            index += 1;
        }
        if index > gap_start {
            if removed_command {
                if blank_lines > 0 {
                    kept.push("");
                }
            } else {
                kept.extend(std::iter::repeat_n("", blank_lines));
            }
        }
        if let Some(ReplyLine::Text(text)) = lines.get(index) {
            kept.push(text);
            index += 1;
        }
    }
    kept.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> AgentReply {
        match parse_agent_reply(input) {
            Ok(reply) => reply,
            Err(errors) => panic!("unexpected errors for {input:?}: {errors:?}"),
        }
    }

    fn errors(input: &str) -> Vec<CommandError> {
        match parse_agent_reply(input) {
            Ok(reply) => panic!("expected errors for {input:?}, got {reply:?}"),
            Err(errors) => errors,
        }
    }

    fn single_error(input: &str) -> CommandError {
        let mut all = errors(input);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn every_command_is_recognised() {
        let reply = parsed(
            "/status waiting\n/priority P2\n/assign ann\n/team network\n/note\n\
             /authorize restart the laptop tonight\n/cc boss@example.test",
        );
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Waiting),
                Command::Priority(Priority::P2),
                Command::Assign("ann".into()),
                Command::Team("network".into()),
                Command::Note,
                Command::Authorize("restart the laptop tonight".into()),
                Command::Cc("boss@example.test".into()),
            ]
        );
        assert!(reply.is_note());
        assert!(reply.only_commands());

        assert_eq!(
            parsed("/resolve replaced the toner").commands,
            vec![Command::Resolve("replaced the toner".into())]
        );
        assert_eq!(parsed("/close").commands, vec![Command::Close]);
        assert_eq!(parsed("/reopen").commands, vec![Command::Reopen]);
    }

    #[test]
    fn every_status_and_priority_value() {
        for status in Status::ALL {
            let reply = parsed(&format!("/status {status}"));
            assert_eq!(reply.commands, vec![Command::Status(status)]);
        }
        for priority in Priority::ALL {
            let reply = parsed(&format!("/priority {priority}"));
            assert_eq!(reply.commands, vec![Command::Priority(priority)]);
        }
        assert_eq!(
            parsed("/priority p1").commands,
            vec![Command::Priority(Priority::P1)]
        );
        assert_eq!(
            parsed("/status RESOLVED").commands,
            vec![Command::Status(Status::Resolved)]
        );
    }

    #[test]
    fn names_are_case_insensitive_and_authorise_is_accepted() {
        let reply = parsed("/STATUS open\n/Priority P4\n/AuThOrIsE wipe the disk");
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Open),
                Command::Priority(Priority::P4),
                Command::Authorize("wipe the disk".into()),
            ]
        );
        assert_eq!(
            parsed("/authorise reset MFA").commands,
            vec![Command::Authorize("reset MFA".into())]
        );
    }

    #[test]
    fn text_around_commands_is_kept_and_tidied() {
        let reply = parsed(
            "Hi Bob,\n\nI replaced the cable.\n\n/status waiting\n/priority P3\n\n\
             Please try again.\n\nAnn",
        );
        assert_eq!(
            reply.text,
            "Hi Bob,\n\nI replaced the cable.\n\nPlease try again.\n\nAnn"
        );
        assert!(!reply.only_commands());
        assert!(!reply.is_note());

        // A command directly between two text lines leaves no gap.
        assert_eq!(parsed("first\n/close\nsecond").text, "first\nsecond");
        // Leading and trailing command lines and blanks vanish.
        assert_eq!(parsed("\n/close\n\n  text  \n\n/note\n").text, "text");
        // Blank lines not next to a command are left as written.
        assert_eq!(parsed("a\n\n\nb\n/close").text, "a\n\n\nb");
    }

    #[test]
    fn chinese_text_around_commands() {
        let reply = parsed(
            "王先生，您好：\n\n打印机的硒鼓已经更换。\n/status resolved\n/assign 张三\n\
             /team 网络组\n\n请确认是否正常。",
        );
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Resolved),
                Command::Assign("张三".into()),
                Command::Team("网络组".into()),
            ]
        );
        assert_eq!(
            reply.text,
            "王先生，您好：\n\n打印机的硒鼓已经更换。\n\n请确认是否正常。"
        );
        assert_eq!(
            parsed("/resolve 已重置密码\n已处理").commands,
            vec![Command::Resolve("已重置密码".into())]
        );
        // An ideographic space separates a command from its argument too.
        assert_eq!(
            parsed("/assign\u{3000}李四").commands,
            vec![Command::Assign("李四".into())]
        );
    }

    #[test]
    fn crlf_input() {
        let reply = parsed("Done.\r\n\r\n/status resolved\r\n/cc a@x.test\r\n\r\nBye\r\n");
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Resolved),
                Command::Cc("a@x.test".into())
            ]
        );
        assert_eq!(reply.text, "Done.\n\nBye");
        let error = single_error("text\r\n/priority P7\r\n");
        assert_eq!(error.line_number, 2);
        assert_eq!(error.line, "/priority P7");
    }

    #[test]
    fn trailing_and_leading_spaces() {
        let reply =
            parsed("   /status   pending   \n\t/assign  ann  \n/priority p1 \t\n/note   \n");
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Pending),
                Command::Assign("ann".into()),
                Command::Priority(Priority::P1),
                Command::Note,
            ]
        );
        assert!(reply.only_commands());
        // The line is shown trimmed in errors.
        let error = single_error("  /priority   P0  ");
        assert_eq!(error.line, "/priority   P0");
    }

    #[test]
    fn arguments_are_kept_as_given() {
        assert_eq!(
            parsed("/assign Ann Smith").commands,
            vec![Command::Assign("Ann Smith".into())]
        );
        assert_eq!(
            parsed("/team @Network-Ops").commands,
            vec![Command::Team("@Network-Ops".into())]
        );
        assert_eq!(
            parsed("/resolve Reset the VPN profile; /close was not needed").commands,
            vec![Command::Resolve(
                "Reset the VPN profile; /close was not needed".into()
            )]
        );
    }

    #[test]
    fn paths_and_slashes_are_not_commands() {
        let input = "/usr/bin/foo missing\n/etc/hosts\n  /var/log/syslog is full\n\
                     /\n/ status open\n/p1\n/status:open\nsee a/b and /c-d\nhttp://x.test/close";
        let reply = parsed(input);
        assert!(reply.commands.is_empty());
        assert_eq!(reply.text, input);
    }

    #[test]
    fn cc_forms() {
        assert_eq!(
            parsed("/cc Bob Boss <bob@example.test>").commands,
            vec![Command::Cc("bob@example.test".into())]
        );
        assert_eq!(
            parsed("/cc \"Boss, Bob\" <bob@example.test>").commands,
            vec![Command::Cc("bob@example.test".into())]
        );
        assert_eq!(
            parsed("/cc <bob@sub.example.test>").commands,
            vec![Command::Cc("bob@sub.example.test".into())]
        );
        assert_eq!(
            parsed("/cc 王五 <wangwu@例子.测试>").commands,
            vec![Command::Cc("wangwu@例子.测试".into())]
        );
        // The same address twice (any case) is kept once.
        assert_eq!(
            parsed("/cc a@x.test\n/cc A@X.test\n/cc b@x.test").commands,
            vec![
                Command::Cc("a@x.test".into()),
                Command::Cc("b@x.test".into())
            ]
        );
    }

    #[test]
    fn error_unknown_command() {
        let error = single_error("hello\n/frobnicate now");
        assert_eq!(error.line_number, 2);
        assert_eq!(error.line, "/frobnicate now");
        assert!(error.reason.contains("unknown command \"/frobnicate\""));
        assert!(error.reason.contains("/authorize"));
    }

    #[test]
    fn error_missing_argument() {
        for (input, expected) in [
            ("/status", "/status needs a status"),
            ("/priority", "/priority needs a priority"),
            ("/priority   ", "/priority needs a priority"),
            ("/assign", "/assign needs an agent"),
            ("/team", "/team needs a team"),
            ("/resolve", "/resolve needs a summary"),
            ("/authorize", "/authorize needs a description"),
            ("/authorise \t", "/authorize needs a description"),
            ("/cc", "/cc needs an email address"),
        ] {
            let error = single_error(input);
            assert!(error.reason.contains(expected), "{input:?}: {error}");
        }
    }

    #[test]
    fn error_unexpected_argument() {
        for (input, expected) in [
            ("/note this is internal", "/note takes no argument"),
            ("/close now", "/close takes no argument"),
            ("/REOPEN please", "/reopen takes no argument"),
        ] {
            let error = single_error(input);
            assert_eq!(error.reason, expected);
        }
    }

    #[test]
    fn error_bad_values() {
        let error = single_error("/priority P7");
        assert!(
            error.reason.starts_with("unknown priority \"P7\""),
            "{error}"
        );
        let error = single_error("/status done");
        assert!(
            error.reason.starts_with("unknown status \"done\""),
            "{error}"
        );
        for bad in [
            "/cc bob",
            "/cc bob@localhost",
            "/cc a@x.test, b@x.test",
            "/cc Bob <not an address>",
            "/cc bob@@x.test",
            "/cc <bob@x.test",
        ] {
            let error = single_error(bad);
            assert!(error.reason.contains("is not an email address"), "{bad}");
        }
    }

    #[test]
    fn error_conflicts_name_the_second_line() {
        let error = single_error("/status open\ntext\n/status closed");
        assert_eq!(error.line_number, 3);
        assert_eq!(error.line, "/status closed");
        assert_eq!(error.reason, "conflicts with \"/status open\" on line 1");

        for (input, second_line) in [
            ("/priority P1\n/priority P2", 2),
            ("/assign ann\n/assign bob", 2),
            ("/team a\n/team b", 2),
            ("/resolve fixed it\n/resolve replaced it", 2),
            ("/authorize restart\n/authorize wipe", 2),
            ("/close\n/reopen", 2),
            ("/resolve new cable\n\n/status open", 3),
            ("/status waiting\n/close", 2),
        ] {
            let error = single_error(input);
            assert_eq!(error.line_number, second_line, "{input:?}");
            assert!(error.reason.starts_with("conflicts with"), "{input:?}");
        }
    }

    #[test]
    fn agreeing_repeats_are_not_conflicts() {
        let reply =
            parsed("/status closed\n/close\n/close\n/priority p2\n/priority P2\n/note\n/note");
        assert_eq!(
            reply.commands,
            vec![
                Command::Status(Status::Closed),
                Command::Priority(Priority::P2),
                Command::Note,
            ]
        );
        assert_eq!(
            parsed("/reopen\n/status open").commands,
            vec![Command::Reopen]
        );
        // At most one status-setting command survives; a summary is never lost.
        assert_eq!(
            parsed("/status resolved\n/assign ann\n/resolve new fuser").commands,
            vec![
                Command::Resolve("new fuser".into()),
                Command::Assign("ann".into())
            ]
        );
        assert_eq!(
            parsed("/resolve new fuser\n/status resolved").commands,
            vec![Command::Resolve("new fuser".into())]
        );
    }

    #[test]
    fn all_bad_lines_are_reported_in_order() {
        let all = errors(
            "Hi,\n/priority P9\n/status open\n/bogus\nok\n/status closed\n/cc nobody\n/close",
        );
        let numbers: Vec<usize> = all.iter().map(|e| e.line_number).collect();
        // The /close on line 8 conflicts with the /status open on line 3.
        assert_eq!(numbers, vec![2, 4, 6, 7, 8]);
    }

    #[test]
    fn display_of_an_error() {
        let error = single_error("a\nb\n/priority P7");
        assert_eq!(
            error.to_string(),
            "line 3: \"/priority P7\": unknown priority \"P7\" (use P1, P2, P3 or P4)"
        );
    }

    #[test]
    fn display_of_commands_reparses() {
        let commands = vec![
            Command::Status(Status::Pending),
            Command::Priority(Priority::P1),
            Command::Assign("ann".into()),
            Command::Team("desk".into()),
            Command::Note,
            Command::Authorize("reboot".into()),
            Command::Cc("a@x.test".into()),
        ];
        let text: Vec<String> = commands.iter().map(ToString::to_string).collect();
        assert_eq!(parsed(&text.join("\n")).commands, commands);
        for single in [
            Command::Resolve("done".into()),
            Command::Close,
            Command::Reopen,
        ] {
            assert_eq!(parsed(&single.to_string()).commands, vec![single]);
        }
    }

    #[test]
    fn merge_link_reply_and_macro_are_recognised() {
        let reply =
            parsed("/merge TP-7\n/link tp-3\n/reply KB-12\n/reply kb4\n/macro printer reset");
        assert_eq!(
            reply.commands,
            vec![
                Command::Merge("TP-7".into()),
                Command::Link("tp-3".into()),
                Command::Reply(12),
                Command::Reply(4),
                Command::Macro("printer reset".into()),
            ]
        );
        for command in &reply.commands {
            assert_eq!(parsed(&command.to_string()).commands, vec![command.clone()]);
        }
        for (input, expected) in [
            ("/merge", "/merge needs the ticket"),
            ("/link", "/link needs the related ticket"),
            ("/reply", "/reply needs a knowledge-base entry"),
            ("/macro", "/macro needs the name"),
            ("/reply KB-x", "is not a knowledge-base entry"),
            ("/reply TP-3", "is not a knowledge-base entry"),
            ("/reply KB-0", "is not a knowledge-base entry"),
        ] {
            let error = single_error(input);
            assert!(error.reason.contains(expected), "{input:?}: {error}");
        }
    }

    #[test]
    fn a_merge_conflicts_with_a_status_and_another_merge() {
        for input in [
            "/merge TP-2\n/close",
            "/close\n/merge TP-2",
            "/resolve done\n/merge TP-2",
            "/merge TP-2\n/merge TP-3",
        ] {
            let error = single_error(input);
            assert_eq!(error.line_number, 2, "{input:?}");
            assert!(error.reason.starts_with("conflicts with"), "{input:?}");
        }
        assert_eq!(
            parsed("/merge TP-2\n/merge tp-2").commands,
            vec![Command::Merge("TP-2".into())]
        );
    }

    #[test]
    fn empty_and_plain_replies() {
        let reply = parsed("");
        assert!(reply.commands.is_empty());
        assert!(reply.only_commands());
        let reply = parsed("Just text, 没有命令。");
        assert!(reply.commands.is_empty());
        assert_eq!(reply.text, "Just text, 没有命令。");
    }

    #[test]
    fn requester_takes_one_address_with_or_without_a_name() {
        let reply = parse_agent_reply("/requester Carol Diaz <Carol@Customer.test>\nthanks")
            .expect("parses");
        assert_eq!(
            reply.commands,
            vec![Command::Requester {
                address: "carol@customer.test".into(),
                name: Some("Carol Diaz".into())
            }]
        );
        assert_eq!(reply.text, "thanks");
        let reply = parse_agent_reply("/requester carol@customer.test").expect("parses");
        assert_eq!(
            reply.commands[0].to_string(),
            "/requester carol@customer.test"
        );
        for bad in [
            "/requester",
            "/requester carol",
            "/requester a@x.test b@x.test",
        ] {
            assert!(parse_agent_reply(bad).is_err(), "{bad}");
        }
        assert!(
            parse_agent_reply("/requester a@x.test\n/requester b@x.test").is_err(),
            "two requesters conflict"
        );
    }

    #[test]
    fn change_review_commands_are_recognised_and_conflicts_refused() {
        let reply = parsed(
            "/plan\nChange: x\n/review bob\n/approve\n/done it works\nWindow: 2026-12-05 22:00-23:00",
        );
        assert_eq!(
            reply.commands,
            vec![
                Command::Plan,
                Command::Review("bob".into()),
                Command::Approve,
                Command::Done("it works".into()),
            ]
        );
        assert_eq!(reply.text, "Change: x\nWindow: 2026-12-05 22:00-23:00");
        assert_eq!(Command::Rollback("why".into()).to_string(), "/rollback why");
        assert!(single_error("/reject").reason.contains("needs the reason"));
        assert!(
            single_error("/approve now")
                .reason
                .contains("takes no argument")
        );
        assert!(
            single_error("/approve\n/reject no")
                .reason
                .contains("conflicts")
        );
        assert!(
            single_error("/done ok\n/rollback no")
                .reason
                .contains("conflicts")
        );
    }
}
