//! Berth's internal model of ECS: clusters, task definitions, tasks and container
//! instances as stored records, the rules that decide what is valid, and the conversions
//! to the wire shapes AWS returns, and how each is laid out as stored bytes; who may
//! join as an agent ([`agent_access`]); and IAM's users, groups, roles, policies and
//! sessions ([`iam`]); Secrets Manager secrets and SSM parameters ([`secret`]). No I/O.

pub mod account_settings;
pub mod agent_access;
pub mod capacity;
pub mod cluster;
pub mod container_instance;
pub mod fargate;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod host_network;
pub mod iam;
pub mod names;
pub mod secret;
pub mod service;
pub mod status;
pub mod stored;
pub mod tags;
pub mod task;
pub mod task_definition;
pub mod wildcard;
