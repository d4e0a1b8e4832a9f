#![allow(clippy::disallowed_types)] // Wall-clock timing is the point of a benchmark; tokio's Instant is for paused-time tests.
//! Placement throughput on one core: 5,000 container instances, 15,000 RunTask-like
//! requests of 10 tasks each (150,000 placements), place + apply per request.
//!
//! Each scenario starts from a fresh view and runs three times; the median run is
//! reported. Run with `cargo bench -p berth-scheduler [-- NAME-FILTER]`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use berth_scheduler::{
    ContainerInstance, PlacementConstraint, PlacementRequest, PlacementStrategy, Resource,
    SpreadField, TaskNeeds, TieBreak, View,
};

const INSTANCES: usize = 5_000;
const REQUESTS: usize = 15_000;
const PER_REQUEST: u32 = 10;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

/// 5,000 m5.xlarge-like instances (4 vCPU, 16 GiB) over three zones; every tenth is a
/// c5.xlarge with a `maintenance` attribute (the memberOf scenario avoids those).
fn cluster() -> Vec<ContainerInstance> {
    (0..INSTANCES)
        .map(|i| {
            let mut ci = ContainerInstance::new(
                format!("arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{i:032x}"),
                4096,
                16_384,
            );
            ci.ec2_instance_id = Some(format!("i-{i:017x}"));
            ci.agent_version = Some("1.82.0".into());
            ci.registered_at = Some(1_700_000_000 + i as i64);
            ci.used_tcp_ports.extend([22, 2375, 2376, 51678, 51679]);
            let ty = if i % 10 == 9 {
                "c5.xlarge"
            } else {
                "m5.xlarge"
            };
            ci = ci
                .with_attribute("ecs.availability-zone", Some(ZONES[i % 3]))
                .with_attribute("ecs.instance-type", Some(ty))
                .with_attribute("ecs.os-type", Some("linux"))
                .with_attribute("ecs.cpu-architecture", Some("x86_64"))
                .with_attribute("ecs.ami-id", Some("ami-0123456789abcdef0"))
                .with_attribute("ecs.capability.secrets.asm.environment-variables", None)
                .with_attribute("com.amazonaws.ecs.capability.docker-remote-api.1.44", None);
            if i % 10 == 9 {
                ci = ci.with_attribute("maintenance", Some("pending"));
            }
            ci
        })
        .collect()
}

/// 100 CPU units, 512 MiB: memory is the binding resource (32 tasks per instance).
fn task() -> TaskNeeds {
    TaskNeeds {
        cpu: 100,
        memory_mib: 512,
        ..TaskNeeds::default()
    }
}

struct Run {
    placed: usize,
    place: Duration,
    apply: Duration,
}

/// Places and applies `requests` requests built by `make`, one at a time.
fn run(requests: usize, make: &dyn Fn(usize) -> PlacementRequest) -> Run {
    let mut view = View::new(cluster()).expect("distinct ARNs");
    let (mut place, mut apply, mut placed) = (Duration::ZERO, Duration::ZERO, 0);
    for n in 0..requests {
        let req = make(n);
        let t0 = Instant::now();
        let plan = view.place(black_box(&req)).expect("valid request");
        let t1 = Instant::now();
        view.apply(&plan).expect("fresh plan");
        let t2 = Instant::now();
        assert!(
            plan.is_complete(),
            "request {n} placed {} of {}: {:?}",
            plan.placements.len(),
            plan.requested,
            plan.failures.first()
        );
        placed += plan.placements.len();
        place += t1 - t0;
        apply += t2 - t1;
    }
    Run {
        placed,
        place,
        apply,
    }
}

/// Scenario filter: `cargo bench -p berth-scheduler -- memberOf` runs matching ones only.
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

const RUNS: usize = 3;

fn report(name: &str, mut runs: Vec<Run>) {
    runs.sort_by_key(|r| r.place + r.apply);
    let rate = |r: &Run| r.placed as f64 / (r.place + r.apply).as_secs_f64();
    let (fast, r, slow) = (
        rate(&runs[0]),
        &runs[runs.len() / 2],
        rate(&runs[runs.len() - 1]),
    );
    println!(
        "{name:<66} {:>7} tasks {:>10.0} placements/s (runs {:.0}..{:.0}; median: place {:.3} s + apply {:.3} s)",
        r.placed,
        rate(r),
        slow,
        fast,
        r.place.as_secs_f64(),
        r.apply.as_secs_f64(),
    );
}

