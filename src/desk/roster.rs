//! The desk's roster and settings: who the agents, supervisors and teams are, which
//! addresses are the desk's own, and the staff checks the rules make (`is_staff`,
//! `all_agents`, `team`). Config reads the file and fills these in; the desk's rules
//! take them as they are. No I/O.

/// A mailbox with an optional display name, as written in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedAddress {
    pub name: Option<String>,
    /// Lower-cased address.
    pub address: String,
}

#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub support_address: String,
    pub support_name: String,
    pub token_prefix: String,
    pub agents: Vec<NamedAddress>,
    pub supervisors: Vec<NamedAddress>,
    /// `[teams]`: name → members, in file order. Members count as agents.
    pub teams: Vec<Team>,
    /// The domain of our own Message-IDs (the support address's domain).
    pub message_id_domain: String,
    pub lifecycle: LifecycleConfig,
    /// `[triage]`: what sets a request's priority besides the built-in words.
    pub triage: super::triage::TriageConfig,
    /// `[triage] oncall`: agents alerted with the supervisors when a ticket is P1.
    pub oncall: Vec<NamedAddress>,
    /// The language requester mail falls back to (`[templates] language`).
    pub default_language: String,
    /// `[desk] other_addresses`: more addresses that are the desk's (it@, hr@ …):
    /// mail to them is support mail, mail from them is our own.
    pub other_addresses: Vec<String>,
    /// `[[route]]`: team, priority and tags for new tickets, in order.
    pub routes: Vec<super::routing::Route>,
    /// `[limits] max_participants`: people a ticket copies besides its requester.
    pub max_participants: usize,
    /// `[[macro]]`: canned replies agents apply with `/macro <name>`.
    pub macros: Vec<Macro>,
    /// `[http] public_url` when `[http]` is on: agents' mails link a withheld
    /// attachment at `<dashboard_url>/tickets/TP-n/files/N`.
    pub dashboard_url: Option<String>,
    /// `[change]`: which tickets need a reviewed change plan, and the zone change
    /// windows are written in (`[sla] time_zone`).
    pub change: super::change_plan::ChangeRules,
}

/// A `[[macro]]`: a canned reply an agent applies with `/macro <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    /// Matched without regard to case.
    pub name: String,
    /// Relayed as if the agent had written it (after the agent's own text).
    pub text: String,
    /// Command lines run with the reply's own (`/status waiting`, `/priority P2` ...).
    pub commands: Vec<String>,
}

/// Participants a ticket takes when `[limits] max_participants` is not set.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 20;

/// A team that tickets can be routed or escalated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    pub members: Vec<NamedAddress>,
}

/// `[lifecycle]`: how long the desk waits on requesters, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// A resolved ticket with no answer to its confirmation request closes after this.
    pub auto_close_after: i64,
    /// A reply to a closed ticket within this reopens it; later, it opens a new ticket.
    pub reopen_window: i64,
    /// `[desk] collision_window`: an agent's public reply this soon after another
    /// agent's relay to the same requester message is held (`desk::follow_up`).
    pub collision_window: i64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            auto_close_after: 5 * 86_400,
            reopen_window: 14 * 86_400,
            collision_window: 600,
        }
    }
}

impl DeskConfig {
    /// The support address, then `other_addresses`.
    pub fn own_addresses(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.support_address.as_str())
            .chain(self.other_addresses.iter().map(String::as_str))
    }

    /// Whether `address` (any case) is one of our own addresses.
    pub fn is_own_address(&self, address: &str) -> bool {
        self.own_addresses()
            .any(|a| a.eq_ignore_ascii_case(address))
    }

    /// Every agent: `[desk] agents`, then team members not listed there, once each.
    pub fn all_agents(&self) -> Vec<&NamedAddress> {
        let mut all: Vec<&NamedAddress> = Vec::new();
        for a in self
            .agents
            .iter()
            .chain(self.teams.iter().flat_map(|t| t.members.iter()))
        {
            if !all.iter().any(|b| b.address == a.address) {
                all.push(a);
            }
        }
        all
    }

    /// The agent (or team member) with this address, any case.
    pub fn agent(&self, address: &str) -> Option<&NamedAddress> {
        self.all_agents()
            .into_iter()
            .find(|a| a.address.eq_ignore_ascii_case(address))
    }

    /// Whether the address belongs to the desk's staff (agents and supervisors), whose
    /// replies are agent replies.
    pub fn is_staff(&self, address: &str) -> bool {
        self.agent(address).is_some()
            || self
                .supervisors
                .iter()
                .any(|s| s.address.eq_ignore_ascii_case(address))
    }

    /// Finds an agent by address, display name or local part (any case).
    pub fn resolve_agent(&self, who: &str) -> Option<&NamedAddress> {
        let who = who.trim().trim_start_matches('@');
        let agents = self.all_agents();
        agents
            .iter()
            .find(|a| a.address.eq_ignore_ascii_case(who))
            .or_else(|| {
                agents.iter().find(|a| {
                    a.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(who))
                })
            })
            .or_else(|| {
                agents.iter().find(|a| {
                    a.address
                        .split('@')
                        .next()
                        .is_some_and(|l| l.eq_ignore_ascii_case(who))
                })
            })
            .copied()
    }

    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// Parses `addr@example.test` or `Ann Lee <addr@example.test>`.
pub fn parse_named_address(s: &str) -> std::result::Result<NamedAddress, String> {
    let s = s.trim();
    let (name, address) = match (s.find('<'), s.rfind('>')) {
        (Some(open), Some(close)) if open < close && s[close + 1..].trim().is_empty() => {
            let name = s[..open].trim().trim_matches('"').trim();
            (
                if name.is_empty() {
                    None
                } else {
                    Some(name.to_string())
                },
                s[open + 1..close].trim(),
            )
        }
        (None, None) => (None, s),
        _ => {
            return Err(format!(
                "{s:?} is not an address (expected \"Name <addr@domain>\" or \"addr@domain\")"
            ));
        }
    };
    match address.rsplit_once('@') {
        Some((l, d))
            if !l.is_empty() && !d.is_empty() && !address.contains(char::is_whitespace) =>
        {
            Ok(NamedAddress {
                name,
                address: address.to_ascii_lowercase(),
            })
        }
        _ => Err(format!(
            "{s:?} is not an address (expected \"Name <addr@domain>\" or \"addr@domain\")"
        )),
    }
}
