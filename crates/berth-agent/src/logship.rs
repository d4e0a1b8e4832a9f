//! The `awslogs` log driver, done by the agent: a container whose task definition says
//! `"logDriver": "awslogs"` runs with Docker's `local` driver, and one shipment per
//! container follows its output (the driver's files, or `docker logs --follow` where
//! the agent cannot read them: [`crate::local_log`]) and sends it in
//! batches to its log stream over the agent channel, in stream
//! `PREFIX/CONTAINER-NAME/TASK-ID` as ECS names it (the container's id without a
//! prefix), with the container's timestamps.
//!
//! Nothing is lost or sent twice:
//!
//! - Docker keeps the output on disk, so a shipment that cannot reach the control plane
//!   holds its batch and retries; what the container writes meanwhile waits in Docker
//!   (up to the driver's rotation: 100 MB of output per container).
//! - Each line has a mark: its Docker timestamp (nanoseconds) and its rank among lines
//!   with that exact timestamp. Before a batch is sent, a checkpoint — the marks it
//!   starts after and ends at, the stream's next seq the batch expects, and its size —
//!   is written to disk and synced.
//! - The control plane appends a batch only when the stream's next seq is the expected
//!   one (an empty batch just asks for it), and only from the newest shipment it has
//!   heard from for the stream. After a restart the agent asks — which also fences off
//!   any batch of its former self still in flight — and from the answer knows whether
//!   the checkpointed batch landed: it goes on after the batch's end, or sends it again
//!   from its start.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_api::agent::{LogBatch, LogLine};
use berth_api::ecs::TaskDefinition;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::channel::{Channel, ChannelError};
use crate::runtime::{OutputLine, Phase, Runtime};

/// Most lines in one batch (PutLogEvents' limit).
const MAX_BATCH_LINES: usize = 10_000;
/// Most bytes in one batch, counting 26 per line as CloudWatch does, with room to spare
/// under its 1 MiB.
const MAX_BATCH_BYTES: usize = 1_000_000;
/// A batch is sent this long after its first line at the latest.
const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// With no output for this long, the shipment checks whether the container still runs.
/// Docker's follow stream of a container that has exited does not always end, nor
/// always deliver every line before it ends (seen with Docker 20.10 and fast writers),
/// so an exited container's output is always read once more from the last mark,
/// without following, to its end.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Waits between tries while the control plane cannot take a batch.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// A container's `awslogs` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    pub group: String,
    pub stream_prefix: Option<String>,
    pub create_group: bool,
}

/// The `awslogs` options of container `name` of `def`, when it logs to CloudWatch.
pub fn awslogs_of(def: &TaskDefinition, name: &str) -> Option<AwsLogs> {
    let container = def
        .container_definitions
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(name))?;
    let config = container.log_configuration.as_ref()?;
    if config.log_driver.as_str() != "awslogs" {
        return None;
    }
    let options = config.options.clone().unwrap_or_default();
    Some(AwsLogs {
        group: options.get("awslogs-group")?.clone(),
        stream_prefix: options
            .get("awslogs-stream-prefix")
            .filter(|p| !p.is_empty())
            .cloned(),
        create_group: options
            .get("awslogs-create-group")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    })
}

/// ECS's stream name: `PREFIX/CONTAINER-NAME/TASK-ID`, or the container's id when the
/// options have no prefix.
pub fn stream_name(
    logs: &AwsLogs,
    container_name: &str,
    task_arn: &str,
    container_id: &str,
) -> String {
    match &logs.stream_prefix {
        Some(prefix) => {
            let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
            format!("{prefix}/{container_name}/{task_id}")
        }
        None => container_id.to_string(),
    }
}

/// Where a line sits in a container's output: its timestamp, then its rank among the
/// lines with that timestamp (from 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Mark {
    ns: i64,
    rank: u32,
}

/// The batch in flight, as written to disk before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    /// The batch holds the lines after this mark...
    start: Mark,
    /// ...up to and with this one.
    end: Mark,
    /// The stream's next seq before the batch.
    expected: u64,
    /// How many lines it holds.
    count: u64,
}

/// One container's shipment.
pub struct Shipment {
    pub channel: Channel,
    pub runtime: Arc<dyn Runtime>,
    /// The container instance the agent reports as.
    pub instance: String,
    /// The task and the container's name in it.
    pub task_arn: String,
    pub container_name: String,
    pub container_id: String,
    pub group: String,
    pub stream: String,
    pub create_group: bool,
    /// Where its checkpoint lives; `None` keeps it in memory only (no agent state dir).
    pub checkpoint: Option<PathBuf>,
    /// Its generation: when it was made, in milliseconds since the Unix epoch.
    pub producer: u64,
}

/// Why a shipment stopped for good.
#[derive(Debug, thiserror::Error)]
enum GiveUp {
    #[error("the control plane refused the container's logs: {0}")]
    Refused(String),
}

