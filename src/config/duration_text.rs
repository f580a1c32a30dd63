//! Durations written as text in the config (`"5d"`, `"36h"`, `"90m"`): one parser
//! shared by `[sla]` and `[lifecycle]` and by callers outside the config. What a day
//! means (24 hours, or a working day) is left to the caller.

/// Parses a duration such as `5d`, `36h`, `90m`, `45s` or a plain number of seconds.
pub fn parse_duration_text(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. \"5d\", \"36h\", \"90m\")"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    n.checked_mul(unit_seconds)
        .filter(|v| *v > 0 && *v <= 3_650 * 86_400)
        .ok_or_else(|| format!("{s:?} must be more than zero and at most ten years"))
}
