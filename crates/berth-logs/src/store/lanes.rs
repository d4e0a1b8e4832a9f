//! Lanes: how several processes (the replicas of a control plane) share one store
//! directory on a filesystem they all reach, without ever writing the same file.
//!
//! ```text
//! ROOT/lanes/lane-00001.lock                       held (flock) by lane 1's writer
//! ROOT/streams/<stream-id>/lane-00001/seg-….log    lane 1's segments of the stream
//! ```
//!
//! - **Claiming.** A shared store claims one lane when it opens: the first lane whose
//!   lock file it can lock (a lane whose writer is gone is adopted and continued), else
//!   a new one. The lock is held until the store is dropped or the process ends, so a
//!   process that is alive (even stopped) keeps its lane.
//! - **Seqs.** Lane `n` numbers its events from `n × 2^48 + 1`, so seqs, and with them
//!   read positions and page tokens, are unique across lanes; the order of positions
//!   is still timestamp first.
//! - **Reads** merge every lane of the stream: the claimed lane from memory, the
//!   others as followed streams, refreshed from their files before each read, so an
//!   event one process acknowledged is read by every other from then on.
//! - **Counting.** A stream's `next_seq` in a summary counts the events of every lane.
//! - **Retention** on each process expires its own lane, and every lane whose writer is
//!   gone (its lock is free, and held meanwhile); a live writer's lane is its own to
//!   expire.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::event::{Cursor, Direction, ReadPage, ReadQuery, StreamSummary};
use super::{io_error, LogError};

/// The most lanes a store directory can have (lane numbers are 1 to this).
const MAX_LANE: u32 = u16::MAX as u32;

/// The lane this process writes, held for as long as the value lives.
#[derive(Debug)]
pub(crate) struct Lane {
    pub number: u16,
    /// The locked lock file; closing it releases the lane.
    _lock: File,
}

/// The seq of a lane's first event.
pub(crate) fn first_seq(lane: u16) -> u64 {
    (u64::from(lane) << 48) + 1
}

/// The directory of a stream's lane.
pub(crate) fn dir(stream_dir: &Path, lane: u16) -> PathBuf {
    stream_dir.join(format!("lane-{lane:05}"))
}

fn lock_path(root: &Path, lane: u32) -> PathBuf {
    root.join("lanes").join(format!("lane-{lane:05}.lock"))
}

/// The lane number a lane directory or lock file is named for.
fn parse_name(name: &str, suffix: &str) -> Option<u16> {
    let digits = name.strip_prefix("lane-")?.strip_suffix(suffix)?;
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// Claims a lane under `root`: a free existing one (lowest first), else a new one.
pub(crate) fn claim(root: &Path) -> Result<Lane, LogError> {
    let lanes_dir = root.join("lanes");
    fs::create_dir_all(&lanes_dir)
        .map_err(io_error(format!("creating {}", lanes_dir.display())))?;
    let mut existing: Vec<u16> = fs::read_dir(&lanes_dir)
        .map_err(io_error(format!("listing {}", lanes_dir.display())))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            parse_name(name.to_str()?, ".lock")
        })
        .collect();
    existing.sort_unstable();
    for &number in &existing {
        if let Some(lock) = try_lock(root, number)? {
            return Ok(Lane {
                number,
                _lock: lock,
            });
        }
    }
    let mut next = existing.last().map_or(1, |&n| u32::from(n) + 1);
    while next <= MAX_LANE {
        let path = lock_path(root, next);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => {
                // Another process may have found the new file first and taken it.
                if file.try_lock().is_ok() {
                    return Ok(Lane {
                        number: next as u16,
                        _lock: file,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(format!("creating {}", path.display()))(e)),
        }
        next += 1;
    }
    Err(LogError::Io {
        context: format!("claiming a lane in {}", lanes_dir.display()),
        source: std::sync::Arc::new(io::Error::other(format!(
            "all {MAX_LANE} lanes are taken; remove the lock files of writers long gone"
        ))),
    })
}

/// The lane's lock when its writer is gone (nobody holds it), to act for it.
pub(crate) fn try_lock(root: &Path, lane: u16) -> Result<Option<File>, LogError> {
    let path = lock_path(root, u32::from(lane));
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        // A lane whose lock file is gone (removed by hand): nobody can hold it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(format!("creating {}", path.display())))?,
        Err(e) => return Err(io_error(format!("opening {}", path.display()))(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io_error(format!("locking {}", path.display()))(e)),
    }
}

/// The lanes a stream has files in, lowest first (none when it has no directory).
pub(crate) fn of_stream(stream_dir: &Path) -> Result<Vec<u16>, LogError> {
    let entries = match fs::read_dir(stream_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("listing {}", stream_dir.display()))(e)),
    };
    let mut lanes: Vec<u16> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            parse_name(name.to_str()?, "")
        })
        .collect();
    lanes.sort_unstable();
    Ok(lanes)
}

