//! CloudWatch Logs wire types: the request and response shapes of the Logs JSON 1.1 API
//! (`Logs_20140328`) as the AWS CLI and boto3 send and expect them, generated from
//! botocore's service model by `scripts/gen-wire.py` (see `generated.rs`). Times are
//! milliseconds since the Unix epoch (plain integers on this API's wire).

mod generated;
pub use generated::*;
