//! Property tests: the engine agrees with a naive reference placer (score every instance,
//! take the lexicographic minimum) on random clusters and requests, never over-commits,
//! honours constraints, is reproducible for a seed, and keeps spread balanced.

use std::collections::BTreeMap;

use berth_scheduler::{
    ContainerInstance, Expression, FailureReason, HostPort, InstanceStatus, PlacementConstraint,
    PlacementRequest, PlacementStrategy, Protocol, RequiredAttribute, Resource, SpreadField,
    TaskNeeds, TieBreak, View,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- reference placer --

fn value_of(ci: &ContainerInstance, name: &str) -> Option<String> {
    ci.attributes
        .get(name)
        .map(|v| v.clone().unwrap_or_default())
}

fn group_count(ci: &ContainerInstance, group: &str) -> u32 {
    ci.task_groups.get(group).copied().unwrap_or(0)
}

fn ports(task: &TaskNeeds, proto: Protocol) -> Vec<u16> {
    let mut v: Vec<u16> = task
        .host_ports
        .iter()
        .filter(|p| p.protocol == proto && p.port != 0)
        .map(|p| p.port)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Why `ci` cannot take one more task of `req` (same order as the engine reports).
fn reject(ci: &ContainerInstance, req: &PlacementRequest) -> Option<FailureReason> {
    if ci.status != InstanceStatus::Active {
        return Some(FailureReason::NotActive(ci.status));
    }
    if !ci.agent_connected {
        return Some(FailureReason::Agent);
    }
    for r in &req.task.required_attributes {
        let ok = match (ci.attributes.get(&r.name), &r.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have.as_deref().unwrap_or("") == want,
        };
        if !ok {
            return Some(FailureReason::Attribute);
        }
    }
    for c in &req.constraints {
        if let PlacementConstraint::MemberOf(e) = c {
            if !e.matches(ci) {
                return Some(FailureReason::MemberOf);
            }
        }
    }
    if req
        .constraints
        .contains(&PlacementConstraint::DistinctInstance)
        && group_count(ci, &req.group) > 0
    {
        return Some(FailureReason::DistinctInstance);
    }
    if ci.remaining_cpu < req.task.cpu {
        return Some(FailureReason::Cpu);
    }
    if ci.remaining_memory_mib < req.task.memory_mib {
        return Some(FailureReason::Memory);
    }
    if ports(&req.task, Protocol::Tcp)
        .iter()
        .any(|p| ci.used_tcp_ports.contains(p))
    {
        return Some(FailureReason::Ports);
    }
    if ports(&req.task, Protocol::Udp)
        .iter()
        .any(|p| ci.used_udp_ports.contains(p))
    {
        return Some(FailureReason::PortsUdp);
    }
    if (ci.remaining_gpu_ids.len() as u64) < u64::from(req.task.gpus) {
        return Some(FailureReason::Gpu);
    }
    None
}

/// Takes one task's resources from `ci`; returns the GPU ids taken.
fn take(ci: &mut ContainerInstance, req: &PlacementRequest) -> Vec<String> {
    ci.remaining_cpu = ci
        .remaining_cpu
        .checked_sub(req.task.cpu)
        .expect("cpu over-committed");
    ci.remaining_memory_mib = ci
        .remaining_memory_mib
        .checked_sub(req.task.memory_mib)
        .expect("memory over-committed");
    for p in ports(&req.task, Protocol::Tcp) {
        assert!(ci.used_tcp_ports.insert(p), "tcp port {p} taken twice");
    }
    for p in ports(&req.task, Protocol::Udp) {
        assert!(ci.used_udp_ports.insert(p), "udp port {p} taken twice");
    }
    let gpus: Vec<String> = ci
        .remaining_gpu_ids
        .iter()
        .take(req.task.gpus as usize)
        .cloned()
        .collect();
    assert_eq!(gpus.len(), req.task.gpus as usize, "gpus over-committed");
    for g in &gpus {
        ci.remaining_gpu_ids.remove(g);
    }
    ci.running_tasks_count += 1;
    *ci.task_groups.entry(req.group.clone()).or_default() += 1;
    gpus
}

struct Outcome {
    placed: Vec<(String, Vec<String>)>,
    failures: Vec<(String, FailureReason)>,
}

/// Scores every instance for every task. Only for requests without `random`.
fn reference_place(state: &mut [ContainerInstance], req: &PlacementRequest) -> Outcome {
    let mut placed = Vec::new();
    for _ in 0..req.count {
        let mut best: Option<(Vec<u64>, usize)> = None;
        for (i, ci) in state.iter().enumerate() {
            if reject(ci, req).is_some() {
                continue;
            }
            let key: Vec<u64> = req
                .strategies
                .iter()
                .map(|s| match s {
                    PlacementStrategy::Binpack(Resource::Cpu) => u64::from(ci.remaining_cpu),
                    PlacementStrategy::Binpack(Resource::Memory) => {
                        u64::from(ci.remaining_memory_mib)
                    }
                    PlacementStrategy::Spread(SpreadField::InstanceId) => {
                        u64::from(group_count(ci, &req.group))
                    }
                    PlacementStrategy::Spread(SpreadField::Attribute(name)) => {
                        let mine = value_of(ci, name);
                        state
                            .iter()
                            .filter(|o| value_of(o, name) == mine)
                            .map(|o| u64::from(group_count(o, &req.group)))
                            .sum()
                    }
                    PlacementStrategy::Random => unreachable!("reference has no random"),
                })
                .collect();
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, i));
            }
        }
        match best {
            Some((_, i)) => {
                let gpus = take(&mut state[i], req);
                placed.push((state[i].arn.clone(), gpus));
            }
            None => {
                let failures = state
                    .iter()
                    .filter_map(|ci| reject(ci, req).map(|r| (ci.arn.clone(), r)))
                    .collect();
                return Outcome { placed, failures };
            }
        }
    }
    Outcome {
        placed,
        failures: Vec::new(),
    }
}

