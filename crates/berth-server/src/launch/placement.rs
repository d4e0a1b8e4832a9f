//! The bridge between the model and `berth-scheduler`: turns container instance records
//! into the scheduler's view, a task definition plus overrides into what one task needs,
//! and ECS's wire strategies and constraints into the scheduler's. Placement itself is
//! the scheduler's pure function.

use std::collections::BTreeMap;

use berth_api::ecs::{
    ContainerInstanceStatus, NetworkMode, PlacementConstraint as WireConstraint,
    PlacementStrategy as WireStrategy, ResourceType, TaskOverride, Timestamp, TransportProtocol,
};
use berth_api::error::ApiError;
use berth_model::container_instance::{InstanceRecord, Reservation};
use berth_model::task::TaskRecord;
use berth_model::task_definition::TaskDefinitionRecord;
use berth_scheduler as sched;

use crate::records::Record;

/// Counts of not-stopped tasks per instance ARN: per task group, and in all.
#[derive(Debug, Default)]
pub struct Occupancy {
    pub groups: BTreeMap<String, BTreeMap<String, u32>>,
    pub running: BTreeMap<String, u32>,
}

impl Occupancy {
    /// Counts the tasks that still hold resources.
    pub fn of(tasks: &[Record<TaskRecord>]) -> Occupancy {
        let mut o = Occupancy::default();
        for t in tasks.iter().filter(|t| t.value.holds_resources()) {
            let arn = &t.value.placement.instance_arn;
            let group = t
                .value
                .group
                .clone()
                .unwrap_or_else(|| format!("family:{}", t.value.family));
            *o.groups
                .entry(arn.clone())
                .or_default()
                .entry(group)
                .or_default() += 1;
            *o.running.entry(arn.clone()).or_default() += 1;
        }
        o
    }
}

/// The scheduler's view of one instance, last heard from at `heard`.
pub fn to_scheduler(
    rec: &InstanceRecord,
    heard: Option<Timestamp>,
    now: Timestamp,
    occ: &Occupancy,
) -> sched::ContainerInstance {
    let clamp = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
    sched::ContainerInstance {
        arn: rec.arn.clone(),
        ec2_instance_id: rec.ec2_instance_id.clone(),
        status: match rec.status {
            ContainerInstanceStatus::Active => sched::InstanceStatus::Active,
            ContainerInstanceStatus::Draining => sched::InstanceStatus::Draining,
            ContainerInstanceStatus::Registering => sched::InstanceStatus::Registering,
            ContainerInstanceStatus::Deregistering => sched::InstanceStatus::Deregistering,
            ContainerInstanceStatus::RegistrationFailed => {
                sched::InstanceStatus::RegistrationFailed
            }
        },
        agent_connected: rec.agent_connected(heard, now),
        agent_version: rec
            .version_info
            .as_ref()
            .and_then(|v| v.agent_version.clone()),
        registered_at: Some(rec.registered_at.as_secs_f64() as i64),
        remaining_cpu: clamp(rec.remaining.cpu),
        remaining_memory_mib: clamp(rec.remaining.memory),
        used_tcp_ports: rec.remaining.ports_tcp.clone(),
        used_udp_ports: rec.remaining.ports_udp.clone(),
        remaining_gpu_ids: rec.remaining.gpus.clone(),
        attributes: rec.attributes.clone(),
        running_tasks_count: occ.running.get(&rec.arn).copied().unwrap_or(0),
        task_groups: occ.groups.get(&rec.arn).cloned().unwrap_or_default(),
    }
}