impl Shipment {
    /// Ships until the container has stopped and all its output is in the stream.
    pub async fn run(self) {
        let (group, stream) = (self.group.clone(), self.stream.clone());
        if let Err(e) = self.ship().await {
            tracing::warn!(%group, %stream, error = %e, "container logs are not shipped");
        }
    }

    async fn ship(&self) -> Result<(), GiveUp> {
        let (after, expected) = self.recover().await?;
        // Reading the next batch overlaps sending the last one; batches still go out
        // one at a time, in order.
        let (batches, queued) = mpsc::channel(1);
        let (read, sent) = tokio::join!(
            self.read(after, batches),
            self.send_all(after, expected, queued)
        );
        sent?;
        read
    }

    /// Sends queued batches in order.
    async fn send_all(
        &self,
        mut after: Mark,
        mut expected: u64,
        mut queued: mpsc::Receiver<Vec<(Mark, OutputLine)>>,
    ) -> Result<(), GiveUp> {
        while let Some(batch) = queued.recv().await {
            (after, expected) = self.send(after, expected, batch).await?;
        }
        Ok(())
    }

    /// Reads the container's output after mark `after` into batches for `send_all`.
    async fn read(
        &self,
        mut after: Mark,
        batches: mpsc::Sender<Vec<(Mark, OutputLine)>>,
    ) -> Result<(), GiveUp> {
        // A send fails only when `send_all` has stopped; it reports why.
        let queue = |batch: Vec<(Mark, OutputLine)>| {
            let batches = batches.clone();
            async move { batches.send(batch).await.is_ok() }
        };
        let mut follow = true;
        loop {
            let since_secs = after.ns.div_euclid(1_000_000_000);
            let read = self
                .runtime
                .logs(&self.container_id, since_secs, follow)
                .await;
            let mut lines = match read {
                Ok(lines) => lines,
                Err(e) => {
                    // Gone (removed) or the engine is away: a later pass starts anew.
                    tracing::debug!(container = %self.container_id, error = %e, "no log stream");
                    return Ok(());
                }
            };
            let mut last = Mark::default();
            let mut batch: Vec<(Mark, OutputLine)> = Vec::new();
            let mut bytes = 0;
            let mut deadline = tokio::time::Instant::now() + FLUSH_AFTER;
            let ended = loop {
                let next = tokio::select! {
                    next = lines.next() => next,
                    _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                        if !queue(std::mem::take(&mut batch)).await {
                            return Ok(());
                        }
                        bytes = 0;
                        continue;
                    }
                    _ = tokio::time::sleep(IDLE_CHECK), if batch.is_empty() && follow => {
                        if self.still_running().await {
                            continue;
                        }
                        // Read what is left from the last mark, without following.
                        follow = false;
                        break false;
                    }
                };
                match next {
                    Some(Ok(line)) => {
                        let mark = Mark {
                            ns: line.timestamp_ns,
                            rank: if line.timestamp_ns == last.ns {
                                last.rank + 1
                            } else {
                                1
                            },
                        };
                        last = mark;
                        if mark <= after {
                            continue;
                        }
                        if batch.is_empty() {
                            deadline = tokio::time::Instant::now() + FLUSH_AFTER;
                        }
                        bytes += line.message.len() + 26;
                        after = mark;
                        batch.push((mark, line));
                        if batch.len() >= MAX_BATCH_LINES || bytes >= MAX_BATCH_BYTES {
                            if !queue(std::mem::take(&mut batch)).await {
                                return Ok(());
                            }
                            bytes = 0;
                        }
                    }
                    // The engine dropped the stream: read again from the last mark.
                    Some(Err(_)) => break false,
                    None => break true,
                }
            };
            if !batch.is_empty() && !queue(batch).await {
                return Ok(());
            }
            if ended && !follow {
                return Ok(());
            }
            // A follow stream can end before the file does when the container exits
            // (Docker 20.10): only a plain read to the end finishes the shipment.
            if ended {
                follow = self.still_running().await;
            }
        }
    }

    /// Whether the container is still running (or the runtime cannot tell).
    async fn still_running(&self) -> bool {
        match self.runtime.list().await {
            Ok(all) => all
                .iter()
                .any(|c| c.id == self.container_id && c.phase == Phase::Running),
            Err(_) => true,
        }
    }

    /// Where to go on from: after the checkpointed batch if it landed, else before it.
    async fn recover(&self) -> Result<(Mark, u64), GiveUp> {
        let current = self.post(&self.batch(Vec::new(), 0)).await?.next_seq;
        let Some(path) = &self.checkpoint else {
            return Ok((Mark::default(), current));
        };
        let saved: Option<Checkpoint> = tokio::fs::read(path)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok(match saved {
            None => (Mark::default(), current),
            Some(cp) if current == cp.expected => (cp.start, current),
            // Landed, or the stream moved on without us: never send it twice.
            Some(cp) => (cp.end, current),
        })
    }

    /// Checkpoints and sends one batch; returns the new mark and next seq.
    async fn send(
        &self,
        after: Mark,
        mut expected: u64,
        batch: Vec<(Mark, OutputLine)>,
    ) -> Result<(Mark, u64), GiveUp> {
        let end = batch.last().map_or(after, |(mark, _)| *mark);
        let count = batch.len() as u64;
        if let Some(path) = &self.checkpoint {
            let cp = Checkpoint {
                start: after,
                end,
                expected,
                count,
            };
            // A checkpoint that cannot be written costs exactness after a crash only.
            if let Err(e) = write_synced(path, &serde_json::to_vec(&cp).unwrap_or_default()).await {
                tracing::warn!(path = %path.display(), error = %e, "cannot write a log checkpoint");
            }
        }
        let events: Vec<LogLine> = batch
            .into_iter()
            .map(|(_, line)| LogLine {
                timestamp: line.timestamp_ns.div_euclid(1_000_000),
                message: line.message,
            })
            .collect();
        let mut batch = self.batch(events, expected);
        loop {
            let answer = self.post(&batch).await?;
            if answer.appended || answer.next_seq == expected + count {
                return Ok((end, answer.next_seq));
            }
            // Someone else wrote to the stream: append after them.
            expected = answer.next_seq;
            batch.expected_next_seq = expected;
        }
    }

    /// The call that appends `events` at seq `expected` of the stream.
    fn batch(&self, events: Vec<LogLine>, expected: u64) -> LogBatch {
        LogBatch {
            container_instance_arn: self.instance.clone(),
            task_arn: self.task_arn.clone(),
            container_name: self.container_name.clone(),
            log_group_name: self.group.clone(),
            log_stream_name: self.stream.clone(),
            create_group: self.create_group,
            expected_next_seq: expected,
            producer: self.producer,
            events,
        }
    }

    /// One call, retried while the control plane cannot be reached or fails.
    async fn post(&self, batch: &LogBatch) -> Result<berth_api::agent::LogBatchAnswer, GiveUp> {
        let mut wait = RETRY_MIN;
        loop {
            match self.channel.ship_logs(batch).await {
                Ok(answer) => return Ok(answer),
                Err(ChannelError::Refused { status, message }) if (400..500).contains(&status) => {
                    return Err(GiveUp::Refused(message))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "log batch not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// Replaces `path` with `bytes`, synced, so a crash leaves the old or the new file.
async fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (path, bytes) = (path.to_owned(), bytes.to_vec());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The agent's shipments, one per container that logs to CloudWatch.
#[derive(Default)]
pub struct Shippers {
    /// Where checkpoints live (`None`: in memory only).
    dir: Option<PathBuf>,
    running: HashMap<String, JoinHandle<()>>,
}

impl Shippers {
    /// Shipments whose checkpoints live in `dir`.
    pub fn new(dir: Option<PathBuf>) -> Shippers {
        if let Some(dir) = &dir {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot keep log checkpoints");
            }
        }
        Shippers {
            dir,
            running: HashMap::new(),
        }
    }

    /// Where the checkpoint of a container's shipment lives.
    pub fn checkpoint_of(&self, container_id: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{container_id}.json")))
    }

    /// Starts `make()`'s shipment for a container unless it has one (running or done).
    pub fn ensure(&mut self, container_id: &str, make: impl FnOnce() -> Shipment) {
        if !self.running.contains_key(container_id) {
            let shipment = make();
            self.running
                .insert(container_id.to_string(), tokio::spawn(shipment.run()));
        }
    }

    /// Forgets the shipments (and checkpoints) of containers that are gone.
    pub fn retain(&mut self, live: &HashSet<String>) {
        self.running.retain(|id, work| {
            let keep = live.contains(id);
            if !keep {
                work.abort();
            }
            keep
        });
        let Some(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only checkpoints: a `.tmp` being written now is left to its rename.
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if !live.contains(id) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Stops every shipment (the agent is stopping; checkpoints stay for its restart).
    pub fn stop_all(&mut self) {
        for (_, work) in self.running.drain() {
            work.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_ecs() {
        let logs = AwsLogs {
            group: "/ecs/web".into(),
            stream_prefix: Some("ecs".into()),
            create_group: false,
        };
        let arn = "arn:aws:ecs:us-east-1:000000000000:task/default/0123abcd";
        assert_eq!(stream_name(&logs, "web", arn, "c0ffee"), "ecs/web/0123abcd");
        let bare = AwsLogs {
            stream_prefix: None,
            ..logs
        };
        assert_eq!(stream_name(&bare, "web", arn, "c0ffee"), "c0ffee");
    }

    #[test]
    fn marks_order_by_time_then_rank() {
        let a = Mark { ns: 5, rank: 2 };
        assert!(a > Mark { ns: 5, rank: 1 });
        assert!(a < Mark { ns: 6, rank: 1 });
        assert!(Mark::default() < Mark { ns: 1, rank: 1 });
    }
}
