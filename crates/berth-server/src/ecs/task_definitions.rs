//! RegisterTaskDefinition, DeregisterTaskDefinition, DeleteTaskDefinitions,
//! DescribeTaskDefinition, ListTaskDefinitions and ListTaskDefinitionFamilies.
//!
//! Revisions of a family are numbered by a head record (`families/FAMILY`) that every
//! registration compares-and-swaps, so two concurrent registrations never share a number.

use std::collections::BTreeMap;

use berth_api::arn::Arn;
use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::cluster::tags_to_wire;
use berth_model::names::is_valid_name;
use berth_model::task_definition::{self, Registration, TaskDefinitionRecord};
use berth_store::{Compare, Txn};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::keys::{EcsKeys, Scope};
use crate::pagination::{self, decode_token, encode_token};
use crate::records::{self, put, Record, Step};

/// The per-family counter of revisions.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct FamilyHead {
    latest_revision: i32,
}

berth_store::stored_as_json!(FamilyHead);

/// RegisterTaskDefinition: validates, numbers the revision, stores it.
pub async fn register(
    ctx: &Ctx,
    req: RegisterTaskDefinitionRequest,
) -> Result<RegisterTaskDefinitionResponse, ApiError> {
    let scope = ctx.scope();
    let family = req.family.clone();
    if !is_valid_name(&family) {
        return Err(task_definition::invalid_family());
    }
    for role in [&req.task_role_arn, &req.execution_role_arn]
        .into_iter()
        .flatten()
    {
        crate::task_roles::check_registered(&ctx.core.iam, &ctx.caller.account, role)?;
    }
    let (head_key, scope, family, req) = (&scope.family(&family), &scope, &family, &req);
    records::update(
        &*ctx.core.store,
        "The task definition family",
        || async move {
            let head = records::get::<FamilyHead>(&*ctx.core.store, head_key).await?;
            let revision = head.as_ref().map_or(0, |h| h.value.latest_revision) + 1;
            let record =
                task_definition::register(req.clone(), registration(ctx, family, revision))?;
            let txn = Txn::new()
                .when(Compare::unchanged(head_key, head.map_or(0, |h| h.revision)))
                .then(put(
                    head_key,
                    &FamilyHead {
                        latest_revision: revision,
                    },
                ))
                .then(put(scope.task_definition(family, revision as u32), &record));
            Ok(Step::Commit(
                txn,
                RegisterTaskDefinitionResponse {
                    tags: Some(tags_to_wire(&record.tags)),
                    task_definition: Some(record.definition),
                },
            ))
        },
    )
    .await
}

/// The task definition a full task definition ARN names (`task-definition/FAMILY:REV`),
/// for the control plane's own use: its absence is the server's error.
pub(crate) async fn load_by_arn(
    store: &dyn berth_store::Store,
    scope: &Scope,
    arn: &str,
) -> Result<TaskDefinition, ApiError> {
    let parsed = Arn::parse(arn).map_err(|e| ApiError::Server(e.to_string()))?;
    // The definition lives in the region its ARN names (a task on the Fargate pool may
    // be of any region).
    let own = Scope::of_arn(arn);
    let scope = own.as_ref().unwrap_or(scope);
    let (family, rev) = parsed
        .resource_path()
        .split_once(':')
        .ok_or_else(|| ApiError::Server(format!("task definition ARN {arn} has no revision")))?;
    let rev: u32 = rev
        .parse()
        .map_err(|_| ApiError::Server(format!("bad revision in {arn}")))?;
    let record = records::get::<TaskDefinitionRecord>(store, &scope.task_definition(family, rev))
        .await?
        .ok_or_else(|| ApiError::Server(format!("task definition {arn} is missing")))?;
    Ok(record.value.definition)
}

fn registration<'a>(ctx: &'a Ctx, family: &str, revision: i32) -> Registration<'a> {
    Registration {
        arn: ctx.arn(format!("task-definition/{family}:{revision}")),
        revision,
        registered_at: ctx.now(),
        registered_by: &ctx.caller.principal_arn,
    }
}

/// DeregisterTaskDefinition: the revision becomes INACTIVE and stays describable.
pub async fn deregister(
    ctx: &Ctx,
    req: DeregisterTaskDefinitionRequest,
) -> Result<DeregisterTaskDefinitionResponse, ApiError> {
    let (family, revision) = parse_revision_ref(&req.task_definition)?;
    let now = ctx.now();
    let record = change_revision(ctx, &family, revision, |d| {
        if d.definition.status == Some(TaskDefinitionStatus::Active) {
            d.definition.status = Some(TaskDefinitionStatus::Inactive);
            d.definition.deregistered_at = Some(now);
        }
        Ok(())
    })
    .await?;
    Ok(DeregisterTaskDefinitionResponse {
        task_definition: Some(record.definition),
    })
}