/// Drops what the view does not keep (zero group counts), for state comparison.
fn normalise(mut ci: ContainerInstance) -> ContainerInstance {
    ci.task_groups.retain(|_, n| *n > 0);
    ci
}

// ---------------------------------------------------------------------- generators --

const GROUPS: [&str; 3] = ["family:web", "service:api", "family:new"];
const EXPRESSIONS: [&str; 8] = [
    "attribute:az in [a, b]",
    "not(task:group == family:web)",
    "runningTasksCount < 3",
    "attribute:type =~ t2.*",
    "attribute:stack exists or agentConnected == false",
    "task:group == service:api or attribute:az == c",
    "attribute:type != m5.large and !(attribute:az !exists)",
    "ec2InstanceId !in [i-00, i-03]",
];

fn instance(idx: usize) -> impl Strategy<Value = ContainerInstance> {
    (
        (
            0u32..5,
            0u32..9,
            prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]),
        ),
        (any::<bool>(), any::<bool>(), 0u32..4),
        (
            prop::option::of(prop::sample::select(vec!["a", "b", "c"])),
            prop::option::of(prop::sample::select(vec!["t2.small", "m5.large"])),
            any::<bool>(),
        ),
        (
            0u32..4,
            prop::collection::btree_map(prop::sample::select(GROUPS.to_vec()), 0u32..3, 0..3),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            move |(
                (cpu, mem, status),
                (connected_bias, connected, gpus),
                (az, ty, stack),
                (running, groups),
                (p80, p443, p53),
            )| {
                let mut ci = ContainerInstance::new(
                    format!("arn:aws:ecs:r:0:container-instance/c/i-{idx:02}"),
                    cpu * 256,
                    mem * 256,
                );
                ci.ec2_instance_id = Some(format!("i-{idx:02}"));
                ci.status = match status {
                    0 => InstanceStatus::Active,
                    1 => InstanceStatus::Draining,
                    _ => InstanceStatus::Inactive,
                };
                ci.agent_connected = connected_bias || connected;
                ci.remaining_gpu_ids = (0..gpus).map(|g| format!("gpu-{g}")).collect();
                if let Some(az) = az {
                    ci.attributes.insert("az".into(), Some(az.into()));
                }
                if let Some(ty) = ty {
                    ci.attributes.insert("type".into(), Some(ty.into()));
                }
                if stack {
                    ci.attributes.insert("stack".into(), None);
                }
                ci.running_tasks_count = running;
                ci.task_groups = groups.into_iter().map(|(g, n)| (g.to_owned(), n)).collect();
                if p80 {
                    ci.used_tcp_ports.insert(80);
                }
                if p443 {
                    ci.used_tcp_ports.insert(443);
                }
                if p53 {
                    ci.used_udp_ports.insert(53);
                }
                ci
            },
        )
}

