//! The data plane's one loop, level-triggered: list every ELBv2 record, make the running
//! listeners and health checkers match ([`Supervisor::reconcile`]), remove targets whose
//! drain is over, then watch the store until the configuration changes (health reports
//! aside), a drain ends, a listener that could not bind is due for another try, or the
//! periodic resync comes round; and list again. Missing a watch event loses nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_store::Store;
use bytes::Bytes;
use futures::StreamExt;
use http::HeaderValue;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::health::{run_checker, write_report, Prober, Report};
use super::http_proxy;
use super::routing::{Group, Route, Routes, Target, Weighted};
use super::tcp_proxy;
use super::topology::{self, ActionSpec, Desired, ListenerSpec, TargetId, TargetSpec};
use crate::config::{mutate, ScopeConfig};
use crate::health_state::{HealthMachine, Reason, TargetHealth, TargetHealthState};
use crate::keys::{self, Kind};
use crate::listener_sockets::{bind, ListenerSockets};
use crate::model::{now_ms, Protocol};
use crate::targets::{next_drain_end, plan_reap};

/// How often everything is listed again even without events.
const RESYNC: Duration = Duration::from_secs(30);
/// How soon a listener that could not bind is tried again.
const BIND_RETRY: Duration = Duration::from_secs(2);

struct RunningListener {
    port: u16,
    protocol: Protocol,
    routes: watch::Sender<Arc<Routes>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct RunningTarget {
    spec: TargetSpec,
    target: Arc<Target>,
    /// The status its checker last reported (seeds a restarted checker).
    status: Arc<Mutex<TargetHealth>>,
    checker: JoinHandle<()>,
}

/// The running listeners and health checkers of one Berth process.
pub struct Supervisor {
    sockets: Arc<ListenerSockets>,
    prober: Arc<dyn Prober>,
    reports: mpsc::UnboundedSender<Report>,
    listeners: HashMap<String, RunningListener>,
    targets: HashMap<TargetId, RunningTarget>,
    /// Listeners that could not bind yet.
    unbound: BTreeSet<String>,
    turns: Turns,
}

/// Round-robin positions of groups and weighted actions, kept across rebuilds of the
/// routing tables.
#[derive(Default)]
struct Turns {
    counters: HashMap<String, Arc<AtomicUsize>>,
    used: HashSet<String>,
}

impl Turns {
    fn get(&mut self, key: String) -> Arc<AtomicUsize> {
        let counter = self.counters.entry(key.clone()).or_default().clone();
        self.used.insert(key);
        counter
    }

