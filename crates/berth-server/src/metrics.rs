//! The control plane's own metrics at `GET /metrics`, in Prometheus' text format:
//! requests by API (service and operation), answer status and latency (a histogram),
//! counted by a layer over every route; and, read when scraped, tasks by last status
//! and container instances (the Fargate pool's included) by whether their agent is
//! connected, per account and region. The endpoint needs no signature (Prometheus scrapes it as is) and shows
//! counts only.
//!
//! Series are keyed by operations a client names, so their number is capped
//! ([`MAX_SERIES`]); past it, new ones are counted under `api="other"`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_model::container_instance::InstanceRecord;
use berth_model::task::TaskRecord;

use crate::context::Core;
use crate::records;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Most (api, status) series kept.
pub const MAX_SERIES: usize = 2_000;

#[derive(Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    /// Per bucket of [`BUCKETS`], how many took at most its bound.
    buckets: [u64; BUCKETS.len()],
}

/// Request counters, shared by every route.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<HashMap<(String, u16), Series>>,
}

/// What a request is, as a metric label: `SERVICE.Operation` for the JSON protocol
/// (from `X-Amz-Target`), else the route's family (`query`, `registry`, `agent`,
/// `console`, `other`).
fn api_of(request: &Request) -> String {
    if let Some(target) = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let plain = target.len() <= 100
            && target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        return if plain {
            target.to_string()
        } else {
            "other".into()
        };
    }
    let path = request.uri().path();
    let family = if path == "/" {
        "query"
    } else if path.starts_with("/v2/") {
        "registry"
    } else if path.starts_with("/agent/") {
        "agent"
    } else if path.starts_with("/console") {
        "console"
    } else {
        "other"
    };
    family.to_string()
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, api: String, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut series = self.series.lock().expect("metrics lock");
        let key = if series.len() >= MAX_SERIES && !series.contains_key(&(api.clone(), status)) {
            ("other".to_string(), status)
        } else {
            (api, status)
        };
        let s = series.entry(key).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The request series in Prometheus' text format.
    fn render_requests(&self, out: &mut String) {
        let series: BTreeMap<(String, u16), Series> = self
            .series
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push_str("# HELP berth_requests_total Requests answered, by API and status.\n");
        out.push_str("# TYPE berth_requests_total counter\n");
        for ((api, status), s) in &series {
            let _ = writeln!(
                out,
                "berth_requests_total{{api=\"{api}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP berth_request_duration_seconds Time to answer, by API.\n");
        out.push_str("# TYPE berth_request_duration_seconds histogram\n");
        let mut by_api: BTreeMap<&str, Series> = BTreeMap::new();
        for ((api, _), s) in &series {
            let total = by_api.entry(api).or_default();
            total.count += s.count;
            total.sum += s.sum;
            for (t, b) in total.buckets.iter_mut().zip(s.buckets) {
                *t += b;
            }
        }
        for (api, s) in &by_api {
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "berth_request_duration_seconds_bucket{{api=\"{api}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "berth_request_duration_seconds_bucket{{api=\"{api}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "berth_request_duration_seconds_sum{{api=\"{api}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "berth_request_duration_seconds_count{{api=\"{api}\"}} {}",
                s.count
            );
        }
    }
}

/// The layer that counts every request: `axum::middleware::from_fn_with_state`.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let api = api_of(&request);
    let started = tokio::time::Instant::now();
    let response = next.run(request).await;
    metrics.record(api, response.status().as_u16(), started.elapsed());
    response
}

/// `(account, region)` of a record key `/ecs/ACCOUNT/REGION/...`.
fn scope_of(key: &str) -> (String, String) {
    let mut parts = key.trim_start_matches("/ecs/").splitn(3, '/');
    (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    )
}

/// Tasks by last status and instances by agent connection, read now.
async fn render_state(core: &Core, out: &mut String) -> Result<(), berth_api::error::ApiError> {
    let now = core.clock.now();
    let mut tasks: BTreeMap<(String, String, &'static str), u64> = BTreeMap::new();
    for prefix in records::scope_prefixes(&*core.store, "tasks").await? {
        for t in core.list_records::<TaskRecord>(&prefix).await? {
            let (account, region) = scope_of(&t.key);
            *tasks
                .entry((account, region, t.value.last_status.as_str()))
                .or_default() += 1;
        }
    }
    out.push_str("# HELP berth_tasks Tasks by last status.\n# TYPE berth_tasks gauge\n");
    for ((account, region, status), n) in &tasks {
        let _ = writeln!(
            out,
            "berth_tasks{{account=\"{account}\",region=\"{region}\",last_status=\"{status}\"}} {n}"
        );
    }
    // Container instances, and the Fargate pool's members (instances too, kept apart).
    let mut agents: BTreeMap<(String, String, bool), u64> = BTreeMap::new();
    for kind in ["instances", "fargate-pool"] {
        for prefix in records::scope_prefixes(&*core.store, kind).await? {
            for i in core.list_records::<InstanceRecord>(&prefix).await? {
                let (account, region) = scope_of(&i.key);
                let connected = i.value.agent_connected(core.liveness.heard(&i.value), now);
                *agents.entry((account, region, connected)).or_default() += 1;
            }
        }
    }
    out.push_str(
        "# HELP berth_container_instances Container instances (the Fargate pool's included) by whether their agent is connected.\n\
         # TYPE berth_container_instances gauge\n",
    );
    for ((account, region, connected), n) in &agents {
        let _ = writeln!(
            out,
            "berth_container_instances{{account=\"{account}\",region=\"{region}\",agent_connected=\"{connected}\"}} {n}"
        );
    }
    Ok(())
}

/// State for `GET /metrics`.
#[derive(Clone)]
pub struct Scrape {
    pub core: Arc<Core>,
    pub metrics: Arc<Metrics>,
}

/// `GET /metrics`.
pub async fn scrape(State(s): State<Scrape>) -> Response {
    let mut out = String::new();
    s.metrics.render_requests(&mut out);
    if let Err(e) = render_state(&s.core, &mut out).await {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the store: {e}\n"),
        )
            .into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_every_bucket_at_or_above_its_time() {
        let m = Metrics::default();
        m.record("ecs.RunTask".into(), 200, Duration::from_millis(7));
        m.record("ecs.RunTask".into(), 400, Duration::from_millis(300));
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(
            out.contains("berth_requests_total{api=\"ecs.RunTask\",status=\"200\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("berth_requests_total{api=\"ecs.RunTask\",status=\"400\"} 1"),
            "{out}"
        );
        assert!(out.contains("le=\"0.005\"} 0"), "{out}");
        assert!(out.contains("le=\"0.01\"} 1"), "{out}");
        assert!(out.contains("le=\"0.5\"} 2"), "{out}");
        assert!(
            out.contains("berth_request_duration_seconds_count{api=\"ecs.RunTask\"} 2"),
            "{out}"
        );
    }

    #[test]
    fn series_are_capped() {
        let m = Metrics::default();
        for i in 0..MAX_SERIES + 10 {
            m.record(format!("x.Op{i}"), 200, Duration::ZERO);
        }
        let series = m.series.lock().unwrap();
        assert_eq!(series.len(), MAX_SERIES + 1, "the cap, plus `other`");
        assert_eq!(series[&("other".to_string(), 200)].count, 10);
    }
}
