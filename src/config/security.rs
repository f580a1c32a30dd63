//! `[security]`: when a mail from a member of staff counts as theirs, and what mail
//! from a stranger who knows a ticket's token does ([`SecurityConfig`],
//! [`StrangerPolicy`]). Checking the proofs is left to
//! `ingest`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawSecurity;

/// `[security]`: when a mail from a member of staff counts as theirs.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Commands (and relays) only from staff mail that proves its sender: a reply
    /// quoting one of our signed Message-IDs sent to them, or a DKIM/SPF pass from the
    /// trusted MTA. Default true.
    pub verify_staff: bool,
    /// The authserv-id of the MTA whose Authentication-Results are believed.
    pub trusted_authserv_id: Option<String>,
    /// What mail from someone not on a ticket that carries its token does.
    pub stranger_with_token: StrangerPolicy,
}

/// `[security] stranger_with_token`: mail from someone who is not on a ticket (not
/// the requester, a participant or staff) and only knows its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerPolicy {
    /// `"new_ticket"` (default): the mail opens a ticket of its own.
    NewTicket,
    /// `"hold"`: the mail is kept on the ticket as held (not part of the conversation,
    /// nothing sent to its sender) and the agents are told; they may `/cc` the sender.
    Hold,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            verify_staff: true,
            trusted_authserv_id: None,
            stranger_with_token: StrangerPolicy::NewTicket,
        }
    }
}

/// `[security]` (optional).
pub(super) fn security(cx: &Ctx, raw: Option<RawSecurity>) -> Result<SecurityConfig> {
    let Some(r) = raw else {
        return Ok(SecurityConfig::default());
    };
    Ok(SecurityConfig {
        verify_staff: r.verify_staff.unwrap_or(true),
        trusted_authserv_id: match r.trusted_authserv_id {
            Some(id) if id.trim().is_empty() || id.contains(char::is_whitespace) => {
                return Err(cx.err(
                    "[security] trusted_authserv_id",
                    format!("{id:?} is not a server name"),
                ));
            }
            other => other,
        },
        stranger_with_token: match r.stranger_with_token.as_deref() {
            None | Some("new_ticket") => StrangerPolicy::NewTicket,
            Some("hold") => StrangerPolicy::Hold,
            Some(other) => {
                return Err(cx.err(
                    "[security] stranger_with_token",
                    format!("{other:?}: expected \"new_ticket\" or \"hold\""),
                ));
            }
        },
    })
}
