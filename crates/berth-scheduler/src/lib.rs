//! ECS task placement for Berth, as a pure function over a snapshot of container instances.
//!
//! The server converts its model into [`ContainerInstance`]s and builds a [`View`] once;
//! each RunTask (or service step) becomes a [`PlacementRequest`]. [`View::place`] answers
//! with a [`Plan`] — where each task goes, or ECS-style [`PlacementFailure`]s — without
//! changing the view. After the store commits the plan, [`View::apply`] subtracts the
//! resources so the next request sees them; if the commit fails, drop the plan and place
//! again. Placement constraints use the ECS cluster query language ([`Expression`]).
//!
//! See `README.md` in this crate for the pipeline (filters → ranking → plan) and the
//! exact ECS semantics followed.
//!
//! ```
//! use berth_scheduler::{
//!     ContainerInstance, PlacementConstraint, PlacementRequest, PlacementStrategy, Resource,
//!     TaskNeeds, View,
//! };
//!
//! let arn = |n: u32| format!("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/{n}");
//! let mut view = View::new((0..3).map(|n| {
//!     ContainerInstance::new(arn(n), 2048, 4096)
//!         .with_attribute("ecs.availability-zone", Some(["us-east-1a", "us-east-1b"][n as usize % 2]))
//! }))?;
//!
//! let task = TaskNeeds { cpu: 256, memory_mib: 512, ..TaskNeeds::default() };
//! let request = PlacementRequest::new("family:web", task, 2)
//!     .strategy(PlacementStrategy::from_ecs("spread", Some("attribute:ecs.availability-zone"))?)
//!     .strategy(PlacementStrategy::Binpack(Resource::Memory))
//!     .constraint(PlacementConstraint::DistinctInstance)
//!     .constraint(PlacementConstraint::from_ecs("memberOf", Some("agentConnected == true"))?);
//!
//! let plan = view.place(&request)?;
//! assert!(plan.is_complete());
//! for placed in &plan.placements {
//!     println!("task → {}", placed.container_instance_arn);
//! }
//! // ... after the store committed the tasks:
//! view.apply(&plan)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
mod expr;
mod hash;
mod instance;
mod place;
mod plan;
mod request;
mod view;

pub use error::{ApplyError, PlacementError, ViewError};
pub use expr::{Expression, InvalidExpression};
pub use instance::{ContainerInstance, InstanceStatus};
pub use plan::{FailureReason, Placement, PlacementFailure, Plan};
pub use request::{
    HostPort, PlacementConstraint, PlacementRequest, PlacementStrategy, Protocol,
    RequiredAttribute, Resource, SpreadField, TaskNeeds, TieBreak,
};
pub use view::View;
