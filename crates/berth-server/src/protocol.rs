//! The front door: `POST /` with `X-Amz-Target: Service.Action` (AWS JSON 1.1). Reads the
//! body (bounded), verifies SigV4, dispatches on the target to the service's handlers,
//! and turns their results and [`ApiError`]s into HTTP responses ([`crate::json`]), with
//! `x-amzn-RequestId`.
//!
//! A form-encoded `POST /` without `X-Amz-Target` is the Query protocol, which ELBv2,
//! IAM and STS speak: answered in XML by [`berth_lb`] (signed for
//! `elasticloadbalancing`) or [`crate::iam`] (signed for `iam` or `sts`).
//!
//! JSON 1.1 serves ECS, ECR, CloudWatch Logs, Secrets Manager (`secretsmanager.`) and
//! SSM Parameter Store (`AmazonSSM.`), each signed for its own service name.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::error::ApiError;

use crate::auth::{self, Verifier};
use crate::context::{Caller, Core, Ctx};
use crate::ecr::Ecr;
use crate::json::{self, error_response, unknown_operation, ApiResult};
use crate::logs::Logs;

/// The largest request body accepted, in bytes. ECS's largest inputs (a task definition
/// of up to 64 KiB) fit many times over.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The largest Logs request body: a PutLogEvents batch of 1 MiB of messages, with the
/// JSON around 10,000 events and escaped characters, stays well inside.
pub const MAX_LOGS_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What the front door serves from: the shared core, the verifier of signatures, and
/// each service's state.
pub struct FrontDoor {
    pub core: Arc<Core>,
    pub verifier: Arc<Verifier>,
    pub ecr: Arc<Ecr>,
    pub logs: Arc<Logs>,
    pub elb: Arc<berth_lb::Elb>,
    pub secrets: Arc<crate::secrets::Secrets>,
}

