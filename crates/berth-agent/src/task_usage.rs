//! The CPU and memory each running task uses, sampled every `BERTH_METRICS_INTERVAL`
//! and reported over the agent channel; the control plane keeps the samples for the
//! console's charts (as Container Insights' performance log events).
//!
//! A task's sample is the sum over its running containers. CPU is a container's CPU
//! time between two samples over the time between them, in CPU units (1024 to a core),
//! so a container's first sample only primes it; memory is what it uses at the moment.
//! A report that fails is not sent again: the charts show a gap, and nothing else
//! waits on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use berth_api::agent::{TaskMetricsReport, TaskMetricsSample};
use futures::StreamExt;
use tokio::time::Instant;

use crate::channel::Channel;
use crate::runtime::{ContainerUsage, Phase, Runtime};

/// One container's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub container_id: String,
    /// The container instance whose agent runs it, and its task.
    pub instance: String,
    pub task_arn: String,
    pub usage: ContainerUsage,
}

/// The previous reading of each container, to turn CPU time into a rate.
#[derive(Debug, Default)]
pub struct Sampler {
    previous: HashMap<String, (Instant, u64)>,
}

impl Sampler {
    /// The samples of `readings` taken at `at` (`timestamp` in epoch milliseconds), by
    /// container instance. A task is sampled once one of its containers was read before.
    pub fn take(
        &mut self,
        readings: &[Reading],
        at: Instant,
        timestamp: i64,
    ) -> BTreeMap<String, Vec<TaskMetricsSample>> {
        let mut by_task: BTreeMap<(&str, &str), (Option<f64>, f64)> = BTreeMap::new();
        let mut previous = HashMap::with_capacity(readings.len());
        for r in readings {
            let cpu = self.previous.get(&r.container_id).and_then(|(then, ns)| {
                let elapsed = at.duration_since(*then).as_nanos() as f64;
                (elapsed > 0.0)
                    .then(|| r.usage.cpu_total_ns.saturating_sub(*ns) as f64 / elapsed * 1024.0)
            });
            previous.insert(r.container_id.clone(), (at, r.usage.cpu_total_ns));
            let entry = by_task
                .entry((r.instance.as_str(), r.task_arn.as_str()))
                .or_insert((None, 0.0));
            if let Some(cpu) = cpu {
                entry.0 = Some(entry.0.unwrap_or(0.0) + cpu);
            }
            entry.1 += r.usage.memory_bytes as f64 / (1024.0 * 1024.0);
        }
        // Containers that are gone are forgotten.
        self.previous = previous;
        let mut out: BTreeMap<String, Vec<TaskMetricsSample>> = BTreeMap::new();
        for ((instance, task_arn), (cpu, memory)) in by_task {
            let Some(cpu) = cpu else { continue };
            out.entry(instance.to_string())
                .or_default()
                .push(TaskMetricsSample {
                    task_arn: task_arn.to_string(),
                    timestamp,
                    cpu_utilized: (cpu * 100.0).round() / 100.0,
                    memory_utilized: (memory * 100.0).round() / 100.0,
                });
        }
        out
    }
}

/// How many containers are read at once (each a Docker stats call).
const READ_AT_ONCE: usize = 8;

/// The readings of the running containers of this agent's instances (`arns`); a
/// container that cannot be read (it stopped a moment ago) is left out.
async fn read(runtime: &dyn Runtime, arns: &[String]) -> Vec<Reading> {
    let Ok(containers) = runtime.list().await else {
        return Vec::new();
    };
    let ours = containers.into_iter().filter_map(|c| {
        let task_arn = c.task_arn()?.to_string();
        let instance = c.container_instance()?.to_string();
        (c.phase == Phase::Running && arns.contains(&instance))
            .then_some((c.id, instance, task_arn))
    });
    futures::stream::iter(ours)
        .map(|(container_id, instance, task_arn)| async move {
            let usage = runtime.usage(&container_id).await.ok()?;
            Some(Reading {
                container_id,
                instance,
                task_arn,
                usage,
            })
        })
        .buffer_unordered(READ_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// Samples and reports every `interval`, until the task is aborted.
pub async fn run(
    channel: Channel,
    runtime: Arc<dyn Runtime>,
    arns: Vec<String>,
    interval: Duration,
) {
    let mut sampler = Sampler::default();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let readings = read(&*runtime, &arns).await;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for (instance, samples) in sampler.take(&readings, Instant::now(), timestamp) {
            let report = TaskMetricsReport {
                container_instance_arn: instance,
                samples,
            };
            if let Err(e) = channel.report_metrics(&report).await {
                tracing::debug!(error = %e, "task metrics not reported; the next sample will be");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(container: &str, task: &str, cpu_total_ns: u64, mib: u64) -> Reading {
        Reading {
            container_id: container.into(),
            instance: "i-1".into(),
            task_arn: task.into(),
            usage: ContainerUsage {
                cpu_total_ns,
                memory_bytes: mib << 20,
            },
        }
    }

    #[test]
    fn cpu_is_a_rate_between_samples_summed_over_a_tasks_containers() {
        let mut sampler = Sampler::default();
        let t0 = Instant::now();
        let first = sampler.take(
            &[reading("a", "t1", 0, 10), reading("b", "t1", 0, 20)],
            t0,
            1_000,
        );
        assert!(first.is_empty(), "a first reading only primes: {first:?}");

        // Over 2 s, container a used 1 s of CPU (half a core), b 0.5 s (a quarter).
        let t1 = t0 + Duration::from_secs(2);
        let second = sampler.take(
            &[
                reading("a", "t1", 1_000_000_000, 12),
                reading("b", "t1", 500_000_000, 20),
                reading("c", "t2", 7, 5),
            ],
            t1,
            3_000,
        );
        let samples = &second["i-1"];
        assert_eq!(samples.len(), 1, "t2's container is new: {samples:?}");
        assert_eq!(samples[0].task_arn, "t1");
        assert_eq!(samples[0].timestamp, 3_000);
        assert_eq!(samples[0].cpu_utilized, 768.0);
        assert_eq!(samples[0].memory_utilized, 32.0);

        // A container that is gone is forgotten: read again later, it only primes.
        let t2 = t1 + Duration::from_secs(1);
        let third = sampler.take(&[reading("c", "t2", 1_000_000_007, 5)], t2, 4_000);
        assert_eq!(third["i-1"][0].cpu_utilized, 1024.0);
        let t3 = t2 + Duration::from_secs(1);
        assert!(sampler
            .take(&[reading("a", "t1", 2_000_000_000, 12)], t3, 5_000)
            .is_empty());
    }

    #[test]
    fn docker_stats_give_cpu_time_and_memory_without_page_cache() {
        let v2 = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 123456789}},
            "memory_stats": {"usage": 50u64 << 20, "stats": {"inactive_file": 10u64 << 20}}
        });
        assert_eq!(
            ContainerUsage::from_docker_stats(&v2),
            Some(ContainerUsage {
                cpu_total_ns: 123456789,
                memory_bytes: 40 << 20
            })
        );
        let v1 = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 5}},
            "memory_stats": {"usage": 8u64 << 20, "stats": {"total_inactive_file": 3u64 << 20}}
        });
        assert_eq!(
            ContainerUsage::from_docker_stats(&v1).unwrap().memory_bytes,
            5 << 20
        );
        // Stats without a CPU figure give no reading.
        assert_eq!(
            ContainerUsage::from_docker_stats(&serde_json::json!({"memory_stats": {}})),
            None
        );
    }
}
