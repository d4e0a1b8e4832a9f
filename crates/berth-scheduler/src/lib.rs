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
