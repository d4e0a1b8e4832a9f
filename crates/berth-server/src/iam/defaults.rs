//! The role an account starts with. The ECS console creates `ecsTaskExecutionRole` the
//! first time someone needs one, so guides, and the console's own default Fargate task
//! definition, name it without creating it. Berth makes it when it first serves an
//! account: trusted by `ecs-tasks.amazonaws.com`, with the AWS managed
//! `AmazonECSTaskExecutionRolePolicy`, and an inline policy allowing
//! `logs:CreateLogGroup`, so that `awslogs-create-group`, which the console's default
//! task definition sets, works as written (the managed policy does not allow it).
//!
//! It is made once: a marker in the store remembers it, so a role the operator deletes
//! or changes stays as they left it. The calls are the account root's own IAM calls,
//! validated and stored like any other.

use std::sync::Arc;

use berth_store::{Compare, Txn};

use super::directory::Directory;
use crate::context::{Caller, Core, Principal};

/// The role's name, as the ECS console names it.
pub const EXECUTION_ROLE: &str = "ecsTaskExecutionRole";

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const CREATE_LOG_GROUPS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:CreateLogGroup","Resource":"*"}]}"#;
const MANAGED: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/// Where the making is remembered (outside `/iam/`, which holds IAM's records only).
fn marker(account: &str) -> String {
    format!("/defaults/{account}/{EXECUTION_ROLE}")
}

/// Makes the account's `ecsTaskExecutionRole` unless it was made before.
pub async fn ensure(core: &Arc<Core>, directory: &Arc<Directory>) -> Result<(), String> {
    let account = core.account.clone();
    let key = marker(&account);
    let made = core
        .store
        .get(&key)
        .await
        .map_err(|e| format!("cannot read {key}: {e}"))?;
    if made.is_some() {
        return Ok(());
    }
    let caller = Caller {
        account: account.clone(),
        region: core.region.clone(),
        access_key_id: String::new(),
        principal_arn: format!("arn:aws:iam::{account}:root"),
        principal: Principal::Root,
    };
    let calls: [&[(&str, &str)]; 3] = [
        &[
            ("Action", "CreateRole"),
            ("RoleName", EXECUTION_ROLE),
            ("AssumeRolePolicyDocument", TRUST),
            (
                "Description",
                "Allows ECS tasks to pull their images and write their logs (made by Berth, as \
                 the ECS console does).",
            ),
        ],
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", EXECUTION_ROLE),
            ("PolicyArn", MANAGED),
        ],
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", EXECUTION_ROLE),
            ("PolicyName", "CreateLogGroups"),
            ("PolicyDocument", CREATE_LOG_GROUPS),
        ],
    ];
    for call in calls {
        let body = berth_query::Params::encode(call.iter().copied());
        let answer = super::serve(core, directory, caller.clone(), "iam", body.as_bytes()).await;
        // Another replica starting at the same time may have made it first.
        let raced = call[0].1 == "CreateRole" && answer.body.contains("EntityAlreadyExists");
        if answer.status != 200 && !raced {
            return Err(format!("cannot make {EXECUTION_ROLE}: {}", answer.body));
        }
    }
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(berth_store::Op::put(&key, b"made".to_vec()));
    core.store
        .txn(txn)
        .await
        .map_err(|e| format!("cannot write {key}: {e}"))?;
    Ok(())
}
