//! The node agent (issue 3, in progress): it reads the ECS agent's configuration, runs
//! each assigned task's containers through a [`runtime::Runtime`] (Docker, or a fake in
//! tests), and reports their state over the agent channel.
//!
//! Landed so far: configuration ([`config`]), the runtime seam with its fake
//! ([`runtime`], [`fake`]), the pure per-task planner ([`plan`]), the agent channel
//! client ([`channel`]), the control loop ([`agent`]) and a first Docker runtime
//! ([`docker`]). Not yet: port mappings, resources, volumes, health checks, network
//! modes, metadata and credentials endpoints.

pub mod agent;
pub mod channel;
pub mod config;
pub mod docker;
pub mod fake;
pub mod plan;
pub mod runtime;
