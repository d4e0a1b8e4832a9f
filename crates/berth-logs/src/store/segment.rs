//! Segment files on disk: their names, creating one, and rebuilding a segment's index
//! from its bytes, which is also how a tail torn by a crash is found and cut off.
//!
//! ```text
//! seg-00000000000000000001.log      records with seqs 1, 2, … (see `record`)
//! seg-00000000000000000001.idx      its sparse index, once sealed (see `index`)
//! seg-00000000000000000001.idx.tmp  a sidecar being written; removed on load
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::index::{RecordInfo, SegmentIndex};
use super::record::{self, Decoded, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC};
use super::{io_error, LogError};

/// Bytes read at a time while scanning a segment.
const SCAN_CHUNK: u64 = 1 << 20;

/// The file holding the records of the segment whose first seq is `first_seq`.
pub(crate) fn log_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("seg-{first_seq:020}.log"))
}

/// The sidecar index of that segment.
fn sidecar_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("seg-{first_seq:020}.idx"))
}

/// What a file in a stream's directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Log,
    Sidecar,
    /// A sidecar that was being written when the process stopped.
    Temporary,
}

/// The first seq and kind of a segment file name; `None` for any other name.
pub(crate) fn parse_name(name: &str) -> Option<(u64, FileKind)> {
    let rest = name.strip_prefix("seg-")?;
    let (digits, suffix) = rest.split_at_checked(20)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match suffix {
        ".log" => FileKind::Log,
        ".idx" => FileKind::Sidecar,
        ".idx.tmp" => FileKind::Temporary,
        _ => return None,
    };
    Some((digits.parse().ok()?, kind))
}

/// Creates (or resets) an empty segment durably: header written and synced, and the
/// directory synced so the file survives a crash.
pub(crate) fn create(dir: &Path, first_seq: u64) -> Result<(), LogError> {
    let path = log_path(dir, first_seq);
    let context = || format!("creating log segment {}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_error(context()))?;
    file.write_all(SEGMENT_MAGIC).map_err(io_error(context()))?;
    file.sync_all().map_err(io_error(context()))?;
    sync_dir(dir)
}

/// Cuts a segment back to `len` bytes and syncs it.
pub(crate) fn truncate(dir: &Path, first_seq: u64, len: u64) -> Result<(), LogError> {
    let path = log_path(dir, first_seq);
    let context = || format!("truncating log segment {} to {len} bytes", path.display());
    let file = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io_error(context()))?;
    file.set_len(len).map_err(io_error(context()))?;
    file.sync_all().map_err(io_error(context()))
}

/// Removes a segment and its sidecar; the caller syncs the directory.
pub(crate) fn remove(dir: &Path, first_seq: u64) -> Result<(), LogError> {
    for path in [log_path(dir, first_seq), sidecar_path(dir, first_seq)] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(format!("removing {}", path.display()))(e)),
        }
    }
    Ok(())
}

/// Fsyncs a directory, making the entries created or removed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing directory {}", dir.display())))
}

/// Writes a sealed segment's sidecar. Best effort: without it the next load scans the
/// segment instead, so a failure is only logged.
pub(crate) fn write_sidecar(dir: &Path, index: &SegmentIndex) {
    let path = sidecar_path(dir, index.first_seq);
    let tmp = path.with_extension("idx.tmp");
    if let Err(e) = fs::write(&tmp, index.to_sidecar()).and_then(|()| fs::rename(&tmp, &path)) {
        tracing::warn!(path = %path.display(), error = %e, "could not write a segment index; the segment will be scanned when next loaded");
    }
}

/// Loads the index of the segment that takes appends (the stream's last): scans it,
/// cuts off a torn tail and rewrites a missing header.
pub(crate) fn load_active(
    dir: &Path,
    first_seq: u64,
    block_bytes: u32,
) -> Result<SegmentIndex, LogError> {
    let path = log_path(dir, first_seq);
    let scanned = scan(&path, first_seq, block_bytes)?;
    if scanned.header_missing {
        tracing::warn!(path = %path.display(), "log segment without its header (cut off while being created); starting it afresh");
        create(dir, first_seq)?;
    } else if let Some(why) = scanned.stopped_at {
        tracing::warn!(
            path = %path.display(),
            kept_bytes = scanned.index.len,
            dropped_bytes = scanned.file_len - scanned.index.len,
            "dropping the torn tail of a log segment: {why}"
        );
        truncate(dir, first_seq, scanned.index.len)?;
    }
    // A sidecar of the last segment is stale: it takes appends again.
    remove_if_present(&sidecar_path(dir, first_seq))?;
    Ok(scanned.index)
}

