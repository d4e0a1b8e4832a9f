//! The threads that serve proxied connections: one per core, each running a
//! single-threaded tokio runtime, as nginx runs a worker process per core. A connection
//! stays on the thread that took it, with its connections to targets, so a request and
//! its forwarded copy never wake another thread; the control plane's runtime only
//! accepts. Measured against the shared multi-threaded runtime in BENCHMARKS.md.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The worker threads, started on first use and kept for the life of the process.
pub struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Workers {
    /// The process's workers.
    pub fn get() -> &'static Workers {
        static WORKERS: OnceLock<Workers> = OnceLock::new();
        WORKERS.get_or_init(|| {
            let count = std::thread::available_parallelism().map_or(2, |n| n.get());
            let queues = (0..count)
                .map(|i| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    std::thread::Builder::new()
                        .name(format!("lb-worker-{i}"))
                        .spawn(move || run(rx))
                        .expect("start a load balancer worker thread");
                    tx
                })
                .collect();
            Workers {
                queues,
                next: AtomicUsize::new(0),
            }
        })
    }

    /// Moves an accepted connection to the next worker (round robin) and serves it
    /// there with `serve`: the socket is registered with that worker's runtime, so all
    /// its I/O, and that of the connections `serve` opens, happens on that thread.
    pub fn serve<F, Fut>(&self, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // A socket belongs to the runtime that registered it: deregister it here and
        // register it again on the worker.
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                if let Ok(stream) = TcpStream::from_std(stream) {
                    serve(stream).await;
                }
            })
        });
        let _ = self.queues[turn].send(job);
    }
}

fn run(mut jobs: mpsc::UnboundedReceiver<Job>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a load balancer worker runtime");
    runtime.block_on(async move {
        while let Some(job) = jobs.recv().await {
            tokio::spawn(job());
        }
    });
}
