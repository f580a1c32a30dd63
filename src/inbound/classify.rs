//! Stub: being written.
use super::InboundMessage;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomaticKind {
    AutoReply,
    Bounce,
    Bulk,
    List,
    Loop,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomaticVerdict {
    pub kind: AutomaticKind,
    pub reason: String,
}
pub fn classify(_msg: &InboundMessage, _own_address: &str) -> Option<AutomaticVerdict> {
    None
}