/// Loads the index of a sealed segment, from its sidecar when that is intact, else by a
/// scan (which then writes the sidecar when `repair`, that is when this process writes
/// the segment's lane).
pub(crate) fn load_sealed(
    dir: &Path,
    first_seq: u64,
    block_bytes: u32,
    repair: bool,
) -> Result<SegmentIndex, LogError> {
    let path = log_path(dir, first_seq);
    let file_len = fs::metadata(&path)
        .map_err(io_error(format!("reading log segment {}", path.display())))?
        .len();
    if let Ok(bytes) = fs::read(sidecar_path(dir, first_seq)) {
        if let Some(index) = SegmentIndex::from_sidecar(&bytes, first_seq, file_len) {
            return Ok(index);
        }
    }
    let mut scanned = scan(&path, first_seq, block_bytes)?;
    scanned.index.seal();
    match scanned.stopped_at {
        // A sealed segment was synced whole before the next one began, so this is damage
        // rather than a crash: keep the readable prefix and leave the file as it is.
        Some(why) => tracing::warn!(
            path = %path.display(),
            readable_bytes = scanned.index.len,
            file_bytes = scanned.file_len,
            "a sealed log segment is damaged; only events before the damage are read: {why}"
        ),
        None if repair => write_sidecar(dir, &scanned.index),
        None => {}
    }
    Ok(scanned.index)
}

fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// What a scan of a segment file found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// The index of the intact records; `index.len` is where they end.
    pub index: SegmentIndex,
    /// The file's length; more than `index.len` when the scan stopped early.
    pub file_len: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub stopped_at: Option<&'static str>,
    /// The file is shorter than a header (cut off while being created).
    pub header_missing: bool,
}

/// Reads a segment from the start, indexing records until the end of the file or the
/// first one that is torn, damaged or out of sequence.
pub(crate) fn scan(path: &Path, first_seq: u64, block_bytes: u32) -> Result<Scanned, LogError> {
    let context = || format!("reading log segment {}", path.display());
    let mut file = File::open(path).map_err(io_error(context()))?;
    let file_len = file.metadata().map_err(io_error(context()))?.len();
    let mut scanned = Scanned {
        index: SegmentIndex::new(first_seq),
        file_len,
        stopped_at: None,
        header_missing: file_len < SEGMENT_HEADER_BYTES,
    };
    if scanned.header_missing {
        return Ok(scanned);
    }
    let mut header = [0; SEGMENT_HEADER_BYTES as usize];
    file.read_exact(&mut header).map_err(io_error(context()))?;
    if &header != SEGMENT_MAGIC {
        return Err(LogError::Corrupt {
            path: path.to_owned(),
            detail: "its header is wrong",
        });
    }
    scanned.stopped_at =
        index_records(&mut file, &mut scanned.index, block_bytes).map_err(io_error(context()))?;
    Ok(scanned)
}

/// Indexes the records another process appended to a segment since `index` was taken
/// (a lane this store follows): reads from `index.len` to the end of the file and adds
/// every whole append, leaving an append still being written for the next call.
/// Returns the file's length, which is less than `index.len` when the writer cut its
/// tail back (the caller then indexes the segment afresh).
pub(crate) fn index_more(
    path: &Path,
    index: &mut SegmentIndex,
    block_bytes: u32,
) -> Result<u64, LogError> {
    let context = || format!("reading log segment {}", path.display());
    let mut file = File::open(path).map_err(io_error(context()))?;
    let file_len = file.metadata().map_err(io_error(context()))?.len();
    if file_len > index.len {
        file.seek(SeekFrom::Start(index.len))
            .map_err(io_error(context()))?;
        index_records(&mut file, index, block_bytes).map_err(io_error(context()))?;
    }
    Ok(file_len)
}

