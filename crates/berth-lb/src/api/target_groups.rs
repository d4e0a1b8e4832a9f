//! CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DeleteTargetGroup and
//! the target group attributes (of which `deregistration_delay.timeout_seconds` can be
//! changed; the rest report what Berth does).

use berth_store::records::put;
use berth_store::Op;

use super::context::Ctx;
use super::paging::Paging;
use super::render;
use crate::arn::TargetGroupArn;
use crate::config::{mutate, Plan, ScopeConfig};
use crate::error::ElbError;
use crate::health_check::{HealthCheck, HealthCheckInput};
use crate::keys::ElbKeys;
use crate::model::{new_id, Protocol, Tag, TargetType};
use crate::names::check_target_group_name;
use crate::resources::TargetGroupRecord;
use berth_query::Params;

/// The deregistration delay when none is set, in seconds.
pub const DEFAULT_DEREGISTRATION_DELAY_SECS: u32 = 300;
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

fn refuse_disabled_checks(
    input: &HealthCheckInput,
    target_type: TargetType,
) -> Result<(), ElbError> {
    if input.enabled == Some(false) {
        return Err(ElbError::InvalidConfigurationRequest(format!(
            "Health checks cannot be disabled for target groups with target type '{target_type}'"
        )));
    }
    Ok(())
}

fn parse_create(ctx: &Ctx, p: &Params) -> Result<TargetGroupRecord, ElbError> {
    let name = p.required("Name")?;
    check_target_group_name(&name)?;
    let target_type = match p.string("TargetType") {
        None => TargetType::Instance,
        Some(t) => TargetType::parse(&t, "targetType")?,
    };
    if !matches!(target_type, TargetType::Ip | TargetType::Instance) {
        return Err(ElbError::InvalidConfigurationRequest(format!(
            "Target type '{target_type}' is not supported by Berth; use ip or instance"
        )));
    }
    let protocol = p
        .string("Protocol")
        .ok_or_else(|| ElbError::Validation("A protocol must be specified".into()))
        .and_then(|v| Protocol::parse(&v, "protocol"))?
        .supported()?;
    let port =
        p.int_in("Port", 1, 65535)?
            .ok_or_else(|| ElbError::Validation("A port must be specified".into()))? as u16;
    let protocol_version = match (protocol, p.string("ProtocolVersion")) {
        (Protocol::Http, None) => Some("HTTP1".to_string()),
        (Protocol::Http, Some(v)) if v.eq_ignore_ascii_case("HTTP1") => Some("HTTP1".to_string()),
        (Protocol::Http, Some(v)) => {
            return Err(ElbError::InvalidConfigurationRequest(format!(
                "Protocol version '{v}' is not supported by Berth; use HTTP1"
            )))
        }
        (_, None) => None,
        (_, Some(_)) => {
            return Err(ElbError::Validation(
                "A protocol version can only be specified for HTTP and HTTPS target groups".into(),
            ))
        }
    };
    let vpc_id = p.string("VpcId");
    let checks = HealthCheckInput::parse(p)?;
    refuse_disabled_checks(&checks, target_type)?;
    if let Some(t) = p.string("IpAddressType").filter(|t| t != "ipv4") {
        return Err(ElbError::InvalidConfigurationRequest(format!(
            "IP address type '{t}' is not supported by Berth; target groups are ipv4"
        )));
    }
    let tags = Tag::parse_list(p)?;
    p.finish(&ctx.action)?;
    let health_check = HealthCheck::for_new_group(protocol, &checks)?;
    let id = new_id();
    Ok(TargetGroupRecord {
        arn: TargetGroupArn {
            scope: ctx.scope.clone(),
            name: name.clone(),
            id: id.clone(),
        }
        .to_arn(),
        name,
        id,
        protocol,
        protocol_version,
        port,
        vpc_id,
        target_type,
        health_check,
        deregistration_delay_secs: DEFAULT_DEREGISTRATION_DELAY_SECS,
        tags,
    })
}

fn same_settings(a: &TargetGroupRecord, b: &TargetGroupRecord) -> bool {
    (
        a.protocol,
        a.port,
        a.target_type,
        &a.health_check,
        &a.protocol_version,
        &a.vpc_id,
    ) == (
        b.protocol,
        b.port,
        b.target_type,
        &b.health_check,
        &b.protocol_version,
        &b.vpc_id,
    )
}

fn respond_groups(
    ctx: &Ctx,
    config: &ScopeConfig,
    groups: &[TargetGroupRecord],
    next: Option<String>,
) -> String {
    ctx.respond(|x| {
        x.list("TargetGroups", groups, |x, tg| {
            let lbs: Vec<String> = config.load_balancers_of(&tg.arn).into_iter().collect();
            render::target_group(x, tg, &lbs)
        });
        x.opt("NextMarker", next);
    })
}

