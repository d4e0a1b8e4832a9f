//! The store through its public calls, on real files in a temporary directory.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// Tiny segments and blocks, so a few thousand events cross many of both.
pub(super) const TINY: LogStoreOptions = LogStoreOptions {
    segment_bytes: 2048,
    index_interval_bytes: 256,
    segment_span_ms: i64::MAX,
};

fn open(root: &Path, options: LogStoreOptions) -> LogStore {
    LogStore::open_with(root, options).unwrap()
}

pub(super) fn event(timestamp: i64, message: impl Into<String>) -> NewEvent {
    NewEvent {
        timestamp,
        message: message.into(),
    }
}

/// A deterministic pseudo-random sequence (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn query(from: Cursor, limit: usize) -> ReadQuery {
    ReadQuery {
        start_time: None,
        end_time: None,
        from,
        limit,
    }
}

/// Every event of a stream, in read order, by one large forward page.
pub(super) async fn all(store: &LogStore, stream: &str) -> Vec<StoredEvent> {
    let page = store
        .read(stream, query(Cursor::Oldest, usize::MAX))
        .await
        .unwrap();
    assert!(!page.more);
    page.events
}

/// Pages through a window from `from` with pages of `limit`, checking that `more` says
/// truly whether another page has events; all events seen, in the order walked.
pub(super) async fn page_through(
    store: &LogStore,
    stream: &str,
    window: (Option<i64>, Option<i64>),
    from: Cursor,
    limit: usize,
) -> Vec<StoredEvent> {
    let mut seen = Vec::new();
    let mut cursor = from;
    loop {
        let query = ReadQuery {
            start_time: window.0,
            end_time: window.1,
            from: cursor,
            limit,
        };
        let page = store.read(stream, query).await.unwrap();
        assert!(page.events.len() <= limit);
        if page.events.is_empty() {
            assert!(!page.more, "an empty page says there is more");
            assert_eq!(page.next, cursor, "an empty page moves the cursor");
            return seen;
        }
        let more = page.more;
        seen.extend(page.events);
        cursor = page.next;
        if !more {
            let rest = store
                .read(
                    stream,
                    ReadQuery {
                        from: cursor,
                        ..query
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                rest.events,
                [],
                "a page said there was no more, but there was"
            );
            return seen;
        }
    }
}

pub(super) fn positions(events: &[StoredEvent]) -> Vec<(i64, u64)> {
    events.iter().map(|e| (e.timestamp, e.seq)).collect()
}

/// The segment files of a stream, oldest first.
fn segment_files(root: &Path, stream: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("streams").join(stream))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

/// Appends `batches` random batches with timestamps that mostly rise but often jump
/// back (late batches) and repeat; returns what was stored, in read order.
async fn fill_shuffled(
    store: &LogStore,
    stream: &str,
    batches: usize,
    rng: &mut Rng,
) -> Vec<StoredEvent> {
    let mut clock = 1_000_000;
    for b in 0..batches {
        let late = rng.below(4) == 0;
        let base = if late {
            clock - rng.below(5_000) as i64
        } else {
            clock
        };
        let events: Vec<NewEvent> = (0..1 + rng.below(20))
            .map(|i| {
                event(
                    base + rng.below(50) as i64,
                    format!("batch {b} line {i} {}", "x".repeat(rng.below(40) as usize)),
                )
            })
            .collect();
        store.append(stream, events, 7).await.unwrap();
        clock += 40;
    }
    let mut stored = all(store, stream).await;
    stored.sort_by_key(StoredEvent::position);
    stored
}

#[tokio::test]
async fn events_come_back_in_timestamp_order_with_seqs_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), LogStoreOptions::default());
    let batch = vec![
        event(30, "c"),
        event(10, "a"),
        event(20, "b1"),
        event(20, "b2"),
    ];
    let appended = store.append("s", batch, 99).await.unwrap();
    assert_eq!(
        appended,
        Appended {
            first_seq: 1,
            last_seq: 4
        }
    );

    let events = all(&store, "s").await;
    let got: Vec<(i64, u64, &str, i64)> = events
        .iter()
        .map(|e| (e.timestamp, e.seq, e.message.as_str(), e.ingestion_time))
        .collect();
    // Sorted by timestamp, stably (b1 before b2), seqs given in that order.
    assert_eq!(
        got,
        [
            (10, 1, "a", 99),
            (20, 2, "b1", 99),
            (20, 3, "b2", 99),
            (30, 4, "c", 99)
        ]
    );

    let backward = store
        .read("s", query(Cursor::Newest, 10))
        .await
        .unwrap()
        .events;
    assert_eq!(positions(&backward), [(30, 4), (20, 3), (20, 2), (10, 1)]);

    let next = store
        .append("s", vec![event(5, "late")], 100)
        .await
        .unwrap();
    assert_eq!(
        next,
        Appended {
            first_seq: 5,
            last_seq: 5
        }
    );
    assert_eq!(all(&store, "s").await[0].message, "late");
}

