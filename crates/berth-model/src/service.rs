//! ECS services: the stored record of a service and its deployments, and the rollout
//! diff the service controller steps with.

pub mod record;
pub mod rollout;

pub use record::{
    task_group, DeploymentRecord, DeploymentStatus, EventRecord, Rolling, Rollout, ServiceRecord,
    ServiceStatus,
};
