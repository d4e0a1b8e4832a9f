//! The answer to a placement request: where each task goes, and why the rest did not fit.

use crate::instance::InstanceStatus;
use crate::place::Need;
use crate::request::RequiredAttribute;

/// Why a container instance could not take a task; `as_str` is the ECS `reason` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// Instance is not ACTIVE (draining, deregistered, …); reason is its status.
    NotActive(InstanceStatus),
    /// Agent disconnected: `AGENT`.
    Agent,
    /// A required attribute is missing: `ATTRIBUTE`.
    Attribute,
    /// A memberOf expression does not select the instance.
    MemberOf,
    /// The instance already hosts a task of the group.
    DistinctInstance,
    /// Not enough CPU: `RESOURCE:CPU`.
    Cpu,
    /// Not enough memory: `RESOURCE:MEMORY`.
    Memory,
    /// A TCP host port is taken: `RESOURCE:PORTS`.
    Ports,
    /// A UDP host port is taken: `RESOURCE:PORTS_UDP`.
    PortsUdp,
    /// Not enough GPUs: `RESOURCE:GPU`.
    Gpu,
}

impl FailureReason {
    /// The `reason` string ECS returns in `failures`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::NotActive(status) => status.as_str(),
            FailureReason::Agent => "AGENT",
            FailureReason::Attribute => "ATTRIBUTE",
            FailureReason::MemberOf => "MemberOf placement constraint unsatisfied.",
            FailureReason::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
            FailureReason::Cpu => "RESOURCE:CPU",
            FailureReason::Memory => "RESOURCE:MEMORY",
            FailureReason::Ports => "RESOURCE:PORTS",
            FailureReason::PortsUdp => "RESOURCE:PORTS_UDP",
            FailureReason::Gpu => "RESOURCE:GPU",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instance that could not take the next task (ECS `Failure`: `arn` + `reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementFailure {
    /// Container instance ARN.
    pub arn: String,
    /// Why it was rejected.
    pub reason: FailureReason,
    /// For [`FailureReason::Attribute`], the first required attribute it lacks.
    pub missing_attribute: Option<RequiredAttribute>,
}

/// One placed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Container instance the task goes to.
    pub container_instance_arn: String,
    /// GPU ids the task takes on that instance (empty when it needs none).
    pub gpu_ids: Vec<String>,
    /// Index of the instance in the view that made the plan.
    pub(crate) instance: u32,
}

/// Result of [`View::place`](crate::View::place); commit it, then [`View::apply`](crate::View::apply) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Placed tasks, in placement order.
    pub placements: Vec<Placement>,
    /// When fewer than requested were placed: one entry per instance, in ARN order, saying
    /// why it could not take the next task. Empty when the plan is complete.
    pub failures: Vec<PlacementFailure>,
    /// Number of tasks requested.
    pub requested: u32,
    pub(crate) view_id: u64,
    pub(crate) revision: u64,
    pub(crate) need: Need,
    pub(crate) group: String,
}

impl Plan {
    /// True when every requested task was placed.
    pub fn is_complete(&self) -> bool {
        self.placements.len() == self.requested as usize
    }

    /// Number of tasks that could not be placed.
    pub fn unplaced(&self) -> u32 {
        self.requested - self.placements.len() as u32
    }
}
