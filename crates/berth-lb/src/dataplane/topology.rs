//! What the data plane should be running, computed purely from the stored
//! configuration: a listener per stored listener with its routing table, and a health
//! checker per registered, not draining target of every target group a listener or
//! rule forwards to.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::actions::{Action, Condition};
use crate::config::ScopeConfig;
use crate::health_check::HealthCheck;
use crate::health_state::TargetHealth;
use crate::keys::ElbKeys;
use crate::model::{Protocol, TargetType};
use crate::resources::ListenerRecord;

/// One registration of one target in one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId {
    pub tg_arn: String,
    /// `ID:PORT`.
    pub key: String,
    pub registration: u64,
}

/// A target to route to and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// Where requests go.
    pub addr: SocketAddr,
    /// Where health checks go.
    pub check_addr: SocketAddr,
    pub check: HealthCheck,
    /// The registration's id ([`crate::resources::TargetRecord::registration`]).
    pub registration: u64,
    /// The registration's store key.
    pub target_key: String,
    /// Its health report's store key.
    pub health_key: String,
    /// What was last reported for this registration, if anything.
    pub last_report: Option<TargetHealth>,
}

/// What an action does, with target groups by ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    Forward(Vec<(String, u32)>),
    Fixed {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
}

/// A listener to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub port: u16,
    pub protocol: Protocol,
    /// By priority.
    pub rules: Vec<(Vec<Condition>, ActionSpec)>,
    pub default: ActionSpec,
}

/// Everything the data plane should run.
#[derive(Debug, Default)]
pub struct Desired {
    /// By listener ARN.
    pub listeners: BTreeMap<String, ListenerSpec>,
    pub targets: BTreeMap<TargetId, TargetSpec>,
    /// The routable targets of each group in use, by target group ARN.
    pub groups: BTreeMap<String, Vec<TargetId>>,
}

fn action_spec(actions: &[Action]) -> ActionSpec {
    match actions.first() {
        Some(Action::Forward { target_groups, .. }) => ActionSpec::Forward(
            target_groups
                .iter()
                .map(|g| (g.arn.clone(), g.weight))
                .collect(),
        ),
        Some(Action::FixedResponse {
            status_code,
            content_type,
            message_body,
            ..
        }) => ActionSpec::Fixed {
            status: *status_code,
            content_type: content_type.clone(),
            body: message_body.clone().unwrap_or_default(),
        },
        None => ActionSpec::Forward(Vec::new()),
    }
}

fn listener_spec(config: &ScopeConfig, l: &ListenerRecord) -> ListenerSpec {
    ListenerSpec {
        port: l.port,
        protocol: l.protocol,
        rules: config
            .rules_of(l)
            .into_iter()
            .map(|r| (r.conditions.clone(), action_spec(&r.actions)))
            .collect(),
        default: action_spec(&l.default_actions),
    }
}

/// The desired data plane for every scope. Instance targets are reached at
/// `instance_host`.
pub fn desired(configs: &[ScopeConfig], instance_host: IpAddr) -> Desired {
    let mut out = Desired::default();
    for config in configs {
        for l in config.listeners.values() {
            out.listeners
                .insert(l.arn.clone(), listener_spec(config, l));
        }
        for tg in config.target_groups.values() {
            if config.load_balancers_of(&tg.arn).is_empty() {
                continue;
            }
            let mut members = Vec::new();
            for stored in config.targets_of(tg) {
                let t = &stored.value;
                if t.draining.is_some() {
                    continue;
                }
                let ip = match tg.target_type {
                    TargetType::Ip => match t.id.parse::<IpAddr>() {
                        Ok(ip) => ip,
                        Err(_) => continue,
                    },
                    _ => instance_host,
                };
                let id = TargetId {
                    tg_arn: tg.arn.clone(),
                    key: t.key(),
                    registration: t.registration,
                };
                let health_key = config.scope.health(&tg.id, &t.key());
                let last_report = config
                    .health
                    .get(&health_key)
                    .filter(|h| h.registration == t.registration)
                    .map(|h| TargetHealth {
                        state: h.state,
                        reason: h.reason,
                        description: h.description.clone(),
                    });
                out.targets.insert(
                    id.clone(),
                    TargetSpec {
                        addr: SocketAddr::new(ip, t.port),
                        check_addr: SocketAddr::new(ip, tg.health_check.port.unwrap_or(t.port)),
                        check: tg.health_check.clone(),
                        registration: t.registration,
                        target_key: stored.key.clone(),
                        health_key,
                        last_report,
                    },
                );
                members.push(id);
            }
            out.groups.insert(tg.arn.clone(), members);
        }
    }
    out
}
