//! `[triage]`: the facts that set a new ticket's priority (monitoring systems, VIP
//! senders, priorities per sender domain, the priority matrix) and who is on call. Applying them is left
//! to `desk/triage.rs`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::{RawMatrix, RawSystem, RawTriage};
use crate::desk::Priority;
use crate::desk::roster::NamedAddress;
use crate::desk::severity::{Level, Matrix, Service};
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
        matrix: None,
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
        systems: systems(cx, raw.systems.unwrap_or_default())?,
        vip_senders,
        domain_priorities,
        matrix: matrix(cx, raw.matrix)?,
    };
    let oncall = cx.named_addresses("[triage] oncall", raw.oncall)?;
    Ok((triage, oncall))
}

/// `[triage] systems`: plain names are of high criticality.
fn systems(cx: &Ctx, raw: Vec<RawSystem>) -> Result<Vec<Service>> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, system) in raw.into_iter().enumerate() {
        let (name, criticality) = match system {
            RawSystem::Name(name) => (name, Level::High),
            RawSystem::Table(t) => {
                let c = match t.criticality {
                    None => Level::High,
                    Some(c) => c
                        .parse()
                        .map_err(|e| cx.err(&format!("[triage] systems[{i}].criticality"), e))?,
                };
                (t.name, c)
            }
        };
        if name.trim().is_empty() {
            return Err(cx.err(&format!("[triage] systems[{i}]"), "empty name"));
        }
        out.push(Service {
            name: name.trim().to_string(),
            criticality,
        });
    }
    Ok(out)
}

/// `[triage.matrix]`: each row given replaces the default row for that impact.
fn matrix(cx: &Ctx, raw: Option<RawMatrix>) -> Result<Matrix> {
    let mut m = Matrix::default();
    let Some(raw) = raw else {
        return Ok(m);
    };
    for (row, (impact, given)) in [("high", raw.high), ("medium", raw.medium), ("low", raw.low)]
        .into_iter()
        .enumerate()
    {
        let Some(given) = given else { continue };
        let key = format!("[triage.matrix] {impact}");
        if given.len() != 3 {
            return Err(cx.err(
                &key,
                format!(
                    "needs 3 priorities (for urgency high, medium, low), got {}",
                    given.len()
                ),
            ));
        }
        for (col, p) in given.iter().enumerate() {
            let p: Priority = p.parse().map_err(|e| cx.err(&format!("{key}[{col}]"), e))?;
            m.rows[row][col] = p;
        }
    }
    Ok(m)
}
