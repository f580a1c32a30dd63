//! `ticketpost report --since --until [--json|--csv]`: the desk's figures for a period.
//! This module turns the flags into a format; the range parsing, the figures and
//! their three renderings are `report`'s.

use std::io::Write;

use anyhow::Result;

use crate::config::Config;
use crate::report::{self, ReportFormat};

/// Prints the report for `since`..`until` (see [`report::parse_range`]) from the store
/// in `cfg` to `out`: for people, or as JSON or CSV when asked (clap refuses both).
pub fn run(
    cfg: &Config,
    since: &str,
    until: &str,
    json: bool,
    csv: bool,
    out: &mut impl Write,
) -> Result<()> {
    let format = if json {
        ReportFormat::Json
    } else if csv {
        ReportFormat::Csv
    } else {
        ReportFormat::Human
    };
    report::report(cfg, since, until, format, out)
}
