//! A container's output read straight from the files of Docker's `local` log driver,
//! without asking dockerd for it back.
//!
//! `docker logs --follow` costs dockerd more than writing the log did: it watches the
//! file, decodes every entry, formats it and writes and flushes it to the HTTP stream
//! one line at a time. The agent runs beside dockerd and can read the same files, so it
//! does (the Docker runtime falls back to the logs API when it cannot: another mount
//! namespace, a remote engine, compressed rotations).
//!
//! The driver's layout, as Docker 20.10 and later write it: `local-logs/container.log`
//! in the container's directory, rotated by renaming to `container.log.1`,
//! `container.log.2`, ... (plain, with the `compress=false` option). Each entry is a
//! frame: a big-endian `u32` length, a protobuf `LogEntry` (`source` = 1, `time_nano`
//! = 2, `line` = 3, `partial` = 4, `partial_log_metadata` = 5 with `last` = 1), and the
//! length again. A line longer than Docker's 16 KiB buffer comes as several partial
//! entries; they are joined here, up to CloudWatch's event size.
//!
//! Following a file: at its end the reader checks whether `container.log` is still the
//! file it holds; once it is not (rotated), it reads what its file got before the
//! rename, then goes on with the files that came after it, oldest first. A reader that
//! fell more than the driver's rotations behind finds its file gone and says so.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;

use crate::runtime::{OutputLine, OutputLines, RuntimeError};

/// The file the driver writes to, in its directory.
const CURRENT: &str = "container.log";
/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;
/// A frame longer than this is not the driver's (its entries hold at most 1 MB).
const MAX_FRAME: usize = 2 * 1024 * 1024;
/// The longest line handed on: CloudWatch's event size less its 26 bytes of overhead.
const MAX_LINE: usize = 262_144 - 26;
/// Pauses at the end of a followed file: short while lines keep coming, longer when idle.
const POLL_MIN: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);

/// A container's output from the driver's files in `dir` (its `local-logs`), from
/// `since_ns` on; with `follow`, also what is written next, for as long as the stream
/// is read (the caller knows when the container has stopped).
pub fn read(dir: PathBuf, since_ns: i64, follow: bool) -> Result<OutputLines, RuntimeError> {
    let files = files_after(&dir, None).map_err(|e| {
        RuntimeError::Unavailable(format!("container log files in {}: {e}", dir.display()))
    })?;
    let tail = Tail {
        dir,
        follow,
        files,
        file: None,
        last: None,
        rotated: false,
        buf: Vec::new(),
        lines: Lines::new(since_ns),
    };
    // The files are read on the blocking pool, a chunk at a time; a failure is the
    // stream's last item.
    let chunks = futures::stream::unfold(Some(tail), |tail| async move {
        let mut tail = tail?;
        let mut pause = POLL_MIN;
        loop {
            let (back, step) = match tokio::task::spawn_blocking(move || {
                let step = tail.step();
                (tail, step)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    let e = RuntimeError::Unavailable(format!("log file reader: {e}"));
                    return Some((vec![Err(e)], None));
                }
            };
            tail = back;
            match step {
                Step::Lines(lines) => {
                    return Some((lines.into_iter().map(Ok).collect(), Some(tail)))
                }
                Step::Idle => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(POLL_MAX);
                }
                Step::End => return None,
                Step::Failed(e) => return Some((vec![Err(RuntimeError::Unavailable(e))], None)),
            }
        }
    });
    Ok(chunks.flat_map(futures::stream::iter).boxed())
}

/// What one step of reading found.
enum Step {
    Lines(Vec<OutputLine>),
    /// At the end of the newest file, following: try again in a moment.
    Idle,
    /// At the end, not following: the stream is over.
    End,
    Failed(String),
}

/// The reader's place in the files.
struct Tail {
    dir: PathBuf,
    follow: bool,
    /// Files still to read after the current one, oldest first.
    files: VecDeque<(File, u64)>,
    /// The file being read and its inode.
    file: Option<(File, u64)>,
    /// The inode of the newest file read so far.
    last: Option<u64>,
    /// `container.log` is no longer the file being read: once that file is read to its
    /// end (what was written before the rename), go on to its successors.
    rotated: bool,
    /// Bytes read and not yet decoded (the start of a frame still being written).
    buf: Vec<u8>,
    lines: Lines,
}

