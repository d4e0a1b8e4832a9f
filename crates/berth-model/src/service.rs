//! ECS services: the stored record of a service, its deployments and task sets, and the
//! rollout diff the service controller steps with.

pub mod record;
pub mod rollout;
pub mod task_set;

pub use record::{
    task_group, DeploymentRecord, DeploymentStatus, EventRecord, Rolling, Rollout, ServiceRecord,
    ServiceStatus,
};
pub use task_set::{TaskSetRecord, TaskSetStatus};
