//! Who is calling the agent channel, and what they may do (see
//! [`berth_model::agent_access`] for join tokens and agent credentials).
//!
//! - The **operator token** (the `agent-token` file in the server's data directory) is the
//!   operator's own: it may register any capacity and act for every instance. `berth up`'s
//!   local agent starts with it. Hand hosts join tokens instead.
//! - A **join token** may only register the capacity it admits.
//! - An **agent credential**, issued by a registration, acts for its own container
//!   instances only (and may re-register them after a restart).
//!
//! Also the operator's API for join tokens: `Berth_20261207.CreateJoinToken`,
//! `ListJoinTokens` and `RevokeJoinToken` (AWS JSON 1.1, signed for service `berth`),
//! which `berth token` calls.

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::agent_access::{
    self as access, AgentCredentialRecord, JoinTokenRecord, AGENT_CREDENTIAL_PREFIX,
    JOIN_TOKEN_PREFIX,
};
use berth_store::{Compare, Op, Txn};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::context::{Core, Ctx};
use crate::json::{parse, respond, unknown_operation, ApiResult};
use crate::keys::Scope;
use crate::records::{self, put, Record, Step};

/// The target prefix of the join-token API.
pub const TARGET_PREFIX: &str = "Berth_20261207";
/// The longest a join token may live, and its default (a day, as kubeadm's).
const MAX_TTL_SECS: i64 = 365 * 24 * 3600;
const DEFAULT_TTL_SECS: i64 = 24 * 3600;

/// Who is calling the agent channel.
pub enum AgentPrincipal {
    /// The operator's agent token.
    Operator,
    /// A join token: registration only.
    Joining(JoinTokenRecord),
    /// An agent's own credential.
    Agent(Record<AgentCredentialRecord>),
}

impl AgentPrincipal {
    /// Whether the caller may act for the container instance `arn` (heartbeat, follow its
    /// assignments, report and fetch credentials for its tasks, ship their logs).
    pub fn may_act_for(&self, arn: &str) -> Result<(), ApiError> {
        match self {
            AgentPrincipal::Operator => Ok(()),
            AgentPrincipal::Joining(_) => Err(ApiError::AccessDenied(
                "A join token can only register capacity; act with the agent credential the \
                 registration returned."
                    .into(),
            )),
            AgentPrincipal::Agent(c) if c.value.instance_arns.contains(arn) => Ok(()),
            AgentPrincipal::Agent(_) => Err(ApiError::AccessDenied(format!(
                "This agent credential does not act for container instance {arn}."
            ))),
        }
    }
}

fn agents_base(scope: &Scope) -> String {
    format!("/agents/{}/{}", scope.account, scope.region)
}

fn join_tokens_prefix(scope: &Scope) -> String {
    format!("{}/join-tokens/", agents_base(scope))
}

fn join_token_key(scope: &Scope, id: &str) -> String {
    format!("{}{id}", join_tokens_prefix(scope))
}

fn credential_key(scope: &Scope, id: &str) -> String {
    format!("{}/credentials/{id}", agents_base(scope))
}

fn unrecognized() -> ApiError {
    ApiError::UnrecognizedClient(
        "The agent token is missing, wrong, expired or revoked: join with a token from \
         `berth token create` (or the operator's token in the server's data directory)."
            .into(),
    )
}

/// Authenticates a call to the agent channel by its `Authorization: Bearer` value.
pub async fn authenticate(
    core: &Core,
    operator_token: &str,
    headers: &HeaderMap,
) -> Result<AgentPrincipal, ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    if same(given.as_bytes(), operator_token.as_bytes()) {
        return Ok(AgentPrincipal::Operator);
    }
    let presented = access::parse(given).ok_or_else(unrecognized)?;
    let scope = core.home_scope();
    let store = &*core.store;
    match presented.prefix {
        JOIN_TOKEN_PREFIX => {
            let token =
                records::get::<JoinTokenRecord>(store, &join_token_key(&scope, presented.id))
                    .await?
                    .ok_or_else(unrecognized)?
                    .value;
            if !access::matches(presented.secret, &token.secret_sha256)
                || !token.is_live(core.clock.now())
            {
                return Err(unrecognized());
            }
            Ok(AgentPrincipal::Joining(token))
        }
        _ => Ok(AgentPrincipal::Agent(
            verified_credential(core, given)
                .await?
                .ok_or_else(unrecognized)?,
        )),
    }
}

