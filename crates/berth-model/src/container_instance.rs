//! Container instances: the machines (agents) tasks are placed on, their registered and
//! remaining resources (CPU units, MiB, ports, GPUs) and attributes, and the wire shape.
//! Members of the Fargate capacity pool are container instances too, kept apart from any
//! cluster's list.

use std::collections::{BTreeMap, BTreeSet};

use berth_api::ecs::{
    Attribute, ContainerInstance, ContainerInstanceStatus, Resource, TargetType, Timestamp,
    VersionInfo,
};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::cluster::tags_to_wire;
use crate::tags::Tags;

/// Ports every ECS agent reserves on its host (SSH, Docker, the agent's own).
pub const DEFAULT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// How long an agent may go without a heartbeat before it counts as disconnected.
pub const AGENT_TIMEOUT_SECS: f64 =
    berth_api::agent::HEARTBEAT_INTERVAL.as_secs_f64() * berth_api::agent::MISSED_HEARTBEATS as f64;

/// What a host offers or has left: CPU units, MiB, ports taken, GPUs free.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: i64,
    pub memory: i64,
    /// TCP ports taken (reserved or used by tasks).
    pub ports_tcp: BTreeSet<u16>,
    /// UDP ports taken.
    pub ports_udp: BTreeSet<u16>,
    /// GPU ids free to assign.
    pub gpus: BTreeSet<String>,
}

/// What one task holds on its instance while it is not stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub cpu: i64,
    pub memory: i64,
    pub ports_tcp: Vec<u16>,
    pub ports_udp: Vec<u16>,
    pub gpus: Vec<String>,
}

/// What a registration has left: `registered` less what the tasks on it hold, and less
/// the CPU and memory that tasks on its twin (the same host's other registration, when
/// there is one) hold. `held` lists each unstopped task's instance ARN and reservation.
pub fn remaining_of(
    registered: &Resources,
    own_arn: &str,
    twin_arn: Option<&str>,
    held: &[(&str, &Reservation)],
) -> Resources {
    let mut remaining = registered.clone();
    for (arn, r) in held {
        if *arn == own_arn {
            remaining.take(r);
        } else if Some(*arn) == twin_arn {
            remaining.take(&r.compute());
        }
    }
    remaining
}

impl Reservation {
    /// The part of a reservation that a host's other registration shares: CPU and
    /// memory. (Host ports and GPUs are EC2 tasks' alone: Fargate tasks have their own
    /// network namespace and no GPUs.)
    pub fn compute(&self) -> Reservation {
        Reservation {
            cpu: self.cpu,
            memory: self.memory,
            ..Default::default()
        }
    }
}

impl Resources {
    /// Takes a task's reservation out of what is left.
    pub fn take(&mut self, r: &Reservation) {
        self.cpu -= r.cpu;
        self.memory -= r.memory;
        self.ports_tcp.extend(r.ports_tcp.iter().copied());
        self.ports_udp.extend(r.ports_udp.iter().copied());
        for g in &r.gpus {
            self.gpus.remove(g);
        }
    }

    /// Gives a stopped task's reservation back.
    pub fn give_back(&mut self, r: &Reservation, registered: &Resources) {
        self.cpu = (self.cpu + r.cpu).min(registered.cpu);
        self.memory = (self.memory + r.memory).min(registered.memory);
        for p in &r.ports_tcp {
            if !registered.ports_tcp.contains(p) {
                self.ports_tcp.remove(p);
            }
        }
        for p in &r.ports_udp {
            if !registered.ports_udp.contains(p) {
                self.ports_udp.remove(p);
            }
        }
        self.gpus.extend(r.gpus.iter().cloned());
    }