#[tokio::test]
async fn streams_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), LogStoreOptions::default());
    store.append("a", vec![event(1, "in a")], 1).await.unwrap();
    let b = store.append("b", vec![event(1, "in b")], 1).await.unwrap();
    assert_eq!(b.first_seq, 1);
    assert_eq!(all(&store, "b").await[0].message, "in b");
    assert_eq!(all(&store, "never-written").await, []);
    assert_eq!(store.summary("never-written").await.unwrap(), None);
    assert!(
        !dir.path().join("streams/never-written").exists(),
        "a read created a stream"
    );
}

#[tokio::test]
async fn out_of_order_batches_are_merged_across_blocks_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    let mut expected = Vec::new();
    let mut seq = 1;
    // Three overlapping waves of 200 events, each appended in batches of 20.
    for wave in [(1000, 3), (500, 5), (800, 2)] {
        for batch in (0..200).collect::<Vec<i64>>().chunks(20) {
            let events: Vec<NewEvent> = batch
                .iter()
                .map(|i| event(wave.0 + i * wave.1, format!("{}-{i}", wave.0)))
                .collect();
            for e in &events {
                expected.push((e.timestamp, seq));
                seq += 1;
            }
            store.append("s", events, 0).await.unwrap();
        }
    }
    expected.sort();
    assert!(segment_files(dir.path(), "s").len() > 5);
    assert_eq!(positions(&all(&store, "s").await), expected);
    let backward = store
        .read("s", query(Cursor::Newest, usize::MAX))
        .await
        .unwrap()
        .events;
    expected.reverse();
    assert_eq!(positions(&backward), expected);
}

