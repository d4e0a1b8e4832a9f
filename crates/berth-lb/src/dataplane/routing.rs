//! Where a request goes, decided without locks on the request path: a listener's
//! rules by priority (every condition must match; a condition matches when any of its
//! values does), then its default action; a forward action picks a target group by
//! weight (smooth weighted round robin, precomputed), and the group picks a target by
//! round robin over its healthy targets.
//!
//! When no target of a group is healthy, the group fails open, as ALB does: it routes
//! across all its targets (initial and unhealthy alike) rather than refusing every
//! request. Draining targets are not in the group at all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::actions::{Condition, ConditionField};
use crate::health_state::TargetHealthState;
use crate::pattern;

const INITIAL: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

/// A registered target as the proxies see it; its health checker sets its state.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// `IP:PORT`, for request URIs.
    pub authority: http::uri::Authority,
    health: AtomicU8,
}

impl Target {
    /// A target at `addr` in `state`.
    pub fn new(addr: SocketAddr, state: TargetHealthState) -> Target {
        let authority = addr
            .to_string()
            .parse()
            .expect("a socket address is a valid authority");
        let t = Target {
            addr,
            authority,
            health: AtomicU8::new(INITIAL),
        };
        t.set_state(state);
        t
    }

    /// Records what the health checks found.
    pub fn set_state(&self, state: TargetHealthState) {
        let v = match state {
            TargetHealthState::Healthy => HEALTHY,
            TargetHealthState::Unhealthy | TargetHealthState::UnhealthyDraining => UNHEALTHY,
            _ => INITIAL,
        };
        self.health.store(v, Ordering::Relaxed);
    }

    /// Whether it passes its health checks.
    pub fn is_healthy(&self) -> bool {
        self.health.load(Ordering::Relaxed) == HEALTHY
    }
}

/// A target group's routable (registered, not draining) targets.
#[derive(Debug, Default)]
pub struct Group {
    targets: Vec<Arc<Target>>,
    next: Arc<AtomicUsize>,
}

impl Group {
    /// A group of these targets.
    pub fn new(targets: Vec<Arc<Target>>) -> Group {
        Group::with_turns(targets, Arc::default())
    }

    /// A group of these targets continuing the round robin of `turns` (kept across
    /// changes of the configuration, so a change does not send the next requests to
    /// the first target again).
    pub fn with_turns(targets: Vec<Arc<Target>>, turns: Arc<AtomicUsize>) -> Group {
        Group {
            targets,
            next: turns,
        }
    }

    /// Whether it has no routable target (ALB answers 503).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The next target: round robin over the healthy ones, or over all when none is
    /// healthy (fail open).
    pub fn pick(&self) -> Option<&Arc<Target>> {
        if self.targets.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let healthy = self.targets.iter().filter(|t| t.is_healthy()).count();
        if healthy == 0 {
            return self.targets.get(turn % self.targets.len());
        }
        self.targets
            .iter()
            .filter(|t| t.is_healthy())
            .nth(turn % healthy)
    }
}

/// Target groups with weights, taken in a precomputed smooth order so that weights
/// 3:1 go A A B A, not A A A B.
#[derive(Debug, Default)]
pub struct Weighted {
    groups: Vec<Arc<Group>>,
    schedule: Vec<u16>,
    next: Arc<AtomicUsize>,
}

impl Weighted {
    /// Groups with their weights (0 takes no requests).
    pub fn new(weighted: Vec<(Arc<Group>, u32)>) -> Weighted {
        Weighted::with_turns(weighted, Arc::default())
    }

