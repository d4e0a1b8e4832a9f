//! ECS services: the stored record of a service and its deployments, and the rollout
//! diff the service controller steps with.

pub mod rollout;
