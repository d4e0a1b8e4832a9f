//! A task's and a service's CPU and memory over the last hour, drawn as [`charts`]:
//! read from the Container Insights performance events the agents' samples became
//! ([`berth_server::task_metrics`]), one stream a task, with GetLogEvents as the
//! signed-in principal (who needs `logs:GetLogEvents` on the cluster's performance
//! group to see them). A service's charts add up its tasks' samples, the running ones
//! and those stopped within the hour.
//!
//! [`charts`]: crate::charts

use std::collections::BTreeMap;

use berth_api::error::ApiError;
use berth_logs::catalog::now_millis;
use berth_server::task_metrics::{group_name, stream_name, TaskEvent};
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::charts::{line_chart, Series};
use crate::pages::{last_part, text};
use crate::web::{words, SignedInRequest};
use crate::{api, Console};

/// The charts' window.
const WINDOW_MS: i64 = 3_600_000;
/// At most this many of a service's tasks are read for its charts.
const SERVICE_TASKS_READ: usize = 50;
/// The most samples one task has in the window at the fastest sampling an agent does.
const EVENTS_READ: u32 = 10_000;
const USED: &str = "#0073bb";
const RESERVED: &str = "#879596";

/// One point of a chart pair: CPU and memory used and reserved at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub at: i64,
    pub cpu: f64,
    pub cpu_reserved: f64,
    pub memory: f64,
    pub memory_reserved: f64,
}

impl Point {
    fn of(e: &TaskEvent) -> Point {
        Point {
            at: e.timestamp,
            cpu: e.cpu_utilized,
            cpu_reserved: e.cpu_reserved,
            memory: e.memory_utilized,
            memory_reserved: e.memory_reserved,
        }
    }
}

