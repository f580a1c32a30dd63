//! [`Ctx`]: names the file and the key of every problem (`conf/x.toml: [mailbox] port:
//! ...`), and reads the kinds of value several tables share: required keys, seconds,
//! secrets (given inline or through an environment variable), lists of named
//! addresses. What a value means is left to the module of its table.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::redact::looks_like_env_name;
use crate::desk::roster::{NamedAddress, parse_named_address};

/// Names the file and key of a problem.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {key}: {msg}", self.file.display())
    }

    pub(super) fn required<T>(&self, key: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| self.err(key, "missing (required)"))
    }

    pub(super) fn seconds(&self, key: &str, v: Option<f64>, default: f64) -> Result<Duration> {
        let s = v.unwrap_or(default);
        if !(s.is_finite() && s > 0.0 && s < 86_400.0 * 365.0) {
            return Err(self.err(
                key,
                format!("must be a positive number of seconds, got {s}"),
            ));
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// A list of `Name <address>` or bare addresses; a bad one is reported under `key`.
    pub(super) fn named_addresses(
        &self,
        key: &str,
        list: Option<Vec<String>>,
    ) -> Result<Vec<NamedAddress>> {
        list.unwrap_or_default()
            .iter()
            .map(|s| parse_named_address(s).map_err(|e| self.err(key, e)))
            .collect()
    }

    /// A secret given as `key` or, better, as the name of an environment variable in
    /// `key_env`; errors name the key.
    pub(super) fn secret(
        &self,
        table: &str,
        key: &str,
        value: Option<String>,
        value_env: Option<String>,
        env: &HashMap<String, String>,
    ) -> Result<Option<String>> {
        match (value, value_env) {
            (Some(_), Some(_)) => Err(self.err(
                &format!("[{table}] {key}_env"),
                format!("set either {key} or {key}_env, not both"),
            )),
            (Some(p), None) => Ok(Some(p)),
            (None, Some(var)) => match env.get(&var) {
                Some(p) if !p.is_empty() => Ok(Some(p.clone())),
                // The variable is named only when it looks like a variable's name: a
                // secret pasted in place of the name would be printed.
                _ if looks_like_env_name(&var) => Err(self.err(
                    &format!("[{table}] {key}_env"),
                    format!("the environment variable {var} is not set or is empty"),
                )),
                _ => Err(self.err(
                    &format!("[{table}] {key}_env"),
                    "names an environment variable that is not set or is empty",
                )),
            },
            (None, None) => Ok(None),
        }
    }
}
