//! The control protocol: what `twinbeat status`, `cl_status` (and later
//! `standby` / `takeover`) say to a running daemon, and how it is framed.
//!
//! One JSON object per line over a `SOCK_STREAM` unix socket at
//! `RUN_DIR/`[`SOCKET_NAME`]. Every message carries the protocol version in
//! `"v"`, so a client of another twinbeat version gets a clear refusal
//! instead of a misread snapshot. A connection carries one request and one
//! response, then the daemon closes it: no client can hold the control
//! thread beyond one exchange.
//!
//! ```text
//! → {"v":1,"cmd":"status"}
//! ← {"v":1,"reply":"status","snapshot":{...}}
//! → {"v":1,"cmd":"standby","scope":"foreign"}
//! ← {"v":1,"reply":"done","message":"standby: ... acknowledged by both nodes"}
//! → {"v":1,"cmd":"clear_unclean"}
//! ← {"v":1,"reply":"error","message":"..."}
//! ```
//!
//! The daemon forwards the operator requests (standby, takeover,
//! clear_unclean) with the same framing to its takeover process, which
//! serves them on `RUN_DIR/`[`AGENT_SOCKET_NAME`].
//!
//! Pure: encoding, decoding and the bounded line buffer do no I/O.

use serde::{Deserialize, Serialize};

use crate::engine::status::Snapshot;

/// File name of the control socket inside the run dir.
pub const SOCKET_NAME: &str = "twinbeat.sock";

/// The takeover process's socket inside the run dir (mode 0600): the
/// daemon's control thread forwards operator requests to it.
pub const AGENT_SOCKET_NAME: &str = "agent.sock";

/// Version every message carries; a peer speaking another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the daemon reads (newline excluded). Requests are a
/// few dozen bytes: anything longer is a confused or hostile client.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest response line a client reads. A snapshot grows with links and
/// peers (a few KiB for a pair); the bound only stops a runaway peer.
pub const MAX_RESPONSE_LINE: usize = 16 * 1024 * 1024;

/// Which resource groups a standby / takeover request is about
/// (Heartbeat's `hb_standby [all|local|foreign]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    All,
    Local,
    Foreign,
}

/// What a client asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The node's [`Snapshot`].
    Status,
    /// Give resource groups to the peer (`hb_standby`). A daemon without a
    /// resource manager answers [`Response::Unsupported`].
    Standby { scope: Scope },
    /// Ask the peer for its resource groups (`hb_takeover`).
    Takeover { scope: Scope },
    /// The operator says the resources that failed to stop are gone: the
    /// node may claim groups again.
    ClearUnclean,
}

impl Request {
    /// The command's name, as the operator types it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Standby { .. } => "standby",
            Request::Takeover { .. } => "takeover",
            Request::ClearUnclean => "clear-unclean",
        }
    }
}

/// What the daemon answers.
// One response is built per request, off the hot path: boxing the snapshot
// to shrink the other variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Status(Snapshot),
    Ok,
    /// An operator request was carried out; `message` says what happened.
    Done {
        message: String,
    },
    Error {
        message: String,
    },
    /// The daemon understood the request but does not implement it.
    Unsupported,
}

/// Why a line is not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("not a valid message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message has no protocol version (\"v\")")]
    MissingVersion,
    #[error("protocol version {got} is not the version {PROTOCOL_VERSION} this twinbeat speaks")]
    Version { got: u64 },
    #[error("line longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("message nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("connection closed before a complete line")]
    Truncated,
}

/// The response as it travels: a struct variant keeps the snapshot under
/// its own key instead of mixing its fields with the tag.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
enum WireResponse {
    Status { snapshot: Snapshot },
    Ok,
    Done { message: String },
    Error { message: String },
    Unsupported,
}

/// Encodes a request as one line, newline included.
pub fn encode_request(request: &Request) -> Result<Vec<u8>, ProtocolError> {
    encode_versioned(request)
}

