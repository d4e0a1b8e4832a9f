//! SimulatePrincipalPolicy and SimulateCustomPolicy: the same evaluator that authorizes
//! every request, asked about actions and resources an operator names, answering the
//! decision and the statements that made it, so "why was I refused?" has an answer.

use berth_iam::{Decision, Policy, PolicyKind, PolicyRef, Request, RequestContext};
use berth_model::iam::{
    Entity, EntityKind, GroupRecord, ManagedPolicyRecord, RoleRecord, UserRecord,
};
use berth_query::Params;

use super::entities;
use super::{policies, IamCtx, IamError};

/// A policy taking part in a simulation, with where it came from.
struct Source {
    /// `SourcePolicyId`: the policy's name (its ARN for a managed policy), or
    /// `PolicyInputList.N` for a document given in the request.
    id: String,
    /// `SourcePolicyType`: `user`, `group` or `role` (inline), `aws-managed`,
    /// `user-managed` (the account's), or `IAM Policy` (given in the request).
    kind: &'static str,
    policy: Policy,
}

/// The inline and attached policies of `entity`, as sources.
async fn sources_of(
    ctx: &IamCtx<'_>,
    entity: &Entity,
    out: &mut Vec<Source>,
) -> Result<(), IamError> {
    let inline_kind = match entity.kind {
        EntityKind::User => "user",
        EntityKind::Group => "group",
        EntityKind::Role => "role",
    };
    for (name, document) in &entity.inline {
        out.push(Source {
            id: name.clone(),
            kind: inline_kind,
            policy: Policy::parse_identity(document)?,
        });
    }
    for arn in &entity.attached {
        match policies::load(ctx, arn).await? {
            policies::Managed::Aws(m) => out.push(Source {
                id: m.arn.to_string(),
                kind: "aws-managed",
                policy: m.policy()?,
            }),
            policies::Managed::Customer(r) => {
                let record: &ManagedPolicyRecord = &r.value;
                out.push(Source {
                    id: record.arn.clone(),
                    kind: "user-managed",
                    policy: Policy::parse_identity(record.default_document())?,
                })
            }
        }
    }
    Ok(())
}

/// The documents of `PolicyInputList`.
fn given_policies(p: &Params) -> Result<Vec<Source>, IamError> {
    p.strings("PolicyInputList")?
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Ok(Source {
                id: format!("PolicyInputList.{}", i + 1),
                kind: "IAM Policy",
                policy: Policy::parse(text, PolicyKind::Identity)?,
            })
        })
        .collect()
}

/// The `ContextEntries` as a request context.
fn context_entries(p: &Params) -> Result<RequestContext, IamError> {
    let mut context = RequestContext::new();
    for entry in p.structs("ContextEntries")?.unwrap_or_default() {
        let key = entry.required("ContextKeyName")?;
        let _type = entry.string("ContextKeyType");
        for value in entry.strings("ContextKeyValues")?.unwrap_or_default() {
            context.insert(&key, value);
        }
    }
    Ok(context)
}