/// Indexes the records read from `file` (positioned at `index.len`) until the end of
/// the file or the first one that is torn, damaged or out of sequence; records of an
/// append whose last record is missing are left out. Returns why it stopped before the
/// end, if it did.
fn index_records(
    file: &mut File,
    index: &mut SegmentIndex,
    block_bytes: u32,
) -> io::Result<Option<&'static str>> {
    // Records of the append being read; indexed once its last record is read.
    let mut unfinished: Vec<RecordInfo> = Vec::new();
    let mut offset = index.len;
    let mut buf = Vec::with_capacity(SCAN_CHUNK as usize);
    let mut at = 0;
    let mut stopped_at = None;
    loop {
        match record::decode(&buf[at..]) {
            Decoded::Record(record, len) => {
                if record.seq != index.next_seq() + unfinished.len() as u64 {
                    stopped_at = Some("a record out of sequence");
                    break;
                }
                unfinished.push(RecordInfo {
                    timestamp: record.timestamp,
                    ingestion_time: record.ingestion_time,
                    seq: record.seq,
                    offset,
                    len: len as u32,
                });
                if record.ends_append {
                    unfinished
                        .drain(..)
                        .for_each(|info| index.push(&info, block_bytes));
                }
                offset += len as u64;
                at += len;
            }
            Decoded::Incomplete => {
                buf.drain(..at);
                at = 0;
                let read = (&mut *file).take(SCAN_CHUNK).read_to_end(&mut buf)?;
                if read == 0 {
                    if !buf.is_empty() {
                        stopped_at = Some("the last record is cut short");
                    }
                    break;
                }
            }
            Decoded::Corrupt(why) => {
                stopped_at = Some(why);
                break;
            }
        }
    }
    if !unfinished.is_empty() && stopped_at.is_none() {
        stopped_at = Some("the last append is incomplete");
    }
    Ok(stopped_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::RecordRef;

    fn encode(bytes: &mut Vec<u8>, timestamp: i64, seq: u64, ends_append: bool) {
        let record = RecordRef {
            timestamp,
            ingestion_time: 1,
            seq,
            ends_append,
            message: b"line",
        };
        record::encode(bytes, record);
    }

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let dir = Path::new("/d");
        let name = log_path(dir, 42);
        let name = name.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "seg-00000000000000000042.log");
        assert_eq!(parse_name(name), Some((42, FileKind::Log)));
        assert_eq!(
            parse_name("seg-00000000000000000042.idx"),
            Some((42, FileKind::Sidecar))
        );
        assert_eq!(
            parse_name("seg-00000000000000000042.idx.tmp"),
            Some((42, FileKind::Temporary))
        );
        for other in [
            "seg-42.log",
            "seg-0000000000000000004x.log",
            "seg-00000000000000000042.txt",
            "notes",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_scan_indexes_intact_records_and_stops_at_garbage() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), 5).unwrap();
        let mut bytes = fs::read(log_path(dir.path(), 5)).unwrap();
        for (i, timestamp) in [30, 10, 20].into_iter().enumerate() {
            encode(&mut bytes, timestamp, 5 + i as u64, true);
        }
        let intact = bytes.len() as u64;
        bytes.extend_from_slice(b"\x01\x02garbage");
        fs::write(log_path(dir.path(), 5), &bytes).unwrap();

        let scanned = scan(&log_path(dir.path(), 5), 5, 1 << 16).unwrap();
        assert_eq!(scanned.index.count, 3);
        assert_eq!(scanned.index.len, intact);
        assert_eq!(scanned.index.time_range(), Some((10, 30)));
        assert_eq!(scanned.file_len, bytes.len() as u64);
        assert!(scanned.stopped_at.is_some());
    }

    #[test]
    fn a_record_with_the_wrong_seq_ends_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), 1).unwrap();
        let mut bytes = fs::read(log_path(dir.path(), 1)).unwrap();
        encode(&mut bytes, 1, 1, true);
        encode(&mut bytes, 1, 3, true);
        fs::write(log_path(dir.path(), 1), &bytes).unwrap();
        let scanned = scan(&log_path(dir.path(), 1), 1, 1 << 16).unwrap();
        assert_eq!(scanned.index.count, 1);
        assert_eq!(scanned.stopped_at, Some("a record out of sequence"));
    }

    #[test]
    fn an_append_without_its_last_record_is_dropped_whole() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), 1).unwrap();
        let mut bytes = fs::read(log_path(dir.path(), 1)).unwrap();
        encode(&mut bytes, 1, 1, true);
        let one_append = bytes.len() as u64;
        encode(&mut bytes, 1, 2, false);
        encode(&mut bytes, 1, 3, false);
        fs::write(log_path(dir.path(), 1), &bytes).unwrap();

        let index = load_active(dir.path(), 1, 1 << 16).unwrap();
        assert_eq!((index.count, index.len), (1, one_append));
        assert_eq!(
            fs::metadata(log_path(dir.path(), 1)).unwrap().len(),
            one_append
        );
    }

    #[test]
    fn a_foreign_file_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(log_path(dir.path(), 1), b"something else entirely").unwrap();
        let err = load_active(dir.path(), 1, 1 << 16).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
        assert_eq!(
            fs::read(log_path(dir.path(), 1)).unwrap(),
            b"something else entirely"
        );
    }
}