#[tokio::test]
async fn paging_visits_every_event_once_in_both_directions_and_in_windows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let stored = fill_shuffled(&store, "s", 150, &mut rng).await;
    assert!(stored.len() > 1000, "{} events", stored.len());
    assert!(segment_files(dir.path(), "s").len() > 20);
    let seqs: std::collections::BTreeSet<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), stored.len());

    let (min, max) = (stored[0].timestamp, stored.last().unwrap().timestamp);
    let windows = [
        (None, None),
        (Some(min + 1000), Some(min + 3000)),
        (Some(max - 100), None),
        (None, Some(min + 10)),
        (Some(max + 1), None),
    ];
    for window in windows {
        let inside: Vec<&StoredEvent> = stored
            .iter()
            .filter(|e| {
                window.0.is_none_or(|s| e.timestamp >= s)
                    && window.1.is_none_or(|end| e.timestamp < end)
            })
            .collect();
        for limit in [1, 7, 100] {
            let forward = page_through(&store, "s", window, Cursor::Oldest, limit).await;
            let want: Vec<(i64, u64)> = inside.iter().map(|e| (e.timestamp, e.seq)).collect();
            assert_eq!(
                positions(&forward),
                want,
                "forward, window {window:?}, limit {limit}"
            );
            let backward = page_through(&store, "s", window, Cursor::Newest, limit).await;
            let want: Vec<(i64, u64)> = want.into_iter().rev().collect();
            assert_eq!(
                positions(&backward),
                want,
                "backward, window {window:?}, limit {limit}"
            );
        }
    }
    // Whole events come back, not just positions.
    assert_eq!(
        page_through(&store, "s", (None, None), Cursor::Oldest, 33).await,
        stored
    );

    // From a position in the middle, each way.
    let middle = stored[stored.len() / 2].position();
    let after = page_through(&store, "s", (None, None), Cursor::After(middle), 50).await;
    assert_eq!(after, stored[stored.len() / 2 + 1..]);
    let before = page_through(&store, "s", (None, None), Cursor::Before(middle), 50).await;
    let want: Vec<StoredEvent> = stored[..stored.len() / 2].iter().rev().cloned().collect();
    assert_eq!(before, want);

    // At the end, a cursor reads nothing and stays put.
    let last = stored.last().unwrap().position();
    let page = store
        .read("s", query(Cursor::After(last), 10))
        .await
        .unwrap();
    assert_eq!(
        (page.events.len(), page.more, page.next),
        (0, false, Cursor::After(last))
    );
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_on_reopen_and_appends_continue_after_it() {
    for damage in ["cut in the last record", "garbage appended"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), TINY);
        for i in 0..30 {
            store
                .append("s", vec![event(i, format!("line {i}"))], 0)
                .await
                .unwrap();
        }
        let last = segment_files(dir.path(), "s").pop().unwrap();
        let intact = fs::read(&last).unwrap();
        // An append of three events, of which a crash will tear the last.
        let three = (0..3).map(|i| event(50, format!("torn {i}"))).collect();
        store.append("s", three, 0).await.unwrap();
        drop(store);

        let bytes = fs::read(&last).unwrap();
        let torn = match damage {
            "cut in the last record" => bytes[..bytes.len() - 5].to_vec(),
            _ => [intact.as_slice(), b"\x40\x00\x00\x00garbage after the end"].concat(),
        };
        fs::write(&last, &torn).unwrap();

        let store = open(dir.path(), TINY);
        let events = all(&store, "s").await;
        // The torn append is gone whole, though two of its records were intact.
        assert_eq!(events.len(), 30, "{damage}");
        assert_eq!(events.last().unwrap().message, "line 29");
        assert_eq!(
            fs::read(&last).unwrap(),
            intact,
            "{damage}: the file was not cut back"
        );
        let appended = store
            .append("s", vec![event(100, "after the crash")], 0)
            .await
            .unwrap();
        assert_eq!(appended.first_seq, 31, "{damage}");
        drop(store);

        let store = open(dir.path(), TINY);
        let events = all(&store, "s").await;
        assert_eq!(events.len(), 31, "{damage}");
        assert_eq!(events.last().unwrap().message, "after the crash");
    }
}

#[tokio::test]
async fn reopening_keeps_summaries_seqs_and_events_with_or_without_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    let mut rng = Rng(42);
    let stored = fill_shuffled(&store, "s", 60, &mut rng).await;
    let summary = store.summary("s").await.unwrap().unwrap();
    assert_eq!(summary.next_seq, stored.len() as u64 + 1);
    assert_eq!(summary.first_event_timestamp, Some(stored[0].timestamp));
    assert_eq!(
        summary.last_event_timestamp,
        Some(stored.last().unwrap().timestamp)
    );
    assert_eq!(summary.last_ingestion_time, Some(7));
    let on_disk: u64 = segment_files(dir.path(), "s")
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(summary.stored_bytes, on_disk);
    drop(store);

    let store = open(dir.path(), TINY);
    assert_eq!(store.summary("s").await.unwrap(), Some(summary));
    assert_eq!(
        page_through(&store, "s", (None, None), Cursor::Oldest, 64).await,
        stored
    );
    drop(store);

    // Sidecars are a cache: damaged or missing, the segments are scanned instead.
    let stream_dir = dir.path().join("streams/s");
    let mut sidecars = 0;
    for entry in fs::read_dir(&stream_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "idx") {
            sidecars += 1;
            if sidecars % 2 == 0 {
                fs::remove_file(&path).unwrap();
            } else {
                fs::write(&path, b"BRTHIDX1 and then nonsense").unwrap();
            }
        }
    }
    assert!(sidecars > 5);
    let store = open(dir.path(), TINY);
    assert_eq!(store.summary("s").await.unwrap(), Some(summary));
    assert_eq!(
        page_through(&store, "s", (None, None), Cursor::Newest, 64).await,
        stored.iter().rev().cloned().collect::<Vec<_>>()
    );
    let appended = store.append("s", vec![event(0, "next")], 0).await.unwrap();
    assert_eq!(appended.first_seq, summary.next_seq);
}

