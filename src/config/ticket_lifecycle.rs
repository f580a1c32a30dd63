//! `[lifecycle]`: how long a resolved ticket waits for its requester before it
//! closes, and how long a reply may still reopen a closed one ([`LifecycleConfig`]).
//! Acting on them is left to `desk/lifecycle.rs`.

use anyhow::Result;

use super::context::Ctx;
use super::duration_text::parse_duration_text;
use super::raw::RawLifecycle;
use crate::desk::roster::LifecycleConfig;

/// `[lifecycle]` (optional): each key a duration (`"5d"`) or a number of seconds.
pub(super) fn lifecycle(cx: &Ctx, raw: Option<RawLifecycle>) -> Result<LifecycleConfig> {
    let defaults = LifecycleConfig::default();
    let (a, r) = match raw {
        Some(l) => (l.auto_close_after, l.reopen_window),
        None => (None, None),
    };
    Ok(LifecycleConfig {
        auto_close_after: duration(
            cx,
            "[lifecycle] auto_close_after",
            a,
            defaults.auto_close_after,
        )?,
        reopen_window: duration(cx, "[lifecycle] reopen_window", r, defaults.reopen_window)?,
        // `[desk] collision_window`, set by `desk_roster`.
        collision_window: defaults.collision_window,
    })
}

/// A duration given as text or as a whole number of seconds; `default` when absent.
pub(super) fn duration(cx: &Ctx, key: &str, v: Option<toml::Value>, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(toml::Value::Integer(n)) => {
            parse_duration_text(&n.to_string()).map_err(|e| cx.err(key, e))
        }
        Some(toml::Value::String(s)) => parse_duration_text(&s).map_err(|e| cx.err(key, e)),
        Some(other) => Err(cx.err(
            key,
            format!("expected a duration such as \"5d\", got {other}"),
        )),
    }
}
