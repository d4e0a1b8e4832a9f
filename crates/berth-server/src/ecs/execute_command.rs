//! ExecuteCommand: a session running a command in a running task's container, for a
//! task launched with `enableExecuteCommand`. Authorized as `ecs:ExecuteCommand` on the
//! cluster and the task by the front door. The answer's `session` names Berth's exec
//! stream (`streamUrl`, `tokenValue`; see [`crate::exec_sessions`] and
//! `berth_api::exec`), which `berth exec` opens; the AWS CLI's session-manager-plugin
//! speaks another protocol and cannot use it.

use berth_api::ecs::{ExecuteCommandRequest, ExecuteCommandResponse, Session};
use berth_api::error::ApiError;
use berth_model::status::TaskStatus;
use berth_model::task::TaskRecord;

use crate::context::Ctx;
use crate::ecs::{active_cluster_to_read, id_from, is_valid_id};
use crate::keys::EcsKeys;
use crate::records;

/// ECS's words for a task launched without exec (or whose agent cannot run it).
pub const NOT_ENABLED: &str = "The execute command failed because execute command was not \
     enabled when the task was run or the execute command agent isn't running. Wait and try \
     again or run a new task with execute command enabled and try again.";

/// ExecuteCommand.
pub async fn execute_command(
    ctx: &Ctx,
    req: ExecuteCommandRequest,
) -> Result<ExecuteCommandResponse, ApiError> {
    if !req.interactive {
        return Err(ApiError::InvalidParameter(
            "Interactive is the only mode supported currently.".into(),
        ));
    }
    let command = berth_api::exec::split_command(&req.command)
        .map_err(|e| ApiError::InvalidParameter(format!("command: {e}.")))?;
    let cluster = active_cluster_to_read(ctx, req.cluster.as_deref()).await?;
    let id = id_from(&req.task);
    let not_found = || {
        ApiError::InvalidParameter(format!(
            "The specified task {} was not found in cluster {}.",
            req.task, cluster.value.name
        ))
    };
    if !is_valid_id(id) {
        return Err(not_found());
    }
    let task =
        records::get::<TaskRecord>(&*ctx.core.store, &ctx.scope().task(&cluster.value.name, id))
            .await?
            .ok_or_else(not_found)?
            .value;
    let container = choose_container(&task, req.container.as_deref())?;
    let agent = &ctx.core.exec;
    if !agent.listening(&task.placement.instance_arn) {
        return Err(ApiError::InvalidParameter(format!(
            "{NOT_ENABLED} (The agent of container instance {} takes no exec sessions from \
             this Berth replica: it is not running, is older than exec, or was not given \
             this replica's URL in `berth agent --server`.)",
            task.placement.instance_arn
        )));
    }
    let issued = agent.issue(
        &task.placement.instance_arn,
        &task.arn,
        &container.name,
        command,
    );
    Ok(ExecuteCommandResponse {
        cluster_arn: Some(task.cluster_arn.clone()),
        container_arn: Some(container.arn.clone()),
        container_name: Some(container.name.clone()),
        interactive: true,
        session: Some(Session {
            session_id: Some(issued.session_id),
            stream_url: Some(issued.stream_url),
            token_value: Some(issued.token),
        }),
        task_arn: Some(task.arn.clone()),
    })
}

/// The container to run in: the one named, or the task's only one; refused unless the
/// task runs with exec enabled and the container is running.
fn choose_container<'a>(
    task: &'a TaskRecord,
    named: Option<&str>,
) -> Result<&'a berth_model::task::ContainerRecord, ApiError> {
    if !task.enable_execute_command {
        return Err(ApiError::InvalidParameter(NOT_ENABLED.into()));
    }
    if task.last_status != TaskStatus::Running || task.desired_status.as_str() != "RUNNING" {
        return Err(ApiError::InvalidParameter(format!(
            "The execute command failed because task {} is {} (desired {}): commands run only \
             in a RUNNING task.",
            task.arn,
            task.last_status.as_str(),
            task.desired_status.as_str()
        )));
    }
    let names = || {
        task.containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let container = match named {
        Some(name) => task
            .containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "The container {name} was not found in task {}; its containers are: {}.",
                    task.arn,
                    names()
                ))
            })?,
        None => match task.containers.as_slice() {
            [only] => only,
            _ => {
                return Err(ApiError::InvalidParameter(format!(
                    "A container must be specified when there is more than one container in \
                     a task; task {} has: {}.",
                    task.arn,
                    names()
                )))
            }
        },
    };
    if container.last_status != TaskStatus::Running {
        return Err(ApiError::InvalidParameter(format!(
            "The execute command failed because container {} is {}: commands run only in a \
             RUNNING container.",
            container.name,
            container.last_status.as_str()
        )));
    }
    Ok(container)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::status::DesiredStatus;

    /// A running task with exec enabled and one container, `app`.
    fn task() -> TaskRecord {
        let mut t = berth_model::fixtures::task_record();
        t.enable_execute_command = true;
        t.last_status = TaskStatus::Running;
        t.desired_status = DesiredStatus::Running;
        t.containers.truncate(1);
        t.containers[0].last_status = TaskStatus::Running;
        t
    }

    #[test]
    fn exec_needs_it_enabled_a_running_task_and_a_known_container() {
        let t = task();
        assert_eq!(choose_container(&t, None).unwrap().name, "app");
        assert_eq!(choose_container(&t, Some("app")).unwrap().name, "app");
        let unknown = choose_container(&t, Some("nope")).unwrap_err();
        assert!(unknown
            .message()
            .contains("The container nope was not found"));

        let mut disabled = task();
        disabled.enable_execute_command = false;
        assert_eq!(
            choose_container(&disabled, None).unwrap_err().message(),
            NOT_ENABLED
        );

        let mut stopped = task();
        stopped.last_status = TaskStatus::Stopped;
        stopped.desired_status = DesiredStatus::Stopped;
        assert!(choose_container(&stopped, None)
            .unwrap_err()
            .message()
            .contains("is STOPPED"));

        let mut two = task();
        let mut second = two.containers[0].clone();
        second.name = "side".into();
        second.last_status = TaskStatus::Pending;
        two.containers.push(second);
        assert!(choose_container(&two, None)
            .unwrap_err()
            .message()
            .starts_with("A container must be specified"));
        assert!(choose_container(&two, Some("side"))
            .unwrap_err()
            .message()
            .contains("container side is PENDING"));
    }
}