/// CreateTargetGroup. Creating one that exists with the same settings returns it.
pub async fn create(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let wanted = parse_create(ctx, p)?;
    let tg = mutate(ctx.store, &ctx.scope, |config| {
        match config.target_groups.get(&wanted.name) {
            Some(existing) if same_settings(existing, &wanted) => {
                Ok(Plan::read_only(existing.clone()))
            }
            Some(_) => Err(ElbError::DuplicateTargetGroupName(format!(
                "A target group with the same name '{}' exists, but with different settings",
                wanted.name
            ))),
            None => Ok(Plan {
                output: wanted.clone(),
                ops: vec![put(config.scope.target_group(&wanted.name), &wanted)],
                compares: Vec::new(),
            }),
        }
    })
    .await?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    Ok(respond_groups(ctx, &config, &[tg], None))
}

/// DescribeTargetGroups: by load balancer, by ARNs, by names, or all.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let lb_arn = p.string("LoadBalancerArn");
    let arns = p.strings("TargetGroupArns")?;
    let names = p.strings("Names")?;
    let paging = Paging::parse(p)?;
    p.finish(&ctx.action)?;
    let given = [lb_arn.is_some(), arns.is_some(), names.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ElbError::Validation(
            "Specify only one of LoadBalancerArn, TargetGroupArns and Names".into(),
        ));
    }
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let not_found = || ElbError::TargetGroupNotFound("One or more target groups not found".into());
    let groups: Vec<TargetGroupRecord> = if let Some(lb_arn) = lb_arn {
        let lb = config.load_balancer(&lb_arn)?;
        config
            .target_groups
            .values()
            .filter(|tg| config.load_balancers_of(&tg.arn).contains(&lb.arn))
            .cloned()
            .collect()
    } else if let Some(arns) = arns {
        arns.iter()
            .map(|a| config.target_group(a).cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| {
                if e.code() == "ValidationError" {
                    e
                } else {
                    not_found()
                }
            })?
    } else if let Some(names) = names {
        names
            .iter()
            .map(|n| config.target_groups.get(n).cloned().ok_or_else(not_found))
            .collect::<Result<_, _>>()?
    } else {
        config.target_groups.values().cloned().collect()
    };
    let (page, next) = paging.page(groups, |tg| tg.name.clone());
    Ok(respond_groups(ctx, &config, &page, next))
}

/// ModifyTargetGroup: health check settings.
pub async fn modify(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    let checks = HealthCheckInput::parse(p)?;
    p.finish(&ctx.action)?;
    let tg = mutate(ctx.store, &ctx.scope, |config| {
        let mut tg = config.target_group(&arn)?.clone();
        refuse_disabled_checks(&checks, tg.target_type)?;
        tg.health_check = tg.health_check.modified(tg.protocol, &checks)?;
        Ok(Plan {
            ops: vec![put(config.scope.target_group(&tg.name), &tg)],
            output: tg,
            compares: Vec::new(),
        })
    })
    .await?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    Ok(respond_groups(ctx, &config, &[tg], None))
}

