//! `[kb]`: how knowledge-base entries and past tickets are offered, to requesters in
//! acknowledgements and to agents in notices ([`KbConfig`]). Matching is left to
//! `ingest` and `knowledge`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawKb;

/// `[kb]`: how knowledge-base entries and past tickets are offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KbConfig {
    /// Entries offered in an acknowledgement must match at least this well (0..=1).
    pub suggest_threshold: f64,
    pub max_suggestions: usize,
    /// Past tickets listed in agents' notices must match at least this well.
    pub similar_threshold: f64,
    /// Whether acknowledgements offer entries to requesters. Off by default: entries
    /// are written from agents' resolutions, unreviewed, and may hold internal text.
    /// Agents' notices list matches either way.
    pub suggest_to_requesters: bool,
}

impl Default for KbConfig {
    fn default() -> Self {
        KbConfig {
            suggest_threshold: 0.4,
            max_suggestions: 3,
            similar_threshold: 0.25,
            suggest_to_requesters: false,
        }
    }
}

/// `[kb]` (optional).
pub(super) fn kb(cx: &Ctx, raw: Option<RawKb>) -> Result<KbConfig> {
    let d = KbConfig::default();
    let (st, ms, sim, to_requesters) = match raw {
        Some(k) => (
            k.suggest_threshold,
            k.max_suggestions,
            k.similar_threshold,
            k.suggest_to_requesters,
        ),
        None => (None, None, None, None),
    };
    let max_suggestions = ms.unwrap_or(d.max_suggestions);
    if max_suggestions > 10 {
        return Err(cx.err("[kb] max_suggestions", "at most 10"));
    }
    Ok(KbConfig {
        suggest_threshold: share(cx, "[kb] suggest_threshold", st, d.suggest_threshold)?,
        max_suggestions,
        similar_threshold: share(cx, "[kb] similar_threshold", sim, d.similar_threshold)?,
        suggest_to_requesters: to_requesters.unwrap_or(d.suggest_to_requesters),
    })
}

/// A share between 0 and 1; `default` when absent.
fn share(cx: &Ctx, key: &str, v: Option<f64>, default: f64) -> Result<f64> {
    let v = v.unwrap_or(default);
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(cx.err(key, format!("must be between 0 and 1, got {v}")))
    }
}