/// What one task of this definition, with these overrides, holds on its instance.
pub fn reservation(def: &TaskDefinitionRecord, overrides: &TaskOverride) -> Reservation {
    let containers = def
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    let container_override = |name: &Option<String>| {
        overrides
            .container_overrides
            .iter()
            .flatten()
            .find(|o| o.name.is_some() && o.name == *name)
    };
    let task_cpu = overrides
        .cpu
        .as_deref()
        .and_then(berth_model::fargate::parse_cpu_units);
    let task_mem = overrides
        .memory
        .as_deref()
        .and_then(berth_model::fargate::parse_memory_mib);
    let cpu = task_cpu
        .or(def.cpu_units())
        .map(i64::from)
        .unwrap_or_else(|| {
            containers
                .iter()
                .map(|c| {
                    i64::from(
                        container_override(&c.name)
                            .and_then(|o| o.cpu)
                            .or(c.cpu)
                            .unwrap_or(0),
                    )
                })
                .sum()
        });
    let memory = task_mem
        .or(def.memory_mib())
        .map(i64::from)
        .unwrap_or_else(|| {
            containers
                .iter()
                .map(|c| {
                    let o = container_override(&c.name);
                    let hard = o.and_then(|o| o.memory).or(c.memory);
                    let soft = o
                        .and_then(|o| o.memory_reservation)
                        .or(c.memory_reservation);
                    i64::from(soft.or(hard).unwrap_or(0))
                })
                .sum()
        });
    let mut r = Reservation {
        cpu,
        memory,
        ..Default::default()
    };
    let mode = def.network_mode();
    for c in containers {
        for pm in c.port_mappings.iter().flatten() {
            let port = match mode {
                NetworkMode::Host => pm.container_port,
                NetworkMode::Bridge => pm.host_port.filter(|p| *p > 0),
                NetworkMode::Awsvpc | NetworkMode::None => None,
            };
            if let Some(p) = port.and_then(|p| u16::try_from(p).ok()) {
                match pm.protocol.unwrap_or(TransportProtocol::Tcp) {
                    TransportProtocol::Tcp => r.ports_tcp.push(p),
                    TransportProtocol::Udp => r.ports_udp.push(p),
                }
            }
        }
    }
    r
}

/// The number of GPUs the definition's containers ask for.
pub fn gpus_needed(def: &TaskDefinitionRecord) -> u32 {
    def.definition
        .container_definitions
        .iter()
        .flatten()
        .flat_map(|c| c.resource_requirements.iter().flatten())
        .filter(|r| r.r#type == ResourceType::Gpu)
        .filter_map(|r| r.value.as_deref().and_then(|v| v.parse::<u32>().ok()))
        .sum()
}

/// The scheduler's request for `count` tasks.
pub fn request(
    def: &TaskDefinitionRecord,
    reservation: &Reservation,
    group: &str,
    count: u32,
    strategies: &[WireStrategy],
    constraints: &[WireConstraint],
) -> Result<sched::PlacementRequest, ApiError> {
    let invalid = |e: sched::PlacementError| ApiError::InvalidParameter(e.to_string());
    let needs = sched::TaskNeeds {
        cpu: reservation.cpu.clamp(0, u32::MAX as i64) as u32,
        memory_mib: reservation.memory.clamp(0, u32::MAX as i64) as u32,
        host_ports: reservation
            .ports_tcp
            .iter()
            .map(|p| sched::HostPort::tcp(*p))
            .chain(
                reservation
                    .ports_udp
                    .iter()
                    .map(|p| sched::HostPort::udp(*p)),
            )
            .collect(),
        gpus: gpus_needed(def),
        required_attributes: def
            .definition
            .requires_attributes
            .iter()
            .flatten()
            .map(|a| sched::RequiredAttribute {
                name: a.name.clone(),
                value: a.value.clone(),
            })
            .collect(),
    };
    let mut req = sched::PlacementRequest::new(group, needs, count);
    req.seed = rand::random();
    if strategies.is_empty() {
        // RunTask's default is random placement; it also keeps concurrent calls from
        // all choosing (and conflicting on) the same instance.
        req.tie_break = sched::TieBreak::Random;
    }
    for s in strategies {
        let kind = s.r#type.map(|t| t.as_str()).unwrap_or_default();
        req = req.strategy(
            sched::PlacementStrategy::from_ecs(kind, s.field.as_deref()).map_err(invalid)?,
        );
    }
    let from_def = def
        .definition
        .placement_constraints
        .iter()
        .flatten()
        .map(|c| {
            (
                c.r#type.map(|t| t.as_str()).unwrap_or_default(),
                c.expression.as_deref(),
            )
        });
    let from_req = constraints.iter().map(|c| {
        (
            c.r#type.map(|t| t.as_str()).unwrap_or_default(),
            c.expression.as_deref(),
        )
    });
    for (kind, expr) in from_def.chain(from_req) {
        req = req.constraint(sched::PlacementConstraint::from_ecs(kind, expr).map_err(invalid)?);
    }
    Ok(req)
}
