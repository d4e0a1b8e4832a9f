//! ECR wire types: the request and response shapes of the ECR JSON 1.1 API
//! (`AmazonEC2ContainerRegistry_V20150921`) as the AWS CLI and boto3 send and expect them,
//! generated from botocore's service model by `scripts/gen-wire.py` (see `generated.rs`).
//! Timestamps and enums work as in [`crate::ecs`].

pub use crate::ecs::Timestamp;

mod generated;
pub use generated::*;
