//! The roles ECS assumes for a task, its task role and its execution role, checked as
//! AWS checks them:
//!
//! - RegisterTaskDefinition accepts only roles that exist in the caller's account
//!   (`ClientException: Role is not valid`).
//! - A task launches (RunTask, StartTask, a service's tasks) only when each role it
//!   would run with exists and trusts `ecs-tasks.amazonaws.com`; otherwise ECS's "ECS
//!   was unable to assume the role …" refuses it.
//! - What the platform does for a task with its execution role (pulling its images
//!   from the account's registry, writing its `awslogs` output) is authorized as a
//!   session of that role, named after the task, as AWS's `assumed-role/ROLE/TASK-ID`.
//!
//! The roles come from the IAM [`Directory`], the replica's in-memory mirror of IAM.

use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_iam::Policy;

use crate::authz::requested::{Requested, ECS_TASKS};
use crate::context::{Caller, Principal};
use crate::iam::directory::Directory;

/// RegisterTaskDefinition's answer for a role that is not one of the account's.
pub fn not_valid() -> ApiError {
    ApiError::Client("Role is not valid".into())
}

/// ECS's answer when a task's role cannot be assumed: it does not exist (any more), or
/// its trust policy does not let ECS tasks assume it.
pub fn unable_to_assume(role_arn: &str) -> String {
    format!(
        "ECS was unable to assume the role '{role_arn}' that was provided for this task. \
         Please verify that the role being passed has the proper trust relationship and \
         permissions and that your IAM user has permissions to pass this role."
    )
}

/// Refuses a role a task definition names that is not a role of `account`.
pub fn check_registered(
    directory: &Directory,
    account: &str,
    role_arn: &str,
) -> Result<(), ApiError> {
    let ours = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(acct, resource)| acct == account && resource.starts_with("role/"));
    if ours && directory.role_by_arn(role_arn).is_some() {
        Ok(())
    } else {
        Err(not_valid())
    }
}

/// A session of `role_arn` for the task `task_id`, when the role exists and trusts ECS
/// tasks; otherwise the reason ECS gives.
pub fn session(directory: &Directory, role_arn: &str, task_id: &str) -> Result<Principal, String> {
    let role = directory
        .role_by_arn(role_arn)
        .ok_or_else(|| unable_to_assume(role_arn))?;
    let trusted = Policy::parse_trust(&role.assume_role_policy)
        .is_ok_and(|trust| berth_iam::trusts_service(&trust, ECS_TASKS));
    if !trusted {
        return Err(unable_to_assume(role_arn));
    }
    Ok(Principal::Role {
        role_name: role.entity.name.clone(),
        role_id: role.entity.id.clone(),
        role_arn: role.entity.arn.clone(),
        session_name: task_id.to_string(),
    })
}

/// Refuses a launch whose task role or execution role (its overrides', else its task
/// definition's) ECS could not assume. RunTask and StartTask refuse with it; a service
/// says it in its events (CreateService itself does not check, as on AWS).
pub fn check_launch(
    directory: &Directory,
    request: &crate::launch::LaunchRequest,
) -> Result<(), ApiError> {
    let d = &request.def.value.definition;
    let o = &request.overrides;
    let task_role = o.task_role_arn.as_ref().or(d.task_role_arn.as_ref());
    let execution_role = o
        .execution_role_arn
        .as_ref()
        .or(d.execution_role_arn.as_ref());
    for role in [task_role, execution_role].into_iter().flatten() {
        session(directory, role, "launch").map_err(ApiError::Client)?;
    }
    Ok(())
}

/// Whether the session `principal` (of a task's execution role) may do everything in
/// `requested`, by the role's policies; AWS's AccessDenied message otherwise.
pub fn authorize(
    directory: &Directory,
    account: &str,
    region: &str,
    principal: &Principal,
    requested: &[Requested],
    now: Timestamp,
) -> Result<(), String> {
    let caller = Caller {
        account: account.to_string(),
        region: region.to_string(),
        access_key_id: String::new(),
        principal_arn: principal.arn(account),
        principal: principal.clone(),
    };
    crate::authz::decide::decide(directory, &caller, requested, now).map_err(|d| d.0)
}