/// Decodes one request line (without its newline).
pub fn decode_request(line: &[u8]) -> Result<Request, ProtocolError> {
    decode_versioned(line)
}

/// Encodes a response as one line, newline included.
pub fn encode_response(response: &Response) -> Result<Vec<u8>, ProtocolError> {
    let wire = match response {
        Response::Status(snapshot) => WireResponse::Status {
            snapshot: snapshot.clone(),
        },
        Response::Ok => WireResponse::Ok,
        Response::Done { message } => WireResponse::Done {
            message: message.clone(),
        },
        Response::Error { message } => WireResponse::Error {
            message: message.clone(),
        },
        Response::Unsupported => WireResponse::Unsupported,
    };
    encode_versioned(&wire)
}

/// Decodes one response line (without its newline).
pub fn decode_response(line: &[u8]) -> Result<Response, ProtocolError> {
    Ok(match decode_versioned::<WireResponse>(line)? {
        WireResponse::Status { snapshot } => Response::Status(snapshot),
        WireResponse::Ok => Response::Ok,
        WireResponse::Done { message } => Response::Done { message },
        WireResponse::Error { message } => Response::Error { message },
        WireResponse::Unsupported => Response::Unsupported,
    })
}

fn encode_versioned<T: Serialize>(body: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut value = serde_json::to_value(body)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("v".to_owned(), PROTOCOL_VERSION.into());
    }
    let mut line = serde_json::to_vec(&value)?;
    line.push(b'\n');
    Ok(line)
}

/// Deepest nesting of arrays and objects a message may have. Ours nest a
/// few levels; the parser recurses per level, and the threads that parse
/// requests have small stacks (`realtime::THREAD_STACK`).
pub const MAX_NESTING: usize = 32;

/// How deep `line`'s arrays and objects nest, brackets inside strings
/// aside; stops counting past `limit`.
fn nesting_depth(line: &[u8], limit: usize) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in line {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    break;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn decode_versioned<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, ProtocolError> {
    if nesting_depth(line, MAX_NESTING) > MAX_NESTING {
        return Err(ProtocolError::TooDeep { limit: MAX_NESTING });
    }
    let mut value: serde_json::Value = serde_json::from_slice(line)?;
    // The version is checked before the body so that a future message shape
    // is reported as a version mismatch, not as a confusing field error.
    let version = match value.as_object_mut().and_then(|map| map.remove("v")) {
        Some(v) => v.as_u64().ok_or(ProtocolError::MissingVersion)?,
        None => return Err(ProtocolError::MissingVersion),
    };
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(ProtocolError::Version { got: version });
    }
    Ok(serde_json::from_value(value)?)
}

/// Collects bytes until a newline, refusing to hold more than `limit`.
///
/// The caller feeds it whatever a read returned; it never buffers beyond
/// `limit + 1` bytes, so a client streaming megabytes costs nothing.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    limit: usize,
}

/// What [`LineBuffer::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// No newline yet; read more.
    Incomplete,
    /// A whole line is ready in [`LineBuffer::line`]; bytes after the
    /// newline (a pipelined second message) are ignored.
    Complete,
}

