//! The node agent (issue 3, in progress): it reads the ECS agent's configuration, runs
//! each assigned task's containers through a [`runtime::Runtime`] (Docker, or a fake in
//! tests), and reports their state over the agent channel.
//!
//! Landed so far: configuration ([`config`]), the runtime seam with its fake
//! ([`runtime`], [`fake`]), and the pure per-task planner ([`plan`]). Not yet: the
//! Docker runtime, the control loop, metadata and credentials endpoints.

pub mod config;
pub mod fake;
pub mod plan;
pub mod runtime;
