//! Deciding a call: the caller's identity policies (from the IAM
//! [`Directory`](crate::iam::directory::Directory)) evaluated by `berth-iam` for every
//! action and resource the call asks ([`super::requested`]), with the condition keys of
//! the caller and the request. The account's root is allowed everything; anyone else
//! needs an Allow and no Deny for each, or gets AWS's `AccessDenied` message.

use berth_api::ecs::Timestamp;
use berth_iam::{Decision, Policy, Request, RequestContext};

use super::requested::Requested;
use crate::context::{Caller, Principal};
use crate::iam::directory::Directory;

/// Actions a principal may take without an Allow, refused only by an explicit Deny:
/// AWS's "no permissions are required to call GetSessionToken" (the STS API reference,
/// "Permissions for GetSessionToken").
const DENY_ONLY: &[&str] = &["sts:GetSessionToken"];

/// Why a call is refused: AWS's message, naming the caller, the action and the
/// resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// The condition keys every request carries: who the caller is and when it asks.
fn caller_context(caller: &Caller, now: Timestamp) -> RequestContext {
    let mut context = RequestContext::new();
    let account = &caller.account;
    context.insert("aws:PrincipalAccount", account.clone());
    context.insert("aws:RequestedRegion", caller.region.clone());
    context.insert("aws:userid", caller.principal.user_id(account));
    match &caller.principal {
        Principal::Root => {
            context.insert("aws:PrincipalType", "Account");
            context.insert("aws:PrincipalArn", format!("arn:aws:iam::{account}:root"));
        }
        Principal::User { name, arn, .. } => {
            context.insert("aws:PrincipalType", "User");
            context.insert("aws:PrincipalArn", arn.clone());
            context.insert("aws:username", name.clone());
        }
        Principal::Role { role_arn, .. } => {
            context.insert("aws:PrincipalType", "AssumedRole");
            // Policies name a role's sessions by the role's ARN.
            context.insert("aws:PrincipalArn", role_arn.clone());
        }
    }
    let secs = now.as_secs_f64().floor() as i64;
    context.insert("aws:EpochTime", secs.to_string());
    context.insert("aws:CurrentTime", crate::iam::render::iso8601(now));
    context
}

/// Whether `caller` may do everything in `requested` at `now`, by its identity
/// policies alone.
pub fn decide(
    directory: &Directory,
    caller: &Caller,
    requested: &[Requested],
    now: Timestamp,
) -> Result<(), Denied> {
    decide_with(directory, caller, requested, now, None)
}

/// [`decide`], with the resource-based policy of one resource, by its ARN (an ECR
/// repository's policy): for that resource, within the account, an Allow in either the
/// caller's policies or the resource's (naming the caller) suffices, and a Deny in
/// either refuses.
pub fn decide_with(
    directory: &Directory,
    caller: &Caller,
    requested: &[Requested],
    now: Timestamp,
    resource_policy: Option<(&str, &Policy)>,
) -> Result<(), Denied> {
    if caller.principal.is_root() || requested.is_empty() {
        return Ok(());
    }
    let policies = directory.identity_policies(&caller.principal);
    let refs: Vec<&Policy> = policies.iter().map(|p| &**p).collect();
    let principal = caller.principal.for_policies(&caller.account);
    let base = caller_context(caller, now);
    for asked in requested {
        let context;
        let context = if asked.context.is_empty() {
            &base
        } else {
            let mut with = base.clone();
            for (key, value) in &asked.context {
                with.insert(key, value.clone());
            }
            context = with;
            &context
        };
        let request = Request::new(&principal, &asked.action, &asked.resource, context);
        let on_resource = resource_policy
            .filter(|(arn, _)| *arn == asked.resource)
            .map(|(_, policy)| policy);
        let outcome = berth_iam::evaluate(&refs, on_resource, &request);
        let needs_no_allow = DENY_ONLY
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&asked.action));
        let allowed = match outcome.decision {
            Decision::Allow => true,
            Decision::ImplicitDeny => needs_no_allow,
            Decision::ExplicitDeny => false,
        };
        if !allowed {
            let message = berth_iam::access_denied_message(
                principal.arn(),
                &asked.action,
                &asked.resource,
                &outcome,
            )
            .unwrap_or_else(|| {
                format!(
                    "User: {} is not authorized to perform: {} on resource: {}",
                    principal.arn(),
                    asked.action,
                    asked.resource
                )
            });
            return Err(Denied(message));
        }
    }
    Ok(())
}