    /// Forgets the positions the last rebuild did not use.
    fn sweep(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.counters.retain(|k, _| used.contains(k));
    }
}

impl Supervisor {
    /// A supervisor running nothing yet, serving listeners on `sockets`; health reports
    /// go to `reports`.
    pub fn new(
        sockets: Arc<ListenerSockets>,
        prober: Arc<dyn Prober>,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Supervisor {
        Supervisor {
            sockets,
            prober,
            reports,
            listeners: HashMap::new(),
            targets: HashMap::new(),
            unbound: BTreeSet::new(),
            turns: Turns::default(),
        }
    }

    /// Makes what runs match `desired`.
    pub async fn reconcile(&mut self, desired: &Desired) {
        self.reconcile_targets(desired);
        let mut groups: HashMap<&str, Arc<Group>> = HashMap::new();
        for (arn, ids) in &desired.groups {
            let members = ids
                .iter()
                .filter_map(|id| self.targets.get(id).map(|t| t.target.clone()))
                .collect();
            let turns = self.turns.get(format!("group {arn}"));
            groups.insert(arn.as_str(), Arc::new(Group::with_turns(members, turns)));
        }
        let stale: Vec<String> = self
            .listeners
            .iter()
            .filter(|(arn, l)| {
                desired
                    .listeners
                    .get(*arn)
                    .is_none_or(|s| s.port != l.port || s.protocol != l.protocol)
            })
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in stale {
            if let Some(l) = self.listeners.remove(&arn) {
                stop_listener(l).await;
            }
        }
        self.unbound
            .retain(|arn| desired.listeners.contains_key(arn));
        for (arn, spec) in &desired.listeners {
            let routes = Arc::new(build_routes(arn, spec, &groups, &mut self.turns));
            if let Some(running) = self.listeners.get(arn) {
                running.routes.send_replace(routes);
                continue;
            }
            match self.start_listener(arn, spec, routes) {
                Ok(running) => {
                    self.unbound.remove(arn);
                    self.listeners.insert(arn.clone(), running);
                }
                Err(e) => {
                    if self.unbound.insert(arn.clone()) {
                        tracing::warn!(listener = %arn, port = spec.port, error = %e,
                            "load balancer listener cannot listen; retrying");
                    }
                }
            }
        }
        self.turns.sweep();
    }

    fn reconcile_targets(&mut self, desired: &Desired) {
        let gone: Vec<TargetId> = self
            .targets
            .iter()
            .filter(|(id, running)| {
                desired
                    .targets
                    .get(*id)
                    .is_none_or(|spec| spec.addr != running.spec.addr)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(running) = self.targets.remove(&id) {
                running.checker.abort();
            }
        }
        for (id, spec) in &desired.targets {
            match self.targets.get_mut(id) {
                Some(running) if same_checks(&running.spec, spec) => {}
                Some(running) => {
                    // New health check settings: the checker restarts from where it was.
                    running.checker.abort();
                    let status = running.status.lock().expect("status lock").clone();
                    running.spec = spec.clone();
                    let checker = Checker {
                        prober: self.prober.clone(),
                        reports: self.reports.clone(),
                        spec: spec.clone(),
                        target: running.target.clone(),
                        shared: running.status.clone(),
                    };
                    running.checker = checker.spawn(status);
                }
                None => {
                    let running = self.start_target(spec);
                    self.targets.insert(id.clone(), running);
                }
            }
        }
    }

    fn start_target(&self, spec: &TargetSpec) -> RunningTarget {
        let status = spec.last_report.clone().unwrap_or_else(|| {
            TargetHealth::because(TargetHealthState::Initial, Reason::InitialHealthChecking)
        });
        let target = Arc::new(Target::new(spec.addr, status.state));
        let shared = Arc::new(Mutex::new(status.clone()));
        let checker = Checker {
            prober: self.prober.clone(),
            reports: self.reports.clone(),
            spec: spec.clone(),
            target: target.clone(),
            shared: shared.clone(),
        };
        if spec.last_report.is_none() {
            checker.reporter()(status.clone());
        }
        RunningTarget {
            spec: spec.clone(),
            target,
            status: shared,
            checker: checker.spawn(status),
        }
    }

    fn start_listener(
        &self,
        arn: &str,
        spec: &ListenerSpec,
        routes: Arc<Routes>,
    ) -> std::io::Result<RunningListener> {
        let addr = SocketAddr::new(self.sockets.host(), spec.port);
        let socket = match self.sockets.take_prebound(arn) {
            Some(socket) => socket,
            None => bind(addr)?,
        };
        let (routes_tx, routes_rx) = watch::channel(routes);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = match spec.protocol {
            Protocol::Tcp => tokio::spawn(tcp_proxy::serve(socket, routes_rx, stop_rx)),
            _ => {
                let listener = Arc::new(http_proxy::Listener {
                    routes: routes_rx,
                    port: HeaderValue::from(spec.port),
                });
                tokio::spawn(http_proxy::serve(socket, listener, stop_rx))
            }
        };
        tracing::info!(listener = %arn, %addr, protocol = %spec.protocol, "load balancer listening");
        Ok(RunningListener {
            port: spec.port,
            protocol: spec.protocol,
            routes: routes_tx,
            stop: stop_tx,
            task,
        })
    }

    /// Whether some listener still waits to bind.
    pub fn has_unbound(&self) -> bool {
        !self.unbound.is_empty()
    }

    /// Stops every listener and checker.
    pub async fn stop_all(&mut self) {
        for (_, l) in self.listeners.drain() {
            stop_listener(l).await;
        }
        for (_, t) in self.targets.drain() {
            t.checker.abort();
            let _ = t.checker.await;
        }
    }
}

/// Everything a target's health checker needs.
struct Checker {
    prober: Arc<dyn Prober>,
    reports: mpsc::UnboundedSender<Report>,
    spec: TargetSpec,
    target: Arc<Target>,
    shared: Arc<Mutex<TargetHealth>>,
}

impl Checker {
    /// What the checker calls with each change: the proxies see it at once, the store
    /// gets it through the report writer.
    fn reporter(&self) -> impl Fn(TargetHealth) + Send + 'static {
        let (target, shared, reports) = (
            self.target.clone(),
            self.shared.clone(),
            self.reports.clone(),
        );
        let (target_key, health_key) = (self.spec.target_key.clone(), self.spec.health_key.clone());
        let registration = self.spec.registration;
        move |status: TargetHealth| {
            target.set_state(status.state);
            *shared.lock().expect("status lock") = status.clone();
            let _ = reports.send(Report {
                target_key: target_key.clone(),
                health_key: health_key.clone(),
                registration,
                status,
            });
        }
    }

    /// Starts checking from `status`.
    fn spawn(self, status: TargetHealth) -> JoinHandle<()> {
        let check = &self.spec.check;
        let machine =
            HealthMachine::new(status, check.healthy_threshold, check.unhealthy_threshold);
        tokio::spawn(run_checker(
            self.spec.check_addr,
            check.clone(),
            machine,
            self.prober.clone(),
            self.reporter(),
        ))
    }
}

/// Whether a running checker already checks as `wanted` says (what was last reported
/// is the checker's own doing, not a change).
fn same_checks(running: &TargetSpec, wanted: &TargetSpec) -> bool {
    running.check_addr == wanted.check_addr
        && running.check == wanted.check
        && running.registration == wanted.registration
}

async fn stop_listener(l: RunningListener) {
    let _ = l.stop.send(true);
    let _ = l.task.await;
}

fn build_route(
    action: &ActionSpec,
    groups: &HashMap<&str, Arc<Group>>,
    turns: Arc<AtomicUsize>,
) -> Route {
    match action {
        ActionSpec::Forward(list) => Route::Forward(Weighted::with_turns(
            list.iter()
                .map(|(arn, weight)| {
                    (
                        groups.get(arn.as_str()).cloned().unwrap_or_default(),
                        *weight,
                    )
                })
                .collect(),
            turns,
        )),
        ActionSpec::Fixed {
            status,
            content_type,
            body,
        } => Route::Fixed {
            status: *status,
            content_type: content_type.clone(),
            body: Bytes::from(body.clone()),
        },
    }
}

fn build_routes(
    arn: &str,
    spec: &ListenerSpec,
    groups: &HashMap<&str, Arc<Group>>,
    turns: &mut Turns,
) -> Routes {
    Routes {
        rules: spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, (conditions, action))| {
                let turns = turns.get(format!("rule {arn} {i}"));
                (conditions.clone(), build_route(action, groups, turns))
            })
            .collect(),
        default: build_route(&spec.default, groups, turns.get(format!("default {arn}"))),
    }
}