/// DeleteTargetGroup: refused while a listener or rule forwards to it; deleting one
/// that does not exist succeeds, as in ELBv2.
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    TargetGroupArn::parse(&arn)?;
    p.finish(&ctx.action)?;
    mutate(ctx.store, &ctx.scope, |config| {
        let Ok(tg) = config.target_group(&arn) else {
            return Ok(Plan::read_only(()));
        };
        if !config.load_balancers_of(&tg.arn).is_empty() {
            return Err(ElbError::ResourceInUse(format!(
                "Target group '{arn}' is currently in use by a listener or a rule"
            )));
        }
        let mut ops = vec![Op::delete(config.scope.target_group(&tg.name))];
        for t in config.targets_of(tg) {
            ops.push(Op::delete(t.key.clone()));
            ops.push(Op::delete(config.scope.health(&tg.id, &t.value.key())));
        }
        Ok(Plan {
            output: (),
            ops,
            compares: Vec::new(),
        })
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// Every attribute of a target group as DescribeTargetGroupAttributes lists it.
pub fn attributes(tg: &TargetGroupRecord) -> Vec<(String, String)> {
    let fixed: &[(&str, &str)] = match tg.protocol {
        Protocol::Tcp => &[
            (
                "deregistration_delay.connection_termination.enabled",
                "false",
            ),
            ("stickiness.enabled", "false"),
            ("stickiness.type", "source_ip"),
            ("proxy_protocol_v2.enabled", "false"),
            ("preserve_client_ip.enabled", "false"),
        ],
        _ => &[
            ("stickiness.enabled", "false"),
            ("stickiness.type", "lb_cookie"),
            ("load_balancing.algorithm.type", "round_robin"),
            ("slow_start.duration_seconds", "0"),
        ],
    };
    let mut all = vec![(
        DEREGISTRATION_DELAY.to_string(),
        tg.deregistration_delay_secs.to_string(),
    )];
    all.extend(fixed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

/// Applies one attribute change to `tg`.
fn set_attribute(tg: &mut TargetGroupRecord, key: &str, value: &str) -> Result<(), ElbError> {
    if key == DEREGISTRATION_DELAY {
        let secs = value
            .parse::<u32>()
            .ok()
            .filter(|s| *s <= 3600)
            .ok_or_else(|| {
                ElbError::Validation(format!(
                "'{DEREGISTRATION_DELAY}' must be a number of seconds from 0 to 3600; got '{value}'"
            ))
            })?;
        tg.deregistration_delay_secs = secs;
        return Ok(());
    }
    match attributes(tg).into_iter().find(|(k, _)| k == key) {
        Some((_, current)) if current == value => Ok(()),
        Some((_, current)) => Err(ElbError::InvalidConfigurationRequest(format!(
            "Berth does not support changing target group attribute '{key}' (it is '{current}')"
        ))),
        None => Err(ElbError::Validation(format!(
            "Target group attribute key '{key}' is not recognized"
        ))),
    }
}

fn respond_attributes(ctx: &Ctx, tg: &TargetGroupRecord) -> String {
    ctx.respond(|x| {
        x.list("Attributes", &attributes(tg), |x, (k, v)| {
            x.text("Key", k);
            x.text("Value", v);
        })
    })
}

/// DescribeTargetGroupAttributes.
pub async fn describe_attributes(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    p.finish(&ctx.action)?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let tg = config.target_group(&arn)?;
    Ok(respond_attributes(ctx, tg))
}

/// ModifyTargetGroupAttributes.
pub async fn modify_attributes(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    let changes: Vec<(String, String)> = p
        .structs("Attributes")?
        .ok_or_else(|| ElbError::missing("Attributes"))?
        .iter()
        .map(|a| Ok((a.required("Key")?, a.string("Value").unwrap_or_default())))
        .collect::<Result<_, ElbError>>()?;
    p.finish(&ctx.action)?;
    let tg = mutate(ctx.store, &ctx.scope, |config| {
        let mut tg = config.target_group(&arn)?.clone();
        for (key, value) in &changes {
            set_attribute(&mut tg, key, value)?;
        }
        Ok(Plan {
            ops: vec![put(config.scope.target_group(&tg.name), &tg)],
            output: tg,
            compares: Vec::new(),
        })
    })
    .await?;
    Ok(respond_attributes(ctx, &tg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_check::HealthCheckInput;

    fn group(protocol: Protocol) -> TargetGroupRecord {
        TargetGroupRecord {
            arn: "arn".into(),
            name: "g".into(),
            id: "0".repeat(16),
            protocol,
            protocol_version: None,
            port: 80,
            vpc_id: None,
            target_type: TargetType::Ip,
            health_check: HealthCheck::for_new_group(protocol, &HealthCheckInput::default())
                .unwrap(),
            deregistration_delay_secs: 300,
            tags: vec![],
        }
    }

    #[test]
    fn attributes_change_only_where_berth_honours_them() {
        let mut tg = group(Protocol::Http);
        set_attribute(&mut tg, DEREGISTRATION_DELAY, "5").unwrap();
        assert_eq!(tg.deregistration_delay_secs, 5);
        assert_eq!(
            attributes(&tg)[0],
            (DEREGISTRATION_DELAY.into(), "5".into())
        );
        assert_eq!(
            set_attribute(&mut tg, DEREGISTRATION_DELAY, "3601")
                .unwrap_err()
                .code(),
            "ValidationError"
        );
        assert_eq!(
            set_attribute(&mut tg, DEREGISTRATION_DELAY, "-1")
                .unwrap_err()
                .code(),
            "ValidationError"
        );
        set_attribute(&mut tg, "stickiness.enabled", "false").unwrap();
        assert_eq!(
            set_attribute(&mut tg, "stickiness.enabled", "true")
                .unwrap_err()
                .code(),
            "InvalidConfigurationRequest"
        );
        assert_eq!(
            set_attribute(&mut tg, "bogus.key", "1").unwrap_err().code(),
            "ValidationError"
        );
        let tcp = group(Protocol::Tcp);
        assert!(attributes(&tcp)
            .iter()
            .any(|(k, _)| k == "proxy_protocol_v2.enabled"));
    }
}