    /// The wire shape: CPU, MEMORY, PORTS, PORTS_UDP and GPU resources.
    pub fn to_wire(&self) -> Vec<Resource> {
        let int = |name: &str, v: i64| Resource {
            name: Some(name.into()),
            r#type: Some("INTEGER".into()),
            integer_value: Some(v.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
            double_value: Some(0.0),
            long_value: Some(0),
            string_set_value: None,
        };
        let set = |name: &str, v: Vec<String>| Resource {
            name: Some(name.into()),
            r#type: Some("STRINGSET".into()),
            integer_value: Some(0),
            double_value: Some(0.0),
            long_value: Some(0),
            string_set_value: Some(v),
        };
        let mut out = vec![
            int("CPU", self.cpu),
            int("MEMORY", self.memory),
            set("PORTS", self.ports_tcp.iter().map(u16::to_string).collect()),
            set(
                "PORTS_UDP",
                self.ports_udp.iter().map(u16::to_string).collect(),
            ),
        ];
        if !self.gpus.is_empty() {
            out.push(set("GPU", self.gpus.iter().cloned().collect()));
        }
        out
    }

    /// Reads resources as RegisterContainerInstance's `totalResources` gives them. CPU and
    /// MEMORY are required; ports given are taken (reserved).
    pub fn from_wire(resources: &[Resource]) -> Result<Resources, ApiError> {
        let mut out = Resources::default();
        let (mut cpu, mut mem) = (false, false);
        for r in resources {
            let name = r.name.as_deref().unwrap_or_default();
            let number = || {
                r.integer_value
                    .map(i64::from)
                    .or(r.long_value)
                    .or(r.double_value.map(|d| d as i64))
                    .unwrap_or(0)
            };
            let ports = || -> Result<BTreeSet<u16>, ApiError> {
                r.string_set_value
                    .iter()
                    .flatten()
                    .map(|p| {
                        p.parse::<u16>().map_err(|_| {
                            ApiError::InvalidParameter(format!("Invalid port '{p}' in {name}."))
                        })
                    })
                    .collect()
            };
            match name {
                "CPU" => (out.cpu, cpu) = (number(), true),
                "MEMORY" => (out.memory, mem) = (number(), true),
                "PORTS" => out.ports_tcp = ports()?,
                "PORTS_UDP" => out.ports_udp = ports()?,
                "GPU" => out.gpus = r.string_set_value.iter().flatten().cloned().collect(),
                other => {
                    return Err(ApiError::InvalidParameter(format!(
                        "Unknown resource '{other}'; expected CPU, MEMORY, PORTS, PORTS_UDP or GPU."
                    )))
                }
            }
        }
        if !cpu || !mem {
            return Err(ApiError::InvalidParameter(
                "totalResources must include CPU and MEMORY.".into(),
            ));
        }
        if out.cpu < 0 || out.memory < 0 {
            return Err(ApiError::InvalidParameter(
                "Resources must not be negative.".into(),
            ));
        }
        Ok(out)
    }
}

/// A container instance as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub id: String,
    pub arn: String,
    /// The cluster's name (empty for Fargate pool members).
    pub cluster: String,
    pub ec2_instance_id: Option<String>,
    pub status: ContainerInstanceStatus,
    pub registered: Resources,
    pub remaining: Resources,
    pub attributes: BTreeMap<String, Option<String>>,
    pub version_info: Option<VersionInfo>,
    pub registered_at: Timestamp,
    /// The last time its agent was heard from.
    pub last_heartbeat: Option<Timestamp>,
    pub tags: Tags,
    /// Increments on every change, as ECS's `version` does.
    pub version: i64,
    /// A member of the Fargate pool rather than of a cluster.
    pub fargate_pool: bool,
    /// When the control plane gave up on its agent and stopped its tasks (see the
    /// server's `lost_hosts`); cleared by the next heartbeat.
    #[serde(default)]
    pub lost_at: Option<Timestamp>,
    /// The store key of the same host's other registration (its Fargate pool member,
    /// or its container instance), when it offers both: the two share the host's CPU and
    /// memory, so what a task takes on one is gone from the other's remaining too.
    #[serde(default)]
    pub twin: Option<String>,
}

/// Task counts DescribeContainerInstances reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceTaskCounts {
    pub running: i32,
    pub pending: i32,
}

impl InstanceRecord {
    /// When its agent was last heard from: the later of the record's own time (its
    /// registration) and `heartbeat`, the last heartbeat kept apart from the record (so
    /// heartbeats do not rewrite it; see the server's `liveness`).
    pub fn heard(&self, heartbeat: Option<Timestamp>) -> Option<Timestamp> {
        match (self.last_heartbeat, heartbeat) {
            (Some(a), Some(b)) => Some(if a.as_secs_f64() >= b.as_secs_f64() {
                a
            } else {
                b
            }),
            (a, b) => a.or(b),
        }
    }

    /// Whether its agent has been heard from recently (`heard`: see [`Self::heard`]).
    pub fn agent_connected(&self, heard: Option<Timestamp>, now: Timestamp) -> bool {
        heard.is_some_and(|t| now.as_secs_f64() - t.as_secs_f64() <= AGENT_TIMEOUT_SECS)
    }

    /// Whether new tasks may be placed on it.
    pub fn accepts_tasks(&self, heard: Option<Timestamp>, now: Timestamp) -> bool {
        self.status == ContainerInstanceStatus::Active && self.agent_connected(heard, now)
    }

    /// The attributes in the wire shape.
    pub fn attributes_to_wire(&self) -> Vec<Attribute> {
        self.attributes
            .iter()
            .map(|(k, v)| Attribute {
                name: k.clone(),
                value: v.clone(),
                target_type: Some(TargetType::ContainerInstance),
                target_id: Some(self.arn.clone()),
            })
            .collect()
    }

