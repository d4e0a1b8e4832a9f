//! The ELBv2 Query API (`Version=2015-12-01`): reads `Action`, runs the operation's
//! handler, and renders its result or error as XML. One module per resource:
//! [`load_balancers`], [`target_groups`], [`listeners`], [`rules`], [`targets`]; the
//! shapes they write are in [`render`] and `Marker` paging in [`paging`].

use crate::error::ElbError;
use crate::keys::Scope;
use crate::query::Params;
use crate::{xml, Elb};

pub mod listeners;
pub mod load_balancers;
pub mod paging;
pub mod render;
pub mod rules;
pub mod target_groups;
pub mod targets;

/// The API version Berth serves.
pub const VERSION: &str = "2015-12-01";

/// Everything a handler knows about the call it serves.
pub struct Ctx<'a> {
    pub elb: &'a Elb,
    /// The caller's account and region.
    pub scope: Scope,
    pub action: String,
    pub request_id: String,
}

impl Ctx<'_> {
    /// The response document for this call, with the result `result` writes.
    pub fn respond(&self, result: impl FnOnce(&mut xml::Xml)) -> String {
        xml::response(&self.action, &self.request_id, result)
    }
}

/// Runs one request already authenticated for `scope`; returns the XML document.
pub async fn dispatch(
    elb: &Elb,
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
        elb,
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

/// Reads `Tags` (Key required, Value optional): at most 50, keys unique.
pub fn parse_tags(p: &Params) -> Result<Vec<crate::model::Tag>, ElbError> {
    let mut tags: Vec<crate::model::Tag> = Vec::new();
    for t in p.structs("Tags")?.unwrap_or_default() {
        let key = t.required("Key")?;
        let value = t.string("Value");
        if key.is_empty() || key.len() > 128 || value.as_ref().is_some_and(|v| v.len() > 256) {
            return Err(ElbError::Validation(format!(
                "Tag '{key}': keys are 1 to 128 characters, values at most 256"
            )));
        }
        if tags.iter().any(|seen| seen.key == key) {
            return Err(ElbError::Validation(format!(
                "Tag key '{key}' is given more than once"
            )));
        }
        tags.push(crate::model::Tag { key, value });
    }
    if tags.len() > 50 {
        return Err(ElbError::Validation(
            "A resource can have at most 50 tags".into(),
        ));
    }
    Ok(tags)
}