/// DeleteTaskDefinitions: INACTIVE revisions move to DELETE_IN_PROGRESS; others fail.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteTaskDefinitionsRequest,
) -> Result<DeleteTaskDefinitionsResponse, ApiError> {
    if req.task_definitions.is_empty() || req.task_definitions.len() > 10 {
        return Err(ApiError::InvalidParameter(
            "taskDefinitions must name between 1 and 10 task definition revisions.".into(),
        ));
    }
    let now = ctx.now();
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for given in &req.task_definitions {
        let outcome = match parse_revision_ref(given) {
            Ok((family, revision)) => {
                change_revision(ctx, &family, revision, |d| match d.definition.status {
                    Some(TaskDefinitionStatus::Active) => Err(ApiError::Client(
                        "The specified task definition is still in ACTIVE status. Please \
                         deregister the target and try again."
                            .into(),
                    )),
                    _ => {
                        d.definition.status = Some(TaskDefinitionStatus::DeleteInProgress);
                        d.definition.delete_requested_at.get_or_insert(now);
                        Ok(())
                    }
                })
                .await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(r) => done.push(r.definition),
            Err(e @ ApiError::Server(_)) => return Err(e),
            Err(e) => failures.push(Failure {
                arn: Some(match parse_revision_ref(given) {
                    Ok((family, revision)) => {
                        ctx.arn(format!("task-definition/{family}:{revision}"))
                    }
                    Err(_) => given.clone(),
                }),
                reason: Some(e.message().to_string()),
                detail: None,
            }),
        }
    }
    Ok(DeleteTaskDefinitionsResponse {
        task_definitions: Some(done),
        failures: Some(failures),
    })
}

/// DescribeTaskDefinition by family (latest ACTIVE), family:revision, or ARN.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeTaskDefinitionRequest,
) -> Result<DescribeTaskDefinitionResponse, ApiError> {
    let record = resolve(ctx, &req.task_definition)
        .await?
        .ok_or_else(|| ApiError::Client("Unable to describe task definition.".into()))?;
    let with_tags = req
        .include
        .unwrap_or_default()
        .contains(&TaskDefinitionField::Tags);
    Ok(DescribeTaskDefinitionResponse {
        tags: with_tags.then(|| tags_to_wire(&record.value.tags)),
        task_definition: Some(record.value.definition),
    })
}

/// ListTaskDefinitions: ARNs filtered by family prefix and status, sorted by family and
/// revision (ASC or DESC), paginated.
pub async fn list(
    ctx: &Ctx,
    req: ListTaskDefinitionsRequest,
) -> Result<ListTaskDefinitionsResponse, ApiError> {
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let status = req.status.unwrap_or(TaskDefinitionStatus::Active);
    let base = ctx.scope().task_definitions();
    // `familyPrefix` names a family exactly, whatever its name says (as AWS documents:
    // "web" does not list "web-2"); ListTaskDefinitionFamilies' is a real prefix.
    let prefix = match &req.family_prefix {
        Some(p) => ctx.scope().family_revisions(p),
        None => base.clone(),
    };
    let all: Vec<Record<TaskDefinitionRecord>> = records::list(&*ctx.core.store, &prefix).await?;
    let mut keyed: Vec<(String, String)> = all
        .into_iter()
        .filter(|r| r.value.definition.status == Some(status))
        .map(|r| {
            (
                r.key,
                r.value.definition.task_definition_arn.unwrap_or_default(),
            )
        })
        .collect();
    if req.sort == Some(SortOrder::Desc) {
        keyed.reverse();
    }
    let (page, next) = page_after(&keyed, req.next_token.as_deref(), &base, max)?;
    Ok(ListTaskDefinitionsResponse {
        task_definition_arns: Some(page),
        next_token: next,
    })
}

/// ListTaskDefinitionFamilies: families with an ACTIVE revision (status ACTIVE), with
/// none (INACTIVE), or all.
pub async fn list_families(
    ctx: &Ctx,
    req: ListTaskDefinitionFamiliesRequest,
) -> Result<ListTaskDefinitionFamiliesResponse, ApiError> {
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let status = req.status.unwrap_or(TaskDefinitionFamilyStatus::Active);
    let base = ctx.scope().task_definitions();
    let prefix = format!("{base}{}", req.family_prefix.as_deref().unwrap_or(""));
    let all: Vec<Record<TaskDefinitionRecord>> = records::list(&*ctx.core.store, &prefix).await?;
    let mut families: BTreeMap<String, bool> = BTreeMap::new();
    for r in &all {
        *families.entry(r.value.family().to_string()).or_default() |= r.value.is_active();
    }
    let keyed: Vec<(String, String)> = families
        .into_iter()
        .filter(|(_, active)| match status {
            TaskDefinitionFamilyStatus::Active => *active,
            TaskDefinitionFamilyStatus::Inactive => !*active,
            TaskDefinitionFamilyStatus::All => true,
        })
        .map(|(family, _)| (format!("{base}{family}"), family))
        .collect();
    let (page, next) = page_after(&keyed, req.next_token.as_deref(), &base, max)?;
    Ok(ListTaskDefinitionFamiliesResponse {
        families: Some(page),
        next_token: next,
    })
}

