//! The AWS JSON 1.1 front door: `POST /` with `X-Amz-Target: Service.Action`. Reads the
//! body (bounded), verifies SigV4, dispatches on the target, and is the one place where
//! results and [`ApiError`]s become HTTP responses (with `x-amzn-RequestId`).
//!
//! A form-encoded `POST /` without `X-Amz-Target` is the Query protocol, which ELBv2
//! speaks: it is signed for `elasticloadbalancing` and answered in XML by [`berth_lb`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::error::{ApiError, ErrorBody};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{self, Caller};
use crate::App;

/// The largest request body accepted, in bytes. ECS's largest inputs (a task definition
/// of up to 64 KiB) fit many times over.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The largest Logs request body: a PutLogEvents batch of 1 MiB of messages, with the
/// JSON around 10,000 events and escaped characters, stays well inside.
pub const MAX_LOGS_BODY_BYTES: usize = 8 * 1024 * 1024;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A handled request's outcome before it becomes HTTP.
pub type ApiResult = Result<Vec<u8>, ApiError>;

/// Everything a handler knows about the call it serves.
pub struct Ctx {
    pub app: Arc<App>,
    pub caller: Caller,
}

/// `POST /`: the AWS JSON 1.1 protocol for every service Berth serves (and the Query
/// protocol for ELBv2).
pub async fn aws_json(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    if is_query(&req) {
        return aws_query(app, req).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = serve_json(app, req).await;
    let mut response = match result {
        Ok(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
            r
        }
        Err(e) => error_response(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

async fn serve_json(app: Arc<App>, req: Request<Body>) -> ApiResult {
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (service, action) = target.split_once('.').unwrap_or((target.as_str(), ""));
    let limit = match service {
        berth_api::logs::TARGET_PREFIX => MAX_LOGS_BODY_BYTES,
        _ => MAX_BODY_BYTES,
    };
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::RequestEntityTooLarge(format!(
            "Request body exceeds the maximum of {limit} bytes."
        ))
    })?;
    crate::task_credentials::load_for(&app, &parts).await?;
    let signing_service = match service {
        crate::ecs::TARGET_PREFIX => "ecs",
        berth_api::ecr::TARGET_PREFIX => "ecr",
        berth_api::logs::TARGET_PREFIX => "logs",
        _ => {
            // Authenticate first so an unsigned probe learns nothing about targets.
            auth::authenticate(&app, &parts, &body, None)?;
            return Err(unknown_operation(&target));
        }
    };
    let caller = auth::authenticate(&app, &parts, &body, Some(signing_service))?;
    let ctx = Ctx { app, caller };
    match signing_service {
        "ecr" => crate::ecr::dispatch(&ctx, action, &body).await,
        "logs" => crate::logs::dispatch(&ctx, action, &body).await,
        _ => crate::ecs::dispatch(&ctx, action, &body).await,
    }
}

const QUERY_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether a request is in the Query protocol: a form body and no `X-Amz-Target`.
fn is_query(req: &Request<Body>) -> bool {
    let form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with(QUERY_CONTENT_TYPE));
    form && !req.headers().contains_key("x-amz-target")
}

/// The Query protocol (ELBv2): authenticated here, served by [`berth_lb::Elb`], errors
/// of the front door in the Query protocol's XML too.
async fn aws_query(app: Arc<App>, req: Request<Body>) -> Response {
    let answer = match serve_query(app, req).await {
        Ok(answer) => answer,
        Err(e) => berth_lb::Elb::error_response(&query_error(&e), uuid::Uuid::new_v4().to_string()),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, answer.body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(berth_lb::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&answer.request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

async fn serve_query(
    app: Arc<App>,
    req: Request<Body>,
) -> Result<berth_lb::QueryResponse, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::RequestEntityTooLarge(format!(
                "Request body exceeds the maximum of {MAX_BODY_BYTES} bytes."
            ))
        })?;
    crate::task_credentials::load_for(&app, &parts).await?;
    let caller = auth::authenticate(&app, &parts, &body, Some("elasticloadbalancing"))?;
    let scope = berth_lb::Scope {
        account: caller.account,
        region: caller.region,
    };
    Ok(app.elb.handle(scope, &body).await)
}

/// A front-door error with the code the Query protocol uses for it.
fn query_error(e: &ApiError) -> berth_lb::ElbError {
    let code = match e {
        ApiError::InvalidSignature(_) => "SignatureDoesNotMatch",
        ApiError::UnrecognizedClient(_) => "InvalidClientTokenId",
        ApiError::MissingAuthenticationToken(_) => "MissingAuthenticationToken",
        ApiError::IncompleteSignature(_) => "IncompleteSignature",
        ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
        ApiError::Server(_) => "InternalFailure",
        other => other.code(),
    };
    berth_lb::ElbError::FrontDoor {
        code,
        status: e.status(),
        message: e.message().to_string(),
    }
}

/// The error for an `X-Amz-Target` no service here answers.
pub fn unknown_operation(target: &str) -> ApiError {
    ApiError::UnknownOperation(format!("The operation '{target}' is not supported."))
}

/// The one mapping from [`ApiError`] to an HTTP response.
pub fn error_response(e: &ApiError) -> Response {
    if e.status() >= 500 {
        tracing::error!(code = e.code(), message = e.message(), "request failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&ErrorBody::from(e)).expect("error body serializes");
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(e.code()).expect("ascii code"),
    );
    r
}

/// Parses a request body into an operation's input. An empty body is `{}`, as AWS
/// treats it. Malformed JSON and wrong types are `SerializationException`; a missing
/// required member is `InvalidParameterException` naming it.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text).to_string();
        if e.is_data() && text.starts_with("missing field") {
            let field = text.trim_start_matches("missing field ").trim_matches('`');
            ApiError::InvalidParameter(format!("Missing required parameter in input: \"{field}\""))
        } else if e.is_syntax() || e.is_eof() {
            ApiError::Serialization(format!("Unable to parse the request body as JSON: {text}"))
        } else {
            ApiError::Serialization(format!("Invalid request body: {text}"))
        }
    })
}

/// Serializes an operation's output.
pub fn respond<T: Serialize>(out: &T) -> ApiResult {
    serde_json::to_vec(out).map_err(|e| ApiError::Server(format!("cannot encode response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        family: String,
        count: Option<i32>,
    }

    #[test]
    fn classifies_parse_errors_as_aws_does() {
        let e = parse::<Input>(b"{not json").unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        let e = parse::<Input>(br#"{"family":"f","count":"x"}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        assert!(e.message().contains("invalid type"), "{}", e.message());
        let e = parse::<Input>(br#"{"count":1}"#).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert!(e.message().contains("\"family\""), "{}", e.message());
        let e = parse::<Input>(br#"{"family":"f","bogus":1}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        assert!(e.message().contains("bogus"), "{}", e.message());
        assert!(parse::<Input>(br#"{"family":"f"}"#).is_ok());
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        #[derive(serde::Deserialize)]
        struct Empty {}
        assert!(parse::<Empty>(b"").is_ok());
        assert!(parse::<Input>(b"").is_err());
    }
}