fn cluster() -> impl Strategy<Value = Vec<ContainerInstance>> {
    (1usize..12).prop_flat_map(|n| (0..n).map(instance).collect::<Vec<_>>())
}

fn deterministic_strategy() -> impl Strategy<Value = PlacementStrategy> {
    prop::sample::select(vec![
        PlacementStrategy::Binpack(Resource::Cpu),
        PlacementStrategy::Binpack(Resource::Memory),
        PlacementStrategy::Spread(SpreadField::InstanceId),
        PlacementStrategy::Spread(SpreadField::Attribute("az".into())),
        PlacementStrategy::Spread(SpreadField::Attribute("type".into())),
        PlacementStrategy::Spread(SpreadField::Attribute("nowhere".into())),
    ])
}

fn request(random: bool) -> impl Strategy<Value = PlacementRequest> {
    let strategies = if random {
        prop::collection::vec(
            prop_oneof![deterministic_strategy(), Just(PlacementStrategy::Random)],
            0..4,
        )
        .boxed()
    } else {
        prop::collection::vec(deterministic_strategy(), 0..4).boxed()
    };
    (
        (
            prop::sample::select(GROUPS.to_vec()),
            1u32..11,
            0u32..3,
            0u32..4,
            0u32..3,
        ),
        prop::collection::vec(
            prop::sample::select(vec![
                HostPort::tcp(80),
                HostPort::tcp(8080),
                HostPort::udp(53),
                HostPort::tcp(0),
            ]),
            0..3,
        ),
        strategies,
        (
            any::<bool>(),
            prop::collection::vec(prop::sample::select(EXPRESSIONS.to_vec()), 0..3),
        ),
        (
            prop::option::of(prop::sample::select(vec![
                ("stack", None),
                ("az", Some("b")),
            ])),
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            move |(
                (group, count, cpu, mem, gpus),
                host_ports,
                strategies,
                (distinct, exprs),
                (required, random_ties, seed),
            )| {
                let task = TaskNeeds {
                    cpu: cpu * 256,
                    memory_mib: mem * 256,
                    host_ports,
                    gpus,
                    required_attributes: required
                        .map(|(name, value): (&str, Option<&str>)| RequiredAttribute {
                            name: name.into(),
                            value: value.map(Into::into),
                        })
                        .into_iter()
                        .collect(),
                };
                let mut req = PlacementRequest::new(group, task, count);
                req.strategies = strategies;
                if distinct {
                    req.constraints.push(PlacementConstraint::DistinctInstance);
                }
                for e in exprs {
                    req.constraints
                        .push(PlacementConstraint::member_of(e).unwrap());
                }
                req.seed = seed;
                if random && random_ties {
                    req.tie_break = TieBreak::Random;
                }
                req
            },
        )
}

fn sorted(mut v: Vec<ContainerInstance>) -> Vec<ContainerInstance> {
    v.sort_by(|a, b| a.arn.cmp(&b.arn));
    v
}

// ---------------------------------------------------------------------- properties --

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fast paths (index walks, spread levels, overlay) choose exactly what scoring every
    /// instance chooses, report the same failures, and apply leaves the same state.
    #[test]
    fn engine_matches_reference(
        instances in cluster(),
        requests in prop::collection::vec(request(false), 1..5),
    ) {
        let mut view = View::new(instances.clone()).unwrap();
        let mut state = sorted(instances);
        for req in &requests {
            let plan = view.place(req).unwrap();
            let want = reference_place(&mut state, req);
            let got: Vec<(String, Vec<String>)> = plan
                .placements
                .iter()
                .map(|p| (p.container_instance_arn.clone(), p.gpu_ids.clone()))
                .collect();
            prop_assert_eq!(got, want.placed, "request {:?}", req);
            let failures: Vec<(String, FailureReason)> =
                plan.failures.iter().map(|f| (f.arn.clone(), f.reason)).collect();
            prop_assert_eq!(failures, want.failures);
            view.apply(&plan).unwrap();
            let exported: Vec<ContainerInstance> = view.instances().collect();
            let expected: Vec<ContainerInstance> = state.iter().cloned().map(normalise).collect();
            prop_assert_eq!(exported, expected);
        }
    }

    /// With `random` anywhere: every placement is feasible when made (so no over-commit of
    /// cpu, memory, ports or GPUs, distinctInstance and memberOf hold), and the same seed
    /// gives the same plan, whatever order the snapshot came in.
    #[test]
    fn random_plans_are_valid_and_reproducible(
        instances in cluster(),
        requests in prop::collection::vec(request(true), 1..5),
        shuffle_seed in any::<u64>(),
    ) {
        let mut view = View::new(instances.clone()).unwrap();
        let mut shuffled = instances.clone();
        let k = shuffled.len();
        shuffled.rotate_left((shuffle_seed as usize) % k);
        shuffled.reverse();
        let mut twin = View::new(shuffled).unwrap();
        let mut state = sorted(instances);
        for req in &requests {
            let plan = view.place(req).unwrap();
            prop_assert_eq!(&plan.placements, &twin.place(req).unwrap().placements);
            for p in &plan.placements {
                let ci = state.iter_mut().find(|c| c.arn == p.container_instance_arn).unwrap();
                prop_assert_eq!(reject(ci, req), None, "placed on an instance that rejects it");
                let gpus = take(ci, req);
                prop_assert_eq!(&gpus, &p.gpu_ids);
            }
            if !plan.is_complete() {
                prop_assert!(state.iter().all(|ci| reject(ci, req).is_some()),
                    "stopped early although an instance could take the task");
                prop_assert_eq!(plan.failures.len(), state.len());
            }
            view.apply(&plan).unwrap();
            twin.apply(&twin.place(req).unwrap()).unwrap();
        }
    }

    /// Spread keeps the per-value task counts within one of each other when every
    /// instance has room.
    #[test]
    fn spread_stays_balanced(
        zones in prop::collection::vec(0usize..4, 1..20),
        counts in prop::collection::vec(1u32..11, 1..6),
        then_binpack in any::<bool>(),
        by_instance in any::<bool>(),
    ) {
        let instances = zones.iter().enumerate().map(|(i, z)| {
            ContainerInstance::new(format!("i-{i:02}"), 1 << 20, (1 << 20) - (i as u32))
                .with_attribute("az", Some(["a", "b", "c", "d"][*z]))
        });
        let mut view = View::new(instances).unwrap();
        let field = if by_instance {
            SpreadField::InstanceId
        } else {
            SpreadField::Attribute("az".into())
        };
        for count in counts {
            let mut req = PlacementRequest::new("service:s", TaskNeeds { cpu: 1, memory_mib: 1, ..TaskNeeds::default() }, count)
                .strategy(PlacementStrategy::Spread(field.clone()));
            if then_binpack {
                req = req.strategy(PlacementStrategy::Binpack(Resource::Memory));
            }
            let plan = view.place(&req).unwrap();
            prop_assert!(plan.is_complete());
            view.apply(&plan).unwrap();
            let mut per_value: BTreeMap<String, u32> = BTreeMap::new();
            for ci in view.instances() {
                let key = if by_instance { ci.arn.clone() } else { value_of(&ci, "az").unwrap() };
                *per_value.entry(key).or_default() += group_count(&ci, "service:s");
            }
            let max = per_value.values().max().unwrap();
            let min = per_value.values().min().unwrap();
            prop_assert!(max - min <= 1, "{:?}", per_value);
        }
    }

    /// distinctInstance never puts two tasks of a group on one instance, over many requests.
    #[test]
    fn distinct_instance_never_doubles_up(
        instances in cluster(),
        counts in prop::collection::vec(1u32..11, 1..5),
        binpack in any::<bool>(),
    ) {
        let mut view = View::new(instances).unwrap();
        for count in counts {
            let mut req = PlacementRequest::new("family:web", TaskNeeds::default(), count)
                .constraint(PlacementConstraint::DistinctInstance);
            if binpack {
                req = req.strategy(PlacementStrategy::Binpack(Resource::Memory));
            }
            let before: BTreeMap<String, u32> = view
                .instances()
                .map(|ci| (ci.arn.clone(), group_count(&ci, "family:web")))
                .collect();
            let plan = view.place(&req).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            for p in &plan.placements {
                prop_assert_eq!(before[&p.container_instance_arn], 0, "instance already had one");
                prop_assert!(seen.insert(&p.container_instance_arn), "doubled up in one plan");
            }
            view.apply(&plan).unwrap();
        }
    }

    /// The parser never panics, whatever it is given.
    #[test]
    fn parser_never_panics(src in "\\PC{0,60}") {
        let _ = Expression::parse(&src);
    }

    /// Canonical spelling parses back to the same expression.
    #[test]
    fn display_round_trips(src in expression_text()) {
        let e = Expression::parse(&src).unwrap_or_else(|err| panic!("{src}: {err}"));
        let again = Expression::parse(&e.to_string())
            .unwrap_or_else(|err| panic!("{src} → {e}: {err}"));
        prop_assert_eq!(again, e);
    }
}

