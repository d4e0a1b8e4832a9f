//! SSM Parameter Store wire types: the request and response shapes of the parameter
//! operations of the SSM JSON 1.1 API (`AmazonSSM`) as the AWS CLI and boto3 send and
//! expect them, generated from botocore's service model by `scripts/gen-wire.py` (see
//! `generated.rs`). Times are seconds since the Unix epoch, as ECS's are.

mod generated;
pub use crate::ecs::Timestamp;
pub use generated::*;