#[tokio::test]
async fn a_damaged_block_is_skipped_and_the_rest_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    for i in 0..200 {
        store
            .append("s", vec![event(i, format!("line {i:03}"))], 0)
            .await
            .unwrap();
    }
    drop(store);
    // Flip a byte in the message of the second record of the first (sealed) segment,
    // whose sidecar still matches its length.
    let first = &segment_files(dir.path(), "s")[0];
    let mut bytes = fs::read(first).unwrap();
    let second_record = 8 + record::encoded_len(b"line 000");
    bytes[second_record + 40] ^= 0xff;
    fs::write(first, &bytes).unwrap();

    let store = open(dir.path(), TINY);
    let events = all(&store, "s").await;
    assert_eq!(events[0].message, "line 000");
    assert!(events.iter().all(|e| e.message != "line 001"));
    assert!(
        events.len() > 190 && events.len() < 200,
        "{} events",
        events.len()
    );
    assert_eq!(events.last().unwrap().message, "line 199");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_to_one_stream_keep_every_event_with_unique_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut appends = Vec::new();
                for call in 0..40 {
                    let events = (0..5)
                        .map(|i| event(i, format!("{task}/{call}/{i}")))
                        .collect();
                    appends.push((
                        format!("{task}/{call}"),
                        store.append("s", events, 0).await.unwrap(),
                    ));
                }
                appends
            })
        })
        .collect();
    let mut appends = Vec::new();
    for task in tasks {
        appends.extend(task.await.unwrap());
    }
    let mut events = all(&store, "s").await;
    events.sort_by_key(|e| e.seq);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8 * 40 * 5).collect::<Vec<u64>>());
    // Each append got the seqs of exactly its own events, contiguous and in order.
    for (name, appended) in appends {
        let range = appended.first_seq as usize - 1..appended.last_seq as usize;
        let got: Vec<&str> = events[range].iter().map(|e| e.message.as_str()).collect();
        let want: Vec<String> = (0..5).map(|i| format!("{name}/{i}")).collect();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn segments_roll_by_time_span_so_expiry_reaches_a_stream_that_logs_a_trickle() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogStoreOptions {
        segment_bytes: 64 << 20,
        segment_span_ms: 1_000,
        ..TINY
    };
    let store = open(dir.path(), options);
    // One small event every 100 ms for 6 s: far too few bytes to fill a segment.
    for i in 0..60 {
        store
            .append("s", vec![event(i * 100, format!("tick {i}"))], 0)
            .await
            .unwrap();
    }
    assert!(segment_files(dir.path(), "s").len() >= 5);

    let cutoff = 4_000;
    assert!(store.expire("s", cutoff).await.unwrap() > 0);
    let after = all(&store, "s").await;
    // Everything at or after the cutoff stayed; what older events stayed share a
    // segment with them, so are at most one span (plus one append) older.
    assert_eq!(after.iter().filter(|e| e.timestamp >= cutoff).count(), 20);
    let oldest = after[0].timestamp;
    assert!(
        (cutoff - options.segment_span_ms - 100..cutoff).contains(&oldest),
        "oldest event left at {oldest}"
    );
}

