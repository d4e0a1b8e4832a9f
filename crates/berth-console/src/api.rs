//! The console's API calls (ECS, ECR and CloudWatch Logs): each is the signed-in principal's own call, made through
//! [`berth_server::protocol::call`] with the same authorization and handlers as a
//! signed request, so the console can do nothing its user could not do with the AWS
//! CLI. Answers are read as JSON values: the pages show what the API returns.

use berth_api::error::ApiError;
use berth_server::context::Caller;
use berth_server::protocol::{self, FrontDoor};
use serde_json::Value;

/// One call of `caller` to `service` (its SigV4 signing name: `ecs`, `logs`).
async fn call(
    front: &FrontDoor,
    caller: &Caller,
    service: &str,
    action: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let body = serde_json::to_vec(&body).expect("JSON values serialize");
    // The console is no agent: the endpoint DiscoverPollEndpoint would name is unused.
    let answer = protocol::call(front, caller.clone(), service, action, &body, "").await?;
    serde_json::from_slice(&answer).map_err(|e| ApiError::Server(e.to_string()))
}

/// One ECS call of `caller`.
pub async fn ecs(
    front: &FrontDoor,
    caller: &Caller,
    action: &str,
    body: Value,
) -> Result<Value, ApiError> {
    call(front, caller, "ecs", action, body).await
}

/// One ECR call of `caller`.
pub async fn ecr(
    front: &FrontDoor,
    caller: &Caller,
    action: &str,
    body: Value,
) -> Result<Value, ApiError> {
    call(front, caller, "ecr", action, body).await
}

/// One CloudWatch Logs call of `caller`.
pub async fn logs(
    front: &FrontDoor,
    caller: &Caller,
    action: &str,
    body: Value,
) -> Result<Value, ApiError> {
    call(front, caller, "logs", action, body).await
}

/// The strings at `key` of `value` (an array of strings), empty when absent.
pub fn strings(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The objects at `key` of `value`, empty when absent.
pub fn objects<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Every page of a List call's ARNs (`arns_key`), following `nextToken`.
pub async fn list_all(
    front: &FrontDoor,
    caller: &Caller,
    action: &str,
    mut body: Value,
    arns_key: &str,
) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    loop {
        let page = ecs(front, caller, action, body.clone()).await?;
        out.extend(strings(&page, arns_key));
        match page["nextToken"].as_str() {
            Some(token) => body["nextToken"] = Value::String(token.to_string()),
            None => return Ok(out),
        }
    }
}

/// A Describe call over many ARNs: `member` names them, at most `batch` per call, and
/// the answers' `key` lists are concatenated.
pub struct Describe<'a> {
    pub action: &'a str,
    pub base: Value,
    pub member: &'a str,
    pub batch: usize,
    pub key: &'a str,
}

impl Describe<'_> {
    /// Describes `arns`.
    pub async fn run(
        &self,
        front: &FrontDoor,
        caller: &Caller,
        arns: &[String],
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        for chunk in arns.chunks(self.batch) {
            let mut body = self.base.clone();
            body[self.member] = Value::from(chunk.to_vec());
            let page = ecs(front, caller, self.action, body).await?;
            out.extend(objects(&page, self.key).iter().cloned());
        }
        Ok(out)
    }
}
