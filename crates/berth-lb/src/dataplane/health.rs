//! Health checks: one task per target probes it every interval (a TCP connect, or an
//! HTTP `GET path` whose status must pass the matcher, within the timeout), feeds the
//! results to the [`HealthMachine`], and reports each change of status. The first
//! probe goes out at once; time runs on tokio's clock, so tests pause it.
//!
//! Reports are written to the store by [`write_report`] only when the status changes,
//! and only while the registration they are about is still the current one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use berth_store::records::{self, put};
use berth_store::{Compare, Store, Txn};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use crate::error::ElbError;
use crate::health_check::HealthCheck;
use crate::health_state::{HealthMachine, Probe, TargetHealth};
use crate::model::{now_ms, Protocol};
use crate::resources::TargetRecord;
use crate::targets::health_record;

/// Probes a target once.
pub trait Prober: Send + Sync + 'static {
    /// The result of one check of `addr`, within the check's timeout.
    fn probe(&self, addr: SocketAddr, check: &HealthCheck) -> BoxFuture<'static, Probe>;
}

/// Probes over the network.
pub struct NetProber;

impl Prober for NetProber {
    fn probe(&self, addr: SocketAddr, check: &HealthCheck) -> BoxFuture<'static, Probe> {
        let check = check.clone();
        Box::pin(async move {
            let limit = Duration::from_secs(u64::from(check.timeout_secs));
            tokio::time::timeout(limit, probe_once(addr, &check))
                .await
                .unwrap_or(Probe::Timeout)
        })
    }
}

async fn probe_once(addr: SocketAddr, check: &HealthCheck) -> Probe {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Probe::Failed;
    };
    if check.protocol == Protocol::Tcp {
        return Probe::Success;
    }
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return Probe::Failed;
    };
    let conn = tokio::spawn(conn);
    let request = http::Request::get(check.path.as_deref().unwrap_or("/"))
        .header(http::header::HOST, addr.to_string())
        .header(http::header::USER_AGENT, "ELB-HealthChecker/2.0")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new());
    let outcome = match request {
        Err(_) => Probe::Failed,
        Ok(request) => match sender.send_request(request).await {
            Err(_) => Probe::Failed,
            Ok(response) => {
                let status = response.status().as_u16();
                let accepted = check.matcher.as_ref().is_none_or(|m| m.accepts(status));
                if accepted {
                    Probe::Success
                } else {
                    Probe::CodeMismatch(status)
                }
            }
        },
    };
    conn.abort();
    outcome
}

/// Checks `addr` with `check` forever, starting from `machine`'s status, calling
/// `report` with every change.
pub async fn run_checker(
    addr: SocketAddr,
    check: HealthCheck,
    mut machine: HealthMachine,
    prober: Arc<dyn Prober>,
    report: impl Fn(TargetHealth) + Send,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(u64::from(check.interval_secs)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let probe = prober.probe(addr, &check).await;
        if let Some(status) = machine.observe(probe) {
            report(status);
        }
    }
}

/// A status change to record.
#[derive(Debug, Clone)]
pub struct Report {
    pub target_key: String,
    pub health_key: String,
    pub registration: u64,
    pub status: TargetHealth,
}

/// Writes a report if its registration is still current and not draining.
pub async fn write_report(store: &dyn Store, report: &Report) -> Result<(), ElbError> {
    let Some(kv) = store
        .get(&report.target_key)
        .await
        .map_err(ElbError::store)?
    else {
        return Ok(());
    };
    let Ok(target) = records::decode::<TargetRecord>(kv) else {
        return Ok(());
    };
    if target.value.registration != report.registration || target.value.draining.is_some() {
        return Ok(());
    }
    let record = health_record(&report.status, report.registration, now_ms());
    let txn = Txn::new()
        .when(Compare::unchanged(
            report.target_key.clone(),
            target.revision,
        ))
        .then(put(report.health_key.clone(), &record));
    store.txn(txn).await.map_err(ElbError::store)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::health_check::HealthCheckInput;
    use crate::health_state::{Reason, TargetHealthState};
    use tokio::time::Instant;

    /// Answers from a script, then keeps answering its last entry.
    struct Scripted(Mutex<Vec<Probe>>);

    impl Prober for Scripted {
        fn probe(&self, _: SocketAddr, _: &HealthCheck) -> BoxFuture<'static, Probe> {
            let mut script = self.0.lock().unwrap();
            let next = if script.len() > 1 {
                script.remove(0)
            } else {
                script[0]
            };
            Box::pin(async move { next })
        }
    }

    fn check(interval: u32, healthy: u32, unhealthy: u32) -> HealthCheck {
        let mut c =
            HealthCheck::for_new_group(Protocol::Http, &HealthCheckInput::default()).unwrap();
        c.interval_secs = interval;
        c.healthy_threshold = healthy;
        c.unhealthy_threshold = unhealthy;
        c
    }

    #[tokio::test(start_paused = true)]
    async fn transitions_come_at_threshold_times() {
        use Probe::*;
        let prober = Arc::new(Scripted(Mutex::new(vec![
            Success,
            Success,
            Success,
            Timeout,
            Timeout,
            CodeMismatch(500),
            Success,
            Success,
            Success,
        ])));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let initial =
            TargetHealth::because(TargetHealthState::Initial, Reason::InitialHealthChecking);
        let sink = seen.clone();
        let task = tokio::spawn(run_checker(
            SocketAddr::from(([127, 0, 0, 1], 1)),
            check(10, 3, 2),
            HealthMachine::new(initial, 3, 2),
            prober,
            move |s: TargetHealth| {
                sink.lock()
                    .unwrap()
                    .push((start.elapsed().as_secs(), s.state, s.reason))
            },
        ));
        tokio::time::sleep(Duration::from_secs(95)).await;
        task.abort();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (20, TargetHealthState::Healthy, None),
                (40, TargetHealthState::Unhealthy, Some(Reason::Timeout)),
                (
                    50,
                    TargetHealthState::Unhealthy,
                    Some(Reason::ResponseCodeMismatch)
                ),
                (80, TargetHealthState::Healthy, None),
            ]
        );
    }

    #[tokio::test]
    async fn probes_speak_tcp_and_http() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let status = if text.starts_with("GET /ok ") {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let mut http = check(30, 2, 2);
        http.path = Some("/ok".into());
        assert_eq!(NetProber.probe(addr, &http).await, Probe::Success);
        http.path = Some("/down".into());
        assert_eq!(NetProber.probe(addr, &http).await, Probe::CodeMismatch(503));
        let tcp = HealthCheck::for_new_group(Protocol::Tcp, &HealthCheckInput::default()).unwrap();
        assert_eq!(NetProber.probe(addr, &tcp).await, Probe::Success);
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(NetProber.probe(closed, &tcp).await, Probe::Failed);
    }
}