/// Evaluates every action on every resource against `sources` and answers the results.
fn simulate(
    ctx: &IamCtx<'_>,
    p: &Params,
    sources: &[Source],
    principal: &berth_iam::Principal,
) -> Result<String, IamError> {
    let actions = p
        .strings("ActionNames")?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| berth_query::QueryError::missing("ActionNames"))?;
    let resources = p
        .strings("ResourceArns")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec!["*".to_string()]);
    let _caller = p.string("CallerArn");
    let context = context_entries(p)?;
    let refs: Vec<&Policy> = sources.iter().map(|s| &s.policy).collect();
    let mut results = Vec::new();
    for action in &actions {
        for resource in &resources {
            let request = Request::new(principal, action, resource, &context);
            let simulation = berth_iam::simulate(&refs, None, &request);
            let decision = match simulation.outcome.decision {
                Decision::Allow => "allowed",
                Decision::ExplicitDeny => "explicitDeny",
                Decision::ImplicitDeny => "implicitDeny",
            };
            let matched: Vec<(String, &'static str)> = simulation
                .matched_statements
                .iter()
                .filter_map(|m| match m.policy {
                    PolicyRef::Identity(i) => sources.get(i).map(|s| (s.id.clone(), s.kind)),
                    PolicyRef::Resource => None,
                })
                .collect();
            results.push((action.clone(), resource.clone(), decision, matched));
        }
    }
    let (results, next) = super::page(p, results)?;
    Ok(ctx.respond(|x| {
        x.list(
            "EvaluationResults",
            &results,
            |x, (action, resource, decision, matched)| {
                x.text("EvalActionName", action);
                x.text("EvalResourceName", resource);
                x.text("EvalDecision", decision);
                x.list("MatchedStatements", matched, |x, (id, kind)| {
                    x.text("SourcePolicyId", id);
                    x.text("SourcePolicyType", kind);
                });
                x.elem("MissingContextValues", |_| {});
            },
        );
        super::write_marker(x, next);
    }))
}

/// SimulatePrincipalPolicy: the policies of a user (with its groups'), a group or a
/// role, plus any given in `PolicyInputList`.
pub async fn principal(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let source_arn = p.required("PolicySourceArn")?;
    let (kind, name) = source_arn
        .split_once(":user/")
        .map(|(_, n)| (EntityKind::User, n))
        .or_else(|| {
            source_arn
                .split_once(":group/")
                .map(|(_, n)| (EntityKind::Group, n))
        })
        .or_else(|| {
            source_arn
                .split_once(":role/")
                .map(|(_, n)| (EntityKind::Role, n))
        })
        .ok_or_else(|| {
            IamError::InvalidInput(format!(
                "Invalid ARN {source_arn}: name a user, group or role."
            ))
        })?;
    let name = name.rsplit('/').next().unwrap_or(name);
    let mut sources = given_policies(p)?;
    let principal = match kind {
        EntityKind::User => {
            let user = entities::load::<UserRecord>(ctx, name).await?.value;
            sources_of(ctx, &user.entity, &mut sources).await?;
            for group in &user.groups {
                let g = entities::load::<GroupRecord>(ctx, group).await?.value;
                sources_of(ctx, &g.entity, &mut sources).await?;
            }
            berth_iam::Principal::user(&user.entity.arn)
        }
        EntityKind::Group => {
            let g = entities::load::<GroupRecord>(ctx, name).await?.value;
            sources_of(ctx, &g.entity, &mut sources).await?;
            berth_iam::Principal::user(&g.entity.arn)
        }
        EntityKind::Role => {
            let r = entities::load::<RoleRecord>(ctx, name).await?.value;
            sources_of(ctx, &r.entity, &mut sources).await?;
            let session = format!(
                "arn:aws:sts::{}:assumed-role/{}/simulation",
                ctx.account(),
                r.entity.name
            );
            berth_iam::Principal::assumed_role(&session, &r.entity.arn)
        }
    };
    if source_arn != principal_entity_arn(&principal) && kind != EntityKind::Group {
        return Err(IamError::no_such(kind.resource_type(), name));
    }
    simulate(ctx, p, &sources, &principal)
}

/// The entity ARN a principal stands for (a role session's role).
fn principal_entity_arn(p: &berth_iam::Principal) -> &str {
    p.role_arn().unwrap_or(p.arn())
}

/// SimulateCustomPolicy: only the documents given.
pub async fn custom(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let sources = given_policies(p)?;
    if sources.is_empty() {
        return Err(berth_query::QueryError::missing("PolicyInputList").into());
    }
    let caller = p
        .peek("CallerArn")
        .unwrap_or_else(|| format!("arn:aws:iam::{}:user/simulated", ctx.account()));
    let principal = berth_iam::Principal::user(&caller);
    simulate(ctx, p, &sources, &principal)
}
