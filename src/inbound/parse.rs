//! Stub: being written.
use super::InboundMessage;
#[derive(Debug)]
pub struct ParseFailure {
    pub reason: String,
    pub raw: Vec<u8>,
}
pub fn parse(_raw: Vec<u8>) -> Result<InboundMessage, ParseFailure> {
    Err(ParseFailure {
        reason: "todo".into(),
        raw: _raw,
    })
}
