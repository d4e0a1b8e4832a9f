//! CreateLoadBalancer, DescribeLoadBalancers and DeleteLoadBalancer.
//!
//! Every load balancer's listeners listen on the host the data plane was given
//! ([`crate::ElbConfig`]), which is the `DNSName` each reports; their ports tell them
//! apart. Berth has no VPCs: subnets and security groups are kept and echoed.

use berth_store::records::put;
use berth_store::Op;

use super::context::Ctx;
use super::paging::Paging;
use super::render;
use crate::arn::LoadBalancerArn;
use crate::config::{mutate, Plan, ScopeConfig};
use crate::error::ElbError;
use crate::keys::ElbKeys;
use crate::model::{new_id, now_ms, IpAddressType, LoadBalancerType, Scheme, Tag};
use crate::names::check_load_balancer_name;
use crate::resources::LoadBalancerRecord;
use berth_query::Params;

fn parse_create(ctx: &Ctx, p: &Params) -> Result<LoadBalancerRecord, ElbError> {
    let name = p.required("Name")?;
    check_load_balancer_name(&name)?;
    let lb_type = match p.string("Type") {
        None => LoadBalancerType::Application,
        Some(t) => LoadBalancerType::parse(&t, "type")?,
    };
    if lb_type == LoadBalancerType::Gateway {
        return Err(ElbError::InvalidConfigurationRequest(
            "Berth serves application and network load balancers, not gateway load balancers"
                .into(),
        ));
    }
    let scheme = match p.string("Scheme") {
        None => Scheme::InternetFacing,
        Some(s) => Scheme::parse(&s, "scheme")?,
    };
    let ip_address_type = match p.string("IpAddressType") {
        None => IpAddressType::Ipv4,
        Some(t) => IpAddressType::parse(&t, "ipAddressType")?,
    };
    if ip_address_type != IpAddressType::Ipv4 {
        return Err(ElbError::InvalidConfigurationRequest(format!(
            "IP address type '{ip_address_type}' is not supported by Berth; load balancers are ipv4"
        )));
    }
    let mut subnets = p.strings("Subnets")?.unwrap_or_default();
    for mapping in p.structs("SubnetMappings")?.unwrap_or_default() {
        subnets.push(mapping.required("SubnetId")?);
    }
    let security_groups = p.strings("SecurityGroups")?.unwrap_or_default();
    let tags = Tag::parse_list(p)?;
    p.finish(&ctx.action)?;
    let id = new_id();
    let arn = LoadBalancerArn {
        scope: ctx.scope.clone(),
        lb_type,
        name: name.clone(),
        id: id.clone(),
    }
    .to_arn();
    Ok(LoadBalancerRecord {
        arn,
        name,
        id,
        lb_type,
        scheme,
        ip_address_type,
        subnets,
        security_groups,
        created_ms: now_ms(),
        tags,
    })
}

/// Whether an existing load balancer has the settings a create asks for (then the
/// create returns it, as ELBv2's CreateLoadBalancer is idempotent).
fn same_settings(a: &LoadBalancerRecord, b: &LoadBalancerRecord) -> bool {
    (
        a.lb_type,
        a.scheme,
        a.ip_address_type,
        &a.subnets,
        &a.security_groups,
    ) == (
        b.lb_type,
        b.scheme,
        b.ip_address_type,
        &b.subnets,
        &b.security_groups,
    )
}

/// CreateLoadBalancer.
pub async fn create(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let wanted = parse_create(ctx, p)?;
    let lb = mutate(ctx.store, &ctx.scope, |config| {
        match config.load_balancers.get(&wanted.name) {
            Some(existing) if same_settings(existing, &wanted) => {
                Ok(Plan::read_only(existing.clone()))
            }
            Some(_) => Err(ElbError::DuplicateLoadBalancerName(format!(
                "A load balancer with the same name '{}' exists, but with different settings",
                wanted.name
            ))),
            None => Ok(Plan {
                output: wanted.clone(),
                ops: vec![put(config.scope.load_balancer(&wanted.name), &wanted)],
                compares: Vec::new(),
            }),
        }
    })
    .await?;
    Ok(ctx.respond(|x| {
        x.list("LoadBalancers", &[lb], |x, lb| {
            render::load_balancer(x, lb, ctx.dns_name, &ctx.scope.region)
        })
    }))
}

/// DescribeLoadBalancers.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arns = p.strings("LoadBalancerArns")?;
    let names = p.strings("Names")?;
    let paging = Paging::parse(p)?;
    p.finish(&ctx.action)?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let found: Vec<LoadBalancerRecord> =
        match (arns, names) {
            (Some(_), Some(_)) => return Err(ElbError::Validation(
                "Load balancer names and load balancer ARNs cannot be specified at the same time"
                    .into(),
            )),
            (Some(arns), None) => arns
                .iter()
                .map(|arn| config.load_balancer(arn).cloned())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ElbError::LoadBalancerNotFound("One or more load balancers not found".into())
                })?,
            (None, Some(names)) => {
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|n| !config.load_balancers.contains_key(*n))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(ElbError::LoadBalancerNotFound(format!(
                        "Load balancers '[{}]' not found",
                        missing.join(", ")
                    )));
                }
                names
                    .iter()
                    .map(|n| config.load_balancers[n].clone())
                    .collect()
            }
            (None, None) => config.load_balancers.values().cloned().collect(),
        };
    let (page, next) = paging.page(found, |lb| lb.name.clone());
    Ok(ctx.respond(|x| {
        x.list("LoadBalancers", &page, |x, lb| {
            render::load_balancer(x, lb, ctx.dns_name, &ctx.scope.region)
        });
        x.opt("NextMarker", next);
    }))
}

/// The writes that delete a load balancer with its listeners, their rules and their
/// port claims.
fn delete_ops(config: &ScopeConfig, lb: &LoadBalancerRecord) -> Vec<Op> {
    let mut ops = Vec::new();
    for listener in config.listeners_of(lb) {
        ops.extend(super::listeners::delete_ops(config, listener));
    }
    ops.push(Op::delete(config.scope.load_balancer(&lb.name)));
    ops
}

/// DeleteLoadBalancer. Deleting one that does not exist succeeds, as in ELBv2.
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("LoadBalancerArn")?;
    LoadBalancerArn::parse(&arn)?;
    p.finish(&ctx.action)?;
    mutate(ctx.store, &ctx.scope, |config| {
        Ok(match config.load_balancer(&arn) {
            Ok(lb) => Plan {
                output: (),
                ops: delete_ops(config, lb),
                compares: Vec::new(),
            },
            Err(_) => Plan::read_only(()),
        })
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}
