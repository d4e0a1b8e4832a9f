//! ECR repository policies (Set/Get/DeleteRepositoryPolicy): resource-based policies on
//! a repository, which grant principals of the account what their own policies do not
//! (a pull by a role that only the repository's policy names). The document is checked
//! as a resource policy (a `Principal` is required) and kept with the repository's
//! settings; authorization reads it ([`for_repository`]).

use berth_api::ecr::{
    DeleteRepositoryPolicyRequest, DeleteRepositoryPolicyResponse, GetRepositoryPolicyRequest,
    GetRepositoryPolicyResponse, SetRepositoryPolicyRequest, SetRepositoryPolicyResponse,
};
use berth_api::error::ApiError;
use berth_registry::{RepoName, Scope};

use super::settings::update;
use super::{check_registry, repo_name, Call, Ecr};

/// The longest repository policy ECR accepts, in characters.
const MAX_POLICY_TEXT: usize = 10_240;

fn invalid(reason: &str) -> ApiError {
    ApiError::InvalidParameter(format!(
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository \
         policy provided': {reason}"
    ))
}

fn no_policy(ctx: &Call<'_>, name: &RepoName) -> ApiError {
    ApiError::RepositoryPolicyNotFound(format!(
        "Repository policy does not exist for the repository with name '{name}' in the \
         registry with id '{}'",
        ctx.caller.account
    ))
}

/// SetRepositoryPolicy.
pub async fn set(
    ctx: &Call<'_>,
    req: SetRepositoryPolicyRequest,
) -> Result<SetRepositoryPolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    if req.policy_text.chars().count() > MAX_POLICY_TEXT {
        return Err(invalid(&format!(
            "it is longer than {MAX_POLICY_TEXT} characters"
        )));
    }
    berth_iam::Policy::parse_resource(&req.policy_text).map_err(|e| invalid(&e.to_string()))?;
    let text = req.policy_text;
    let record = update(ctx, &name, |s| {
        s.repository_policy = Some(text.clone());
        Ok(())
    })
    .await?;
    Ok(SetRepositoryPolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        policy_text: Some(text),
    })
}

/// GetRepositoryPolicy.
pub async fn get(
    ctx: &Call<'_>,
    req: GetRepositoryPolicyRequest,
) -> Result<GetRepositoryPolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let record = super::repository(ctx, &name).await?;
    let text = record
        .settings
        .repository_policy
        .ok_or_else(|| no_policy(ctx, &name))?;
    Ok(GetRepositoryPolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        policy_text: Some(text),
    })
}

/// DeleteRepositoryPolicy: answers the policy it removed.
pub async fn delete(
    ctx: &Call<'_>,
    req: DeleteRepositoryPolicyRequest,
) -> Result<DeleteRepositoryPolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let mut removed = None;
    let record = update(ctx, &name, |s| {
        removed = Some(
            s.repository_policy
                .take()
                .ok_or_else(|| no_policy(ctx, &name))?,
        );
        Ok(())
    })
    .await?;
    Ok(DeleteRepositoryPolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        policy_text: removed,
    })
}

/// The policy of repository `name` in `scope`, parsed, if it has one (a repository that
/// does not exist has none).
pub async fn for_repository(
    metadata: &berth_registry::metadata::Metadata,
    scope: &Scope,
    name: &str,
) -> Option<berth_iam::Policy> {
    let name = RepoName::parse(name).ok()?;
    let record = metadata.repository(scope, &name).await.ok().flatten()?;
    berth_iam::Policy::parse_resource(record.settings.repository_policy.as_deref()?).ok()
}

/// The repository policy of the repository an ECR call names (`repositoryName`), with
/// the repository's ARN, if it has one.
pub async fn of_call(
    ecr: &Ecr,
    caller: &crate::context::Caller,
    body: &[u8],
) -> Option<(String, berth_iam::Policy)> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let name = body.get("repositoryName")?.as_str()?;
    let scope = Scope {
        account: caller.account.clone(),
        region: caller.region.clone(),
    };
    let policy = for_repository(ecr.registry.metadata(), &scope, name).await?;
    let at = crate::authz::requested::Place {
        account: &caller.account,
        region: &caller.region,
    };
    Some((at.arn_of_repository(name), policy))
}
