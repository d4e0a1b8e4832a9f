//! CreateListener, DescribeListeners and DeleteListener, and the checks every action
//! (of a listener or a rule) must pass against the configuration.
//!
//! CreateListener binds the port before it commits, so a port something else holds
//! fails the call with the operating system's reason instead of leaving a listener
//! that never listens; the bound socket is handed to the data plane, which serves it
//! once it sees the listener (and takes it back, closing it, when the commit does not
//! hold). Ports are claimed in the store (`/elb-ports/PORT`), since every load balancer
//! listens on the same host.

use berth_store::records::{self, put, Step};
use berth_store::{Compare, Op};
use tokio::net::TcpListener;

use super::context::Ctx;
use super::paging::Paging;
use super::render;
use crate::actions::Action;
use crate::arn::ListenerArn;
use crate::config::{Plan, ScopeConfig, CONTENDED};
use crate::error::ElbError;
use crate::keys::{port_claim, ElbKeys};
use crate::listener_sockets::ListenerSockets;
use crate::model::{new_id, LoadBalancerType, Protocol, Tag};
use crate::resources::{ListenerRecord, LoadBalancerRecord};
use berth_query::Params;

/// The most listeners one load balancer has.
pub const MAX_LISTENERS: usize = 50;

/// Checks actions against the configuration: their target groups exist, speak the load
/// balancer's protocol, and serve no other load balancer.
pub fn check_actions(
    config: &ScopeConfig,
    lb: &LoadBalancerRecord,
    actions: &[Action],
) -> Result<(), ElbError> {
    for action in actions {
        if matches!(action, Action::FixedResponse { .. })
            && lb.lb_type != LoadBalancerType::Application
        {
            return Err(ElbError::InvalidLoadBalancerAction(
                "Fixed-response actions are for application load balancers".into(),
            ));
        }
        for arn in action.target_group_arns() {
            let tg = config.target_group(arn)?;
            if tg.protocol != lb.protocol() {
                return Err(ElbError::IncompatibleProtocols(format!(
                    "Target group '{arn}' uses protocol {}, which is not compatible with a {} \
                     load balancer (its listeners and target groups use {})",
                    tg.protocol,
                    lb.lb_type,
                    lb.protocol()
                )));
            }
            if config
                .load_balancers_of(arn)
                .iter()
                .any(|other| *other != lb.arn)
            {
                return Err(ElbError::TargetGroupAssociationLimit(format!(
                    "The following target groups cannot be associated with more than one load \
                     balancer: {arn}"
                )));
            }
        }
    }
    Ok(())
}

/// The writes that delete a listener with its rules and its port claim.
pub fn delete_ops(config: &ScopeConfig, listener: &ListenerRecord) -> Vec<Op> {
    let mut ops: Vec<Op> = config
        .rules_of(listener)
        .into_iter()
        .map(|r| Op::delete(config.scope.rule(&listener.id, &r.id)))
        .collect();
    let lb_id = ListenerArn::parse(&listener.arn)
        .map(|a| a.load_balancer.id)
        .unwrap_or_default();
    ops.push(Op::delete(config.scope.listener(&lb_id, &listener.id)));
    ops.push(Op::delete(port_claim(listener.port)));
    ops
}

struct CreateInput {
    lb_arn: String,
    protocol: Protocol,
    port: u16,
    actions: Vec<Action>,
}

fn parse_create(ctx: &Ctx, p: &Params) -> Result<CreateInput, ElbError> {
    let lb_arn = p.required("LoadBalancerArn")?;
    let protocol = p
        .string("Protocol")
        .ok_or_else(|| ElbError::Validation("A listener protocol must be specified".into()))
        .and_then(|v| Protocol::parse(&v, "protocol"))?
        .supported()?;
    let port = p
        .int_in("Port", 1, 65535)?
        .ok_or_else(|| ElbError::Validation("A listener port must be specified".into()))?
        as u16;
    let actions = Action::parse_list(p, "DefaultActions")?;
    Tag::parse_list(p)?;
    p.finish(&ctx.action)?;
    Ok(CreateInput {
        lb_arn,
        protocol,
        port,
        actions,
    })
}

/// What the plan for a create decided.
enum Decision {
    Existing(ListenerRecord),
    New(ListenerRecord),
}

