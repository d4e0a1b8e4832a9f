//! The ECS API: one module per resource, dispatched on the operation named in
//! `X-Amz-Target`. Handlers parse with [`crate::json::parse`], let the model decide,
//! and commit through the store with compare-and-swap.

pub mod account_settings;
pub mod attributes;
pub mod capacity_providers;
pub mod clusters;
pub mod container_instances;
pub mod execute_command;
pub mod service_deployments;
pub mod services;
pub mod tags;
pub mod task_definitions;
pub mod task_protection;
pub mod task_sets;
pub mod tasks;

use berth_api::arn::Arn;
use berth_api::ecs::Operation;
use berth_api::error::ApiError;
use berth_model::cluster::ClusterRecord;
use berth_model::names::is_valid_name;

use crate::context::Ctx;
use crate::json::{parse_with, respond, unknown_operation, ApiResult};
use crate::keys::EcsKeys;
use crate::records::{self, Record};

pub use berth_api::ecs::TARGET_PREFIX;

/// The cluster a call acts on when it names none, as in ECS.
pub const DEFAULT_CLUSTER: &str = "default";

/// Runs one ECS operation. `endpoint` is the URL the request reached (what
/// DiscoverPollEndpoint answers).
pub async fn dispatch(ctx: &Ctx, action: &str, body: &[u8], endpoint: &str) -> ApiResult {
    let Ok(op) = action.parse::<Operation>() else {
        return Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}")));
    };
    // A value outside an enum is the operation's own error: ClientException for the
    // service calls, InvalidParameterException for the rest, as ECS answers.
    let invalid = match op {
        Operation::CreateService | Operation::UpdateService => ApiError::Client,
        _ => ApiError::InvalidParameter,
    };
    macro_rules! call {
        ($handler:path) => {
            respond(&$handler(ctx, parse_with(body, invalid)?).await?)
        };
    }
    use Operation as O;
    match op {
        O::CreateCluster => call!(clusters::create),
        O::DeleteCluster => call!(clusters::delete),
        O::DescribeClusters => call!(clusters::describe),
        O::ListClusters => call!(clusters::list),
        O::UpdateCluster => call!(clusters::update),
        O::UpdateClusterSettings => call!(clusters::update_settings),
        O::PutClusterCapacityProviders => call!(clusters::put_capacity_providers),
        O::RegisterTaskDefinition => call!(task_definitions::register),
        O::DeregisterTaskDefinition => call!(task_definitions::deregister),
        O::DeleteTaskDefinitions => call!(task_definitions::delete),
        O::DescribeTaskDefinition => call!(task_definitions::describe),
        O::ListTaskDefinitions => call!(task_definitions::list),
        O::ListTaskDefinitionFamilies => call!(task_definitions::list_families),
        O::RunTask => call!(tasks::run),
        O::StartTask => call!(tasks::start),
        O::StopTask => call!(tasks::stop),
        // Renders its own response (stored wire forms are copied, not re-encoded).
        O::DescribeTasks => tasks::describe(ctx, parse_with(body, invalid)?).await,
        O::ListTasks => call!(tasks::list),
        O::ExecuteCommand => call!(execute_command::execute_command),
        O::SubmitTaskStateChange => call!(tasks::submit_state_change),
        O::SubmitContainerStateChange => call!(tasks::submit_container_state_change),
        O::RegisterContainerInstance => call!(container_instances::register),
        O::DeregisterContainerInstance => call!(container_instances::deregister),
        O::DescribeContainerInstances => call!(container_instances::describe),
        O::ListContainerInstances => call!(container_instances::list),
        O::UpdateContainerInstancesState => call!(container_instances::update_state),
        O::PutAttributes => call!(attributes::put),
        O::DeleteAttributes => call!(attributes::delete),
        O::ListAttributes => call!(attributes::list),
        O::TagResource => call!(tags::tag),
        O::UntagResource => call!(tags::untag),
        O::ListTagsForResource => call!(tags::list),
        O::CreateService => call!(services::create),
        O::UpdateService => call!(services::update),
        O::DeleteService => call!(services::delete),
        O::DescribeServices => call!(services::describe),
        O::ListServices => call!(services::list),
        O::ListServiceDeployments => call!(service_deployments::list),
        O::DescribeServiceDeployments => call!(service_deployments::describe),
        O::CreateCapacityProvider => call!(capacity_providers::create),
        O::DescribeCapacityProviders => call!(capacity_providers::describe),
        O::UpdateCapacityProvider => call!(capacity_providers::update),
        O::DeleteCapacityProvider => call!(capacity_providers::delete),
        O::CreateTaskSet => call!(task_sets::create),
        O::DescribeTaskSets => call!(task_sets::describe),
        O::UpdateTaskSet => call!(task_sets::update),
        O::DeleteTaskSet => call!(task_sets::delete),
        O::UpdateServicePrimaryTaskSet => call!(task_sets::update_primary),
        O::DescribeServiceRevisions => call!(service_deployments::describe_revisions),
        O::GetTaskProtection => call!(task_protection::get),
        O::UpdateTaskProtection => call!(task_protection::update),
        O::DiscoverPollEndpoint => respond(&container_instances::discover_poll_endpoint(
            parse_with(body, invalid)?,
            endpoint,
        )?),
        O::PutAccountSetting => call!(account_settings::put_setting),
        O::PutAccountSettingDefault => call!(account_settings::put_default),
        O::ListAccountSettings => call!(account_settings::list),
        O::DeleteAccountSetting => call!(account_settings::delete),
    }
}

