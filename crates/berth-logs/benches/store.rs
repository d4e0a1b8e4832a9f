//! The log store on its own, without HTTP or an agent: appends from one writer and from
//! four writers to one stream (group commit), GetLogEvents-sized reads of 10,000 events
//! newest first and from the middle, and the first use of a stream after a reopen.
//!
//! `cargo bench -p berth-logs --bench store`

use berth_logs::{Cursor, LogStore, LogStoreOptions, NewEvent, Position, ReadQuery};
use tokio::time::Instant;

const BASE_TS: i64 = 1_700_000_000_000;

fn line(i: i64) -> NewEvent {
    NewEvent {
        timestamp: BASE_TS + i,
        message: format!("2024-01-01T00:00:00Z INFO request {i} served in 3 ms path=/api/v1/items"),
    }
}

fn report(what: &str, events: usize, seconds: f64) {
    println!(
        "{what}: {events} events in {seconds:.3} s, {:.0} events/s",
        events as f64 / seconds
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store =
        LogStore::open_with(dir.path(), LogStoreOptions::default()).expect("the store opens");

    let started = Instant::now();
    for batch in 0..100 {
        let events = (0..1000).map(|i| line(batch * 1000 + i)).collect();
        store.append("one", events, 0).await.expect("append");
    }
    report(
        "append, 1 writer, batches of 1,000",
        100_000,
        started.elapsed().as_secs_f64(),
    );

    let started = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in 0..25 {
                    let events = (0..1000)
                        .map(|i| line(w * 25_000 + batch * 1000 + i))
                        .collect();
                    store.append("four", events, 0).await.expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    report(
        "append, 4 writers to one stream (group commit)",
        100_000,
        started.elapsed().as_secs_f64(),
    );

    let middle = Position {
        timestamp: BASE_TS + 50_000,
        seq: 50_001,
    };
    for (name, from) in [
        ("newest 10,000", Cursor::Newest),
        ("10,000 after the middle", Cursor::After(middle)),
    ] {
        let mut times = Vec::new();
        for _ in 0..100 {
            let started = Instant::now();
            let query = ReadQuery {
                start_time: None,
                end_time: None,
                from,
                limit: 10_000,
            };
            let page = store.read("one", query).await.expect("read");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(page.events.len(), 10_000);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "read {name}: median {:.2} ms, p99 {:.2} ms",
            times[50], times[98]
        );
    }

    drop(store);
    let started = Instant::now();
    let store =
        LogStore::open_with(dir.path(), LogStoreOptions::default()).expect("the store reopens");
    let summary = store
        .summary("one")
        .await
        .expect("summary")
        .expect("the stream");
    println!(
        "first use after reopen (scans the {:.1} MB active segment): {:.1} ms",
        summary.stored_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64() * 1000.0
    );
}
