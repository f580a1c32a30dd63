//! How the severity cue tables are compiled: one case-insensitive regex per cue set,
//! with `\b` as an ASCII word boundary so that English cues also match inside Chinese
//! text ("VPN连不上"). Shared by `desk::severity` and its cue-table modules.

use regex::Regex;

/// Compiles a cue set: case-insensitive, `\b` is an ASCII word boundary (so `\bVPN\b`
/// matches in "VPN连不上").
pub(super) fn cues(pattern: &str) -> Regex {
    let p = format!("(?i){}", pattern.replace(r"\b", r"(?-u:\b)"));
    Regex::new(&p).unwrap_or_else(|e| panic!("built-in severity pattern: {e}"))
}