/// Random well-formed expressions.
fn expression_text() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec![
        "a",
        "us-east-1a",
        "'with space'",
        "\"it's\"",
        "t2.*",
        "1.14.5",
        "in",
        "and",
        "'[x]'",
    ]);
    let test = prop_oneof![
        (
            prop::sample::select(vec![
                "attribute:az",
                "attribute:ecs.instance-type",
                "ec2InstanceId",
                "task:group"
            ]),
            prop::sample::select(vec!["==", "!=", "equals", "not_equals"]),
            value.clone()
        )
            .prop_map(|(s, o, v)| format!("{s} {o} {v}")),
        (
            prop::sample::select(vec!["attribute:x", "attribute:y"]),
            prop::sample::select(vec!["exists", "!exists", "not_exists"])
        )
            .prop_map(|(s, o)| format!("{s} {o}")),
        (
            prop::sample::select(vec!["attribute:az", "task:group"]),
            prop::sample::select(vec!["in", "!in", "not_in"]),
            prop::collection::vec(value.clone(), 1..4)
        )
            .prop_map(|(s, o, v)| format!("{s} {o} [{}]", v.join(", "))),
        (
            prop::sample::select(vec![
                "agentVersion",
                "runningTasksCount",
                "registeredAt",
                "attribute:n"
            ]),
            prop::sample::select(vec![
                ">",
                ">=",
                "<",
                "<=",
                "greater_than",
                "less_than_equal"
            ]),
            prop::sample::select(vec!["1", "12", "2018-06-18"])
        )
            .prop_filter("typed", |(s, _, v)| match *s {
                "runningTasksCount" => v.parse::<u64>().is_ok(),
                "registeredAt" => v.contains('-'),
                _ => true,
            })
            .prop_map(|(s, o, v)| format!("{s} {o} {v}")),
        (
            prop::sample::select(vec!["attribute:t", "ec2InstanceId"]),
            prop::sample::select(vec!["=~", "!~", "matches"]),
            prop::sample::select(vec!["t2.*", "'i-(a|b)'", "x"])
        )
            .prop_map(|(s, o, v)| format!("{s} {o} {v}")),
        prop::sample::select(vec!["agentConnected == true", "agentConnected != FALSE"])
            .prop_map(String::from),
    ];
    test.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![" and ", " && ", " or ", " || "]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}
