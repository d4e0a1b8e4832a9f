//! Shared stores: several `LogStore`s on one directory, as replicas on one shared
//! filesystem use it, through their public calls on real files.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::tests::{all, event, page_through, positions, TINY};
use super::*;

fn shared(root: &Path) -> LogStore {
    LogStore::open_shared(root, TINY).unwrap()
}

/// The log files of one lane of a stream, oldest first.
fn lane_files(root: &Path, stream: &str, lane: u16) -> Vec<PathBuf> {
    let dir = root
        .join("streams")
        .join(stream)
        .join(format!("lane-{lane:05}"));
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

async fn append(store: &LogStore, stream: &str, timestamps: impl IntoIterator<Item = i64>) {
    let events = timestamps
        .into_iter()
        .map(|t| event(t, format!("at {t} from lane {:?}", store.lane())))
        .collect();
    store.append(stream, events, 1).await.unwrap();
}

#[tokio::test]
async fn every_store_reads_every_lane_in_one_order_and_pages_through_it_once() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    assert_eq!((a.lane(), b.lane()), (Some(1), Some(2)));
    // Interleaved in time, with equal timestamps across lanes, over many segments.
    for round in 0..150 {
        append(&a, "s", [round * 10, round * 10 + 3]).await;
        append(&b, "s", [round * 10 + 3, round * 10 + 5]).await;
    }
    let via_a = all(&a, "s").await;
    let via_b = all(&b, "s").await;
    assert_eq!(via_a.len(), 600);
    assert_eq!(via_a, via_b, "both stores read the same stream");
    assert!(
        via_a.windows(2).all(|w| w[0].position() < w[1].position()),
        "read in position order, every position once"
    );
    assert!(
        lane_files(root.path(), "s", 1).len() > 3,
        "many segments per lane"
    );

    for limit in [1, 7, 64] {
        let forward = page_through(&b, "s", (None, None), Cursor::Oldest, limit).await;
        assert_eq!(positions(&forward), positions(&via_a), "limit {limit}");
        let mut backward = page_through(&a, "s", (None, None), Cursor::Newest, limit).await;
        backward.reverse();
        assert_eq!(positions(&backward), positions(&via_a), "limit {limit}");
        let window = page_through(&a, "s", (Some(500), Some(1000)), Cursor::Oldest, limit).await;
        let expected: Vec<_> = via_a
            .iter()
            .filter(|e| (500..1000).contains(&e.timestamp))
            .cloned()
            .collect();
        assert_eq!(positions(&window), positions(&expected), "limit {limit}");
    }
}

#[tokio::test]
async fn an_acknowledged_append_is_read_at_once_through_another_store() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    assert!(all(&b, "s").await.is_empty());
    append(&a, "s", [1]).await;
    assert_eq!(all(&b, "s").await.len(), 1, "a lane that appeared since");
    // Grows the followed segment, then rolls past it into new ones.
    for t in 2..200 {
        append(&a, "s", [t]).await;
        let seen = all(&b, "s").await;
        assert_eq!(seen.len() as i64, t, "after the append at {t}");
        assert_eq!(seen.last().unwrap().timestamp, t);
    }
    let summary = b.summary("s").await.unwrap().unwrap();
    assert_eq!(summary.first_event_timestamp, Some(1));
    assert_eq!(summary.last_event_timestamp, Some(199));
}

#[tokio::test]
async fn next_seq_counts_the_events_of_every_lane() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    assert_eq!(a.summary("s").await.unwrap(), None);
    append(&a, "s", [1, 2, 3]).await;
    assert_eq!(b.summary("s").await.unwrap().unwrap().next_seq, 4);
    append(&b, "s", [4, 5]).await;
    for store in [&a, &b] {
        assert_eq!(store.summary("s").await.unwrap().unwrap().next_seq, 6);
    }
    // Seqs stay unique: lane 2 numbers from its own range.
    let seqs: Vec<u64> = all(&a, "s").await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs[..3], [(1 << 48) + 1, (1 << 48) + 2, (1 << 48) + 3]);
    assert_eq!(seqs[3..], [(2 << 48) + 1, (2 << 48) + 2]);
}

