//! The ELBv2 Query API (`Version=2015-12-01`): reads `Action`, runs the operation's
//! handler, and renders its result or error as XML. One module per resource:
//! [`load_balancers`], [`target_groups`], [`listeners`], [`rules`], [`targets`]; what
//! each handler is given is in [`context`], the shapes they write are in [`render`] and
//! `Marker` paging in [`paging`].

use berth_store::Store;

use crate::error::ElbError;
use crate::keys::Scope;
use crate::listener_sockets::ListenerSockets;
use berth_query::Params;
use context::Ctx;

pub mod context;
pub mod listeners;
pub mod load_balancers;
pub mod paging;
pub mod render;
pub mod rules;
pub mod target_groups;
pub mod targets;

/// The API version Berth serves.
pub const VERSION: &str = "2015-12-01";

/// Runs one request already authenticated for `scope` against the configuration in
/// `store` (listeners binding on `sockets`, load balancers named `dns_name`); returns
/// the XML document.
pub async fn dispatch(
    store: &dyn Store,
    dns_name: &str,
    sockets: &ListenerSockets,
    scope: Scope,
    request_id: String,
    body: &[u8],
) -> Result<String, ElbError> {
    let p = Params::parse(body)?;
    let action = p.string("Action").ok_or_else(|| {
        ElbError::MissingAction("The request must contain the parameter Action".into())
    })?;
    match p.string("Version") {
        Some(v) if v != VERSION => {
            return Err(ElbError::InvalidAction(format!(
                "Could not find operation {action} for version {v}; Berth serves Elastic Load \
                 Balancing version {VERSION} (elbv2)"
            )))
        }
        _ => {}
    }
    let ctx = Ctx {
        store,
        dns_name,
        sockets,
        scope,
        action: action.clone(),
        request_id,
    };
    match action.as_str() {
        "CreateLoadBalancer" => load_balancers::create(&ctx, &p).await,
        "DescribeLoadBalancers" => load_balancers::describe(&ctx, &p).await,
        "DeleteLoadBalancer" => load_balancers::delete(&ctx, &p).await,
        "CreateTargetGroup" => target_groups::create(&ctx, &p).await,
        "DescribeTargetGroups" => target_groups::describe(&ctx, &p).await,
        "ModifyTargetGroup" => target_groups::modify(&ctx, &p).await,
        "DeleteTargetGroup" => target_groups::delete(&ctx, &p).await,
        "DescribeTargetGroupAttributes" => target_groups::describe_attributes(&ctx, &p).await,
        "ModifyTargetGroupAttributes" => target_groups::modify_attributes(&ctx, &p).await,
        "CreateListener" => listeners::create(&ctx, &p).await,
        "DescribeListeners" => listeners::describe(&ctx, &p).await,
        "DeleteListener" => listeners::delete(&ctx, &p).await,
        "CreateRule" => rules::create(&ctx, &p).await,
        "DescribeRules" => rules::describe(&ctx, &p).await,
        "DeleteRule" => rules::delete(&ctx, &p).await,
        "RegisterTargets" => targets::register(&ctx, &p).await,
        "DeregisterTargets" => targets::deregister(&ctx, &p).await,
        "DescribeTargetHealth" => targets::describe_health(&ctx, &p).await,
        other => Err(ElbError::InvalidAction(format!(
            "The action {other} is not valid for this web service (Berth serves a subset of \
             Elastic Load Balancing v2)"
        ))),
    }
}