impl Tail {
    /// Reads until it has lines, reaches the end, or fails.
    fn step(&mut self) -> Step {
        loop {
            let Some((file, inode)) = &mut self.file else {
                if let Some(next) = self.files.pop_front() {
                    self.last = Some(next.1);
                    self.file = Some(next);
                    self.rotated = false;
                    continue;
                }
                if !self.follow {
                    return self.end();
                }
                // Following: the files written after the last one read, once there are.
                match files_after(&self.dir, self.last) {
                    Ok(files) if files.is_empty() => return Step::Idle,
                    Ok(files) => {
                        self.files = files;
                        continue;
                    }
                    Err(e) => return Step::Failed(e.to_string()),
                }
            };
            let inode = *inode;
            let len = self.buf.len();
            self.buf.resize(len + CHUNK, 0);
            let read = file.read(&mut self.buf[len..]);
            self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
            let n = match read {
                Ok(n) => n,
                Err(e) => return Step::Failed(e.to_string()),
            };
            if n > 0 {
                match self.lines.decode(&mut self.buf) {
                    Ok(lines) if lines.is_empty() => continue,
                    Ok(lines) => return Step::Lines(lines),
                    Err(corrupt) => {
                        tracing::warn!(dir = %self.dir.display(), %corrupt, "skipping the rest of a container log file");
                        self.buf.clear();
                        self.file = None;
                        continue;
                    }
                }
            }
            // At the end of this file: older files and a rotated one are done with.
            if !self.files.is_empty() || self.rotated {
                self.drop_torn_frame();
                self.file = None;
                continue;
            }
            if !self.follow {
                self.file = None;
                return self.end();
            }
            match inode_of(&self.dir.join(CURRENT)) {
                // Renamed away: read once more what came before the rename.
                Ok(current) if current != inode => self.rotated = true,
                _ => return Step::Idle,
            }
        }
    }

    /// The end of a read without following: a last unfinished line is a line too.
    fn end(&mut self) -> Step {
        match self.lines.finish() {
            Some(line) => Step::Lines(vec![line]),
            None => Step::End,
        }
    }

    fn drop_torn_frame(&mut self) {
        if !self.buf.is_empty() {
            tracing::warn!(dir = %self.dir.display(), bytes = self.buf.len(), "a container log file ends inside an entry");
            self.buf.clear();
        }
    }
}

fn inode_of(path: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
}

