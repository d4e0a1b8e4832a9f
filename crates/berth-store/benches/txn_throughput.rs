//! Throughput of the embedded store on this machine: durable CAS creates from many
//! concurrent writers (group commit), then point reads and 10-key `get_many` reads, both
//! on the calling task (what the store does) and hopped through `spawn_blocking` (the
//! alternative it was measured against).
//!
//! `cargo bench -p berth-store --bench txn_throughput`; `BENCH_SECS` sets each phase's
//! length (default 5). Timing uses `tokio::time::Instant`, which reads the real clock
//! outside paused-time tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_store::embedded::EmbeddedStore;
use berth_store::{Compare, Op, Store, Txn, TxnOutcome};
use bytes::Bytes;
use tokio::time::Instant;

const WRITERS: usize = 64;
const VALUE_BYTES: usize = 1024;
/// Concurrent reader tasks, the same for every read variant so they compare fairly.
const READERS: usize = 16;
const GET_MANY_KEYS: usize = 10;

fn main() {
    let seconds = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let phase = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        println!("embedded store, {} CPUs, {seconds}s per phase", cpus());

        let keys = Arc::new(writes(&store, phase).await);

        let get = |store: EmbeddedStore, key: String| async move {
            store.get(&key).await.unwrap().expect("written key");
        };
        report(
            "point get, on the task",
            READERS,
            1,
            reads(&store, &keys, READERS, phase, get).await,
        );
        let get_blocking = move |store: EmbeddedStore, key: String| async move {
            tokio::task::spawn_blocking(move || futures::executor::block_on(get(store, key)))
                .await
                .unwrap();
        };
        let rate = reads(&store, &keys, READERS, phase, get_blocking).await;
        report("point get, spawn_blocking", READERS, 1, rate);

        let get_many = |store: EmbeddedStore, first: String| async move {
            let (prefix, _) = first.rsplit_once('/').unwrap();
            let batch: Vec<String> = (0..GET_MANY_KEYS)
                .map(|i| format!("{prefix}/{i}"))
                .collect();
            let got = store.get_many(&batch).await.unwrap();
            assert!(got.iter().all(Option::is_some), "written keys");
        };
        let rate = reads(&store, &keys, READERS, phase, get_many).await;
        report("get_many(10), on the task", READERS, GET_MANY_KEYS, rate);
    });
}

/// Runs `WRITERS` tasks creating fresh keys for `phase`; prints the rate and latencies and
/// returns the keys of writers that wrote at least `GET_MANY_KEYS` keys.
async fn writes(store: &EmbeddedStore, phase: Duration) -> Vec<String> {
    let value = Bytes::from(vec![b'x'; VALUE_BYTES]);
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, value) = (store.clone(), value.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while start.elapsed() < phase {
                    let key = format!("bench/{writer}/{}", latencies.len());
                    let create = Txn::new()
                        .when(Compare::absent(&key))
                        .then(Op::put(key, value.clone()));
                    let began = Instant::now();
                    let outcome = store.txn(create).await.unwrap();
                    latencies.push(began.elapsed());
                    assert!(matches!(outcome, TxnOutcome::Committed { .. }));
                }
                (writer, latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut keys = Vec::new();
    for task in tasks {
        let (writer, written) = task.await.unwrap();
        if written.len() >= GET_MANY_KEYS {
            keys.extend((0..written.len()).map(|i| format!("bench/{writer}/{i}")));
        }
        latencies.extend(written);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "CAS create, {WRITERS} writers, {VALUE_BYTES} B values: {:.0} txns/s durable \
         ({} in {elapsed:.1}s), latency p50 {:.2?} p99 {:.2?}",
        latencies.len() as f64 / elapsed,
        latencies.len(),
        percentile(50),
        percentile(99),
    );
    keys
}

/// Runs `tasks` tasks calling `read` on pseudo-random written keys for `phase`; calls/s.
async fn reads<F, Fut>(
    store: &EmbeddedStore,
    keys: &Arc<Vec<String>>,
    tasks: usize,
    phase: Duration,
    read: F,
) -> f64
where
    F: Fn(EmbeddedStore, String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..tasks)
        .map(|task| {
            let (store, keys, read) = (store.clone(), keys.clone(), read.clone());
            tokio::spawn(async move {
                let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ task as u64;
                let mut calls = 0u64;
                while start.elapsed() < phase {
                    // xorshift64: cheap, dependency-free key choice.
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    read(store.clone(), keys[seed as usize % keys.len()].clone()).await;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await.unwrap();
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn report(what: &str, tasks: usize, keys_per_call: usize, calls_per_second: f64) {
    println!(
        "{what}, {tasks} tasks on 2 worker threads: {calls_per_second:.0} calls/s \
         ({:.0} keys/s)",
        calls_per_second * keys_per_call as f64
    );
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
