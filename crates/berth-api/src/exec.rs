//! Exec sessions (`berth exec`, ECS ExecuteCommand): the frames that carry a session's
//! stream between the CLI and the agent, the command line as ExecuteCommand's one
//! `command` string, and the agent channel's exec messages.
//!
//! ```text
//! berth exec ──ExecuteCommand──► replica: session {id, streamUrl, token}
//!     │                                 │ offered to the agent's exec long poll
//!     └─GET streamUrl (Upgrade)──► replica ◄──GET /agent/v1/exec/ID (Upgrade)── agent
//!                                   splices the two           docker exec ◄──┘
//! ```
//!
//! The replica passes bytes through; the frames are the CLI's and the agent's. Each is
//! a tag byte, a big-endian `u32` payload length, and the payload. The CLI sends
//! [`Frame::Open`] first; the agent answers with output frames and ends with
//! [`Frame::Exit`] or [`Frame::Error`].

use serde::{Deserialize, Serialize};

/// The most a frame's payload may hold.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The most bytes a sender puts in one data frame (a larger read is split).
pub const CHUNK: usize = 64 * 1024;

/// The `Upgrade` protocol name of an exec stream.
pub const UPGRADE_PROTOCOL: &str = "berth-exec";

/// The path prefix of the CLI's side of a session's stream: `/exec/v1/sessions/ID`.
pub const STREAM_PATH: &str = "/exec/v1/sessions/";

const OPEN: u8 = 1;
const STDIN: u8 = 2;
const STDIN_CLOSED: u8 = 3;
const RESIZE: u8 = 4;
const STDOUT: u8 = 16;
const STDERR: u8 = 17;
const EXIT: u8 = 18;
const ERROR: u8 = 19;

/// One message of an exec stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// CLI → agent, first: whether to allocate a terminal, and its size.
    Open { tty: bool, cols: u16, rows: u16 },
    /// CLI → agent: bytes for the command's standard input.
    Stdin(Vec<u8>),
    /// CLI → agent: standard input has ended.
    StdinClosed,
    /// CLI → agent: the terminal's new size.
    Resize { cols: u16, rows: u16 },
    /// Agent → CLI: the command's standard output (everything, with a terminal).
    Stdout(Vec<u8>),
    /// Agent → CLI: the command's standard error.
    Stderr(Vec<u8>),
    /// Agent → CLI, last: the command's exit code.
    Exit(i32),
    /// Agent → CLI, last: the command could not be run, and why.
    Error(String),
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("an exec frame with unknown tag {0}")]
    UnknownTag(u8),
    #[error("an exec frame of {0} bytes, over the limit of {MAX_PAYLOAD}")]
    TooLarge(usize),
    #[error(
        "an exec frame with tag {tag} has a payload of {len} bytes, which that tag does not allow"
    )]
    BadLength { tag: u8, len: usize },
}

impl Frame {
    /// Appends the frame's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (tag, payload): (u8, std::borrow::Cow<[u8]>) = match self {
            Frame::Open { tty, cols, rows } => {
                let mut p = vec![u8::from(*tty)];
                p.extend_from_slice(&cols.to_be_bytes());
                p.extend_from_slice(&rows.to_be_bytes());
                (OPEN, p.into())
            }
            Frame::Stdin(b) => (STDIN, b.as_slice().into()),
            Frame::StdinClosed => (STDIN_CLOSED, Vec::new().into()),
            Frame::Resize { cols, rows } => {
                let mut p = cols.to_be_bytes().to_vec();
                p.extend_from_slice(&rows.to_be_bytes());
                (RESIZE, p.into())
            }
            Frame::Stdout(b) => (STDOUT, b.as_slice().into()),
            Frame::Stderr(b) => (STDERR, b.as_slice().into()),
            Frame::Exit(code) => (EXIT, code.to_be_bytes().to_vec().into()),
            Frame::Error(message) => (ERROR, message.as_bytes().into()),
        };
        out.push(tag);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads frames out of bytes as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished frame are held (at the stream's end: it was cut).
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole frame, if the bytes pushed so far hold one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let Some(header) = self.buf.get(..5) else {
            return Ok(None);
        };
        let tag = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(FrameError::TooLarge(len));
        }
        if !matches!(
            tag,
            OPEN | STDIN | STDIN_CLOSED | RESIZE | STDOUT | STDERR | EXIT | ERROR
        ) {
            return Err(FrameError::UnknownTag(tag));
        }
        let Some(payload) = self.buf.get(5..5 + len) else {
            return Ok(None);
        };
        let bad = || FrameError::BadLength { tag, len };
        let u16_at = |i: usize| u16::from_be_bytes([payload[i], payload[i + 1]]);
        let frame = match tag {
            OPEN if len == 5 => Frame::Open {
                tty: payload[0] != 0,
                cols: u16_at(1),
                rows: u16_at(3),
            },
            STDIN => Frame::Stdin(payload.to_vec()),
            STDIN_CLOSED if len == 0 => Frame::StdinClosed,
            RESIZE if len == 4 => Frame::Resize {
                cols: u16_at(0),
                rows: u16_at(2),
            },
            STDOUT => Frame::Stdout(payload.to_vec()),
            STDERR => Frame::Stderr(payload.to_vec()),
            EXIT if len == 4 => Frame::Exit(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            ERROR => Frame::Error(String::from_utf8_lossy(payload).into_owned()),
            _ => return Err(bad()),
        };
        self.buf.drain(..5 + len);
        Ok(Some(frame))
    }
}