/// The cluster name a `cluster` member names (a name or an ARN; `default` when absent).
pub fn cluster_name(given: Option<&str>) -> Result<String, ApiError> {
    let given = given.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_CLUSTER);
    let name = if given.starts_with("arn:") {
        let arn = Arn::parse(given).map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
        if arn.service != "ecs" || arn.resource_type() != "cluster" {
            return Err(ApiError::InvalidParameter(format!(
                "'{given}' is not a cluster ARN."
            )));
        }
        arn.resource_path().to_string()
    } else {
        given.to_string()
    };
    if !is_valid_name(&name) {
        return Err(ApiError::ClusterNotFound("Cluster not found.".into()));
    }
    Ok(name)
}

/// Loads an ACTIVE cluster, or `ClusterNotFoundException`.
pub async fn active_cluster(
    ctx: &Ctx,
    given: Option<&str>,
) -> Result<Record<ClusterRecord>, ApiError> {
    let name = cluster_name(given)?;
    match records::get::<ClusterRecord>(&*ctx.core.store, &ctx.scope().cluster(&name)).await? {
        Some(r) if r.value.active => Ok(r),
        _ => Err(ApiError::ClusterNotFound("Cluster not found.".into())),
    }
}

/// [`active_cluster`] for an eventually consistent read: through the read cache when
/// there is one. Its revision must not guard a write.
pub async fn active_cluster_to_read(
    ctx: &Ctx,
    given: Option<&str>,
) -> Result<Record<ClusterRecord>, ApiError> {
    let name = cluster_name(given)?;
    let key = ctx.scope().cluster(&name);
    let found = ctx
        .read_many(std::slice::from_ref(&key))
        .await
        .map_err(records::store_error)?
        .pop()
        .flatten()
        .map(records::decode::<ClusterRecord>)
        .transpose()?;
    match found {
        Some(r) if r.value.active => Ok(r),
        _ => Err(ApiError::ClusterNotFound("Cluster not found.".into())),
    }
}

/// The last path segment of an identifier that may be an ARN or a bare id
/// (`task/CLUSTER/ID`, `container-instance/CLUSTER/ID`, or `ID`).
pub fn id_from(identifier: &str) -> &str {
    identifier.rsplit('/').next().unwrap_or(identifier)
}

/// Whether a bare id is one Berth could have minted (hex and dashes), so it is safe in a
/// store key.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A fresh id for tasks and container instances: 32 hex digits, as ECS mints them.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_come_from_names_or_arns() {
        assert_eq!(cluster_name(None).unwrap(), "default");
        assert_eq!(cluster_name(Some("")).unwrap(), "default");
        assert_eq!(cluster_name(Some("prod")).unwrap(), "prod");
        assert_eq!(
            cluster_name(Some("arn:aws:ecs:us-east-1:000000000000:cluster/prod")).unwrap(),
            "prod"
        );
        assert!(cluster_name(Some("arn:aws:ecs:us-east-1:0:task/x")).is_err());
        assert_eq!(
            cluster_name(Some("../x")).unwrap_err().code(),
            "ClusterNotFoundException"
        );
    }

    #[test]
    fn ids_from_arns() {
        assert_eq!(id_from("arn:aws:ecs:r:a:task/c/abc"), "abc");
        assert_eq!(id_from("abc"), "abc");
        assert!(is_valid_id("0123abcd"));
        assert!(!is_valid_id("../x") && !is_valid_id(""));
    }
}