/// `POST /`: the AWS JSON 1.1 protocol for every service Berth serves (and the Query
/// protocol for ELBv2).
pub async fn aws_json(State(app): State<Arc<FrontDoor>>, req: Request<Body>) -> Response {
    if is_query(&req) {
        return aws_query(app, req).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = serve_json(app, req).await;
    let mut response = match result {
        Ok(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(json::CONTENT_TYPE));
            r
        }
        Err(e) => error_response(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

async fn serve_json(app: Arc<FrontDoor>, req: Request<Body>) -> ApiResult {
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
    auth::prepare(&app.core, &app.verifier, &parts).await?;
    let signing_service = match service {
        crate::ecs::TARGET_PREFIX => "ecs",
        berth_api::ecr::TARGET_PREFIX => "ecr",
        berth_api::logs::TARGET_PREFIX => "logs",
        berth_api::secretsmanager::TARGET_PREFIX => "secretsmanager",
        berth_api::ssm::TARGET_PREFIX => "ssm",
        crate::agent_access::TARGET_PREFIX => "berth",
        _ => {
            // Authenticate first so an unsigned probe learns nothing about targets.
            auth::authenticate(&app.core, &app.verifier, &parts, &body, None)?;
            return Err(match signed_for(&parts, &body) {
                Some(other) if !SERVED.iter().any(|(s, _)| *s == other) => not_served(&other),
                _ => unknown_operation(&target),
            });
        }
    };
    let caller = auth::authenticate(
        &app.core,
        &app.verifier,
        &parts,
        &body,
        Some(signing_service),
    )?;
    call(
        &app,
        caller,
        signing_service,
        action,
        &body,
        &endpoint_of(&parts),
    )
    .await
}

/// Authorizes one JSON-protocol call of `caller` (to `signing_service`'s `action`) as
/// IAM decides it, then runs it: every signed request, and every console action on its
/// user's behalf, goes through here. `endpoint` is the URL the call reached.
pub async fn call(
    app: &FrontDoor,
    caller: Caller,
    signing_service: &str,
    action: &str,
    body: &[u8],
    endpoint: &str,
) -> ApiResult {
    // An ECR call on a repository is also decided by the repository's own policy.
    let repository_policy = match signing_service {
        "ecr" if !caller.principal.is_root() => {
            crate::ecr::repository_policy::of_call(&app.ecr, &caller, body).await
        }
        _ => None,
    };
    // A secret's ARN ends in a suffix only the store knows.
    let named_resource = match signing_service {
        "secretsmanager" if !caller.principal.is_root() => {
            let ctx = Ctx {
                core: app.core.clone(),
                caller: caller.clone(),
            };
            crate::secrets::manager::arn_for_authz(&ctx, body).await
        }
        _ => None,
    };
    crate::authz::front_door::json(
        &app.verifier.directory,
        &caller,
        signing_service,
        action,
        body,
        app.core.clock.now(),
        repository_policy.as_ref(),
        named_resource.as_deref(),
    )
    .map_err(|denied| ApiError::AccessDenied(denied.0))?;
    let ctx = Ctx {
        core: app.core.clone(),
        caller,
    };
    match signing_service {
        "ecr" => crate::ecr::dispatch(&ctx, &app.ecr, action, body).await,
        "logs" => crate::logs::dispatch(&ctx, &app.logs, action, body).await,
        "berth" => crate::agent_access::dispatch(&ctx, action, body).await,
        "secretsmanager" => {
            crate::secrets::manager::dispatch(&ctx, &app.secrets, action, body).await
        }
        "ssm" => crate::secrets::parameters::dispatch(&ctx, &app.secrets, action, body).await,
        _ => crate::ecs::dispatch(&ctx, action, body, endpoint).await,
    }
}

/// The URL a request reached: its scheme (`https` over TLS) and `Host`.
fn endpoint_of(parts: &axum::http::request::Parts) -> String {
    let scheme = if parts.extensions.get::<crate::tls::OverTls>().is_some() {
        "https"
    } else {
        "http"
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}/")
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
async fn aws_query(app: Arc<FrontDoor>, req: Request<Body>) -> Response {
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
    app: Arc<FrontDoor>,
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
    auth::prepare(&app.core, &app.verifier, &parts).await?;
    // IAM and STS speak this protocol too; CloudFormation, EC2 and Auto Scaling as well:
    // a request signed for one of those is told Berth does not serve it (once its
    // signature holds).
    let service = match signed_for(&parts, &body) {
        Some(service) if ["iam", "sts"].contains(&service.as_str()) => service,
        Some(other) if other != "elasticloadbalancing" => {
            auth::authenticate(&app.core, &app.verifier, &parts, &body, Some(&other))?;
            return Err(not_served(&other));
        }
        _ => "elasticloadbalancing".to_string(),
    };
    let caller = auth::authenticate(&app.core, &app.verifier, &parts, &body, Some(&service))?;
    Ok(call_query(&app, caller, &service, &body).await)
}

/// Runs one Query-protocol call (`iam`, `sts` or `elasticloadbalancing`, by signing
/// name) of `caller`, authorized as IAM decides it: every signed request, and every
/// console action on its user's behalf, goes through here. Refusals are XML answers.
pub async fn call_query(
    app: &FrontDoor,
    caller: Caller,
    service: &str,
    body: &[u8],
) -> berth_lb::QueryResponse {
    if service == "iam" || service == "sts" {
        let answer =
            crate::iam::serve(&app.core, &app.verifier.directory, caller, service, body).await;
        return berth_lb::QueryResponse {
            status: answer.status,
            body: answer.body,
            request_id: answer.request_id,
        };
    }
    // A body that does not parse is refused by ELBv2 itself, having done nothing.
    if let Ok(params) = berth_query::Params::parse(body) {
        let action = params.peek("Action").unwrap_or_default();
        if let Err(denied) = crate::authz::front_door::query(
            &app.verifier.directory,
            &caller,
            "elasticloadbalancing",
            &action,
            &params,
            app.core.clock.now(),
        ) {
            let e = ApiError::AccessDenied(denied.0);
            return berth_lb::Elb::error_response(
                &query_error(&e),
                uuid::Uuid::new_v4().to_string(),
            );
        }
    }
    let scope = berth_lb::Scope {
        account: caller.account,
        region: caller.region,
    };
    app.elb.handle(scope, body).await
}

/// Any request no route takes: one signed for an AWS service Berth does not serve (a
/// REST API such as Lambda's or S3's) is told so, in the error shape its protocol
/// reads, once its signature holds; anything else is a plain 404.
pub async fn unrouted(State(app): State<Arc<FrontDoor>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error_response(&ApiError::RequestEntityTooLarge(format!(
            "Request body exceeds the maximum of {MAX_BODY_BYTES} bytes."
        )));
    };
    let Some(service) = signed_for(&parts, &body) else {
        // A browser opening Berth's address finds the web console.
        if parts.method == axum::http::Method::GET && parts.uri.path() == "/" {
            return axum::response::Redirect::to("/console").into_response();
        }
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let error = match auth::authenticate(&app.core, &app.verifier, &parts, &body, None) {
        Err(e) => e,
        Ok(_) if SERVED.iter().any(|(s, _)| *s == service) => ApiError::UnknownOperation(format!(
            "No {service} operation is at {} {}.",
            parts.method,
            parts.uri.path()
        )),
        Ok(_) => not_served(&service),
    };
    // REST-XML services read `<Error><Code>`; the rest read the JSON error shape.
    if ["s3", "cloudfront", "route53"].contains(&service.as_str()) {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            error.code(),
            berth_query::xml::escape(error.message())
        );
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = (status, xml).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/xml"));
        return r;
    }
    error_response(&error)
}

/// The services Berth serves, by signing name, with the names people know them by.
pub const SERVED: &[(&str, &str)] = &[
    ("ecs", "ECS"),
    ("ecr", "ECR"),
    ("logs", "CloudWatch Logs"),
    ("elasticloadbalancing", "Elastic Load Balancing (v2)"),
    ("iam", "IAM"),
    ("sts", "STS"),
    ("secretsmanager", "Secrets Manager"),
    ("ssm", "SSM Parameter Store"),
    ("berth", "Berth's own join tokens"),
];

/// The signing service a request's credential scope names, if it has one.
fn signed_for(parts: &http::request::Parts, body: &[u8]) -> Option<String> {
    berth_sigv4::signing_service(&berth_sigv4::Request::from_parts(parts, body))
}

/// The error for a request signed for an AWS service Berth does not serve.
pub fn not_served(service: &str) -> ApiError {
    let served: Vec<String> = SERVED
        .iter()
        .map(|(signing, name)| format!("{name} ({signing})"))
        .collect();
    ApiError::NotServed(format!(
        "Berth does not serve the AWS service '{service}' that this request is signed for. It \
         serves {}; send calls for '{service}' to AWS or another endpoint.",
        served.join(", ")
    ))
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
        ApiError::AccessDenied(_) => "AccessDenied",
        ApiError::ExpiredToken(_) => "ExpiredToken",
        other => other.code(),
    };
    let status = match e {
        ApiError::AccessDenied(_) => 403,
        other => other.status(),
    };
    berth_lb::ElbError::FrontDoor {
        code,
        status,
        message: e.message().to_string(),
    }
}
