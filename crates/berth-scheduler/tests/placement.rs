//! Scenario tests of placement: strategies, constraints, failures, plan/apply.

use berth_scheduler::{
    ApplyError, ContainerInstance, FailureReason, HostPort, InstanceStatus, PlacementConstraint,
    PlacementError, PlacementRequest, PlacementStrategy, Plan, RequiredAttribute, Resource,
    SpreadField, TaskNeeds, TieBreak, View,
};

fn arn(name: &str) -> String {
    format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{name}")
}

fn inst(name: &str, cpu: u32, mem: u32) -> ContainerInstance {
    ContainerInstance::new(arn(name), cpu, mem)
}

fn zone(i: ContainerInstance, az: &str) -> ContainerInstance {
    i.with_attribute("ecs.availability-zone", Some(az))
}

fn needs(cpu: u32, mem: u32) -> TaskNeeds {
    TaskNeeds {
        cpu,
        memory_mib: mem,
        ..TaskNeeds::default()
    }
}

fn names(plan: &Plan) -> Vec<String> {
    plan.placements
        .iter()
        .map(|p| {
            p.container_instance_arn
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn reasons(plan: &Plan) -> Vec<(String, &'static str)> {
    plan.failures
        .iter()
        .map(|f| {
            (
                f.arn.rsplit('/').next().unwrap().to_owned(),
                f.reason.as_str(),
            )
        })
        .collect()
}

const BINPACK_MEM: PlacementStrategy = PlacementStrategy::Binpack(Resource::Memory);

#[test]
fn binpack_memory_takes_the_tightest_fit_and_ties_go_to_the_lowest_arn() {
    let view = View::new([
        inst("a", 4096, 4096),
        inst("b", 4096, 1000),
        inst("c", 4096, 511),
        inst("d", 4096, 1000),
    ])
    .unwrap();
    let req = PlacementRequest::new("family:web", needs(10, 512), 3).strategy(BINPACK_MEM);
    let plan = view.place(&req).unwrap();
    // b (1000) before d (1000) by ARN; b then has 488 left, so d, then a.
    assert_eq!(names(&plan), ["b", "d", "a"]);
    assert!(plan.is_complete());
    assert!(plan.failures.is_empty());
}

#[test]
fn binpack_counts_tasks_placed_earlier_in_the_same_plan() {
    let view = View::new([inst("a", 4096, 2048), inst("b", 4096, 1500)]).unwrap();
    let req = PlacementRequest::new("g", needs(1, 500), 4).strategy(BINPACK_MEM);
    // b has room for exactly three (1500 → 1000 → 500 → 0), then a.
    assert_eq!(names(&view.place(&req).unwrap()), ["b", "b", "b", "a"]);
}

#[test]
fn binpack_cpu_then_memory_breaks_ties_by_memory() {
    let view = View::new([
        inst("a", 512, 900),
        inst("b", 512, 800),
        inst("c", 1024, 100),
    ])
    .unwrap();
    let req = PlacementRequest::new("g", needs(256, 64), 1)
        .strategy(PlacementStrategy::Binpack(Resource::Cpu))
        .strategy(BINPACK_MEM);
    assert_eq!(names(&view.place(&req).unwrap()), ["b"]);
}

#[test]
fn spread_over_zones_then_binpack_inside_a_zone() {
    let mut c = zone(inst("c", 4096, 4096), "us-east-1b");
    c.task_groups.insert("service:api".into(), 1);
    let view = View::new([
        zone(inst("a", 4096, 4096), "us-east-1a"),
        zone(inst("b", 4096, 2048), "us-east-1a"),
        c,
        zone(inst("d", 4096, 3000), "us-east-1b"),
        zone(inst("e", 4096, 4096), "us-east-1c"),
    ])
    .unwrap();
    let req = PlacementRequest::new("service:api", needs(1, 256), 4)
        .strategy(PlacementStrategy::Spread(SpreadField::Attribute(
            "ecs.availability-zone".into(),
        )))
        .strategy(BINPACK_MEM);
    // 1b already has a task, so the first goes to 1a or 1c: binpack over a, b, e picks b.
    // Then 1c is the only zone without one (e). Then every zone has one: binpack over all
    // picks b again. Then 1b and 1c have fewer than 1a: binpack over c, d, e picks d.
    let plan = view.place(&req).unwrap();
    assert_eq!(names(&plan), ["b", "e", "b", "d"]);
}

#[test]
fn spread_instance_fills_empty_instances_first() {
    let mut a = inst("a", 4096, 4096);
    a.task_groups.insert("family:web".into(), 2);
    let mut b = inst("b", 4096, 4096);
    b.task_groups.insert("family:web".into(), 1);
    let view = View::new([a, b, inst("c", 4096, 4096)]).unwrap();
    let req = PlacementRequest::new("family:web", needs(1, 1), 4)
        .strategy(PlacementStrategy::Spread(SpreadField::InstanceId));
    assert_eq!(names(&view.place(&req).unwrap()), ["c", "b", "c", "a"]);
}

#[test]
fn distinct_instance_counts_existing_tasks_and_the_plan() {
    let mut a = inst("a", 4096, 4096);
    a.task_groups.insert("family:web".into(), 1);
    let view = View::new([a, inst("b", 4096, 4096), inst("c", 4096, 4096)]).unwrap();
    let req = PlacementRequest::new("family:web", needs(1, 1), 3)
        .strategy(BINPACK_MEM)
        .constraint(PlacementConstraint::DistinctInstance);
    let plan = view.place(&req).unwrap();
    assert_eq!(names(&plan), ["b", "c"]);
    assert_eq!(plan.unplaced(), 1);
    let d = "DistinctInstance placement constraint unsatisfied.";
    assert_eq!(
        reasons(&plan),
        [("a".into(), d), ("b".into(), d), ("c".into(), d)]
    );
}

#[test]
fn member_of_filters_and_reports_unsatisfied() {
    let view = View::new([
        inst("a", 4096, 4096).with_attribute("ecs.instance-type", Some("t2.small")),
        inst("b", 4096, 4096).with_attribute("ecs.instance-type", Some("m5.large")),
        inst("c", 4096, 4096),
    ])
    .unwrap();
    let req = PlacementRequest::new("g", needs(4096, 1), 2)
        .constraint(PlacementConstraint::member_of("attribute:ecs.instance-type =~ t2.*").unwrap());
    let plan = view.place(&req).unwrap();
    assert_eq!(names(&plan), ["a"]);
    let m = "MemberOf placement constraint unsatisfied.";
    assert_eq!(
        reasons(&plan),
        [
            ("a".into(), "RESOURCE:CPU"),
            ("b".into(), m),
            ("c".into(), m)
        ]
    );
}

#[test]
fn task_group_anti_affinity_sees_tasks_of_this_plan() {
    let view = View::new([inst("a", 4096, 4096), inst("b", 4096, 4096)]).unwrap();
    let req = PlacementRequest::new("family:db", needs(1, 1), 3)
        .constraint(PlacementConstraint::member_of("not(task:group == family:db)").unwrap());
    let plan = view.place(&req).unwrap();
    assert_eq!(names(&plan), ["a", "b"]);
    assert_eq!(plan.failures.len(), 2);

    let req = PlacementRequest::new("family:x", needs(1, 1), 3)
        .constraint(PlacementConstraint::member_of("runningTasksCount < 2").unwrap());
    assert_eq!(names(&view.place(&req).unwrap()), ["a", "a", "b"]);
}

#[test]
fn ports_conflict_with_used_ports_and_with_the_plan_itself() {
    let mut a = inst("a", 4096, 4096);
    a.used_tcp_ports.extend([22, 80]);
    let mut b = inst("b", 4096, 4096);
    b.used_udp_ports.insert(53);
    let view = View::new([a, b, inst("c", 4096, 4096)]).unwrap();
    let mut task = needs(1, 1);
    task.host_ports = vec![HostPort::tcp(80), HostPort::udp(53), HostPort::tcp(0)];
    let plan = view.place(&PlacementRequest::new("g", task, 2)).unwrap();
    assert_eq!(names(&plan), ["c"]);
    assert_eq!(
        reasons(&plan),
        [
            ("a".into(), "RESOURCE:PORTS"),
            ("b".into(), "RESOURCE:PORTS_UDP"),
            ("c".into(), "RESOURCE:PORTS")
        ]
    );
}

#[test]
fn gpus_are_assigned_by_id_and_released_from_the_view_on_apply() {
    let mut a = inst("a", 4096, 4096);
    a.remaining_gpu_ids
        .extend(["gpu-0", "gpu-1", "gpu-2"].map(String::from));
    let mut view = View::new([a, inst("b", 4096, 4096)]).unwrap();
    let mut task = needs(1, 1);
    task.gpus = 1;
    let plan = view
        .place(&PlacementRequest::new("g", task.clone(), 4))
        .unwrap();
    let gpus: Vec<Vec<String>> = plan.placements.iter().map(|p| p.gpu_ids.clone()).collect();
    assert_eq!(gpus, [vec!["gpu-0"], vec!["gpu-1"], vec!["gpu-2"]]);
    assert_eq!(
        reasons(&plan),
        [("a".into(), "RESOURCE:GPU"), ("b".into(), "RESOURCE:GPU")]
    );
    view.apply(&plan).unwrap();
    assert!(view
        .instance(&arn("a"))
        .unwrap()
        .remaining_gpu_ids
        .is_empty());
}

#[test]
fn only_active_connected_instances_with_required_attributes_take_tasks() {
    let mut draining = inst("a", 4096, 4096);
    draining.status = InstanceStatus::Draining;
    let mut gone = inst("b", 4096, 4096);
    gone.agent_connected = false;
    let view = View::new([
        draining,
        gone,
        inst("c", 4096, 4096),
        inst("d", 100, 4096).with_attribute("ecs.capability.secrets", None),
        inst("e", 4096, 100).with_attribute("ecs.capability.secrets", None),
    ])
    .unwrap();
    let mut task = needs(200, 200);
    task.required_attributes = vec![RequiredAttribute {
        name: "ecs.capability.secrets".into(),
        value: None,
    }];
    let plan = view.place(&PlacementRequest::new("g", task, 1)).unwrap();
    assert!(plan.placements.is_empty());
    assert_eq!(
        reasons(&plan),
        [
            ("a".into(), "DRAINING"),
            ("b".into(), "AGENT"),
            ("c".into(), "ATTRIBUTE"),
            ("d".into(), "RESOURCE:CPU"),
            ("e".into(), "RESOURCE:MEMORY")
        ]
    );
    let named: Vec<_> = plan
        .failures
        .iter()
        .map(|f| f.missing_attribute.as_ref().map(|a| a.name.as_str()))
        .collect();
    assert_eq!(
        named,
        [None, None, Some("ecs.capability.secrets"), None, None],
        "only the ATTRIBUTE failure names the attribute it lacks"
    );
}

#[test]
fn an_attribute_failure_names_the_first_attribute_the_instance_lacks() {
    let view = View::new([inst("a", 4096, 4096).with_attribute("has", None)]).unwrap();
    let mut task = needs(1, 1);
    task.required_attributes = ["has", "lacks-1", "lacks-2"]
        .map(|n| RequiredAttribute {
            name: n.into(),
            value: None,
        })
        .to_vec();
    let plan = view.place(&PlacementRequest::new("g", task, 1)).unwrap();
    let f = &plan.failures[0];
    assert_eq!(f.reason.as_str(), "ATTRIBUTE");
    assert_eq!(f.missing_attribute.as_ref().unwrap().name, "lacks-1");
}

#[test]
fn place_leaves_the_view_alone_until_apply() {
    let mut view = View::new([inst("a", 1024, 1024)]).unwrap();
    let req = PlacementRequest::new("family:web", needs(512, 512), 2).strategy(BINPACK_MEM);
    let first = view.place(&req).unwrap();
    assert_eq!(view.place(&req).unwrap(), first, "place is pure");
    assert_eq!(view.revision(), 0);

    view.apply(&first).unwrap();
    assert_eq!(view.revision(), 1);
    let a = view.instance(&arn("a")).unwrap();
    assert_eq!((a.remaining_cpu, a.remaining_memory_mib), (0, 0));
    assert_eq!(a.running_tasks_count, 2);
    assert_eq!(a.task_groups.get("family:web"), Some(&2));

    assert_eq!(
        view.apply(&first),
        Err(ApplyError::StalePlan { plan: 0, view: 1 })
    );
    let other = View::new([inst("a", 1024, 1024)]).unwrap();
    let foreign = other.place(&req).unwrap();
    assert_eq!(view.apply(&foreign), Err(ApplyError::ForeignPlan));

    let full = view.place(&req).unwrap();
    assert_eq!(reasons(&full), [("a".into(), "RESOURCE:CPU")]);
}

#[test]
fn upsert_and_remove_keep_the_indexes_right() {
    let mut view = View::new([inst("a", 1024, 1024), inst("b", 1024, 2048)]).unwrap();
    let req = PlacementRequest::new("g", needs(1, 1024), 1).strategy(BINPACK_MEM);
    assert_eq!(names(&view.place(&req).unwrap()), ["a"]);

    let mut a = inst("a", 1024, 1024);
    a.status = InstanceStatus::Draining;
    view.upsert_instance(a);
    assert_eq!(names(&view.place(&req).unwrap()), ["b"]);

    view.upsert_instance(inst("0", 1024, 1500));
    assert_eq!(names(&view.place(&req).unwrap()), ["0"]);
    assert!(view.remove_instance(&arn("0")));
    assert!(!view.remove_instance(&arn("0")));
    assert_eq!(names(&view.place(&req).unwrap()), ["b"]);
    assert_eq!(view.len(), 2);
}

#[test]
fn random_is_reproducible_for_a_seed() {
    let view = View::new((0..50).map(|i| inst(&format!("i{i:02}"), 4096, 4096))).unwrap();
    let mut req = PlacementRequest::new("g", needs(1, 1), 10).strategy(PlacementStrategy::Random);
    req.seed = 7;
    let a = view.place(&req).unwrap();
    assert_eq!(view.place(&req).unwrap(), a);
    req.seed = 8;
    assert_ne!(names(&view.place(&req).unwrap()), names(&a));

    // Random tie-break: same seed, same plan; ARN order is not what comes out.
    let mut req = PlacementRequest::new("g", needs(1, 1), 10).strategy(BINPACK_MEM);
    req.tie_break = TieBreak::Random;
    req.seed = 1;
    let b = view.place(&req).unwrap();
    assert_eq!(view.place(&req).unwrap(), b);
}

#[test]
fn request_errors_are_clear() {
    let view = View::new([inst("a", 1, 1)]).unwrap();
    let mut req = PlacementRequest::new("g", needs(1, 1), 0);
    assert!(matches!(
        view.place(&req),
        Err(PlacementError::InvalidRequest(_))
    ));
    req.count = 1;
    req.strategies = vec![PlacementStrategy::Random; 6];
    assert!(matches!(
        view.place(&req),
        Err(PlacementError::InvalidStrategy(_))
    ));
    let empty = View::new([]).unwrap();
    assert_eq!(
        empty
            .place(&PlacementRequest::new("g", needs(1, 1), 1))
            .unwrap_err()
            .to_string(),
        "No Container Instances were found in your cluster."
    );
    assert!(View::new([inst("a", 1, 1), inst("a", 2, 2)]).is_err());
}

#[test]
fn wire_forms_parse_like_ecs() {
    assert_eq!(
        PlacementStrategy::from_ecs("binpack", Some("memory")).unwrap(),
        BINPACK_MEM
    );
    assert_eq!(
        PlacementStrategy::from_ecs("spread", Some("host")).unwrap(),
        PlacementStrategy::Spread(SpreadField::InstanceId)
    );
    assert_eq!(
        PlacementStrategy::from_ecs("spread", Some("attribute:ecs.availability-zone")).unwrap(),
        PlacementStrategy::Spread(SpreadField::Attribute("ecs.availability-zone".into()))
    );
    assert_eq!(
        PlacementStrategy::from_ecs("random", None).unwrap(),
        PlacementStrategy::Random
    );
    for (t, f) in [
        ("binpack", Some("disk")),
        ("spread", None),
        ("pack", None),
        ("spread", Some("attribute:")),
    ] {
        assert!(PlacementStrategy::from_ecs(t, f).is_err(), "{t} {f:?}");
    }
    assert_eq!(
        PlacementConstraint::from_ecs("distinctInstance", None).unwrap(),
        PlacementConstraint::DistinctInstance
    );
    assert!(PlacementConstraint::from_ecs("distinctInstance", Some("x == y")).is_err());
    assert!(PlacementConstraint::from_ecs("memberOf", None).is_err());
    let e = PlacementConstraint::from_ecs("memberOf", Some("attribute:x =")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid expression at column 13: unexpected `=`; use `==` or `=~`"
    );
    assert!(matches!(e, PlacementError::InvalidExpression(_)));
}

#[test]
fn failure_reason_strings_match_ecs() {
    assert_eq!(FailureReason::Memory.to_string(), "RESOURCE:MEMORY");
    assert_eq!(FailureReason::Agent.as_str(), "AGENT");
    assert_eq!(
        FailureReason::NotActive(InstanceStatus::Inactive).as_str(),
        "INACTIVE"
    );
}

#[test]
fn view_and_plan_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<View>();
    shareable::<Plan>();
    shareable::<PlacementRequest>();
}

#[test]
fn random_choices_are_uniform_over_the_candidates() {
    // Four equal candidates, one full instance, one with a taken port: each candidate
    // should win about a quarter of 4,000 seeded single-task requests.
    let mut busy = inst("busy", 4096, 4096);
    busy.used_tcp_ports.insert(80);
    let view = View::new([
        inst("a", 4096, 4096),
        inst("b", 4096, 4096),
        busy,
        inst("c", 4096, 4096),
        inst("d", 4096, 4096),
        inst("full", 0, 0),
    ])
    .unwrap();
    let mut task = needs(1, 1);
    task.host_ports = vec![HostPort::tcp(80)];
    for random_strategy in [false, true] {
        let mut wins = std::collections::BTreeMap::<String, u32>::new();
        for seed in 0..4000 {
            let mut req = PlacementRequest::new("g", task.clone(), 1);
            if random_strategy {
                req = req.strategy(PlacementStrategy::Random);
            } else {
                req.tie_break = TieBreak::Random;
            }
            req.seed = seed;
            *wins
                .entry(names(&view.place(&req).unwrap())[0].clone())
                .or_default() += 1;
        }
        assert_eq!(wins.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert!(wins.values().all(|&n| (850..1150).contains(&n)), "{wins:?}");
    }
}