#[tokio::test]
async fn expire_removes_only_whole_segments_older_than_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    for i in 0..300 {
        store
            .append("s", vec![event(i * 10, format!("event {i:04}"))], 0)
            .await
            .unwrap();
    }
    let before = all(&store, "s").await;
    let files = segment_files(dir.path(), "s");
    assert!(files.len() > 5);

    let cutoff = 1505;
    let removed = store.expire("s", cutoff).await.unwrap();
    let after = all(&store, "s").await;
    assert_eq!(segment_files(dir.path(), "s").len(), files.len() - removed);
    assert!(removed > 0);
    // Nothing at or after the cutoff went, and what stayed is a suffix: some events
    // older than the cutoff remain, those sharing a segment with newer ones.
    assert_eq!(after[..], before[before.len() - after.len()..]);
    assert!(
        after.iter().filter(|e| e.timestamp >= cutoff).count()
            == before.iter().filter(|e| e.timestamp >= cutoff).count()
    );
    assert!(
        after[0].timestamp < cutoff,
        "a segment with newer events lost its older ones"
    );
    assert_eq!(
        store
            .summary("s")
            .await
            .unwrap()
            .unwrap()
            .first_event_timestamp,
        Some(after[0].timestamp)
    );
    assert_eq!(store.expire("s", cutoff).await.unwrap(), 0);

    // Expiring everything keeps the seq going, also across a restart.
    assert!(store.expire("s", i64::MAX).await.unwrap() > 0);
    assert_eq!(all(&store, "s").await, []);
    let summary = store.summary("s").await.unwrap().unwrap();
    assert_eq!(
        (summary.first_event_timestamp, summary.next_seq),
        (None, 301)
    );
    drop(store);
    let store = open(dir.path(), TINY);
    assert_eq!(
        store
            .append("s", vec![event(0, "again")], 0)
            .await
            .unwrap()
            .first_seq,
        301
    );
}

#[tokio::test]
async fn delete_stream_removes_its_events_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    for i in 0..50 {
        store
            .append("gone", vec![event(i, "x".repeat(100))], 0)
            .await
            .unwrap();
    }
    store
        .append("kept", vec![event(1, "stays")], 0)
        .await
        .unwrap();
    assert!(store.delete_stream("gone").await.unwrap());
    assert!(!dir.path().join("streams/gone").exists());
    assert_eq!(store.summary("gone").await.unwrap(), None);
    assert_eq!(all(&store, "gone").await, []);
    assert!(!store.delete_stream("gone").await.unwrap());
    assert_eq!(all(&store, "kept").await.len(), 1);
    // A new stream under the same id starts afresh.
    assert_eq!(
        store
            .append("gone", vec![event(1, "new")], 0)
            .await
            .unwrap()
            .first_seq,
        1
    );
    assert_eq!(all(&store, "gone").await.len(), 1);
}

#[tokio::test]
async fn invalid_stream_ids_are_refused_by_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path().join("root").as_path(), TINY);
    let long = "a".repeat(65);
    for id in [
        "",
        "..",
        "a/b",
        "../escape",
        "white space",
        "ü",
        long.as_str(),
    ] {
        let refused = |r: Result<(), LogError>| matches!(r, Err(LogError::InvalidStreamId(_)));
        assert!(
            refused(store.append(id, vec![event(1, "x")], 0).await.map(drop)),
            "{id:?}"
        );
        assert!(
            refused(store.read(id, query(Cursor::Oldest, 1)).await.map(drop)),
            "{id:?}"
        );
        assert!(refused(store.summary(id).await.map(drop)), "{id:?}");
        assert!(refused(store.expire(id, 0).await.map(drop)), "{id:?}");
        assert!(refused(store.delete_stream(id).await.map(drop)), "{id:?}");
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "something escaped the root"
    );
    assert_eq!(
        fs::read_dir(dir.path().join("root/streams"))
            .unwrap()
            .count(),
        0
    );
    let ok = "Az09_-".repeat(10) + "abcd";
    assert_eq!(ok.len(), 64);
    store.append(&ok, vec![event(1, "x")], 0).await.unwrap();
}

#[tokio::test]
async fn bad_appends_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    assert!(matches!(
        store.append("s", vec![], 0).await,
        Err(LogError::NoEvents)
    ));
    let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let result = store
        .append("s", vec![event(1, "fine"), event(2, big)], 0)
        .await;
    assert!(
        matches!(result, Err(LogError::MessageTooLarge { index: 1, .. })),
        "{result:?}"
    );
    assert_eq!(store.summary("s").await.unwrap(), None);
    let exactly = "x".repeat(MAX_MESSAGE_BYTES);
    store.append("s", vec![event(1, exactly)], 0).await.unwrap();
    assert_eq!(all(&store, "s").await[0].message.len(), MAX_MESSAGE_BYTES);
}

