//! Authorization: what an API call asks IAM to allow, and whether its caller may.
//! [`requested`] turns one call of a service Berth serves (ECS, ECR and its Docker
//! registry, CloudWatch Logs, ELBv2, IAM, STS) into the IAM actions, resource ARNs and
//! request condition keys AWS's Service Authorization Reference says it needs;
//! [`decide`] evaluates them against the caller's policies (`berth-iam`);
//! [`front_door`] is where each protocol asks.

pub mod decide;
pub mod front_door;
pub mod requested;