/// Writes health reports, in order, as they come.
async fn write_reports(store: Arc<dyn Store>, mut reports: mpsc::UnboundedReceiver<Report>) {
    while let Some(report) = reports.recv().await {
        if let Err(e) = write_report(&*store, &report).await {
            tracing::warn!(target = %report.target_key, error = %e, "cannot record target health");
        }
    }
}

/// Removes targets whose drain ended by now; returns whether any went.
async fn reap(store: &dyn Store, configs: &[ScopeConfig]) -> bool {
    let now = now_ms();
    let mut any = false;
    for config in configs {
        if plan_reap(config, now).output == 0 {
            continue;
        }
        match mutate(store, &config.scope, |c| Ok(plan_reap(c, now))).await {
            Ok(n) => any |= n > 0,
            Err(e) => tracing::warn!(error = %e, "cannot remove drained targets"),
        }
    }
    any
}

/// Runs the data plane over `store` until `shutdown` turns true: listeners on
/// `sockets`, `instance` targets reached at `instance_host`, probes from `prober`.
pub async fn run(
    store: Arc<dyn Store>,
    sockets: Arc<ListenerSockets>,
    instance_host: IpAddr,
    prober: Arc<dyn Prober>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_reports(store.clone(), reports_rx));
    let mut supervisor = Supervisor::new(sockets, prober, reports_tx);
    let mut stopped = false;
    while !stopped && !*shutdown.borrow() {
        let (revision, configs) = match ScopeConfig::load_all(&*store).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(error = %e, "load balancers: cannot list the configuration");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if reap(&*store, &configs).await {
            continue;
        }
        supervisor
            .reconcile(&topology::desired(&configs, instance_host))
            .await;
        let mut wait = if supervisor.has_unbound() {
            BIND_RETRY
        } else {
            RESYNC
        };
        if let Some(end) = next_drain_end(&configs) {
            let until = Duration::from_millis((end - now_ms()).max(0) as u64 + 1);
            wait = wait.min(until);
        }
        let mut events = match store.watch(keys::ROOT, revision).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "load balancers: cannot watch the configuration");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    stopped = changed.is_err();
                    break;
                }
                _ = &mut deadline => break,
                event = events.next() => match event {
                    Some(Ok(e)) if keys::parse(e.key()).is_some_and(|(_, k)| k == Kind::Health) => {}
                    _ => break,
                },
            }
        }
    }
    supervisor.stop_all().await;
    // Wait for the aborted writer to be dropped: it holds the store, which the caller
    // may close (and reopen) as soon as this returns.
    writer.abort();
    let _ = writer.await;
}
