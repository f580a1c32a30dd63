//! Keeping secrets out of config errors: which keys hold a secret (decided by the
//! key's name), serde and TOML messages with the value taken out, and whether a
//! `*_env` value looks like a variable's name or like a secret pasted in its place.
//! Reading the secrets themselves is left to `Ctx::secret`.

use std::path::Path;

use anyhow::anyhow;

/// Whether a key holds a secret or names where one is kept (`password`, `bearer_token`,
/// `oauth2_client_secret`, any `*_env`): errors about it name the file and the key but
/// never repeat the value. Decided by the name, so keys added later (`api_key`,
/// `webhook_secret`) are covered without a list to keep up to date.
pub(super) fn is_secret_key(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k.ends_with("_env")
        || k.contains("password")
        || k.contains("secret")
        || k.contains("credential")
        || k.ends_with("token")
        || k.ends_with("tokens")
        || k == "key"
        || k.ends_with("_key")
}

/// Whether any part of a serde path (`http.bearer_token`, `mailbox.password`) is a
/// secret key.
pub(super) fn path_holds_secret(path: &str) -> bool {
    path.split(['.', '[', ']']).any(is_secret_key)
}

/// A deserialisation message about a secret key, with the value taken out: serde says
/// "invalid type: integer `12345678`, expected a string"; this keeps the kinds only.
pub(super) fn without_secret_value(msg: &str) -> String {
    const EXPECTED: &str = ", expected ";
    // The expected part comes last and is the type's own text, never the value.
    let expected = msg.rfind(EXPECTED).map(|i| &msg[i + EXPECTED.len()..]);
    // "integer", "floating point", "sequence": the words before the quoted value.
    let found = msg
        .strip_prefix("invalid type: ")
        .map(|rest| rest.split(['`', '"', ',']).next().unwrap_or("").trim())
        .filter(|kind| {
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
        });
    let what = match (found, expected) {
        (Some(found), Some(expected)) => format!("invalid type: {found}, expected {expected}"),
        (None, Some(expected)) => format!("invalid value, expected {expected}"),
        _ => "invalid value".to_string(),
    };
    format!("{what} (the value is not shown: this key holds a secret)")
}

/// A TOML syntax error as "line L, column C: what". toml's own message quotes the
/// offending line, which may be a password (`password = "unterminated`), so the line
/// is never shown; its number is enough to find it.
pub(super) fn toml_syntax_error(file: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let what = e.message().trim_end();
    let Some(span) = e.span() else {
        return anyhow!("{}: TOML syntax error: {what}", file.display());
    };
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    // A duplicate key's span is the key itself: a name, safe and useful to repeat.
    let key = text
        .get(start..span.end.min(text.len()))
        .map(str::trim)
        .filter(|k| {
            what.starts_with("duplicate key")
                && !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
        .map(|k| format!(" `{k}`"))
        .unwrap_or_default();
    anyhow!(
        "{}: TOML syntax error at line {line}, column {column}: {what}{key}",
        file.display()
    )
}

/// Whether `name` looks like an environment variable's name (`IMAP_PASSWORD`), not
/// like a secret pasted in its place.
pub(super) fn looks_like_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}
