//! `[store]`: where the SQLite database lives and how hard each commit is made to
//! last ([`StoreConfig`]). Opening and migrating the
//! database is left to the `store` module.

use std::path::PathBuf;

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawStore;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// `synchronous = FULL` instead of NORMAL: every commit survives a power cut,
    /// at a cost in throughput. NORMAL in WAL mode survives process crashes.
    pub synchronous_full: bool,
}

/// `[store]` (required): `path`, and `synchronous` ("normal" by default, or "full").
pub(super) fn store(cx: &Ctx, raw: Option<RawStore>) -> Result<StoreConfig> {
    let s = cx.required("[store]", raw)?;
    let synchronous_full = match s.synchronous.as_deref() {
        None | Some("normal") => false,
        Some("full") => true,
        Some(o) => {
            return Err(cx.err(
                "[store] synchronous",
                format!("unknown value {o:?}; expected \"normal\" or \"full\""),
            ));
        }
    };
    Ok(StoreConfig {
        path: cx.required("[store] path", s.path)?,
        synchronous_full,
    })
}
