//! Stub: being written.
use anyhow::Result;
use tokio_util::sync::CancellationToken;
use super::{Batch, Checkpoint};
use crate::config::ImapConfig;
pub struct ImapSource;
impl ImapSource {
    pub fn new(_cfg: ImapConfig, _checkpoint: Option<Checkpoint>) -> Result<Self> { Ok(ImapSource) }
    pub async fn fetch_batch(&mut self, _max: usize) -> Result<Batch> { Ok(Batch::default()) }
    pub async fn mark_done(&mut self, _batch: &Batch) -> Result<()> { Ok(()) }
    pub async fn wait_for_mail(&mut self, _shutdown: &CancellationToken) -> Result<()> { Ok(()) }
    pub fn reset(&mut self) {}
    pub async fn probe(&mut self) -> Result<String> { Ok(String::new()) }
}