/// One page of an in-memory, already ordered `(key, item)` list, continuing after the
/// token's key.
fn page_after(
    keyed: &[(String, String)],
    token: Option<&str>,
    prefix: &str,
    max: usize,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let start = match decode_token(token, prefix)? {
        Some(after) => keyed
            .iter()
            .position(|(k, _)| *k == after)
            .map_or(keyed.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<_> = keyed.iter().skip(start).take(max).collect();
    let next = (start + page.len() < keyed.len())
        .then(|| page.last().map(|(k, _)| encode_token(k)))
        .flatten();
    Ok((page.into_iter().map(|(_, v)| v.clone()).collect(), next))
}

/// Resolves `family`, `family:revision` or a task definition ARN. A bare family means
/// its latest ACTIVE revision.
pub async fn resolve(
    ctx: &Ctx,
    given: &str,
) -> Result<Option<Record<TaskDefinitionRecord>>, ApiError> {
    let scope = ctx.scope();
    let store = &*ctx.core.store;
    let reference = strip_arn(given)?;
    match reference.split_once(':') {
        Some((family, rev)) => {
            let revision: u32 = rev.parse().map_err(|_| bad_reference(given))?;
            if !is_valid_name(family) {
                return Err(bad_reference(given));
            }
            Ok(records::get(store, &scope.task_definition(family, revision)).await?)
        }
        None => {
            if !is_valid_name(reference) {
                return Err(bad_reference(given));
            }
            let all: Vec<Record<TaskDefinitionRecord>> =
                records::list(store, &scope.family_revisions(reference)).await?;
            Ok(all.into_iter().rev().find(|r| r.value.is_active()))
        }
    }
}

fn strip_arn(given: &str) -> Result<&str, ApiError> {
    if !given.starts_with("arn:") {
        return Ok(given);
    }
    let arn = Arn::parse(given).map_err(|_| bad_reference(given))?;
    if arn.service != "ecs" || arn.resource_type() != "task-definition" {
        return Err(bad_reference(given));
    }
    let start = given.len() - arn.resource_path().len();
    Ok(&given[start..])
}

fn parse_revision_ref(given: &str) -> Result<(String, u32), ApiError> {
    let reference = strip_arn(given)?;
    let (family, rev) = reference.split_once(':').ok_or_else(|| {
        ApiError::InvalidParameter(format!(
            "'{given}' must name a revision: use family:revision or the full ARN."
        ))
    })?;
    let revision: u32 = rev.parse().map_err(|_| bad_reference(given))?;
    if !is_valid_name(family) || revision == 0 {
        return Err(bad_reference(given));
    }
    Ok((family.to_string(), revision))
}

fn bad_reference(given: &str) -> ApiError {
    ApiError::InvalidParameter(format!(
        "Invalid task definition '{given}': use a family, family:revision or a task definition \
         ARN."
    ))
}

async fn change_revision(
    ctx: &Ctx,
    family: &str,
    revision: u32,
    change: impl FnMut(&mut TaskDefinitionRecord) -> Result<(), ApiError>,
) -> Result<TaskDefinitionRecord, ApiError> {
    let key = ctx.scope().task_definition(family, revision);
    records::modify(
        &*ctx.core.store,
        &key,
        "The task definition",
        || ApiError::Client("The specified task definition does not exist.".into()),
        change,
    )
    .await
}

/// Applies a change to a revision's tags (TagResource / UntagResource).
pub async fn change_tags(
    ctx: &Ctx,
    arn: &str,
    change: impl FnMut(&mut TaskDefinitionRecord) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let (family, revision) = parse_revision_ref(arn)?;
    change_revision(ctx, &family, revision, change)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_an_ordered_list() {
        let keyed: Vec<(String, String)> = (1..=5)
            .map(|i| (format!("/p/{i}"), format!("v{i}")))
            .collect();
        let (p1, t1) = page_after(&keyed, None, "/p/", 2).unwrap();
        assert_eq!(p1, ["v1", "v2"]);
        let (p2, t2) = page_after(&keyed, t1.as_deref(), "/p/", 2).unwrap();
        assert_eq!(p2, ["v3", "v4"]);
        let (p3, t3) = page_after(&keyed, t2.as_deref(), "/p/", 2).unwrap();
        assert_eq!(p3, ["v5"]);
        assert!(t3.is_none());
    }

    #[test]
    fn revision_references() {
        assert_eq!(parse_revision_ref("web:3").unwrap(), ("web".into(), 3));
        assert_eq!(
            parse_revision_ref("arn:aws:ecs:us-east-1:000000000000:task-definition/web:12")
                .unwrap(),
            ("web".into(), 12)
        );
        assert!(parse_revision_ref("web").is_err());
        assert!(parse_revision_ref("web:x").is_err());
        assert!(parse_revision_ref("../web:1").is_err());
    }
}