    /// The wire shape.
    pub fn to_wire(
        &self,
        counts: InstanceTaskCounts,
        heard: Option<Timestamp>,
        now: Timestamp,
        with_tags: bool,
    ) -> ContainerInstance {
        ContainerInstance {
            container_instance_arn: Some(self.arn.clone()),
            ec2_instance_id: self.ec2_instance_id.clone(),
            capacity_provider_name: None,
            version: self.version,
            version_info: self.version_info.clone(),
            remaining_resources: Some(self.remaining.to_wire()),
            registered_resources: Some(self.registered.to_wire()),
            status: Some(self.status.as_str().to_string()),
            status_reason: None,
            agent_connected: self.agent_connected(heard, now),
            running_tasks_count: counts.running,
            pending_tasks_count: counts.pending,
            agent_update_status: None,
            attributes: Some(
                self.attributes_to_wire()
                    .into_iter()
                    .map(|a| Attribute {
                        target_type: None,
                        target_id: None,
                        ..a
                    })
                    .collect(),
            ),
            registered_at: Some(self.registered_at),
            attachments: None,
            tags: with_tags.then(|| tags_to_wire(&self.tags)),
            health_status: None,
            gpu_devices: None,
        }
    }
}

/// Checks an attribute's name and value against ECS's rules.
pub fn validate_attribute(a: &Attribute) -> Result<(), ApiError> {
    let ok_name = !a.name.is_empty()
        && a.name.len() <= 128
        && a.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@".contains(&b));
    if !ok_name {
        return Err(ApiError::InvalidParameter(format!(
            "Attribute name '{}' is invalid: up to 128 letters, numbers, hyphens, underscores, \
             periods, at signs and slashes.",
            a.name
        )));
    }
    if let Some(v) = &a.value {
        let ok_value = !v.is_empty()
            && v.len() <= 128
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./@:+ ".contains(c));
        if !ok_value {
            return Err(ApiError::InvalidParameter(format!(
                "Attribute value '{v}' of '{}' is invalid.",
                a.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpu: i64, memory: i64, ports: &[u16]) -> Resources {
        Resources {
            cpu,
            memory,
            ports_tcp: ports.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_loses_only_cpu_and_memory_to_its_twins_tasks() {
        let registered = res(4096, 8192, &[22]);
        let ec2_task = Reservation {
            cpu: 1024,
            memory: 2048,
            ports_tcp: vec![8080],
            gpus: vec!["GPU-1".into()],
            ..Default::default()
        };
        let fargate_task = Reservation {
            cpu: 512,
            memory: 1024,
            ..Default::default()
        };
        let elsewhere = Reservation {
            cpu: 2048,
            memory: 2048,
            ..Default::default()
        };
        let held = [
            ("ec2", &ec2_task),
            ("fargate", &fargate_task),
            ("other-host", &elsewhere),
        ];
        let ec2 = remaining_of(&registered, "ec2", Some("fargate"), &held);
        assert_eq!(
            (ec2.cpu, ec2.memory),
            (4096 - 1024 - 512, 8192 - 2048 - 1024)
        );
        assert!(ec2.ports_tcp.contains(&8080));
        let member = remaining_of(&registered, "fargate", Some("ec2"), &held);
        assert_eq!((member.cpu, member.memory), (ec2.cpu, ec2.memory));
        assert!(
            !member.ports_tcp.contains(&8080),
            "an EC2 task's host port is no Fargate task's concern"
        );
        let alone = remaining_of(&registered, "ec2", None, &held);
        assert_eq!((alone.cpu, alone.memory), (4096 - 1024, 8192 - 2048));
    }

    #[test]
    fn take_and_give_back_balance() {
        let registered = res(2048, 4096, &[22]);
        let mut remaining = registered.clone();
        let r = Reservation {
            cpu: 512,
            memory: 1024,
            ports_tcp: vec![80],
            ..Default::default()
        };
        remaining.take(&r);
        assert_eq!((remaining.cpu, remaining.memory), (1536, 3072));
        assert!(remaining.ports_tcp.contains(&80) && remaining.ports_tcp.contains(&22));
        remaining.give_back(&r, &registered);
        assert_eq!(remaining, registered, "giving back restores exactly");
        remaining.give_back(&r, &registered);
        assert_eq!(
            remaining, registered,
            "a double give-back never exceeds registered"
        );
    }

    #[test]
    fn resources_round_trip_through_the_wire_shape() {
        let r = res(4096, 8000, &[22, 2375]);
        assert_eq!(Resources::from_wire(&r.to_wire()).unwrap(), r);
        assert!(
            Resources::from_wire(&r.to_wire()[2..]).is_err(),
            "CPU and MEMORY required"
        );
    }
}
