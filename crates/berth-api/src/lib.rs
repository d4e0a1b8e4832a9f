//! Wire types of the AWS APIs Berth speaks (ECS first), the AWS error shapes, and ARNs.
//!
//! Everything here is plain data with serde: field names as AWS sends them (camelCase),
//! no I/O and no knowledge of the store. Handlers parse requests into these types and
//! convert them to the model with explicit functions.

#[macro_use]
mod wire_enum;

pub mod agent;
pub mod arn;
pub mod capability;
pub mod cidr;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod exec;
pub mod logs;
pub mod scope;
pub mod secretsmanager;
pub mod ssm;

pub use scope::Scope;