impl LineBuffer {
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
        }
    }

    /// Appends `bytes`; an error once the line would exceed the limit.
    pub fn push(&mut self, bytes: &[u8]) -> Result<LineStatus, ProtocolError> {
        match bytes.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let head = bytes.get(..end).unwrap_or(bytes);
                self.append(head)?;
                Ok(LineStatus::Complete)
            }
            None => {
                self.append(bytes)?;
                Ok(LineStatus::Incomplete)
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        if self.buf.len().saturating_add(bytes.len()) > self.limit {
            return Err(ProtocolError::TooLong { limit: self.limit });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The line collected so far, newline excluded.
    pub fn line(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_tag_and_version() {
        let line = encode_request(&Request::Status).unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(value["cmd"], "status");
        assert_eq!(value["v"], PROTOCOL_VERSION);
    }

    #[test]
    fn requests_round_trip() {
        for request in [
            Request::Status,
            Request::Standby {
                scope: Scope::Foreign,
            },
            Request::Takeover { scope: Scope::All },
            Request::ClearUnclean,
        ] {
            let line = encode_request(&request).unwrap();
            let back = decode_request(line.strip_suffix(b"\n").unwrap()).unwrap();
            assert_eq!(back, request);
        }
    }

    #[test]
    fn hand_written_request_is_understood() {
        let request = decode_request(br#"{"v":1,"cmd":"standby","scope":"local"}"#).unwrap();
        assert_eq!(
            request,
            Request::Standby {
                scope: Scope::Local
            }
        );
    }

    #[test]
    fn other_version_is_refused() {
        let err = decode_request(br#"{"v":2,"cmd":"status"}"#).unwrap_err();
        assert!(matches!(err, ProtocolError::Version { got: 2 }), "{err}");
        let err = decode_request(br#"{"cmd":"status"}"#).unwrap_err();
        assert!(matches!(err, ProtocolError::MissingVersion), "{err}");
        let err = decode_request(br#"[1,2]"#).unwrap_err();
        assert!(matches!(err, ProtocolError::MissingVersion), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_even_on_a_small_stack() {
        // 120 levels, under serde_json's own limit of 128: parsed, each
        // level costs stack, which an unoptimised build on a thread of
        // 256 KiB may not have.
        let mut line = b"{\"v\":1,\"cmd\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', 120));
        line.extend(std::iter::repeat_n(b']', 120));
        line.push(b'}');
        let outcome = crate::engine::realtime::thread_named("deep")
            .spawn(move || (decode_request(&line).err(), decode_response(&line).err()))
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert!(matches!(
            outcome.0,
            Some(ProtocolError::TooDeep { limit: MAX_NESTING })
        ));
        assert!(matches!(
            outcome.1,
            Some(ProtocolError::TooDeep { limit: MAX_NESTING })
        ));
    }

    #[test]
    fn brackets_inside_strings_are_not_nesting() {
        assert_eq!(nesting_depth(br#"{"a":"[[[{{{\"[[["}"#, 100), 1);
        assert_eq!(nesting_depth(br#"{"a":[{"b":[]}]}"#, 100), 4);
        assert_eq!(
            nesting_depth(b"[[[[[[", 3),
            4,
            "stops counting past the limit"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for line in [
            &b""[..],
            b"\xff\xfe",
            b"{",
            b"{\"v\":1}",
            b"{\"v\":1,\"cmd\":\"reboot\"}",
        ] {
            assert!(decode_request(line).is_err());
            assert!(decode_response(line).is_err());
        }
    }

    #[test]
    fn simple_responses_round_trip() {
        for response in [
            Response::Ok,
            Response::Unsupported,
            Response::Done {
                message: "standby: acknowledged by both nodes".into(),
            },
            Response::Error {
                message: "no such group".into(),
            },
        ] {
            let line = encode_response(&response).unwrap();
            let back = decode_response(line.strip_suffix(b"\n").unwrap()).unwrap();
            assert_eq!(back, response);
        }
    }

    #[test]
    fn line_buffer_stops_at_newline_and_at_limit() {
        let mut lines = LineBuffer::new(8);
        assert_eq!(lines.push(b"abc").unwrap(), LineStatus::Incomplete);
        assert_eq!(lines.push(b"de\nrest").unwrap(), LineStatus::Complete);
        assert_eq!(lines.line(), b"abcde");

        let mut lines = LineBuffer::new(8);
        assert_eq!(lines.push(b"12345678").unwrap(), LineStatus::Incomplete);
        assert!(matches!(
            lines.push(b"9"),
            Err(ProtocolError::TooLong { limit: 8 })
        ));
        // Exactly at the limit with its newline is still a line.
        let mut lines = LineBuffer::new(8);
        assert_eq!(lines.push(b"12345678\n").unwrap(), LineStatus::Complete);
    }
}
