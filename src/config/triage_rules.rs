//! `[triage]`: the facts that set a new ticket's priority (monitoring systems, VIP
//! senders, priorities per sender domain) and who is on call. Applying them is left
//! to `desk/triage.rs`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawTriage;
use crate::desk::roster::NamedAddress;
use crate::desk::triage::TriageConfig;

/// `[triage]` (optional): the triage settings and the on-call list.
pub(super) fn triage(
    cx: &Ctx,
    raw: Option<RawTriage>,
) -> Result<(TriageConfig, Vec<NamedAddress>)> {
    let raw = raw.unwrap_or(RawTriage {
        systems: None,
        vip_senders: None,
        domains: None,
        oncall: None,
    });
    let mut domain_priorities = Vec::new();
    for (domain, priority) in raw.domains.unwrap_or_default() {
        let p: crate::desk::Priority = priority
            .parse()
            .map_err(|e| cx.err(&format!("[triage] domains.{domain}"), e))?;
        domain_priorities.push((domain.trim().to_ascii_lowercase(), p));
    }
    let vip_senders = cx
        .named_addresses("[triage] vip_senders", raw.vip_senders)?
        .into_iter()
        .map(|a| a.address)
        .collect();
    let triage = TriageConfig {
        systems: raw.systems.unwrap_or_default(),
        vip_senders,
        domain_priorities,
    };
    let oncall = cx.named_addresses("[triage] oncall", raw.oncall)?;
    Ok((triage, oncall))
}
