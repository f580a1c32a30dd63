//! The benchmarks' knobs: numbers read from the environment, with a default, and a
//! clear error that names the variable when one is not a number.

use anyhow::{Context, Result};

/// `name` from the environment as a number, or `default` when it is not set.
pub fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}
