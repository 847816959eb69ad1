//! Frames between a worker and its job process: a tag byte, a little-endian
//! u32 length, then the payload. Protobuf for what the coordinator receives
//! unchanged (progress, the result), JSON for the rest.
//!
//! parent -> child: `Request` once, then `Cancel` at most once; closing the
//! pipe (the parent died) also cancels.
//! child -> parent: `Progress`*, then exactly one `Result` or `Error`.

use std::io::{self, Read, Write};

use intervene_proto::pb;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::agent::{FailureKind, TrainError};

/// Frames larger than this are refused: a result with every test example
/// is a few megabytes; a length beyond this is a corrupted stream.
const MAX_FRAME: u32 = 1 << 30;

/// What the child is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// The canonical `JobSpec` JSON from the lease.
    pub spec_json: String,
    /// "cpu" or "cuda:N".
    pub device: String,
    /// The verified data set file.
    pub dataset: std::path::PathBuf,
    /// Torch intra-op threads; torch's default when `None`.
    pub threads: Option<usize>,
    /// Fleet tests only: sleep this long instead of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ErrorBody {
    kind: String,
    message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Request(Request),
    Cancel,
    Progress(pb::Progress),
    Result(Box<pb::JobResult>),
    Error(TrainError),
}

const REQUEST: u8 = b'J';
const CANCEL: u8 = b'C';
const PROGRESS: u8 = b'P';
const RESULT: u8 = b'R';
const ERROR: u8 = b'E';

fn kind_name(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Retryable => "retryable",
        FailureKind::Fatal => "fatal",
        FailureKind::Cancelled => "cancelled",
        FailureKind::Unavailable => "unavailable",
    }
}

fn kind_from(name: &str) -> FailureKind {
    match name {
        "fatal" => FailureKind::Fatal,
        "cancelled" => FailureKind::Cancelled,
        "unavailable" => FailureKind::Unavailable,
        _ => FailureKind::Retryable,
    }
}

pub fn write_frame(w: &mut dyn Write, frame: &Frame) -> io::Result<()> {
    let (tag, body) = match frame {
        Frame::Request(r) => (REQUEST, serde_json::to_vec(r).map_err(io::Error::other)?),
        Frame::Cancel => (CANCEL, Vec::new()),
        Frame::Progress(p) => (PROGRESS, p.encode_to_vec()),
        Frame::Result(r) => (RESULT, r.encode_to_vec()),
        Frame::Error(e) => (
            ERROR,
            serde_json::to_vec(&ErrorBody { kind: kind_name(e.kind).into(), message: e.message.clone() })
                .map_err(io::Error::other)?,
        ),
    };
    let len = u32::try_from(body.len()).ok().filter(|l| *l <= MAX_FRAME).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("a frame of {} bytes is too large", body.len()))
    })?;
    let mut buf = Vec::with_capacity(5 + body.len());
    buf.push(tag);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)?;
    w.flush()
}

/// The next frame; `None` at a clean end of stream (between frames).
pub fn read_frame(r: &mut dyn Read) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame header"));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame claims {len} bytes")));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    let bad = |what: &str, e: String| io::Error::new(io::ErrorKind::InvalidData, format!("a {what} frame: {e}"));
    Ok(Some(match head[0] {
        REQUEST => Frame::Request(serde_json::from_slice(&body).map_err(|e| bad("request", e.to_string()))?),
        CANCEL => Frame::Cancel,
        PROGRESS => Frame::Progress(pb::Progress::decode(body.as_slice()).map_err(|e| bad("progress", e.to_string()))?),
        RESULT => {
            Frame::Result(Box::new(pb::JobResult::decode(body.as_slice()).map_err(|e| bad("result", e.to_string()))?))
        }
        ERROR => {
            let b: ErrorBody = serde_json::from_slice(&body).map_err(|e| bad("error", e.to_string()))?;
            Frame::Error(TrainError { kind: kind_from(&b.kind), message: b.message })
        }
        other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame tag {other:#04x}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips() {
        let frames = vec![
            Frame::Request(Request {
                spec_json: "{\"a\":1}".into(),
                device: "cpu".into(),
                dataset: "/tmp/x.parquet".into(),
                threads: Some(1),
                fake_seconds: None,
            }),
            Frame::Cancel,
            Frame::Progress(pb::Progress { epoch: 2, epochs: 3, train_loss: 1.5, ..Default::default() }),
            Frame::Result(Box::new(pb::JobResult {
                metrics: Some(pb::RunMetrics { bleu: 12.5, ..Default::default() }),
                ..Default::default()
            })),
            Frame::Error(TrainError::fatal("diverged")),
            Frame::Error(TrainError::cancelled()),
        ];
        let mut buf = Vec::new();
        for f in &frames {
            write_frame(&mut buf, f).unwrap();
        }
        let mut r = buf.as_slice();
        for f in &frames {
            assert_eq!(read_frame(&mut r).unwrap().as_ref(), Some(f));
        }
        assert_eq!(read_frame(&mut r).unwrap(), None, "a clean end of stream");
    }

    #[test]
    fn a_cut_or_garbled_stream_is_an_error_not_a_frame() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Frame::Progress(pb::Progress::default())).unwrap();
        write_frame(&mut buf, &Frame::Error(TrainError::fatal("x"))).unwrap();
        let cut = &buf[..buf.len() - 2];
        let mut r = cut;
        assert!(read_frame(&mut r).unwrap().is_some());
        assert_eq!(read_frame(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let mut r: &[u8] = &[b'Z', 0, 0, 0, 0];
        assert!(read_frame(&mut r).unwrap_err().to_string().contains("unknown frame tag"));
        let mut r: &[u8] = &[b'P', 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut r).unwrap_err().to_string().contains("claims"));
        let mut r: &[u8] = &[b'R', 2];
        assert_eq!(read_frame(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
