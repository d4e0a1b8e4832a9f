//! ELBv2's resources as Berth stores them (as JSON, their
//! [`berth_store::records::Stored`] layout): load balancers, target groups, listeners,
//! rules, target registrations and the health the data plane last reported. They are
//! built from the model's values ([`crate::model`]) and from parts that have modules
//! of their own: a target group's [`HealthCheck`], a listener's or rule's [`Action`]s
//! and [`Condition`]s, a target's reported [`TargetHealthState`].

use serde::{Deserialize, Serialize};

use crate::actions::{Action, Condition};
use crate::health_check::HealthCheck;
use crate::health_state::{Reason, TargetHealthState};
use crate::model::{IpAddressType, LoadBalancerType, Protocol, Scheme, Tag, TargetType};

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    pub arn: String,
    pub name: String,
    /// The 16 hex digits ending the ARN.
    pub id: String,
    pub lb_type: LoadBalancerType,
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

impl LoadBalancerRecord {
    /// The protocol its listeners speak and its target groups must use.
    pub fn protocol(&self) -> Protocol {
        match self.lb_type {
            LoadBalancerType::Network => Protocol::Tcp,
            _ => Protocol::Http,
        }
    }
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub protocol: Protocol,
    pub protocol_version: Option<String>,
    pub port: u16,
    pub vpc_id: Option<String>,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_secs: u32,
    pub tags: Vec<Tag>,
}

/// A listener: a port of a load balancer and what it does with what arrives there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub arn: String,
    pub id: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_actions: Vec<Action>,
    /// The id in the ARN of the listener's default rule (DescribeRules lists it).
    pub default_rule_id: String,
}

/// A rule of a listener, other than its default rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub arn: String,
    pub id: String,
    pub listener_arn: String,
    pub priority: u32,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// A target registered in a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// An IP address (`ip` target groups) or an instance id (`instance`).
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    pub registered_ms: i64,
    /// A random id of this registration: health reports name it, so a report about an
    /// earlier registration of the same target is never taken for this one.
    pub registration: u64,
    /// Set when the target was deregistered: it drains until then.
    pub draining: Option<Draining>,
}

/// A deregistered target finishing its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    pub since_ms: i64,
    /// When it leaves the target group.
    pub until_ms: i64,
}

impl TargetRecord {
    /// The key part naming this target within its group.
    pub fn key(&self) -> String {
        target_key(&self.id, self.port)
    }
}

/// `ID:PORT`, the key part naming a target within its group.
pub fn target_key(id: &str, port: u16) -> String {
    format!("{id}:{port}")
}

/// The health the data plane last reported for one registration of a target, written
/// when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub state: TargetHealthState,
    pub reason: Option<Reason>,
    pub description: Option<String>,
    pub since_ms: i64,
    /// The registration it is about ([`TargetRecord::registration`]).
    pub registration: u64,
}

berth_store::stored_as_json!(
    LoadBalancerRecord,
    TargetGroupRecord,
    ListenerRecord,
    RuleRecord,
    TargetRecord,
    HealthRecord,
);