#[tokio::test]
async fn a_reader_ignores_an_append_still_being_written_and_leaves_the_file_alone() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    append(&a, "s", [1, 2]).await;
    assert_eq!(all(&b, "s").await.len(), 2);
    // Half of a record, as a writer caught mid-write leaves it.
    let file = lane_files(root.path(), "s", 1).pop().unwrap();
    let whole = fs::read(&file).unwrap();
    let mut tail = OpenOptions::new().append(true).open(&file).unwrap();
    tail.write_all(&whole[whole.len() - 10..]).unwrap();
    drop(tail);
    let len = fs::metadata(&file).unwrap().len();

    assert_eq!(
        all(&b, "s").await.len(),
        2,
        "the unfinished append is not read"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().len(),
        len,
        "a reader never cuts a writer's file"
    );
    // The writer's next store (a restart) repairs its own lane and continues.
    drop(a);
    let again = shared(root.path());
    assert_eq!(again.lane(), Some(1), "the lane is adopted");
    append(&again, "s", [3]).await;
    let seqs: Vec<u64> = all(&b, "s").await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [(1 << 48) + 1, (1 << 48) + 2, (1 << 48) + 3]);
}

#[tokio::test]
async fn retention_expires_its_own_lane_and_those_of_writers_gone_but_not_a_live_ones() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    for t in 0..300 {
        append(&a, "s", [t * 10]).await;
        append(&b, "s", [t * 10 + 1]).await;
    }
    let (files_a, files_b) = (
        lane_files(root.path(), "s", 1).len(),
        lane_files(root.path(), "s", 2).len(),
    );
    let removed = b.expire("s", 1500).await.unwrap();
    assert!(removed > 0);
    assert_eq!(lane_files(root.path(), "s", 1).len(), files_a, "a is alive");
    assert_eq!(lane_files(root.path(), "s", 2).len(), files_b - removed);

    drop(a);
    let removed_for_a = b.expire("s", 1500).await.unwrap();
    assert!(removed_for_a > 0, "lane 1's writer is gone: b expires it");
    assert_eq!(
        lane_files(root.path(), "s", 1).len(),
        files_a - removed_for_a
    );
    let left = all(&b, "s").await;
    assert!(
        left.iter().all(|e| e.timestamp >= 1000),
        "only older segments went"
    );
    assert!(left.iter().any(|e| e.timestamp < 1500 && e.seq < 2 << 48));
    assert_eq!(
        left.iter().filter(|e| e.timestamp >= 1500).count(),
        300,
        "nothing newer than the cutoff went"
    );
    // Lane 1 was released again: a new store adopts it.
    assert_eq!(shared(root.path()).lane(), Some(1));
}

#[tokio::test]
async fn deleting_a_stream_removes_every_lane() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (shared(root.path()), shared(root.path()));
    append(&a, "s", [1]).await;
    append(&b, "s", [2]).await;
    append(&a, "other", [3]).await;
    assert!(b.delete_stream("s").await.unwrap());
    assert!(!root.path().join("streams").join("s").exists());
    assert_eq!(b.summary("s").await.unwrap(), None);
    assert!(all(&b, "s").await.is_empty());
    assert_eq!(all(&b, "other").await.len(), 1, "other streams stay");
    assert!(
        !b.delete_stream("s").await.unwrap(),
        "nothing left to delete"
    );
}

#[tokio::test]
async fn a_store_alone_on_its_directory_keeps_the_single_writer_layout() {
    let root = tempfile::tempdir().unwrap();
    let store = LogStore::open_with(root.path(), TINY).unwrap();
    assert_eq!(store.lane(), None);
    append(&store, "s", [1, 2]).await;
    assert!(root
        .path()
        .join("streams/s/seg-00000000000000000001.log")
        .exists());
    assert!(!root.path().join("lanes").exists());
    let seqs: Vec<u64> = all(&store, "s").await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
}