/// The task's samples since `from`, oldest first; none when it has no stream yet.
async fn task_points(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task_id: &str,
    from: i64,
) -> Result<Vec<Point>, ApiError> {
    let body = json!({
        "logGroupName": group_name(cluster),
        "logStreamName": stream_name(task_id),
        "startTime": from,
        "startFromHead": true,
        "limit": EVENTS_READ,
    });
    let answer = match api::logs(&c.front, &r.caller, "GetLogEvents", body).await {
        Ok(answer) => answer,
        Err(ApiError::ResourceNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(api::objects(&answer, "events")
        .iter()
        .filter_map(|e| serde_json::from_str::<TaskEvent>(text(e, "message")).ok())
        .map(|e| Point::of(&e))
        .collect())
}

/// The sum of several tasks' samples, a point per interval: the shortest gap between
/// two samples of one task (the agents' sampling interval), at least a second and at
/// most a minute. A task with two samples in one interval counts with their average;
/// each point stands at the latest sample of its interval.
pub fn add_up(tasks: &[Vec<Point>]) -> Vec<Point> {
    let gap = tasks
        .iter()
        .flat_map(|t| t.windows(2).map(|w| w[1].at - w[0].at))
        .filter(|g| *g > 0)
        .min()
        .unwrap_or(60_000)
        .clamp(1_000, 60_000);
    let mut buckets: BTreeMap<i64, Point> = BTreeMap::new();
    for task in tasks {
        let mut own: BTreeMap<i64, (Point, f64)> = BTreeMap::new();
        for p in task {
            let (sum, n) = own.entry(p.at / gap).or_default();
            sum.at = sum.at.max(p.at);
            sum.cpu += p.cpu;
            sum.cpu_reserved += p.cpu_reserved;
            sum.memory += p.memory;
            sum.memory_reserved += p.memory_reserved;
            *n += 1.0;
        }
        for (bucket, (sum, n)) in own {
            let total = buckets.entry(bucket).or_default();
            // The interval's point stands at its latest sample.
            total.at = total.at.max(sum.at);
            total.cpu += sum.cpu / n;
            total.cpu_reserved += sum.cpu_reserved / n;
            total.memory += sum.memory / n;
            total.memory_reserved += sum.memory_reserved / n;
        }
    }
    buckets.into_values().collect()
}

/// The CPU and memory charts of `points`, with the latest sample in words.
fn charts(points: &[Point], from: i64, to: i64) -> Markup {
    let series = |name: &str, colour, dashed, value: fn(&Point) -> f64| Series {
        name: name.to_string(),
        colour,
        dashed,
        points: points.iter().map(|p| (p.at, value(p))).collect(),
    };
    let cpu = [
        series("CPU used", USED, false, |p| p.cpu),
        series("CPU reserved", RESERVED, true, |p| p.cpu_reserved),
    ];
    let memory = [
        series("Memory used", USED, false, |p| p.memory),
        series("Memory reserved", RESERVED, true, |p| p.memory_reserved),
    ];
    html! {
        @if let Some(last) = points.last() {
            p.latest {
                "Latest: CPU " span.cpu-used { (format!("{:.1}", last.cpu)) } " of "
                (format!("{:.0}", last.cpu_reserved)) " units"
                @if last.cpu_reserved > 0.0 {
                    " (" (format!("{:.1}", last.cpu / last.cpu_reserved * 100.0)) "%)"
                }
                ", memory " span.memory-used { (format!("{:.1}", last.memory)) } " of "
                (format!("{:.0}", last.memory_reserved)) " MiB."
            }
        }
        (line_chart("CPU", "CPU units, 1024 a vCPU", &cpu, from, to))
        (line_chart("Memory", "MiB", &memory, from, to))
    }
}

/// The section around `read`'s points: the charts, a note while there are none, or the
/// error that kept them from being read.
fn section(read: Result<Vec<Point>, ApiError>, from: i64, to: i64) -> Markup {
    html! {
        section #metrics {
            h2 { "Metrics" }
            @match read {
                Ok(points) if points.is_empty() => p.muted {
                    "No CPU or memory samples in the last hour yet: agents sample running \
                     tasks every minute (BERTH_METRICS_INTERVAL)."
                },
                // A task younger than the window is drawn from its first sample.
                Ok(points) => (charts(&points, points[0].at.clamp(from, to - 1), to)),
                Err(e) => div.error role="alert" { (words(&e)) },
            }
        }
    }
}

/// A task's metrics section.
pub(crate) async fn task_section(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task_id: &str,
) -> Markup {
    let to = now_millis();
    let from = to - WINDOW_MS;
    section(task_points(c, r, cluster, task_id, from).await, from, to)
}

/// A service's metrics section: `running` are its tasks as DescribeTasks gave them; its
/// tasks stopped within the hour are read too.
pub(crate) async fn service_section(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    service: &str,
    running: &[Value],
) -> Markup {
    let to = now_millis();
    let from = to - WINDOW_MS;
    let read = async {
        let stopped = api::ecs(
            &c.front,
            &r.caller,
            "ListTasks",
            json!({ "cluster": cluster, "serviceName": service, "desiredStatus": "STOPPED" }),
        )
        .await?;
        let stopped = api::strings(&stopped, "taskArns");
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&str> = running
            .iter()
            .map(|t| last_part(text(t, "taskArn")))
            .chain(stopped.iter().map(|a| last_part(a)))
            .filter(|id| seen.insert(*id))
            .take(SERVICE_TASKS_READ)
            .collect();
        let mut tasks = Vec::with_capacity(ids.len());
        for id in &ids {
            tasks.push(task_points(c, r, cluster, id, from).await?);
        }
        Ok(add_up(&tasks))
    };
    section(read.await, from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(at: i64, cpu: f64, memory: f64) -> Point {
        Point {
            at,
            cpu,
            cpu_reserved: 256.0,
            memory,
            memory_reserved: 512.0,
        }
    }

    #[test]
    fn a_services_points_add_up_its_tasks_per_sampling_interval() {
        // Two tasks sampled every 2 s, a moment apart; the second has two samples in
        // one interval (averaged) and starts later.
        let a = vec![p(10_000, 100.0, 10.0), p(12_000, 200.0, 20.0)];
        let b = vec![p(12_100, 50.0, 5.0), p(12_900, 150.0, 15.0)];
        let total = add_up(&[a, b]);
        assert_eq!(
            total,
            vec![
                Point {
                    at: 10_000,
                    ..p(0, 100.0, 10.0)
                },
                Point {
                    at: 12_900,
                    cpu: 300.0,
                    cpu_reserved: 512.0,
                    memory: 30.0,
                    memory_reserved: 1024.0,
                },
            ]
        );
        assert!(add_up(&[]).is_empty());
        // A lone sample (no interval to measure) keeps its own time.
        assert_eq!(
            add_up(&[vec![p(61_234, 1.0, 1.0)]]),
            vec![p(61_234, 1.0, 1.0)]
        );
    }
}
