//! The placement request: what one RunTask call (or one service step) asks for.

use crate::error::PlacementError;
use crate::expr::{Expression, InvalidExpression};

/// Most strategies ECS accepts on one request.
pub(crate) const MAX_STRATEGIES: usize = 5;
/// Most constraints ECS accepts on one request (task definition plus RunTask).
pub(crate) const MAX_CONSTRAINTS: usize = 10;
/// Longest task group name ECS accepts.
const MAX_GROUP_LEN: usize = 255;

/// Transport protocol of a host port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A static host port a task binds (bridge or host network mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// Port number; 0 means a dynamic port and is ignored by placement.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl HostPort {
    /// A TCP host port.
    pub fn tcp(port: u16) -> Self {
        HostPort {
            port,
            protocol: Protocol::Tcp,
        }
    }

    /// A UDP host port.
    pub fn udp(port: u16) -> Self {
        HostPort {
            port,
            protocol: Protocol::Udp,
        }
    }
}

/// An attribute the task definition requires (`requiresAttributes`); unmet → `ATTRIBUTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredAttribute {
    /// Attribute name, e.g. `com.amazonaws.ecs.capability.docker-remote-api.1.19`.
    pub name: String,
    /// Required value; `None` means any value (or none) will do.
    pub value: Option<String>,
}

/// What one task needs from an instance. Every task of a request needs the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskNeeds {
    /// CPU units.
    pub cpu: u32,
    /// Memory in MiB (task-level memory, or the containers' sum).
    pub memory_mib: u32,
    /// Static host ports.
    pub host_ports: Vec<HostPort>,
    /// Number of GPUs.
    pub gpus: u32,
    /// Attributes the instance must carry.
    pub required_attributes: Vec<RequiredAttribute>,
}

/// Resource a binpack strategy packs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// CPU units.
    Cpu,
    /// Memory.
    Memory,
}

/// Field a spread strategy balances over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpreadField {
    /// `instanceId` (or `host`, which ECS treats the same).
    InstanceId,
    /// `attribute:NAME`, e.g. `attribute:ecs.availability-zone`.
    Attribute(String),
}

/// One ECS placement strategy; a request's strategies rank candidates in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlacementStrategy {
    /// Least remaining amount of the resource that still fits the task.
    Binpack(Resource),
    /// Value of the field with the fewest tasks of the group.
    Spread(SpreadField),
    /// Uniformly at random (seeded by [`PlacementRequest::seed`]).
    Random,
}

impl PlacementStrategy {
    /// Parses the ECS wire form (`type`, `field`), e.g. (`"spread"`,
    /// `Some("attribute:ecs.availability-zone")`).
    pub fn from_ecs(kind: &str, field: Option<&str>) -> Result<Self, PlacementError> {
        let invalid = |m: String| Err(PlacementError::InvalidStrategy(m));
        match kind {
            "binpack" => match field {
                Some(f) if f.eq_ignore_ascii_case("cpu") => {
                    Ok(PlacementStrategy::Binpack(Resource::Cpu))
                }
                Some(f) if f.eq_ignore_ascii_case("memory") => {
                    Ok(PlacementStrategy::Binpack(Resource::Memory))
                }
                Some(f) => invalid(format!(
                    "binpack field must be `cpu` or `memory`, not `{f}`"
                )),
                None => invalid("binpack needs a field: `cpu` or `memory`".into()),
            },
            "spread" => match field {
                Some(f)
                    if f.eq_ignore_ascii_case("instanceId") || f.eq_ignore_ascii_case("host") =>
                {
                    Ok(PlacementStrategy::Spread(SpreadField::InstanceId))
                }
                Some(f) => match f.strip_prefix("attribute:") {
                    Some(name) if !name.is_empty() => Ok(PlacementStrategy::Spread(
                        SpreadField::Attribute(name.to_owned()),
                    )),
                    _ => invalid(format!(
                        "spread field must be `instanceId`, `host` or `attribute:NAME`, not `{f}`"
                    )),
                },
                None => {
                    invalid("spread needs a field: `instanceId`, `host` or `attribute:NAME`".into())
                }
            },
            // ECS ignores the field of a random strategy.
            "random" => Ok(PlacementStrategy::Random),
            other => invalid(format!(
                "type must be `binpack`, `spread` or `random`, not `{other}`"
            )),
        }
    }
}