#[tokio::test]
async fn an_append_cancelled_before_its_commit_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TINY);
    store.append("s", vec![event(1, "first")], 0).await.unwrap();
    let stream = store.stream("s", false).await.unwrap().unwrap();
    let writer = stream.hold_writer().await;
    tokio::select! {
        biased;
        _ = store.append("s", vec![event(2, "cancelled")], 0) => panic!("appended while the writer was held"),
        () = async { while stream.queued() == 0 { tokio::task::yield_now().await } } => {}
    }
    assert_eq!(stream.queued(), 0, "the cancelled append stayed queued");
    drop(writer);
    store.append("s", vec![event(3, "third")], 0).await.unwrap();
    let messages: Vec<String> = all(&store, "s")
        .await
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(messages, ["first", "third"]);
}

#[tokio::test]
async fn memory_holds_one_index_entry_per_interval_not_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogStoreOptions::default();
    let store = open(dir.path(), options);
    let events_total = 1_000_000;
    for batch in 0..100 {
        let events = (0..events_total / 100)
            .map(|i| event(batch * 10_000 + i, "a small log line"))
            .collect();
        store.append("s", events, 0).await.unwrap();
    }
    let summary = store.summary("s").await.unwrap().unwrap();
    assert_eq!(summary.next_seq, events_total as u64 + 1);
    let stream = store.stream("s", false).await.unwrap().unwrap();
    let (entries, segments) = {
        let index = stream.index();
        (index.block_entries(), index.segments.len())
    };
    let bound = summary.stored_bytes / u64::from(options.index_interval_bytes) + segments as u64;
    assert!(
        entries as u64 <= bound,
        "{entries} index entries for {} bytes",
        summary.stored_bytes
    );
    assert!(
        entries < events_total as usize / 1000,
        "{entries} index entries for {events_total} events"
    );
    // And the index finds a page deep inside the stream by decoding a block or two.
    let start = 765_432;
    let query = ReadQuery {
        start_time: Some(start),
        end_time: None,
        from: Cursor::Oldest,
        limit: 3,
    };
    let (page, blocks) = stream.read_counting(query).await.unwrap();
    assert_eq!(
        positions(&page.events),
        [
            (start, start as u64 + 1),
            (start + 1, start as u64 + 2),
            (start + 2, start as u64 + 3)
        ]
    );
    assert!(blocks <= 2, "{blocks} blocks decoded for 3 events");
    let (page, blocks) = stream
        .read_counting(ReadQuery {
            from: Cursor::Newest,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(page.events[0].seq, events_total as u64);
    assert!(
        blocks <= 2,
        "{blocks} blocks decoded for the newest 3 events"
    );
}

/// Container output: timestamps that never go back but repeat hundreds of times per
/// millisecond, appended in batches of uneven sizes (as the agent ships them), with the
/// default segment and block sizes.
#[tokio::test]
async fn output_with_repeated_timestamps_pages_through_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), LogStoreOptions::default());
    let mut rng = Rng(7);
    let (mut t, mut n) = (1_700_000_000_000i64, 0u64);
    while n < 100_000 {
        store.summary("out").await.unwrap();
        let size = if n == 0 { 4562 } else { 1 + rng.below(10_000) };
        let batch: Vec<NewEvent> = (0..size)
            .map(|_| {
                n += 1;
                if rng.below(300) == 0 {
                    t += 1;
                }
                event(t, n.to_string())
            })
            .collect();
        store.append("out", batch, 0).await.unwrap();
    }
    for limit in [10_000, 777] {
        let seen = page_through(&store, "out", (None, None), Cursor::Oldest, limit).await;
        assert_eq!(seen.len() as u64, n, "limit {limit}");
        assert!(seen.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    }
}
