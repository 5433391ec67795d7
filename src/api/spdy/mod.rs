//! SPDY/3.1 framing, as much as a server of kubectl's streams needs (the moby/spdystream dialect
//! that client-go speaks): control frames SYN_STREAM, SYN_REPLY, RST_STREAM, PING and GOAWAY,
//! DATA frames, and zlib-compressed header blocks. Neither side does flow control (spdystream
//! never sends WINDOW_UPDATE), so SETTINGS and WINDOW_UPDATE are read and ignored.

mod dictionary;
mod upgrade;

pub use upgrade::{negotiate, switching};

use flate2::{Decompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// A frame larger than this ends the connection: kubectl's DATA frames are at most 32 KiB.
const MAX_FRAME: usize = 1024 * 1024;
/// A header block may not inflate to more than this (a compressed block could be a bomb).
const MAX_HEADERS: usize = 64 * 1024;

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;

pub const FLAG_FIN: u8 = 0x01;
/// RST_STREAM statuses.
pub const PROTOCOL_ERROR: u32 = 1;
pub const CANCEL: u32 = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Control {
        kind: u16,
        flags: u8,
        payload: Vec<u8>,
    },
    Data {
        stream: u32,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// Reads one frame; None at a clean end of the connection.
pub async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a SPDY frame of {len} bytes (the limit is {MAX_FRAME})"
        )));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(if head[0] & 0x80 != 0 {
        Frame::Control {
            kind: u16::from_be_bytes([head[2], head[3]]),
            flags,
            payload,
        }
    } else {
        Frame::Data {
            stream: u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff,
            flags,
            payload,
        }
    }))
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![0x80, 3];
    f.extend_from_slice(&kind.to_be_bytes());
    f.extend_from_slice(&[flags, len[1], len[2], len[3]]);
    f.extend_from_slice(payload);
    f
}

pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    f.extend_from_slice(&[flags, len[1], len[2], len[3]]);
    f.extend_from_slice(payload);
    f
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut p = stream.to_be_bytes().to_vec();
    p.extend_from_slice(&status.to_be_bytes());
    control(RST_STREAM, 0, &p)
}

pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

/// The server's header blocks: wpod's replies carry no headers, and an empty block needs no
/// compressor. The first block opens the zlib stream (a header without a preset dictionary),
/// each is a stored deflate block holding a count of 0 pairs, then a sync flush.
pub struct Replies {
    started: bool,
}

impl Replies {
    pub fn new() -> Self {
        Replies { started: false }
    }

    /// SYN_REPLY for `stream` with no headers.
    pub fn syn_reply(&mut self, stream: u32) -> Vec<u8> {
        let mut p = stream.to_be_bytes().to_vec();
        if !std::mem::replace(&mut self.started, true) {
            p.extend_from_slice(&[0x78, 0x01]);
        }
        // Stored block: BFINAL=0, LEN=4, NLEN=!4, the four zero bytes; then an empty stored block.
        p.extend_from_slice(&[0x00, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        control(SYN_REPLY, 0, &p)
    }
}

/// The client's header blocks: one zlib stream for the whole connection, with SPDY's dictionary.
pub struct Headers {
    inflate: Decompress,
}

impl Headers {
    pub fn new() -> Self {
        Headers {
            inflate: Decompress::new(true),
        }
    }

    /// The name/value pairs of one header block (names lowercase, as SPDY/3 requires).
    pub fn read(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut input = block;
        loop {
            if out.len() >= MAX_HEADERS {
                return Err("a SPDY header block too large".into());
            }
            out.reserve(4096);
            let (read, written) = (self.inflate.total_in(), out.len());
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = usize::try_from(self.inflate.total_in() - read).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&dictionary::DICTIONARY)
                        .map_err(|e| format!("the SPDY dictionary: {e}"))?;
                    continue;
                }
                Err(e) => return Err(format!("a SPDY header block: {e}")),
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
            }
            let room_left = out.len() < out.capacity();
            if (input.is_empty() && room_left) || (used == 0 && out.len() == written) {
                break;
            }
        }
        parse_pairs(&out)
    }
}

fn parse_pairs(b: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = b
            .get(at..at + n)
            .ok_or_else(|| "a truncated SPDY header block".to_string())?;
        at += n;
        Ok(s)
    };
    let word = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
    let count = word(take(4)?);
    let mut pairs = Vec::new();
    for _ in 0..count.min(1024) {
        let n = word(take(4)?);
        let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
        let n = word(take(4)?);
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The stream id and headers of a SYN_STREAM.
pub fn syn_stream(
    payload: &[u8],
    headers: &mut Headers,
) -> Result<(u32, Vec<(String, String)>), String> {
    let Some(id) = payload.get(..4) else {
        return Err("a short SYN_STREAM".into());
    };
    let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]) & 0x7fff_ffff;
    let block = payload.get(10..).unwrap_or_default();
    Ok((id, headers.read(block)?))
}

/// The first 4-byte word of a control frame's payload (a stream or ping id).
pub fn first_word(payload: &[u8]) -> Option<u32> {
    let w = payload.get(..4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]) & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes kubectl 1.32 sent for its first two port-forward streams (captured off the wire).
    #[test]
    fn kubectls_header_blocks_inflate_with_the_dictionary() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
                .collect()
        };
        let mut h = Headers::new();
        let first = h
            .read(&hex("78f9e3c6a7c202253a48f95b044aab4c16060c0c0c9c4590d8ca04a5624603703a2c294a4dcc851635aca9a08800000000ffff"))
            .expect("first block");
        assert_eq!(
            first,
            [
                ("port".to_string(), "80".to_string()),
                ("requestid".to_string(), "0".to_string()),
                ("streamtype".to_string(), "error".to_string())
            ]
        );
        let second = h
            .read(&hex("826a459502954289840c04000000ffff"))
            .expect("second block continues the stream");
        assert!(second.contains(&("streamtype".to_string(), "data".to_string())));
        assert!(
            h.read(&[0xff; 64]).is_err(),
            "garbage is an error, not a panic"
        );
    }

    #[test]
    fn replies_are_valid_empty_header_blocks() {
        let mut r = Replies::new();
        let (first, second) = (r.syn_reply(1), r.syn_reply(3));
        let mut h = Headers::new();
        for frame in [first, second] {
            assert_eq!(&frame[..4], &[0x80, 3, 0, 2]);
            assert_eq!(h.read(&frame[12..]), Ok(Vec::new()));
        }
    }
}