/// One ECS placement constraint; every constraint filters candidates.
#[derive(Debug, Clone, PartialEq)]
pub enum PlacementConstraint {
    /// No two tasks of the request's group on one instance (existing tasks included).
    DistinctInstance,
    /// Only instances the expression selects.
    MemberOf(Expression),
}

impl PlacementConstraint {
    /// A memberOf constraint from a cluster query language expression.
    pub fn member_of(expression: &str) -> Result<Self, InvalidExpression> {
        Expression::parse(expression).map(PlacementConstraint::MemberOf)
    }

    /// Parses the ECS wire form (`type`, `expression`).
    pub fn from_ecs(kind: &str, expression: Option<&str>) -> Result<Self, PlacementError> {
        match (kind, expression) {
            ("distinctInstance", None) => Ok(PlacementConstraint::DistinctInstance),
            ("distinctInstance", Some(e)) if e.trim().is_empty() => {
                Ok(PlacementConstraint::DistinctInstance)
            }
            ("distinctInstance", Some(_)) => Err(PlacementError::InvalidConstraint(
                "an expression cannot be given with the distinctInstance constraint".into(),
            )),
            ("memberOf", Some(e)) => Ok(PlacementConstraint::member_of(e)?),
            ("memberOf", None) => Err(PlacementError::InvalidConstraint(
                "the memberOf constraint needs an expression".into(),
            )),
            (other, _) => Err(PlacementError::InvalidConstraint(format!(
                "type must be `distinctInstance` or `memberOf`, not `{other}`"
            ))),
        }
    }
}

/// How the last tie between equally ranked instances is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieBreak {
    /// Lowest container instance ARN wins; fastest and fully reproducible.
    #[default]
    ArnOrder,
    /// Uniformly at random among the tied instances, seeded by [`PlacementRequest::seed`].
    Random,
}

/// One placement request: `count` identical tasks of one task group.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRequest {
    /// Number of tasks to place (RunTask allows 1–10).
    pub count: u32,
    /// Task group, e.g. `family:web` (RunTask default) or `service:api`.
    pub group: String,
    /// What each task needs.
    pub task: TaskNeeds,
    /// Strategies, most significant first; empty means only the tie-break decides.
    pub strategies: Vec<PlacementStrategy>,
    /// Constraints of the task definition and the request together.
    pub constraints: Vec<PlacementConstraint>,
    /// How final ties are broken.
    pub tie_break: TieBreak,
    /// Seed for `random` and [`TieBreak::Random`]; same view + request ⇒ same plan.
    pub seed: u64,
}

impl PlacementRequest {
    /// A request with no strategies or constraints, ARN-order tie-break and seed 0.
    pub fn new(group: impl Into<String>, task: TaskNeeds, count: u32) -> Self {
        PlacementRequest {
            count,
            group: group.into(),
            task,
            strategies: Vec::new(),
            constraints: Vec::new(),
            tie_break: TieBreak::ArnOrder,
            seed: 0,
        }
    }

    /// Adds a strategy (builder style).
    pub fn strategy(mut self, strategy: PlacementStrategy) -> Self {
        self.strategies.push(strategy);
        self
    }

    /// Adds a constraint (builder style).
    pub fn constraint(mut self, constraint: PlacementConstraint) -> Self {
        self.constraints.push(constraint);
        self
    }

    /// Checks the limits ECS enforces on a request.
    pub(crate) fn validate(&self) -> Result<(), PlacementError> {
        if self.count == 0 {
            return Err(PlacementError::InvalidRequest(
                "count must be at least 1".into(),
            ));
        }
        if self.group.is_empty() || self.group.len() > MAX_GROUP_LEN {
            return Err(PlacementError::InvalidRequest(format!(
                "task group must be 1 to {MAX_GROUP_LEN} characters"
            )));
        }
        if self.strategies.len() > MAX_STRATEGIES {
            return Err(PlacementError::InvalidStrategy(format!(
                "at most {MAX_STRATEGIES} placement strategies may be given, got {}",
                self.strategies.len()
            )));
        }
        for s in &self.strategies {
            if let PlacementStrategy::Spread(SpreadField::Attribute(name)) = s {
                if name.is_empty() {
                    return Err(PlacementError::InvalidStrategy(
                        "spread attribute name is empty".into(),
                    ));
                }
            }
        }
        if self.constraints.len() > MAX_CONSTRAINTS {
            return Err(PlacementError::InvalidConstraint(format!(
                "at most {MAX_CONSTRAINTS} placement constraints may be given, got {}",
                self.constraints.len()
            )));
        }
        Ok(())
    }
}