    /// Groups with their weights, continuing the schedule where `turns` stands.
    pub fn with_turns(weighted: Vec<(Arc<Group>, u32)>, turns: Arc<AtomicUsize>) -> Weighted {
        let weights: Vec<i64> = weighted.iter().map(|(_, w)| i64::from(*w)).collect();
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .expect("weights are not empty when their total is positive");
            current[best] -= total;
            schedule.push(best as u16);
        }
        Weighted {
            groups: weighted.into_iter().map(|(g, _)| g).collect(),
            schedule,
            next: turns,
        }
    }

    /// The group for the next request; `None` when every weight is 0.
    pub fn pick(&self) -> Option<&Arc<Group>> {
        if self.schedule.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
        self.groups.get(usize::from(self.schedule[turn]))
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Route {
    Forward(Weighted),
    Fixed {
        status: u16,
        content_type: Option<String>,
        body: Bytes,
    },
}

/// A listener's routing table.
#[derive(Debug)]
pub struct Routes {
    /// By priority.
    pub rules: Vec<(Vec<Condition>, Route)>,
    pub default: Route,
}

impl Routes {
    /// The route for a request to `host` (the Host header, port and all) and `path`.
    pub fn route(&self, host: Option<&str>, path: &str) -> &Route {
        let host = host.map(strip_port);
        self.rules
            .iter()
            .find(|(conditions, _)| conditions.iter().all(|c| condition_matches(c, host, path)))
            .map(|(_, route)| route)
            .unwrap_or(&self.default)
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

/// Whether one condition holds for a request.
pub fn condition_matches(c: &Condition, host: Option<&str>, path: &str) -> bool {
    match c.field {
        ConditionField::PathPattern => c.values.iter().any(|v| pattern::matches(v, path, false)),
        ConditionField::HostHeader => {
            host.is_some_and(|h| c.values.iter().any(|v| pattern::matches(v, h, true)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(port: u16, state: TargetHealthState) -> Arc<Target> {
        Arc::new(Target::new(SocketAddr::from(([127, 0, 0, 1], port)), state))
    }

    fn ports(group: &Group, n: usize) -> Vec<u16> {
        (0..n).map(|_| group.pick().unwrap().addr.port()).collect()
    }

    #[test]
    fn round_robin_over_healthy_targets() {
        let a = target(1, TargetHealthState::Healthy);
        let b = target(2, TargetHealthState::Unhealthy);
        let c = target(3, TargetHealthState::Healthy);
        let group = Group::new(vec![a, b.clone(), c]);
        assert_eq!(ports(&group, 6), vec![1, 3, 1, 3, 1, 3]);
        b.set_state(TargetHealthState::Healthy);
        let mut seen = ports(&group, 3);
        seen.sort();
        assert_eq!(seen, vec![1, 2, 3]);
    }

    #[test]
    fn fails_open_when_none_is_healthy_and_is_empty_without_targets() {
        let group = Group::new(vec![
            target(1, TargetHealthState::Unhealthy),
            target(2, TargetHealthState::Initial),
        ]);
        let mut seen = ports(&group, 4);
        seen.sort();
        assert_eq!(seen, vec![1, 1, 2, 2]);
        assert!(Group::new(vec![]).pick().is_none());
    }

    #[test]
    fn round_robin_carries_on_across_rebuilds() {
        let turns = Arc::default();
        let targets = vec![
            target(1, TargetHealthState::Healthy),
            target(2, TargetHealthState::Healthy),
        ];
        let first = Group::with_turns(targets.clone(), Arc::clone(&turns));
        assert_eq!(ports(&first, 1), vec![1]);
        let rebuilt = Group::with_turns(targets, turns);
        assert_eq!(ports(&rebuilt, 3), vec![2, 1, 2]);
    }

    #[test]
    fn weights_are_interleaved_and_exact() {
        let a = Arc::new(Group::new(vec![target(1, TargetHealthState::Healthy)]));
        let b = Arc::new(Group::new(vec![target(2, TargetHealthState::Healthy)]));
        let z = Arc::new(Group::new(vec![target(3, TargetHealthState::Healthy)]));
        let w = Weighted::new(vec![(a, 3), (b, 1), (z, 0)]);
        let picks: Vec<u16> = (0..8)
            .map(|_| w.pick().unwrap().pick().unwrap().addr.port())
            .collect();
        assert_eq!(picks, vec![1, 1, 2, 1, 1, 1, 2, 1]);
        assert!(Weighted::new(vec![]).pick().is_none());
    }

    #[test]
    fn rules_by_priority_then_default() {
        let fixed = |status| Route::Fixed {
            status,
            content_type: None,
            body: Bytes::new(),
        };
        let routes = Routes {
            rules: vec![
                (
                    vec![
                        Condition {
                            field: ConditionField::HostHeader,
                            values: vec!["api.example.com".into()],
                        },
                        Condition {
                            field: ConditionField::PathPattern,
                            values: vec!["/v?/*".into()],
                        },
                    ],
                    fixed(201),
                ),
                (
                    vec![Condition {
                        field: ConditionField::PathPattern,
                        values: vec!["/static/*".into(), "/img/*".into()],
                    }],
                    fixed(202),
                ),
            ],
            default: fixed(404),
        };
        let status = |host: Option<&str>, path: &str| match routes.route(host, path) {
            Route::Fixed { status, .. } => *status,
            Route::Forward(_) => 0,
        };
        assert_eq!(status(Some("API.example.com:8080"), "/v1/users"), 201);
        assert_eq!(status(Some("www.example.com"), "/v1/users"), 404);
        assert_eq!(status(None, "/v1/users"), 404);
        assert_eq!(status(Some("api.example.com"), "/img/a.png"), 202);
        assert_eq!(status(Some("x"), "/"), 404);
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
