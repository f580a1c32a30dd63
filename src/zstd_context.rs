//! zstd with one compression and one decompression context per thread, kept from one
//! mail to the next. Making a context per mail (and freeing it) cost about a tenth of
//! rendering a new ticket's mail, and a fifth of the outbox drain's unpacking. Used by
//! `mail_packing` (outgoing mail) and `store::messages` (received mail); what is packed
//! and how is theirs. A frame made here is a plain zstd frame with its content size.

use std::cell::RefCell;

use anyhow::{Result, anyhow};
use zstd::dict::EncoderDictionary;
use zstd::zstd_safe::{self, CCtx, DCtx};

/// Frames that say they hold more than this are unpacked as a stream instead of into
/// one buffer of the size they claim (no mail we make is near it).
const MAX_ONE_BUFFER: u64 = 64 << 20;

thread_local! {
    static COMPRESSION: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DECOMPRESSION: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

fn failed(what: &str, code: zstd_safe::ErrorCode) -> anyhow::Error {
    anyhow!("zstd: cannot {what}: {}", zstd_safe::get_error_name(code))
}

/// `raw` compressed at `level`, without a dictionary.
pub fn compress(raw: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    COMPRESSION
        .with_borrow_mut(|cctx| cctx.compress(&mut out, raw, level))
        .map_err(|code| failed("compress", code))?;
    Ok(out)
}

/// `raw` compressed with a prepared dictionary (at the level it was prepared for).
pub fn compress_with(raw: &[u8], dictionary: &EncoderDictionary<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    COMPRESSION
        .with_borrow_mut(|cctx| cctx.compress_using_cdict(&mut out, raw, dictionary.as_cdict()))
        .map_err(|code| failed("compress", code))?;
    Ok(out)
}

/// `raw` compressed at `level` against `prefix` (bytes the frame may refer back to,
/// as to earlier parts of itself), with a checksum of `raw` in the frame: unpacked
/// against other bytes than `prefix`, it fails instead of giving other bytes back.
/// `prefix` must not begin with zstd's dictionary magic number (it would be read as
/// a trained dictionary); [`decompress`] takes it as `dictionary`.
pub fn compress_with_prefix(raw: &[u8], prefix: &[u8], level: i32) -> Result<Vec<u8>> {
    use zstd_safe::CParameter;
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    // A context of its own: it borrows the prefix for this one frame (zstd reads it in
    // place), where loading it into the thread's context as a dictionary would copy
    // it and build a dictionary of it first: 56 against 91 µs for a notice's body
    // against a 32 KiB dictionary tail and its request.
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .and_then(|_| cctx.set_parameter(CParameter::ChecksumFlag(true)))
        .and_then(|_| cctx.ref_prefix(prefix))
        .and_then(|_| cctx.compress2(&mut out, raw))
        .map_err(|code| failed("compress against a prefix", code))?;
    Ok(out)
}

/// The bytes of one frame, made with `dictionary` (empty: none).
pub fn decompress(frame: &[u8], dictionary: &[u8]) -> Result<Vec<u8>> {
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_ONE_BUFFER => n as usize,
        // No size in the frame (or a frame that claims too much): as a stream, which
        // grows its buffer as it goes and stops at what is really there.
        _ => return decompress_stream(frame, dictionary),
    };
    let mut out = Vec::with_capacity(size);
    DECOMPRESSION
        .with_borrow_mut(|dctx| dctx.decompress_using_dict(&mut out, frame, dictionary))
        .map_err(|code| failed("decompress", code))?;
    Ok(out)
}

fn decompress_stream(frame: &[u8], dictionary: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(frame.len() * 4);
    zstd::stream::read::Decoder::with_dictionary(frame, dictionary)
        .map_err(|e| anyhow!("zstd: cannot start a decompressor: {e}"))?
        .read_to_end(&mut out)
        .map_err(|e| anyhow!("zstd: cannot decompress: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_made_against_a_prefix_needs_that_prefix_and_leaves_the_context_clean() {
        let prefix = b"prefix: the printer on the third floor prints blank pages. ".repeat(20);
        let raw =
            b"Your request: the printer on the third floor prints blank pages. Thanks".repeat(3);
        let frame = compress_with_prefix(&raw, &prefix, 3).unwrap();
        let alone = compress(&raw, 3).unwrap();
        assert!(
            frame.len() < alone.len(),
            "{} vs {}",
            frame.len(),
            alone.len()
        );
        assert_eq!(decompress(&frame, &prefix).unwrap(), raw);
        // Other bytes in place of the prefix: an error, not other bytes (the checksum).
        let other = prefix.to_ascii_uppercase();
        assert!(decompress(&frame, &other).is_err());
        assert!(decompress(&frame, b"another prefix entirely").is_err());
        // The next plain frame on this thread is made without the prefix.
        let next = compress(&raw, 3).unwrap();
        assert_eq!(next, alone);
        assert_eq!(decompress(&next, &[]).unwrap(), raw);
    }

    #[test]
    fn frames_come_back_byte_exact_with_and_without_a_dictionary() {
        let dictionary = b"Your request has been received. Ticket [TP-1] ".repeat(50);
        let prepared = EncoderDictionary::copy(&dictionary, 3);
        for i in 0..3 {
            let raw =
                format!("Your request has been received. Ticket [TP-{i}] about a printer\r\n")
                    .repeat(20 + i)
                    .into_bytes();
            let plain = compress(&raw, 3).unwrap();
            assert_eq!(decompress(&plain, &[]).unwrap(), raw);
            let with = compress_with(&raw, &prepared).unwrap();
            assert_eq!(decompress(&with, &dictionary).unwrap(), raw);
            // A frame made elsewhere (zstd's own bulk API) reads the same.
            let other = zstd::bulk::compress(&raw, 3).unwrap();
            assert_eq!(decompress(&other, &[]).unwrap(), raw);
        }
        // A frame without its content size is read as a stream.
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            std::io::Write::write_all(&mut enc, b"no size in this frame").unwrap();
            enc.finish().unwrap();
        }
        assert_eq!(zstd_safe::get_frame_content_size(&streamed).unwrap(), None);
        assert_eq!(
            decompress(&streamed, &[]).unwrap(),
            b"no size in this frame"
        );
        // Damaged bytes are an error, not a panic.
        assert!(decompress(b"\x28\xb5\x2f\xfd garbage", &[]).is_err());
    }
}