/// The driver's files in `dir` that came after the one with inode `after` (all of them
/// when `None`, or when that file is gone: a gap the log says), oldest first, opened;
/// none while `dir` does not exist yet.
fn files_after(dir: &Path, after: Option<u64>) -> std::io::Result<VecDeque<(File, u64)>> {
    // A rotation between listing and opening shows as one inode under two names: list
    // again.
    for _ in 0..10 {
        let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            // Not started yet: no output.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(VecDeque::new()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_prefix("container.log.")
                .and_then(|n| n.parse::<u32>().ok())
            {
                rotated.push((n, dir.join(&*name)));
            }
        }
        // The highest number is the oldest.
        rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
        let mut paths: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
        paths.push(dir.join(CURRENT));
        let mut files = VecDeque::new();
        for path in paths {
            match File::open(&path) {
                Ok(file) => {
                    let inode = file.metadata()?.ino();
                    files.push_back((file, inode));
                }
                // Rotated away (the oldest, removed) between listing and opening.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut inodes: Vec<u64> = files.iter().map(|(_, i)| *i).collect();
        inodes.sort_unstable();
        inodes.dedup();
        if inodes.len() != files.len() {
            continue;
        }
        let Some(after) = after else {
            return Ok(files);
        };
        return Ok(match files.iter().position(|(_, i)| *i == after) {
            Some(at) => files.split_off(at + 1),
            None => {
                tracing::warn!(dir = %dir.display(), "the container wrote more than its log files keep while it was not read: lines are missing");
                files
            }
        });
    }
    Err(std::io::Error::other(
        "the log files kept rotating while being listed",
    ))
}

/// A frame that is not the driver's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Corrupt(&'static str);

/// Turns the driver's entries into lines: partial entries joined, lines from before
/// `since_ns` left out.
struct Lines {
    since_ns: i64,
    /// A line whose last part has not come yet.
    pending: Option<OutputLine>,
}

impl Lines {
    fn new(since_ns: i64) -> Lines {
        Lines {
            since_ns,
            pending: None,
        }
    }

    /// Decodes the whole frames at the start of `buf`, removing them from it.
    fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Vec<OutputLine>, Corrupt> {
        let mut lines = Vec::new();
        let mut at = 0;
        while let Some(header) = buf.get(at..at + 4) {
            let size = u32::from_be_bytes(header.try_into().unwrap_or_default()) as usize;
            if size > MAX_FRAME {
                return Err(Corrupt("an entry longer than the driver writes"));
            }
            let Some(frame) = buf.get(at + 4..at + 8 + size) else {
                break;
            };
            if frame[size..] != header[..] {
                return Err(Corrupt("an entry whose two lengths differ"));
            }
            let entry = Entry::decode(&frame[..size])?;
            self.take(entry, &mut lines);
            at += 8 + size;
        }
        buf.drain(..at);
        Ok(lines)
    }

    fn take(&mut self, entry: Entry<'_>, lines: &mut Vec<OutputLine>) {
        let text = String::from_utf8_lossy(entry.line);
        match &mut self.pending {
            Some(line) if line.message.len() + text.len() <= MAX_LINE => {
                line.message.push_str(&text)
            }
            _ => {
                if let Some(full) = self.pending.take() {
                    self.keep(full, lines);
                }
                self.pending = Some(OutputLine {
                    timestamp_ns: entry.time_ns,
                    message: text.into_owned(),
                });
            }
        }
        if !entry.partial || entry.last {
            if let Some(done) = self.pending.take() {
                self.keep(done, lines);
            }
        }
    }

    fn keep(&self, line: OutputLine, lines: &mut Vec<OutputLine>) {
        if line.timestamp_ns >= self.since_ns {
            lines.push(line);
        }
    }

    /// The unfinished line, once nothing more will come.
    fn finish(&mut self) -> Option<OutputLine> {
        self.pending
            .take()
            .filter(|line| line.timestamp_ns >= self.since_ns)
    }
}

/// One `LogEntry`.
#[derive(Debug, PartialEq)]
struct Entry<'a> {
    time_ns: i64,
    line: &'a [u8],
    partial: bool,
    /// The last part of a partial line.
    last: bool,
}

impl<'a> Entry<'a> {
    fn decode(mut bytes: &'a [u8]) -> Result<Entry<'a>, Corrupt> {
        let mut entry = Entry {
            time_ns: 0,
            line: &[],
            partial: false,
            last: false,
        };
        while !bytes.is_empty() {
            let key = varint(&mut bytes)?;
            match (key >> 3, key & 7) {
                (2, 0) => entry.time_ns = varint(&mut bytes)? as i64,
                (3, 2) => entry.line = delimited(&mut bytes)?,
                (4, 0) => entry.partial = varint(&mut bytes)? != 0,
                (5, 2) => {
                    let mut meta = delimited(&mut bytes)?;
                    while !meta.is_empty() {
                        let key = varint(&mut meta)?;
                        match (key >> 3, key & 7) {
                            (1, 0) => entry.last = varint(&mut meta)? != 0,
                            (_, wire) => skip(&mut meta, wire)?,
                        }
                    }
                }
                (_, wire) => skip(&mut bytes, wire)?,
            }
        }
        Ok(entry)
    }
}

fn varint(bytes: &mut &[u8]) -> Result<u64, Corrupt> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(Corrupt("a cut-off number"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Corrupt("a number longer than 64 bits"))
}

fn delimited<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], Corrupt> {
    let len = varint(bytes)? as usize;
    if len > bytes.len() {
        return Err(Corrupt("a field longer than its entry"));
    }
    let (field, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(field)
}

fn skip(bytes: &mut &[u8], wire: u64) -> Result<(), Corrupt> {
    match wire {
        0 => varint(bytes).map(drop),
        1 | 5 => {
            let n = if wire == 1 { 8 } else { 4 };
            *bytes = bytes.get(n..).ok_or(Corrupt("a cut-off field"))?;
            Ok(())
        }
        2 => delimited(bytes).map(drop),
        _ => Err(Corrupt("an unknown field type")),
    }
}

#[cfg(test)]
mod tests;
