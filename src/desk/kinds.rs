//! The kinds of things the desk records and sends: how a stored message counts
//! ([`MessageKind`]) and which mail a decision queues ([`MailKind`]). Each has the
//! name the store, the outbox and the templates know it by.

/// How an inbound message is recorded on its ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageKind {
    /// The message that opened its ticket.
    Request,
    /// A reply from the requester, a participant or someone else on the thread.
    #[default]
    Reply,
    /// Automatic mail (bounces, auto-replies, lists, notifications): never answered.
    Automatic,
    /// Kept without mail: the ticket took its hourly limit of messages.
    LoopGuard,
    /// Mail in a staff member's name that did not prove its sender.
    Unverified,
    /// Mail from someone not on the ticket who used its token, held for an agent.
    Held,
    /// An agent's reply, relayed to the requester.
    AgentReply,
    /// An agent's reply whose commands were refused: nothing relayed or changed.
    RejectedCommands,
    /// An agent's knowledge-base entry.
    Kb,
    /// An internal note, to the other agents only.
    Note,
    /// An agent's look-up (`/show`, `/list`, `/search`), answered to them alone;
    /// stored without a ticket.
    Lookup,
    /// An agent's reply held by the collision guard (another agent answered just
    /// before); relayed by `/send`, when it becomes an agent reply.
    HeldReply,
}

impl MessageKind {
    /// The name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Reply => "reply",
            MessageKind::Automatic => "automatic",
            MessageKind::LoopGuard => "loop_guard",
            MessageKind::Unverified => "unverified",
            MessageKind::Held => "held",
            MessageKind::AgentReply => "agent_reply",
            MessageKind::RejectedCommands => "rejected_commands",
            MessageKind::Kb => "kb",
            MessageKind::Note => "note",
            MessageKind::Lookup => "lookup",
            MessageKind::HeldReply => "held_reply",
        }
    }

    /// The name in words, for the timeline.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::LoopGuard => "loop guard",
            MessageKind::AgentReply => "agent reply",
            MessageKind::RejectedCommands => "rejected commands",
            MessageKind::HeldReply => "held reply",
            other => other.as_str(),
        }
    }
}

/// A mail the desk queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// To the requester of a new ticket, with its token.
    Acknowledgement,
    /// To supervisors and on-call agents when a ticket is P1.
    UrgentAlert,
    /// To an agent: a new ticket, a reply, a note, a warning.
    AgentNotice,
    /// To the sender of a message over the size limit.
    SizeNotice,
    /// An agent's reply, to the requester and each participant.
    Relay,
    /// A status change the requester should know about.
    Status,
    AuthorizationRequest,
    ConfirmationRequest,
    Closing,
    /// To an agent whose reply had bad commands.
    CommandError,
    /// To the people who answer for a ticket whose SLA clock is at risk or breached.
    SlaAlert,
    /// The supervisors' daily SLA digest.
    SlaDigest,
    /// The answer to an agent's look-up, to that agent alone.
    LookupAnswer,
    /// To the agents: a look-up in a staff member's name did not prove its sender.
    LookupUnverified,
    /// To the requester side of a ticket merged into another.
    Merged,
    /// To the requester of the ticket another was merged into.
    MergedHere,
    /// Change review: a plan, a review request, a verdict, the window's reminder or
    /// alert (`desk::change_review`), to agents and supervisors.
    ChangeNotice,
}

impl MailKind {
    /// The name the outbox, the templates and our signed Message-IDs use.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Acknowledgement => "acknowledgement",
            MailKind::UrgentAlert => "urgent_alert",
            MailKind::AgentNotice => "agent_notice",
            MailKind::SizeNotice => "size_notice",
            MailKind::Relay => "relay",
            MailKind::Status => "status",
            MailKind::AuthorizationRequest => "authorization_request",
            MailKind::ConfirmationRequest => "confirmation_request",
            MailKind::Closing => "closing",
            MailKind::CommandError => "command_error",
            MailKind::SlaAlert => "sla_alert",
            MailKind::SlaDigest => "sla_digest",
            MailKind::LookupAnswer => "lookup_answer",
            MailKind::LookupUnverified => "lookup_unverified",
            MailKind::Merged => "merged",
            MailKind::MergedHere => "merged_here",
            MailKind::ChangeNotice => "change_notice",
        }
    }
}

impl std::fmt::Display for MailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_labels_are_words() {
        assert_eq!(MessageKind::LoopGuard.label(), "loop guard");
        assert_eq!(MessageKind::AgentReply.label(), "agent reply");
        assert_eq!(MessageKind::Request.label(), "request");
        assert_eq!(
            MailKind::AuthorizationRequest.to_string(),
            "authorization_request"
        );
    }
}