/// The stored credential `given` is, when it is one and its secret is right.
pub async fn verified_credential(
    core: &Core,
    given: &str,
) -> Result<Option<Record<AgentCredentialRecord>>, ApiError> {
    let Some(p) = access::parse(given).filter(|p| p.prefix == AGENT_CREDENTIAL_PREFIX) else {
        return Ok(None);
    };
    let key = credential_key(&core.home_scope(), p.id);
    Ok(records::get::<AgentCredentialRecord>(&*core.store, &key)
        .await?
        .filter(|c| access::matches(p.secret, &c.value.secret_sha256)))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn new_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

fn new_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..43)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Binds container instance `arn` to an agent credential after a registration: to
/// `presented` when it is a valid credential (it gains the instance), else to a new one,
/// whose string is returned (the only time it is seen).
pub async fn bind(
    core: &Core,
    presented: Option<&str>,
    join_token_id: Option<String>,
    arn: &str,
) -> Result<Option<String>, ApiError> {
    let store = &*core.store;
    if let Some(given) = presented {
        let arn = arn.to_string();
        let added = records::update(store, "The agent credential", || async {
            let Some(c) = verified_credential(core, given).await? else {
                return Ok(Step::Done(false));
            };
            if c.value.instance_arns.contains(&arn) {
                return Ok(Step::Done(true));
            }
            let mut updated = c.value.clone();
            updated.instance_arns.insert(arn.clone());
            let txn = Txn::new()
                .when(Compare::unchanged(&c.key, c.revision))
                .then(put(&c.key, &updated));
            Ok(Step::Commit(txn, true))
        })
        .await?;
        if added {
            return Ok(None);
        }
    }
    let (id, secret) = (new_id(), new_secret());
    let record = AgentCredentialRecord {
        id: id.clone(),
        secret_sha256: access::digest(&secret),
        instance_arns: BTreeSet::from([arn.to_string()]),
        join_token_id,
        created_at: core.clock.now(),
    };
    let key = credential_key(&core.home_scope(), &id);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(put(&key, &record));
    records::commit(store, txn).await?;
    Ok(Some(access::format(AGENT_CREDENTIAL_PREFIX, &id, &secret)))
}

/// The join-token API, dispatched on the operation named in `X-Amz-Target`.
pub async fn dispatch(ctx: &Ctx, action: &str, body: &[u8]) -> ApiResult {
    match action {
        "CreateJoinToken" => respond(&create(ctx, parse(body)?).await?),
        "ListJoinTokens" => respond(&list(ctx).await?),
        "RevokeJoinToken" => respond(&revoke(ctx, parse(body)?).await?),
        _ => Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateJoinTokenRequest {
    /// The only cluster the token joins; absent for any cluster and the Fargate pool.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Lifetime in seconds (default a day, at most a year).
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A join token as listed (never its secret).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinTokenSummary {
    pub token_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl From<&JoinTokenRecord> for JoinTokenSummary {
    fn from(t: &JoinTokenRecord) -> Self {
        JoinTokenSummary {
            token_id: t.id.clone(),
            cluster: t.cluster.clone(),
            description: t.description.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJoinTokenResponse {
    /// The token itself: shown once.
    pub token: String,
    pub join_token: JoinTokenSummary,
}

async fn create(
    ctx: &Ctx,
    req: CreateJoinTokenRequest,
) -> Result<CreateJoinTokenResponse, ApiError> {
    if let Some(c) = &req.cluster {
        let name = crate::ecs::cluster_name(Some(c))?;
        // The cluster must exist (agents could not join it otherwise), `default` aside,
        // which comes into being when an agent joins it.
        if name != crate::ecs::DEFAULT_CLUSTER {
            crate::ecs::active_cluster(ctx, Some(&name)).await?;
        }
    }
    let ttl = req.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(60..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::InvalidParameter(format!(
            "ttlSeconds must be between 60 and {MAX_TTL_SECS}."
        )));
    }
    if req.description.as_ref().is_some_and(|d| d.len() > 255) {
        return Err(ApiError::InvalidParameter(
            "description must be at most 255 characters.".into(),
        ));
    }
    let now = ctx.now();
    let (id, secret) = (new_id(), new_secret());
    let record = JoinTokenRecord {
        id: id.clone(),
        secret_sha256: access::digest(&secret),
        cluster: req
            .cluster
            .as_deref()
            .map(|c| crate::ecs::cluster_name(Some(c)))
            .transpose()?,
        description: req.description,
        created_at: now,
        expires_at: Timestamp::try_from_secs_f64(now.as_secs_f64() + ttl as f64),
    };
    let key = join_token_key(&ctx.core.home_scope(), &id);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(put(&key, &record));
    records::commit(&*ctx.core.store, txn).await?;
    Ok(CreateJoinTokenResponse {
        token: access::format(JOIN_TOKEN_PREFIX, &id, &secret),
        join_token: (&record).into(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListJoinTokensResponse {
    pub join_tokens: Vec<JoinTokenSummary>,
}

async fn list(ctx: &Ctx) -> Result<ListJoinTokensResponse, ApiError> {
    let now = ctx.now();
    let tokens: Vec<Record<JoinTokenRecord>> = records::list(
        &*ctx.core.store,
        &join_tokens_prefix(&ctx.core.home_scope()),
    )
    .await?;
    Ok(ListJoinTokensResponse {
        join_tokens: tokens
            .iter()
            .filter(|t| t.value.is_live(now))
            .map(|t| (&t.value).into())
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeJoinTokenRequest {
    pub token_id: String,
}

async fn revoke(ctx: &Ctx, req: RevokeJoinTokenRequest) -> Result<serde_json::Value, ApiError> {
    let not_found =
        || ApiError::ResourceNotFound(format!("Join token {} not found.", req.token_id));
    if !access::is_id(&req.token_id) {
        return Err(not_found());
    }
    let key = join_token_key(&ctx.core.home_scope(), &req.token_id);
    let store = &*ctx.core.store;
    let token = records::get::<JoinTokenRecord>(store, &key)
        .await?
        .ok_or_else(not_found)?;
    // Whoever else changed it meanwhile could only have revoked it too.
    let txn = Txn::new()
        .when(Compare::unchanged(&key, token.revision))
        .then(Op::delete(&key));
    records::commit(store, txn).await?;
    Ok(serde_json::json!({}))
}
