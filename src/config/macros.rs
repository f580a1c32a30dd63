//! `[[macro]]`: canned replies agents apply with `/macro <name>` (a `name`, the `text`
//! relayed, and optional command lines run with the reply). Checked once at load: the
//! names are unique and every command line parses as the agents' own would; what a
//! macro does to a ticket is left to the `desk` module.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawMacro;
use crate::desk::quick_actions::{Command, parse_agent_reply};
use crate::desk::roster::Macro;

/// Every `[[macro]]`, in file order.
pub(super) fn macros(cx: &Ctx, raw: Option<Vec<RawMacro>>) -> Result<Vec<Macro>> {
    let mut out: Vec<Macro> = Vec::new();
    for (i, r) in raw.unwrap_or_default().into_iter().enumerate() {
        let m = one_macro(cx, i, r)?;
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&m.name)) {
            return Err(cx.err(
                &format!("[[macro]] {} name", i + 1),
                format!("{:?} is defined twice", m.name),
            ));
        }
        out.push(m);
    }
    Ok(out)
}

/// The `i`th macro (from 0; messages count from 1).
fn one_macro(cx: &Ctx, i: usize, r: RawMacro) -> Result<Macro> {
    let key = |k: &str| format!("[[macro]] {} {k}", i + 1);
    let name = cx.required(&key("name"), r.name)?.trim().to_string();
    if name.is_empty() {
        return Err(cx.err(&key("name"), "must not be empty"));
    }
    let text = r.text.unwrap_or_default();
    let commands: Vec<String> = r
        .commands
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect();
    if text.trim().is_empty() && commands.is_empty() {
        return Err(cx.err(&key("text"), "a macro needs a text or commands"));
    }
    for line in &commands {
        let parsed = parse_agent_reply(line).map_err(|errors| {
            let reasons: Vec<String> = errors.into_iter().map(|e| e.reason).collect();
            cx.err(
                &key("commands"),
                format!("{line:?}: {}", reasons.join("; ")),
            )
        })?;
        match parsed.commands.as_slice() {
            [Command::Macro(_)] => {
                return Err(cx.err(
                    &key("commands"),
                    format!("{line:?}: a macro cannot run another macro"),
                ));
            }
            [_] if parsed.text.is_empty() => {}
            _ => {
                return Err(cx.err(
                    &key("commands"),
                    format!(
                        "{line:?}: each entry must be one command line, like \"/status waiting\""
                    ),
                ));
            }
        }
    }
    Ok(Macro {
        name,
        text,
        commands,
    })
}