/// Why ExecuteCommand's `command` is not a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the command has an unterminated {0} quote")]
    Unterminated(&'static str),
    #[error("the command ends with a lone backslash")]
    TrailingBackslash,
    #[error("the command is empty")]
    Empty,
}

/// ExecuteCommand's one `command` string for an argument vector: each word as is when
/// it needs no quoting, else in single quotes (`'` itself as `'\''`), joined by spaces;
/// [`split_command`] gives the vector back.
pub fn join_command(argv: &[String]) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b))
    };
    argv.iter()
        .map(|w| {
            if plain(w) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a command line as a POSIX shell splits them, without expansions:
/// blanks separate words; single quotes keep everything literally; double quotes keep
/// everything but a backslash before `"`, `\`, `$` or `` ` ``; outside quotes a
/// backslash keeps the next character.
pub fn split_command(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(CommandError::Unterminated("single")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(CommandError::Unterminated("double")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(CommandError::Unterminated("double")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(CommandError::TrailingBackslash),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err(CommandError::Empty);
    }
    Ok(words)
}

/// `GET /agent/v1/exec-sessions?containerInstanceArn=..&waitSeconds=..`: the sessions
/// whose CLI is waiting for this instance's agent, each offered once; a long poll that
/// answers at once when there are any, else when one arrives or `waitSeconds` passes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecSessions {
    pub sessions: Vec<ExecOffer>,
}

/// One session for an agent to take up: it runs `command` in the container named
/// `container_name` of task `task_arn`, then connects to `GET /agent/v1/exec/ID` on
/// the replica that offered it, with `Upgrade: berth-exec`, and splices the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecOffer {
    pub session_id: String,
    pub task_arn: String,
    pub container_name: String,
    pub command: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn frames_round_trip_even_when_bytes_arrive_one_at_a_time() {
        let frames = vec![
            Frame::Open {
                tty: true,
                cols: 120,
                rows: 40,
            },
            Frame::Stdin(b"echo hi\n".to_vec()),
            Frame::StdinClosed,
            Frame::Resize { cols: 80, rows: 24 },
            Frame::Stdout(vec![0, 255, 10]),
            Frame::Stderr(Vec::new()),
            Frame::Exit(-3),
            Frame::Error("no such container".into()),
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            f.encode(&mut bytes);
        }
        let mut decoder = Decoder::default();
        let mut got = Vec::new();
        for b in bytes {
            decoder.push(&[b]);
            while let Some(f) = decoder.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(!decoder.is_partial());
    }

    #[test]
    fn a_cut_frame_waits_for_the_rest() {
        let bytes = Frame::Stdout(b"hello".to_vec()).to_bytes();
        let mut decoder = Decoder::default();
        decoder.push(&bytes[..7]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert!(decoder.is_partial());
        decoder.push(&bytes[7..]);
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Frame::Stdout(b"hello".to_vec()))
        );
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut d = Decoder::default();
        d.push(&[99, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownTag(99)));
        let mut d = Decoder::default();
        d.push(&[STDOUT, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge(_))));
        let mut d = Decoder::default();
        d.push(&[EXIT, 0, 0, 0, 2, 1, 2]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::BadLength { tag: EXIT, len: 2 })
        );
    }

    #[test]
    fn commands_split_as_a_shell_splits_words() {
        assert_eq!(
            split_command("ls -la /").unwrap(),
            words(&["ls", "-la", "/"])
        );
        assert_eq!(
            split_command("sh -c 'read x; echo got $x; exit 3'").unwrap(),
            words(&["sh", "-c", "read x; echo got $x; exit 3"])
        );
        assert_eq!(
            split_command(r#"echo "a \"b\" \n" c\ d ''"#).unwrap(),
            words(&["echo", r#"a "b" \n"#, "c d", ""])
        );
        assert_eq!(split_command("  /bin/sh  ").unwrap(), words(&["/bin/sh"]));
        assert_eq!(split_command("a'b'\"c\"d").unwrap(), words(&["abcd"]));
        assert_eq!(split_command("   "), Err(CommandError::Empty));
        assert_eq!(
            split_command("echo 'x"),
            Err(CommandError::Unterminated("single"))
        );
        assert_eq!(
            split_command("echo \"x"),
            Err(CommandError::Unterminated("double"))
        );
        assert_eq!(
            split_command("echo \\"),
            Err(CommandError::TrailingBackslash)
        );
    }

    #[test]
    fn joined_commands_split_back_to_the_same_words() {
        let cases = [
            words(&["sh", "-c", "read x; echo got $x; exit 3"]),
            words(&[
                "echo",
                "it's",
                "",
                "a\"b",
                "back\\slash",
                "tab\there",
                "new\nline",
            ]),
            words(&["/bin/ls", "-la", "--color=never", "a,b:c@d+e%f^g"]),
            words(&["ünïcode", "$HOME", "`id`", "*", "~"]),
        ];
        for argv in cases {
            let line = join_command(&argv);
            assert_eq!(split_command(&line).unwrap(), argv, "through {line}");
        }
        assert_eq!(join_command(&words(&["ls", "-la"])), "ls -la");
    }
}