fn plan_create(
    config: &ScopeConfig,
    input: &CreateInput,
    claimed_by: Option<String>,
) -> Result<Decision, ElbError> {
    let lb = config.load_balancer(&input.lb_arn)?;
    if input.protocol != lb.protocol() {
        return Err(ElbError::UnsupportedProtocol(format!(
            "Protocol '{}' is not supported by {} load balancers; use {}",
            input.protocol,
            lb.lb_type,
            lb.protocol()
        )));
    }
    if let Some(existing) = config.listeners_of(lb).find(|l| l.port == input.port) {
        if existing.protocol == input.protocol && existing.default_actions == input.actions {
            return Ok(Decision::Existing(existing.clone()));
        }
        return Err(ElbError::DuplicateListener(format!(
            "A listener already exists on port {} of load balancer '{}'",
            input.port, lb.arn
        )));
    }
    if config.listeners_of(lb).count() >= MAX_LISTENERS {
        return Err(ElbError::TooManyListeners(format!(
            "A load balancer can have at most {MAX_LISTENERS} listeners"
        )));
    }
    check_actions(config, lb, &input.actions)?;
    if let Some(other) = claimed_by {
        return Err(ElbError::InvalidConfigurationRequest(format!(
            "Port {} of the load balancers' host is already used by listener {other}; every \
             Berth load balancer listens on the same host, so listeners need distinct ports",
            input.port
        )));
    }
    let lb_arn = crate::arn::LoadBalancerArn::parse(&lb.arn)?;
    let id = new_id();
    Ok(Decision::New(ListenerRecord {
        arn: ListenerArn {
            load_balancer: lb_arn,
            id: id.clone(),
        }
        .to_arn(),
        id,
        load_balancer_arn: lb.arn.clone(),
        port: input.port,
        protocol: input.protocol,
        default_actions: input.actions.clone(),
        default_rule_id: new_id(),
    }))
}

/// A socket handed to the data plane for a listener about to be committed. Dropped
/// before [`HandedOver::keep`] (its commit conflicted or failed), it is taken back, and
/// so closed: the next attempt can bind the port again.
struct HandedOver<'a> {
    sockets: &'a ListenerSockets,
    arn: Option<String>,
}

impl<'a> HandedOver<'a> {
    fn new(sockets: &'a ListenerSockets, arn: &str, socket: TcpListener) -> Self {
        sockets.hand_over(arn, socket);
        HandedOver {
            sockets,
            arn: Some(arn.to_string()),
        }
    }

    /// The listener is committed: the data plane keeps the socket.
    fn keep(mut self) {
        self.arn = None;
    }
}

impl Drop for HandedOver<'_> {
    fn drop(&mut self) {
        if let Some(arn) = self.arn.take() {
            self.sockets.take_back(&arn);
        }
    }
}

/// CreateListener.
pub async fn create(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let input = &parse_create(ctx, p)?;
    let store = ctx.store;
    let (listener, handed_over) =
        records::update::<_, ElbError, _, _>(store, CONTENDED, || async move {
            let config = ScopeConfig::load(store, &ctx.scope).await?;
            let claim_key = port_claim(input.port);
            let claimed_by = store
                .get(&claim_key)
                .await
                .map_err(ElbError::store)?
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
            let listener = match plan_create(&config, input, claimed_by)? {
                Decision::Existing(l) => return Ok(Step::Done((l, None))),
                Decision::New(l) => l,
            };
            let socket = ctx.sockets.bind_listener_port(input.port).await?;
            let lb_id = ListenerArn::parse(&listener.arn)?.load_balancer.id;
            let (txn, ()) = config.txn(Plan {
                output: (),
                ops: vec![
                    put(config.scope.listener(&lb_id, &listener.id), &listener),
                    Op::put(claim_key.clone(), listener.arn.clone()),
                ],
                compares: vec![Compare::absent(claim_key)],
            });
            let handed_over = HandedOver::new(ctx.sockets, &listener.arn, socket);
            Ok(Step::Commit(txn, (listener, Some(handed_over))))
        })
        .await?;
    if let Some(handed_over) = handed_over {
        handed_over.keep();
    }
    Ok(respond(ctx, &[listener], None))
}

fn respond(ctx: &Ctx, listeners: &[ListenerRecord], next: Option<String>) -> String {
    ctx.respond(|x| {
        x.list("Listeners", listeners, render::listener);
        x.opt("NextMarker", next);
    })
}

/// DescribeListeners: of a load balancer, or by ARNs.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let lb_arn = p.string("LoadBalancerArn");
    let arns = p.strings("ListenerArns")?;
    let paging = Paging::parse(p)?;
    p.finish(&ctx.action)?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let listeners: Vec<ListenerRecord> = match (lb_arn, arns) {
        (Some(lb), None) => {
            let lb = config.load_balancer(&lb)?;
            config.listeners_of(lb).cloned().collect()
        }
        (None, Some(arns)) => arns
            .iter()
            .map(|a| config.listener(a).cloned())
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ElbError::Validation(
                "Specify either listener ARNs or a load balancer ARN".into(),
            ))
        }
    };
    let (page, next) = paging.page(listeners, |l| format!("{:05}/{}", l.port, l.arn));
    Ok(respond(ctx, &page, next))
}

/// DeleteListener (with its rules).
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("ListenerArn")?;
    p.finish(&ctx.action)?;
    crate::config::mutate(ctx.store, &ctx.scope, |config| {
        let listener = config.listener(&arn)?;
        Ok(Plan {
            output: (),
            ops: delete_ops(config, listener),
            compares: Vec::new(),
        })
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}
