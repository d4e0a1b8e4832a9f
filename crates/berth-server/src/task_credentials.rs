//! Task role credentials: short-lived keys an agent fetches for a task with a
//! `taskRoleArn` and hands to its containers through the credentials endpoint, and that
//! Berth's APIs accept like AWS's temporary credentials (an `ASIA...` key id plus
//! `X-Amz-Security-Token`).
//!
//! Sessions live in the store (`/sessions/KEY-ID`), so every replica and a restarted
//! server accept them; each server loads a session into its verifier the first time a
//! request signed with it arrives. They expire after [`LIFETIME`]; SDKs refresh well
//! before that.

use std::time::Duration;

use berth_api::agent::{TaskCredentials, TaskCredentialsRequest};
use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::task::TaskRecord;
use berth_sigv4::Identity as KeyIdentity;
use serde::{Deserialize, Serialize};

use crate::auth::Verifier;
use crate::context::Core;
use crate::keys::EcsKeys;
use crate::keys::Scope;
use crate::launch::parse_task_arn;
use crate::records;

/// How long task credentials last (ECS's are good for about six hours).
pub const LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// A stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub secret_access_key: String,
    pub session_token: String,
    pub account_id: String,
    pub role_arn: String,
    pub task_arn: String,
    /// Seconds since the epoch.
    pub expires: f64,
}

berth_store::stored_as_json!(Session);

/// Where task role sessions live.
pub const SESSIONS: &str = "/sessions/";

fn session_key(access_key_id: &str) -> String {
    format!("{SESSIONS}{access_key_id}")
}

fn rfc3339(secs: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Mints credentials for the role of the task in `req`, which must run on the
/// requesting agent's container instance and not have stopped.
pub async fn mint(core: &Core, req: &TaskCredentialsRequest) -> Result<TaskCredentials, ApiError> {
    let scope: Scope = crate::launch::task_scope(&core.account, &req.task_arn)?;
    let (cluster, id) = parse_task_arn(&req.task_arn)?;
    let task = records::get::<TaskRecord>(&*core.store, &scope.task(&cluster, &id))
        .await?
        .ok_or_else(|| ApiError::InvalidParameter(format!("Task {} not found.", req.task_arn)))?
        .value;
    if task.placement.instance_arn != req.container_instance_arn {
        return Err(ApiError::AccessDenied(
            "The task does not run on this container instance.".into(),
        ));
    }
    if task.last_status.is_stopped() {
        return Err(ApiError::InvalidParameter(
            "The task has stopped; its credentials are no longer issued.".into(),
        ));
    }
    let role = match task.overrides.task_role_arn.clone() {
        Some(role) => role,
        None => crate::ecs::task_definitions::load_by_arn(
            &*core.store,
            &scope,
            &task.task_definition_arn,
        )
        .await?
        .task_role_arn
        .ok_or_else(|| ApiError::InvalidParameter("The task has no taskRoleArn.".into()))?,
    };
    crate::task_roles::session(&core.iam, &role, &id).map_err(ApiError::AccessDenied)?;
    let now = core.clock.now().as_secs_f64();
    let session = Session {
        secret_access_key: crate::key_material::secret_access_key(),
        session_token: crate::key_material::session_token(160),
        account_id: scope.account.clone(),
        role_arn: role,
        task_arn: req.task_arn.clone(),
        expires: now + LIFETIME.as_secs_f64(),
    };
    let access_key_id = crate::key_material::session_key_id();
    let txn = berth_store::Txn::new().then(records::put(session_key(&access_key_id), &session));
    records::commit(&*core.store, txn).await?;
    Ok(TaskCredentials {
        role_arn: session.role_arn,
        access_key_id,
        secret_access_key: session.secret_access_key,
        token: session.session_token,
        expiration: rfc3339(session.expires),
    })
}

/// The key id a request is signed with, from its Authorization header or presigned
/// query.
pub fn access_key_id(parts: &http::request::Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(str::to_string);
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))
            .map(|v| v.replace("%2F", "/"))
    });
    let credential = from_header.or(from_query)?;
    Some(credential.split('/').next()?.to_string())
}

/// Makes the session a request is signed with known to the verifier, if it is a task
/// session this server has not seen yet. Expired sessions are not loaded.
pub async fn load_for(
    core: &Core,
    verifier: &Verifier,
    parts: &http::request::Parts,
) -> Result<(), ApiError> {
    let Some(id) = access_key_id(parts).filter(|id| id.starts_with("ASIA")) else {
        return Ok(());
    };
    if verifier.has_session(&id, core.clock.now()) {
        return Ok(());
    }
    let Some(session) = records::get::<Session>(&*core.store, &session_key(&id)).await? else {
        return Ok(());
    };
    let expires =
        Timestamp::try_from_secs_f64(session.value.expires).unwrap_or(Timestamp::UNIX_EPOCH);
    verifier.add_session(
        id,
        KeyIdentity {
            secret_access_key: session.value.secret_access_key,
            account_id: session.value.account_id,
            session_token: Some(session.value.session_token),
        },
        expires,
        session.value.role_arn,
        session
            .value
            .task_arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        core.clock.now(),
    );
    Ok(())
}
