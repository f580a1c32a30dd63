//! `[limits]`: loop guards for automatic mail (acknowledgements per sender,
//! messages per ticket), bounds on parsing one message, the cap on a ticket's
//! participants, and the bytes of files one outgoing mail carries ([`LimitsConfig`]).
//! Enforcing them is left to `ingest`, `inbound` and `desk`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawLimits;
use crate::desk::relay_files::DEFAULT_RELAY_ATTACHMENTS_BYTES;
use crate::desk::roster::DEFAULT_MAX_PARTICIPANTS;
use crate::inbound::ParseLimits;

/// `[limits]`: loop guards, for automatic mail that no rule recognised.
#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    /// New tickets one sender may open in an hour and still get an acknowledgement;
    /// later ones are stored, not answered.
    pub acknowledgements_per_sender_per_hour: i64,
    /// Messages a ticket takes in an hour before it stops sending mail for them
    /// (relays, notices): two autoresponders answering each other stop here.
    pub messages_per_ticket_per_hour: i64,
    /// Size, attachment, header and nesting bounds on parsing one message.
    pub parse: ParseLimits,
    /// Bytes of files one outgoing mail carries; files past it are listed instead.
    pub relay_attachments_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            acknowledgements_per_sender_per_hour: 10,
            messages_per_ticket_per_hour: 30,
            parse: ParseLimits::default(),
            relay_attachments_bytes: DEFAULT_RELAY_ATTACHMENTS_BYTES,
        }
    }
}

/// `[limits]` (optional), except `max_participants`, which belongs to the desk.
pub(super) fn limits(cx: &Ctx, raw: Option<RawLimits>) -> Result<LimitsConfig> {
    let d = LimitsConfig::default();
    let l = raw.unwrap_or_default();
    Ok(LimitsConfig {
        acknowledgements_per_sender_per_hour: within(
            cx,
            "[limits] acknowledgements_per_sender_per_hour",
            l.acknowledgements_per_sender_per_hour,
            (1, 100_000),
            d.acknowledgements_per_sender_per_hour,
        )?,
        messages_per_ticket_per_hour: within(
            cx,
            "[limits] messages_per_ticket_per_hour",
            l.messages_per_ticket_per_hour,
            (1, 100_000),
            d.messages_per_ticket_per_hour,
        )?,
        parse: parse_limits(cx, &l, d.parse)?,
        relay_attachments_bytes: within(
            cx,
            "[limits] relay_attachments_bytes",
            l.relay_attachments_bytes,
            (0, 1 << 30),
            d.relay_attachments_bytes as i64,
        )? as u64,
    })
}

/// The bounds on parsing one message; `d` holds the defaults.
fn parse_limits(cx: &Ctx, l: &RawLimits, d: ParseLimits) -> Result<ParseLimits> {
    let count = |key: &str, v: Option<i64>, range: (i64, i64), default: usize| {
        within(cx, key, v, range, default as i64).map(|n| n as usize)
    };
    Ok(ParseLimits {
        max_message_bytes: count(
            "[limits] max_message_bytes",
            l.max_message_bytes,
            (64 * 1024, 1 << 30),
            d.max_message_bytes,
        )?,
        max_attachments: count(
            "[limits] max_attachments",
            l.max_attachments,
            (1, 10_000),
            d.max_attachments,
        )?,
        max_header_fields: count(
            "[limits] max_header_fields",
            l.max_header_fields,
            (50, 100_000),
            d.max_header_fields,
        )?,
        max_header_line_bytes: count(
            "[limits] max_header_line_bytes",
            l.max_header_line_bytes,
            (998, 16 << 20),
            d.max_header_line_bytes,
        )?,
        max_mime_depth: count(
            "[limits] max_mime_depth",
            l.max_mime_depth,
            (2, 1000),
            d.max_mime_depth,
        )?,
    })
}

/// A whole number between `min` and `max` (inclusive); `default` when absent.
fn within(
    cx: &Ctx,
    key: &str,
    v: Option<i64>,
    (min, max): (i64, i64),
    default: i64,
) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(cx.err(key, format!("must be between {min} and {max}, got {n}"))),
    }
}

/// `[limits] max_participants`: people a ticket copies besides its requester, 0-1000.
pub(super) fn max_participants(cx: &Ctx, raw: Option<i64>) -> Result<usize> {
    match raw {
        None => Ok(DEFAULT_MAX_PARTICIPANTS),
        Some(n @ 0..=1000) => Ok(n as usize),
        Some(n) => Err(cx.err(
            "[limits] max_participants",
            format!("must be between 0 and 1000, got {n}"),
        )),
    }
}
