//! The node agent: it reads the ECS agent's configuration ([`config`]), registers this
//! host's capacity and runs each assigned task's containers through a
//! [`runtime::Runtime`] (Docker in [`docker`], an in-memory fake in [`fake`]), planning
//! each task with a pure function ([`plan`]) in an event-driven, level-triggered loop
//! ([`agent`]) that reports state over the agent channel ([`channel`]). Containers
//! reach their task's metadata and credentials at the [`endpoint`]; awsvpc tasks hold
//! their network namespace in a [`pause`] container; containers with the `awslogs`
//! log driver have their output shipped to CloudWatch Logs by [`logship`], read from
//! Docker's own log files by [`local_log`] where the agent can; [`task_usage`] samples
//! the tasks' CPU and memory for the console's charts.

pub mod agent;
pub mod channel;
pub mod config;
pub mod docker;
pub mod endpoint;
pub mod envfile;
pub mod exec;
pub mod fake;
pub mod firewall;
pub mod gpu;
pub mod local_log;
pub mod logship;
pub mod pause;
pub mod plan;
pub mod registry_auth;
pub mod registry_login;
pub mod registry_trust;
pub mod routes;
pub mod runtime;
pub mod task_usage;
