//! Where the front door asks: one call of a JSON protocol service (ECS, ECR, Logs,
//! Secrets Manager, SSM, Berth's own) or a Query protocol service (ELBv2, IAM, STS), turned into what it asks
//! ([`super::requested`]) and decided ([`super::decide`]). The root skips both steps.

use berth_api::ecs::Timestamp;
use berth_query::Params;

use super::decide::{decide, Denied};
use super::requested::{self, IamKind, IamPlace, Place, Requested};
use crate::context::Caller;
use crate::iam::directory::Directory;

/// Decides a JSON protocol call of `service` (its signing name) whose body is `body`;
/// `resource_policy` is the policy of the resource the call names, if it has one (an
/// ECR repository's), by its ARN; `named_resource` is the full ARN of the resource the
/// call names when only the store knows it (a secret's, which ends in a random suffix).
#[allow(clippy::too_many_arguments)]
pub fn json(
    directory: &Directory,
    caller: &Caller,
    service: &str,
    operation: &str,
    body: &[u8],
    now: Timestamp,
    resource_policy: Option<&(String, berth_iam::Policy)>,
    named_resource: Option<&str>,
) -> Result<(), Denied> {
    if caller.principal.is_root() {
        return Ok(());
    }
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let at = Place {
        account: &caller.account,
        region: &caller.region,
    };
    let asked: Vec<Requested> = match service {
        "ecs" => requested::ecs(operation, &body, at),
        "ecr" => requested::ecr(operation, &body, at),
        "logs" => requested::logs(operation, &body, at),
        "secretsmanager" => requested::secretsmanager(operation, &body, at, named_resource),
        "ssm" => requested::ssm(operation, &body, at),
        other => vec![Requested::new(format!("{other}:{operation}"), "*")],
    };
    let resource_policy = resource_policy.map(|(arn, policy)| (arn.as_str(), policy));
    super::decide::decide_with(directory, caller, &asked, now, resource_policy)
}

/// Decides a Query protocol call of `service` whose members are `params`.
pub fn query(
    directory: &Directory,
    caller: &Caller,
    service: &str,
    action: &str,
    params: &Params,
    now: Timestamp,
) -> Result<(), Denied> {
    if caller.principal.is_root() {
        return Ok(());
    }
    // Reading members here must not count as the handler's reading them.
    let peek = |name: &str| params.peek(name);
    let at = Place {
        account: &caller.account,
        region: &caller.region,
    };
    let asked = match service {
        "iam" => {
            let own = caller.principal.arn(&caller.account);
            let arn_of = |kind: IamKind, name: &str| directory.arn_of(kind.word(), name);
            requested::iam(
                action,
                &peek,
                IamPlace {
                    account: &caller.account,
                    caller: &own,
                },
                &arn_of,
            )
        }
        "sts" => requested::sts(action, &peek, at),
        _ => requested::elbv2(action, &peek, at),
    };
    decide(directory, caller, &asked, now)
}
