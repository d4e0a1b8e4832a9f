//! Target registration and target health: RegisterTargets, DeregisterTargets (draining
//! for the target group's deregistration delay) and DescribeTargetHealth, as pure plans
//! over a [`ScopeConfig`] and as async functions over the store.
//!
//! # The contract for in-process callers
//!
//! The ECS service controller (in `berth-server`) registers and deregisters its tasks
//! with [`register_targets`] and [`deregister_targets`] and reads their health with
//! [`target_health`] or [`describe_target_health`], and learns a target group's
//! settings with [`target_group`]. They act in the account and region of the target
//! group's ARN, commit through the same serializable path as the Query API, and fail
//! with the same [`ElbError`]s (`TargetGroupNotFound`, `InvalidTarget`, …). Register
//! and deregister are idempotent: registering a registered target or deregistering a
//! draining one changes nothing. A deregistered target drains: it gets no new
//! requests, and it leaves the group once `deregistration_delay.timeout_seconds` have
//! passed (the data plane's supervisor removes it).

use std::net::Ipv4Addr;

use berth_store::records::put;
use berth_store::{Op, Store};

use crate::arn::TargetGroupArn;
use crate::config::{mutate, Plan, ScopeConfig, Stored};
use crate::error::ElbError;
use crate::health_state::{Reason, TargetHealth, TargetHealthState};
use crate::keys::ElbKeys;
use crate::model::{now_ms, Protocol, TargetType};
use crate::resources::{target_key, Draining, HealthRecord, TargetGroupRecord, TargetRecord};
use berth_query::Params;

/// The most targets one target group holds.
pub const MAX_TARGETS_PER_GROUP: usize = 1000;

/// A target as ELBv2's APIs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDescription {
    /// An IPv4 address (`ip` target groups) or an instance id (`instance`).
    pub id: String,
    /// The port; absent means the target group's port.
    pub port: Option<u16>,
    pub availability_zone: Option<String>,
}

impl TargetDescription {
    /// A target at `id:port`.
    pub fn new(id: impl Into<String>, port: u16) -> TargetDescription {
        TargetDescription {
            id: id.into(),
            port: Some(port),
            availability_zone: None,
        }
    }

    /// Reads a `Targets` list.
    pub fn parse_list(
        p: &Params,
        required: bool,
    ) -> Result<Option<Vec<TargetDescription>>, ElbError> {
        let Some(list) = p.structs("Targets")? else {
            return if required {
                Err(ElbError::missing("Targets"))
            } else {
                Ok(None)
            };
        };
        list.iter()
            .map(|t| {
                Ok(TargetDescription {
                    id: t.required("Id")?,
                    port: t.int_in("Port", 1, 65535)?.map(|v| v as u16),
                    availability_zone: t.string("AvailabilityZone"),
                })
            })
            .collect::<Result<Vec<_>, ElbError>>()
            .map(Some)
    }
}

/// One row of DescribeTargetHealth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthDescription {
    /// The target with its port filled in.
    pub target: TargetDescription,
    pub health_check_port: String,
    pub health: TargetHealth,
}

/// A target group's settings, for callers that attach it to something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupInfo {
    pub arn: String,
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub target_type: TargetType,
    /// The load balancers forwarding to it.
    pub load_balancer_arns: Vec<String>,
}