/// One page of a stream from the pages each lane gave for the same query: the
/// first `limit` events of them all in the query's order. Each lane's page holds that
/// lane's first `limit` events past the cursor, so no event of any lane can come
/// before the merged page's last one without being in it.
pub(crate) fn merge_pages(pages: Vec<ReadPage>, query: &ReadQuery) -> ReadPage {
    let direction = query.from.direction();
    let mut more = pages.iter().any(|p| p.more);
    let mut events: Vec<_> = pages.into_iter().flat_map(|p| p.events).collect();
    match direction {
        Direction::Forward => events.sort_unstable_by_key(|e| e.position()),
        Direction::Backward => events.sort_unstable_by_key(|e| std::cmp::Reverse(e.position())),
    }
    if events.len() > query.limit {
        events.truncate(query.limit);
        more = true;
    }
    let next = match (events.last(), direction) {
        (None, _) => query.from,
        (Some(last), Direction::Forward) => Cursor::After(last.position()),
        (Some(last), Direction::Backward) => Cursor::Before(last.position()),
    };
    ReadPage { events, next, more }
}

/// A stream's summary from its lanes' summaries; `None` when no lane has one.
pub(crate) fn merge_summaries(
    lanes: impl IntoIterator<Item = StreamSummary>,
) -> Option<StreamSummary> {
    lanes.into_iter().reduce(|a, b| StreamSummary {
        first_event_timestamp: min_of(a.first_event_timestamp, b.first_event_timestamp),
        last_event_timestamp: a.last_event_timestamp.max(b.last_event_timestamp),
        last_ingestion_time: a.last_ingestion_time.max(b.last_ingestion_time),
        stored_bytes: a.stored_bytes + b.stored_bytes,
        // Each counts its own events plus one.
        next_seq: a.next_seq + b.next_seq - 1,
    })
}

fn min_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_names_round_trip_and_strangers_are_ignored() {
        let d = dir(Path::new("/s"), 7);
        assert_eq!(d, Path::new("/s/lane-00007"));
        assert_eq!(parse_name("lane-00007", ""), Some(7));
        assert_eq!(parse_name("lane-65535.lock", ".lock"), Some(65535));
        for other in [
            "lane-00000",
            "lane-7",
            "lane-0000x",
            "seg-00007",
            "lane-00007.log",
        ] {
            assert_eq!(parse_name(other, ""), None, "{other}");
        }
        assert_eq!(first_seq(0), 1);
        assert_eq!(first_seq(1), (1 << 48) + 1);
    }

    #[test]
    fn a_lane_is_held_while_its_claim_lives_and_adopted_after() {
        let root = tempfile::tempdir().unwrap();
        let a = claim(root.path()).unwrap();
        let b = claim(root.path()).unwrap();
        assert_eq!((a.number, b.number), (1, 2));
        assert!(
            try_lock(root.path(), 1).unwrap().is_none(),
            "a holds lane 1"
        );
        drop(a);
        let held = try_lock(root.path(), 1).unwrap();
        assert!(held.is_some(), "lane 1's writer is gone");
        assert_eq!(
            claim(root.path()).unwrap().number,
            3,
            "lane 1 is held meanwhile"
        );
        drop(held);
        assert_eq!(
            claim(root.path()).unwrap().number,
            1,
            "a free lane is adopted"
        );
    }

    #[test]
    fn summaries_add_up_counts_and_keep_extremes() {
        let one = StreamSummary {
            first_event_timestamp: Some(10),
            last_event_timestamp: Some(20),
            last_ingestion_time: Some(25),
            stored_bytes: 100,
            next_seq: 4,
        };
        let other = StreamSummary {
            first_event_timestamp: Some(5),
            last_event_timestamp: Some(15),
            last_ingestion_time: Some(30),
            stored_bytes: 50,
            next_seq: 3,
        };
        let empty = StreamSummary {
            first_event_timestamp: None,
            last_event_timestamp: None,
            last_ingestion_time: None,
            stored_bytes: 0,
            next_seq: 1,
        };
        let merged = merge_summaries([one, empty, other]).unwrap();
        assert_eq!(merged.first_event_timestamp, Some(5));
        assert_eq!(merged.last_event_timestamp, Some(20));
        assert_eq!(merged.last_ingestion_time, Some(30));
        assert_eq!(merged.stored_bytes, 150);
        assert_eq!(merged.next_seq, 6, "3 events + 2 events, plus one");
        assert_eq!(merge_summaries([]), None);
    }
}