type Make = Box<dyn Fn(usize) -> PlacementRequest>;

fn main() {
    let binpack = || PlacementStrategy::Binpack(Resource::Memory);
    let zone_spread =
        || PlacementStrategy::Spread(SpreadField::Attribute("ecs.availability-zone".into()));
    let instances = cluster();
    let build = Instant::now();
    let view = View::new(instances).expect("distinct ARNs");
    println!(
        "view of {} instances built in {:.1} ms; requests of {PER_REQUEST} tasks, place + apply each, one thread",
        view.len(),
        build.elapsed().as_secs_f64() * 1e3
    );
    drop(view);

    // 90% of instances match, so 4,500 x 32 = 144,000 tasks fit; place 120,000.
    let expr = "attribute:ecs.instance-type =~ m5.* and attribute:ecs.availability-zone in \
                [us-east-1a, us-east-1b, us-east-1c] and not(attribute:maintenance exists)";
    let member_of = PlacementConstraint::member_of(expr).expect("valid expression");

    let scenarios: Vec<(&str, usize, Make)> = vec![
        (
            "binpack(memory) + distinctInstance, one group per request",
            REQUESTS,
            Box::new(move |n| {
                PlacementRequest::new(format!("family:job-{n}"), task(), PER_REQUEST)
                    .strategy(binpack())
                    .constraint(PlacementConstraint::DistinctInstance)
            }),
        ),
        (
            "binpack(memory) + distinctInstance, one group per 30 tasks",
            REQUESTS,
            Box::new(move |n| {
                PlacementRequest::new(format!("service:svc-{}", n / 3), task(), PER_REQUEST)
                    .strategy(binpack())
                    .constraint(PlacementConstraint::DistinctInstance)
            }),
        ),
        (
            "spread(attribute:ecs.availability-zone) + binpack(memory)",
            REQUESTS,
            Box::new(move |n| {
                PlacementRequest::new(format!("service:svc-{}", n / 3), task(), PER_REQUEST)
                    .strategy(zone_spread())
                    .strategy(binpack())
            }),
        ),
        (
            "random",
            REQUESTS,
            Box::new(|n| {
                let mut req = PlacementRequest::new(format!("family:job-{n}"), task(), PER_REQUEST)
                    .strategy(PlacementStrategy::Random);
                req.seed = n as u64;
                req
            }),
        ),
        (
            "no strategy, TieBreak::Random (the server's RunTask default)",
            REQUESTS,
            Box::new(|n| {
                let mut req = PlacementRequest::new(format!("family:job-{n}"), task(), PER_REQUEST);
                req.tie_break = TieBreak::Random;
                req.seed = n as u64;
                req
            }),
        ),
        (
            "memberOf(3-clause expression) + binpack(memory)",
            12_000,
            Box::new(move |n| {
                PlacementRequest::new(format!("family:job-{n}"), task(), PER_REQUEST)
                    .strategy(binpack())
                    .constraint(member_of.clone())
            }),
        ),
        (
            "binpack(memory) + spread(zone)",
            REQUESTS,
            Box::new(move |n| {
                PlacementRequest::new(format!("service:svc-{}", n / 3), task(), PER_REQUEST)
                    .strategy(binpack())
                    .strategy(zone_spread())
            }),
        ),
        (
            "spread(zone) + spread(instanceId) (ECS \"AZ balanced spread\")",
            REQUESTS,
            Box::new(move |n| {
                PlacementRequest::new(format!("service:svc-{}", n / 3), task(), PER_REQUEST)
                    .strategy(zone_spread())
                    .strategy(PlacementStrategy::Spread(SpreadField::InstanceId))
            }),
        ),
    ];
    for (name, requests, make) in scenarios {
        if selected(name) {
            report(name, (0..RUNS).map(|_| run(requests, &make)).collect());
        }
    }
}
