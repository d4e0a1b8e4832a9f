//! The HTTP ends of exec sessions (see [`crate::exec_sessions`]): the CLI's
//! `GET /exec/v1/sessions/ID` with the session's token, and the agent channel's
//! `GET /agent/v1/exec-sessions` (a long poll for sessions to take up) and
//! `GET /agent/v1/exec/ID` (the agent's side of a stream). Both streams are HTTP/1.1
//! upgrades (`Upgrade: berth-exec`); the CLI's is answered only once the agent has
//! joined, so every refusal, and an agent that never comes, is an error response rather
//! than a stream that hangs. Once both are upgraded their bytes are copied across as
//! they are.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_api::error::ApiError;
use berth_api::exec::{ExecSessions, UPGRADE_PROTOCOL};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::agent_channel::Agents;
use crate::context::Core;
use crate::exec_sessions::{SessionError, Stream};
use crate::json::error_response;

/// The longest an exec poll waits.
const MAX_WAIT_SECS: u64 = 30;

/// The CLI's side: `GET /exec/v1/sessions/{id}`, mounted at the top of the router.
pub fn cli_routes(core: Arc<Core>) -> Router {
    Router::new()
        .route(
            &format!("{}{{id}}", berth_api::exec::STREAM_PATH),
            get(open_for_cli),
        )
        .with_state(core)
}

/// The agent's side, mounted under `/agent/v1` beside the agent channel's routes.
pub fn agent_routes() -> Router<Arc<Agents>> {
    Router::new()
        .route("/exec-sessions", get(sessions_for_agent))
        .route("/exec/{id}", get(join_for_agent))
}

/// Whether a request asks to upgrade to an exec stream.
fn wants_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if upgrade.eq_ignore_ascii_case(UPGRADE_PROTOCOL) {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter(format!(
            "An exec stream is opened with `Connection: Upgrade` and `Upgrade: \
             {UPGRADE_PROTOCOL}` (use `berth exec`)."
        )))
    }
}

/// `101 Switching Protocols` to an exec stream.
fn switching() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static(UPGRADE_PROTOCOL));
    r
}

/// A session's refusal as this endpoint answers it: ECS's `TargetNotConnectedException`
/// for an agent that did not come, else the API error it is.
fn refusal(e: SessionError) -> Response {
    let api = match &e {
        SessionError::AgentAbsent { .. } => {
            let body = serde_json::json!({
                "__type": "TargetNotConnectedException",
                "message": e.to_string(),
            });
            let mut r = (StatusCode::BAD_REQUEST, Json(body)).into_response();
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("TargetNotConnectedException"),
            );
            return r;
        }
        SessionError::Unknown(_) => ApiError::ResourceNotFound(e.to_string()),
        SessionError::AlreadyOpen(_) => ApiError::InvalidParameter(e.to_string()),
        SessionError::NotYours(_) => ApiError::AccessDenied(e.to_string()),
    };
    error_response(&api)
}

async fn open_for_cli(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    mut req: Request,
) -> Response {
    if let Err(e) = wants_stream(req.headers()) {
        return error_response(&e);
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let upgraded = hyper::upgrade::on(&mut req);
    match core.exec.open(&id, &token).await {
        Ok(agent) => {
            tokio::spawn(splice(upgraded, agent));
            switching()
        }
        Err(e) => refusal(e),
    }
}

/// Copies bytes both ways between the CLI's stream and the agent's, until both end.
async fn splice(cli: OnUpgrade, agent: oneshot::Receiver<Stream>) {
    let (Ok(cli), Ok(mut agent)) = (cli.await, agent.await) else {
        return;
    };
    let mut cli = TokioIo::new(cli);
    if let Err(e) = tokio::io::copy_bidirectional(&mut cli, &mut agent).await {
        tracing::debug!(error = %e, "exec stream ended with an error");
    }
}

/// Query of the agent's exec calls.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentQuery {
    container_instance_arn: String,
    #[serde(default)]
    wait_seconds: Option<u64>,
}

/// Authenticates an agent acting for `arn`.
async fn agent_for(app: &Agents, headers: &HeaderMap, arn: &str) -> Result<(), ApiError> {
    crate::agent_access::authenticate(&app.core, &app.token, headers)
        .await?
        .may_act_for(arn)
}

async fn sessions_for_agent(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Query(q): Query<AgentQuery>,
) -> Response {
    if let Err(e) = agent_for(&app, &headers, &q.container_instance_arn).await {
        return error_response(&e);
    }
    let wait = Duration::from_secs(q.wait_seconds.unwrap_or(20).min(MAX_WAIT_SECS));
    let sessions = app.core.exec.poll(&q.container_instance_arn, wait).await;
    Json(ExecSessions { sessions }).into_response()
}

async fn join_for_agent(
    State(app): State<Arc<Agents>>,
    Path(id): Path<String>,
    Query(q): Query<AgentQuery>,
    mut req: Request,
) -> Response {
    let headers = req.headers().clone();
    let checked = async {
        wants_stream(&headers)?;
        agent_for(&app, &headers, &q.container_instance_arn).await
    };
    if let Err(e) = checked.await {
        return error_response(&e);
    }
    let upgraded = hyper::upgrade::on(&mut req);
    match app.core.exec.join(&id, &q.container_instance_arn) {
        Ok(to_cli) => {
            tokio::spawn(async move {
                if let Ok(io) = upgraded.await {
                    let _ = to_cli.send(Box::new(TokioIo::new(io)));
                }
            });
            switching()
        }
        Err(e) => refusal(e),
    }
}