/// The key part and port of a target, checked against its group's type.
fn resolve(tg: &TargetGroupRecord, t: &TargetDescription) -> Result<(String, u16), ElbError> {
    let valid = match tg.target_type {
        TargetType::Ip => t.id.parse::<Ipv4Addr>().is_ok(),
        TargetType::Instance => {
            let hex = t.id.strip_prefix("i-").unwrap_or("");
            (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        _ => false,
    };
    if !valid {
        return Err(ElbError::InvalidTarget(match tg.target_type {
            TargetType::Ip => format!(
                "The IP address '{}' is not a valid IPv4 address for target group '{}'",
                t.id, tg.arn
            ),
            _ => format!("The following targets are not valid instances: '{}'", t.id),
        }));
    }
    let port = t.port.unwrap_or(tg.port);
    Ok((target_key(&t.id, port), port))
}

/// Plans RegisterTargets.
pub fn plan_register(
    config: &ScopeConfig,
    tg_arn: &str,
    targets: &[TargetDescription],
    now: i64,
) -> Result<Plan<()>, ElbError> {
    let tg = config.target_group(tg_arn)?;
    let mut ops = Vec::new();
    let mut count = config.targets_of(tg).count();
    for t in targets {
        let (part, port) = resolve(tg, t)?;
        let key = config.scope.target(&tg.id, &part);
        match config.targets.get(&key) {
            Some(existing) if existing.value.draining.is_none() => continue,
            Some(_) => {}
            None => count += 1,
        }
        if count > MAX_TARGETS_PER_GROUP {
            return Err(ElbError::TooManyTargets(format!(
                "A target group can hold at most {MAX_TARGETS_PER_GROUP} targets"
            )));
        }
        ops.push(Op::delete(config.scope.health(&tg.id, &part)));
        ops.push(put(
            key,
            &TargetRecord {
                id: t.id.clone(),
                port,
                availability_zone: t.availability_zone.clone(),
                registered_ms: now,
                registration: rand::random(),
                draining: None,
            },
        ));
    }
    Ok(Plan {
        output: (),
        ops,
        compares: Vec::new(),
    })
}

/// Plans DeregisterTargets: registered targets start draining (or go at once when the
/// delay is 0); targets not registered are `InvalidTarget`.
pub fn plan_deregister(
    config: &ScopeConfig,
    tg_arn: &str,
    targets: &[TargetDescription],
    now: i64,
) -> Result<Plan<()>, ElbError> {
    let tg = config.target_group(tg_arn)?;
    let mut ops = Vec::new();
    let mut missing = Vec::new();
    for t in targets {
        let (part, port) = resolve(tg, t)?;
        let key = config.scope.target(&tg.id, &part);
        let Some(existing) = config.targets.get(&key) else {
            missing.push(format!("Id={},Port={port}", t.id));
            continue;
        };
        if existing.value.draining.is_some() {
            continue;
        }
        if tg.deregistration_delay_secs == 0 {
            ops.push(Op::delete(key));
            ops.push(Op::delete(config.scope.health(&tg.id, &part)));
            continue;
        }
        let mut record = existing.value.clone();
        record.draining = Some(Draining {
            since_ms: now,
            until_ms: now + i64::from(tg.deregistration_delay_secs) * 1000,
        });
        ops.push(put(key, &record));
    }
    if !missing.is_empty() {
        return Err(ElbError::InvalidTarget(format!(
            "The following targets are not registered in target group '{}': {}",
            tg.arn,
            missing.join("; ")
        )));
    }
    Ok(Plan {
        output: (),
        ops,
        compares: Vec::new(),
    })
}

/// Plans the removal of targets whose deregistration delay has passed by `now`.
pub fn plan_reap(config: &ScopeConfig, now: i64) -> Plan<usize> {
    let mut ops = Vec::new();
    for stored in config.targets.values() {
        if stored.value.draining.is_some_and(|d| d.until_ms <= now) {
            ops.push(Op::delete(stored.key.clone()));
            ops.push(Op::delete(stored.key.replacen("/target/", "/health/", 1)));
        }
    }
    Plan {
        output: ops.len() / 2,
        ops,
        compares: Vec::new(),
    }
}

/// What DescribeTargetHealth says about one registration.
pub fn health_of(
    config: &ScopeConfig,
    tg: &TargetGroupRecord,
    stored: &Stored<TargetRecord>,
) -> TargetHealth {
    let target = &stored.value;
    if target.draining.is_some() {
        return TargetHealth::because(
            TargetHealthState::Draining,
            Reason::DeregistrationInProgress,
        );
    }
    if config.load_balancers_of(&tg.arn).is_empty() {
        return TargetHealth::because(TargetHealthState::Unused, Reason::NotInUse);
    }
    match config
        .health
        .get(&config.scope.health(&tg.id, &target.key()))
    {
        Some(h) if h.registration == target.registration => TargetHealth {
            state: h.state,
            reason: h.reason,
            description: h.description.clone(),
        },
        _ => TargetHealth::because(TargetHealthState::Initial, Reason::RegistrationInProgress),
    }
}

/// DescribeTargetHealth: the named targets (unregistered ones are `unused`), or every
/// registration of the group.
pub fn describe(
    config: &ScopeConfig,
    tg_arn: &str,
    targets: Option<&[TargetDescription]>,
) -> Result<Vec<TargetHealthDescription>, ElbError> {
    let tg = config.target_group(tg_arn)?;
    let check_port = |port: u16| tg.health_check.port.unwrap_or(port).to_string();
    let row = |stored: &Stored<TargetRecord>| TargetHealthDescription {
        target: TargetDescription {
            id: stored.value.id.clone(),
            port: Some(stored.value.port),
            availability_zone: stored.value.availability_zone.clone(),
        },
        health_check_port: check_port(stored.value.port),
        health: health_of(config, tg, stored),
    };
    let Some(asked) = targets else {
        return Ok(config.targets_of(tg).map(row).collect());
    };
    let mut rows = Vec::new();
    for t in asked {
        let (part, port) = resolve(tg, t)?;
        match config.targets.get(&config.scope.target(&tg.id, &part)) {
            Some(stored) => rows.push(row(stored)),
            None => rows.push(TargetHealthDescription {
                target: TargetDescription {
                    id: t.id.clone(),
                    port: Some(port),
                    availability_zone: t.availability_zone.clone(),
                },
                health_check_port: check_port(port),
                health: TargetHealth::because(TargetHealthState::Unused, Reason::NotRegistered),
            }),
        }
    }
    Ok(rows)
}

/// A health report from the data plane for one registration, to write if the target
/// is still registered as it was.
pub fn health_record(state: &TargetHealth, registration: u64, now: i64) -> HealthRecord {
    HealthRecord {
        state: state.state,
        reason: state.reason,
        description: state.description.clone(),
        since_ms: now,
        registration,
    }
}

fn scope_of(tg_arn: &str) -> Result<crate::keys::Scope, ElbError> {
    Ok(TargetGroupArn::parse(tg_arn)?.scope)
}

/// Registers targets in the target group `tg_arn` (in-process API).
pub async fn register_targets(
    store: &dyn Store,
    tg_arn: &str,
    targets: &[TargetDescription],
) -> Result<(), ElbError> {
    let scope = scope_of(tg_arn)?;
    mutate(store, &scope, |c| {
        plan_register(c, tg_arn, targets, now_ms())
    })
    .await
}

/// Deregisters targets from the target group `tg_arn`; they drain first (in-process
/// API).
pub async fn deregister_targets(
    store: &dyn Store,
    tg_arn: &str,
    targets: &[TargetDescription],
) -> Result<(), ElbError> {
    let scope = scope_of(tg_arn)?;
    mutate(store, &scope, |c| {
        plan_deregister(c, tg_arn, targets, now_ms())
    })
    .await
}

/// The health of targets of `tg_arn` (every registration when `targets` is `None`)
/// (in-process API).
pub async fn describe_target_health(
    store: &dyn Store,
    tg_arn: &str,
    targets: Option<&[TargetDescription]>,
) -> Result<Vec<TargetHealthDescription>, ElbError> {
    let config = ScopeConfig::load(store, &scope_of(tg_arn)?).await?;
    describe(&config, tg_arn, targets)
}

/// The health of one target of `tg_arn`: `unused`/`Target.NotRegistered` when it is
/// not registered (in-process API).
pub async fn target_health(
    store: &dyn Store,
    tg_arn: &str,
    target: &TargetDescription,
) -> Result<TargetHealth, ElbError> {
    let rows = describe_target_health(store, tg_arn, Some(std::slice::from_ref(target))).await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|r| r.health)
        .expect("one row per target asked"))
}

/// A target group's settings and the load balancers using it (in-process API).
pub async fn target_group(store: &dyn Store, tg_arn: &str) -> Result<TargetGroupInfo, ElbError> {
    let config = ScopeConfig::load(store, &scope_of(tg_arn)?).await?;
    let tg = config.target_group(tg_arn)?;
    Ok(TargetGroupInfo {
        arn: tg.arn.clone(),
        name: tg.name.clone(),
        protocol: tg.protocol,
        port: tg.port,
        target_type: tg.target_type,
        load_balancer_arns: config.load_balancers_of(&tg.arn).into_iter().collect(),
    })
}

/// The earliest end of a drain among `configs`, in ms since the epoch.
pub fn next_drain_end(configs: &[ScopeConfig]) -> Option<i64> {
    configs
        .iter()
        .flat_map(|c| c.targets.values())
        .filter_map(|t| t.value.draining.map(|d| d.until_ms))
        .min()
}
