//! The agent channel (see `berth_api::agent`): agents register their capacity, heartbeat,
//! long-poll their assignments and report task state. Authenticated by
//! `Authorization: Bearer` with a join token, an agent credential or the operator's token
//! ([`crate::agent_access`]): an agent acts only for its own container instances, in the
//! server's own account and region.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api::agent::*;
use berth_api::arn::Arn;
use berth_api::ecs::{ContainerInstanceStatus, TaskDefinition};
use berth_api::error::ApiError;
use berth_model::cluster::ClusterRecord;
use berth_model::container_instance::{remaining_of, InstanceRecord, Reservation, Resources};
use berth_model::host_network::Cidr;
use berth_model::task::TaskRecord;
use berth_store::{Compare, Revision, Txn};
use serde::Deserialize;

use crate::agent_access::AgentPrincipal;
use crate::assignment_index::AssignmentIndex;
use crate::auth::Verifier;
use crate::context::Core;
use crate::ecr::Ecr;
use crate::ecs::task_definitions;
use crate::ecs::{container_instances::attributes_with_defaults, is_valid_id, new_id};
use crate::json::error_response;
use crate::keys::EcsKeys;
use crate::keys::Scope;
use crate::logs::Logs;
use crate::records::{self, put, Record, Step, Stored};

/// What the agent channel serves from: the shared core, the token agents present, and
/// the services agents use (ECR for their pull logins, Logs for their containers'
/// output, the verifier for task role sessions).
pub struct Agents {
    pub core: Arc<Core>,
    pub token: String,
    pub ecr: Arc<Ecr>,
    pub logs: Arc<Logs>,
    /// Secrets Manager's and Parameter Store's values, for tasks' `secrets`.
    pub secrets: Arc<crate::secrets::Secrets>,
    pub verifier: Arc<Verifier>,
    /// The cluster's task range, out of which each host gets a /24.
    pub task_cidr: Cidr,
    /// Each instance's assigned tasks, for assignments and their long polls.
    pub index: Arc<AssignmentIndex>,
}

/// The longest an assignments long poll waits.
const MAX_WAIT_SECS: u64 = 30;
/// The pseudo-cluster in the ARNs of Fargate pool members.
const POOL: &str = "fargate-pool";

/// The channel's routes, mounted under `/agent/v1`.
pub fn routes() -> Router<Arc<Agents>> {
    Router::new()
        .route("/register", post(register))
        .route("/heartbeat", post(heartbeat))
        .route("/assignments", get(assignments))
        .route("/task-state", post(task_state))
        .route("/task-credentials", post(task_credentials))
        .route("/registry-credentials", post(registry_credentials))
        .route("/task-secrets", post(task_secrets))
        .route("/logs", post(log_batch))
        .route("/task-metrics", post(task_metrics))
        .route("/network", post(network))
        .route("/routes", get(task_routes))
}

fn reply<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Who is calling (see [`crate::agent_access`]).
async fn caller(app: &Agents, headers: &HeaderMap) -> Result<AgentPrincipal, ApiError> {
    crate::agent_access::authenticate(&app.core, &app.token, headers).await
}

/// Authenticates the caller and checks that it may act for instance `arn`.
async fn acting_for(app: &Agents, headers: &HeaderMap, arn: &str) -> Result<(), ApiError> {
    caller(app, headers).await?.may_act_for(arn)
}

/// Where an instance ARN's record lives.
fn instance_key(scope: &Scope, arn: &str) -> Result<String, ApiError> {
    let bad = || ApiError::InvalidParameter(format!("'{arn}' is not a container instance ARN."));
    let parsed = Arn::parse(arn).map_err(|_| bad())?;
    let (cluster, id) = parsed.resource_path().split_once('/').ok_or_else(bad)?;
    if parsed.resource_type() != "container-instance" || !is_valid_id(id) {
        return Err(bad());
    }
    if cluster == POOL {
        Ok(scope.fargate_pool_member(id))
    } else if berth_model::names::is_valid_name(cluster) {
        Ok(scope.instance(cluster, id))
    } else {
        Err(bad())
    }
}

async fn register(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<RegisterRequest>,
) -> Response {
    reply(
        async {
            let principal = caller(&app, &headers).await?;
            do_register(&app, &principal, req).await
        }
        .await,
    )
}

async fn do_register(
    app: &Agents,
    principal: &AgentPrincipal,
    req: RegisterRequest,
) -> Result<RegisterResponse, ApiError> {
    let scope = app.core.home_scope();
    let store = &*app.core.store;
    let fargate = req.kind == CapacityKind::Fargate;
    let cluster = if fargate {
        String::new()
    } else {
        crate::ecs::cluster_name(req.cluster.as_deref())?
    };
    // Which instance this registration may take up again: any for the operator, its own
    // for an agent credential (presented as the caller or beside a join token); a join
    // token alone only joins as a new instance.
    let presented = match &req.agent_credential {
        Some(given) => crate::agent_access::verified_credential(&app.core, given).await?,
        None => None,
    };
    let holds = |arn: &str| {
        presented
            .as_ref()
            .is_some_and(|c| c.value.instance_arns.contains(arn))
    };
    let previous = match (principal, &req.container_instance_arn) {
        (_, None) => None,
        (AgentPrincipal::Operator, Some(arn)) => Some(arn.clone()),
        (AgentPrincipal::Agent(_), Some(arn)) => {
            principal.may_act_for(arn)?;
            Some(arn.clone())
        }
        (AgentPrincipal::Joining(_), Some(arn)) if holds(arn) => Some(arn.clone()),
        (AgentPrincipal::Joining(_), Some(arn)) => {
            tracing::warn!(%arn, "a join token without that instance's credential registers a new instance");
            None
        }
    };
    match principal {
        AgentPrincipal::Joining(token) if !token.admits((!fargate).then_some(cluster.as_str())) => {
            return Err(ApiError::AccessDenied(match &token.cluster {
                Some(c) if fargate => format!(
                    "This join token joins cluster {c} only; Fargate pool capacity needs a token \
                     for every cluster."
                ),
                Some(c) => format!("This join token joins cluster {c}, not {cluster}."),
                None => "This join token does not admit this capacity.".into(),
            }));
        }
        AgentPrincipal::Agent(_) if previous.is_none() => {
            return Err(ApiError::AccessDenied(
                "An agent credential only re-registers its own container instances; join with \
                 a join token to offer new capacity."
                    .into(),
            ));
        }
        _ => {}
    }
    let id = match &previous {
        Some(arn) => crate::ecs::id_from(arn).to_string(),
        None => new_id(),
    };
    // The same host's other registration, which this one shares CPU and memory with:
    // only an instance the caller itself acts for.
    let twin_key = match &req.same_host_as {
        Some(other) => {
            let allowed = match principal {
                AgentPrincipal::Joining(_) => holds(other),
                _ => principal.may_act_for(other).is_ok(),
            };
            if !allowed {
                return Err(ApiError::AccessDenied(format!(
                    "sameHostAs names container instance {other}, which this caller does not \
                     act for."
                )));
            }
            Some(instance_key(&scope, other)?)
        }
        None => None,
    };
    if !is_valid_id(&id) {
        return Err(ApiError::InvalidParameter(
            "Invalid containerInstanceArn.".into(),
        ));
    }
    let (key, arn_cluster) = if fargate {
        (scope.fargate_pool_member(&id), POOL.to_string())
    } else {
        (scope.instance(&cluster, &id), cluster.clone())
    };
    let arn = Arn::new(
        "ecs",
        &scope.region,
        &scope.account,
        format!("container-instance/{arn_cluster}/{id}"),
    )
    .to_string();
    let mut registered = Resources {
        cpu: req.cpu,
        memory: req.memory,
        ports_tcp: req.reserved_ports_tcp.iter().copied().collect(),
        ports_udp: req.reserved_ports_udp.iter().copied().collect(),
        gpus: req.gpu_ids.iter().cloned().collect(),
    };
    registered.gpus.retain(|g| !g.is_empty());
    let attributes: BTreeMap<_, _> = req
        .attributes
        .iter()
        .map(|a| (a.name.clone(), a.value.clone()))
        .collect();
    let (scope, key, id, arn, cluster, twin_key) = (&scope, &key, &id, &arn, &cluster, &twin_key);
    let (registered, attributes, req) = (&registered, &attributes, &req);
    records::update(store, "The container instance", || async move {
        let now = app.core.clock.now();
        // EC2 capacity joins a live cluster: compare its revision so a concurrent
        // DeleteCluster either sees this instance or makes this registration retry.
        let cluster_guard = if fargate {
            None
        } else {
            let revision = ensure_cluster(&app.core, scope, cluster).await?;
            Some(Compare::unchanged(scope.cluster(cluster), revision))
        };
        let existing = records::get::<InstanceRecord>(store, key).await?;
        let twin_key = twin_key
            .clone()
            .or_else(|| existing.as_ref().and_then(|e| e.value.twin.clone()));
        let twin = match &twin_key {
            Some(k) => records::get::<InstanceRecord>(store, k)
                .await?
                .filter(|t| t.value.fargate_pool != fargate),
            None => None,
        };
        // What tasks still hold comes out of the new registration; on a host that also
        // offers the other kind of capacity, its twin's tasks' CPU and memory too.
        let tasks: Vec<Record<TaskRecord>> = if fargate || twin.is_some() {
            crate::launch::tasks_of_account(store, &scope.account).await?
        } else {
            records::list(store, &scope.tasks(cluster)).await?
        };
        let held: Vec<(&str, &Reservation)> = tasks
            .iter()
            .filter(|t| t.value.holds_resources())
            .map(|t| (t.value.placement.instance_arn.as_str(), &t.value.reserved))
            .collect();
        let twin_arn = twin.as_ref().map(|t| t.value.arn.as_str());
        let remaining = remaining_of(registered, arn, twin_arn, &held);
        let record = InstanceRecord {
            id: id.clone(),
            arn: arn.clone(),
            cluster: cluster.clone(),
            ec2_instance_id: req.ec2_instance_id.clone(),
            status: existing
                .as_ref()
                .map_or(ContainerInstanceStatus::Active, |e| e.value.status),
            registered: registered.clone(),
            remaining,
            attributes: attributes_with_defaults(attributes, &scope.region),
            version_info: req.version_info.clone(),
            registered_at: existing.as_ref().map_or(now, |e| e.value.registered_at),
            last_heartbeat: Some(now),
            tags: existing
                .as_ref()
                .map(|e| e.value.tags.clone())
                .unwrap_or_default(),
            version: existing.as_ref().map_or(1, |e| e.value.version + 1),
            fargate_pool: fargate,
            lost_at: None,
            twin: twin.as_ref().map(|t| t.key.clone()),
        };
        let mut txn = Txn::new()
            .when(Compare::unchanged(key, existing.map_or(0, |e| e.revision)))
            .then(put(key, &record));
        if let Some(t) = &twin {
            let mut other = t.value.clone();
            other.twin = Some(key.clone());
            other.remaining = remaining_of(&other.registered, &other.arn, Some(arn), &held);
            other.version += 1;
            txn = txn
                .when(Compare::unchanged(&t.key, t.revision))
                .then(put(&t.key, &other));
        }
        if let Some(guard) = cluster_guard {
            txn = txn.when(guard);
        }
        Ok(Step::Commit(txn, ()))
    })
    .await?;
    tracing::info!(%arn, fargate, "agent registered");
    let agent_credential = match principal {
        AgentPrincipal::Agent(_) => None,
        AgentPrincipal::Operator => {
            crate::agent_access::bind(&app.core, req.agent_credential.as_deref(), None, arn).await?
        }
        AgentPrincipal::Joining(token) => {
            crate::agent_access::bind(
                &app.core,
                req.agent_credential.as_deref(),
                Some(token.id.clone()),
                arn,
            )
            .await?
        }
    };
    Ok(RegisterResponse {
        container_instance_arn: arn.clone(),
        agent_credential,
    })
}

/// The `default` cluster comes into being when an agent joins it, as in ECS; any other
/// cluster must exist. Returns the active cluster's revision, for the caller to compare.
pub(crate) async fn ensure_cluster(
    core: &Core,
    scope: &Scope,
    name: &str,
) -> Result<Revision, ApiError> {
    let key = &scope.cluster(name);
    let (revision, created) = records::update_at(&*core.store, "The cluster", || async move {
        let existing = records::get::<ClusterRecord>(&*core.store, key).await?;
        match existing {
            Some(r) if r.value.active => Ok(Step::Done(r.revision)),
            _ if name != crate::ecs::DEFAULT_CLUSTER => Err(ApiError::ClusterNotFound(format!(
                "Cluster not found: {name}. Create it first."
            ))),
            existing => {
                let record = ClusterRecord {
                    name: name.into(),
                    arn: scope.arn("ecs", format!("cluster/{name}")),
                    active: true,
                    tags: Default::default(),
                    settings: vec![],
                    configuration: None,
                    capacity_providers: vec![],
                    default_capacity_provider_strategy: vec![],
                    service_connect_defaults: None,
                };
                let txn = Txn::new()
                    .when(Compare::unchanged(key, existing.map_or(0, |e| e.revision)))
                    .then(put(key, &record));
                Ok(Step::Commit(txn, 0))
            }
        }
    })
    .await?;
    Ok(created.unwrap_or(revision))
}

async fn heartbeat(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<HeartbeatRequest>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &req.container_instance_arn).await?;
            let core = &app.core;
            let key = instance_key(&core.home_scope(), &req.container_instance_arn)?;
            let now = core.clock.now();
            let not_registered = || {
                ApiError::InvalidParameter(
                    "This container instance is not registered; register again.".into(),
                )
            };
            let kv = core
                .store
                .get(&key)
                .await
                .map_err(records::store_error)?
                .ok_or_else(not_registered)?;
            let instance = core
                .instance_cache
                .decode_all(vec![kv])?
                .pop()
                .ok_or_else(not_registered)?;
            if instance.value.lost_at.is_some() {
                // A lost host that is back takes tasks again; what it ran meanwhile
                // stays stopped (its agent removes those containers).
                records::modify(
                    &*core.store,
                    &key,
                    "The container instance",
                    not_registered,
                    |i: &mut InstanceRecord| {
                        i.lost_at = None;
                        i.last_heartbeat = Some(now);
                        Ok(())
                    },
                )
                .await?;
            }
            // The heartbeat itself stays out of the instance record (see `liveness`).
            core.liveness.beat(&instance.value.id, now);
            Ok(serde_json::json!({}))
        }
        .await,
    )
}

/// A task placed on `instance`; `denied(why)` otherwise.
async fn placed_record(
    core: &Core,
    task_arn: &str,
    instance: &str,
    denied: impl Fn(&str) -> ApiError,
) -> Result<TaskRecord, ApiError> {
    let scope = crate::launch::task_scope(&core.account, task_arn)?;
    let (cluster, id) = crate::launch::parse_task_arn(task_arn)?;
    let task = records::get::<TaskRecord>(&*core.store, &scope.task(&cluster, &id))
        .await?
        .ok_or_else(|| denied("no such task"))?
        .value;
    if task.placement.instance_arn != instance {
        return Err(denied("the task is not placed on this container instance"));
    }
    Ok(task)
}

/// A task placed on `instance`, and its task definition; `denied(why)` otherwise.
async fn placed_task(
    core: &Core,
    task_arn: &str,
    instance: &str,
    denied: impl Fn(&str) -> ApiError,
) -> Result<(TaskRecord, TaskDefinition), ApiError> {
    let task = placed_record(core, task_arn, instance, denied).await?;
    let scope = crate::launch::task_scope(&core.account, task_arn)?;
    let def =
        task_definitions::load_by_arn(&*core.store, &scope, &task.task_definition_arn).await?;
    Ok((task, def))
}

/// The execution role a task runs with: its override's, else its task definition's.
fn execution_role<'a>(task: &'a TaskRecord, def: &'a TaskDefinition) -> Option<&'a str> {
    task.overrides
        .execution_role_arn
        .as_deref()
        .or(def.execution_role_arn.as_deref())
}

/// The id at the end of a task ARN.
fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or_default()
}

/// Refuses a log batch unless it comes from a container of a task placed on the
/// batch's instance and goes where that container's `awslogs` options say (its group;
/// with a stream prefix, its `PREFIX/CONTAINER/TASK-ID` stream): an agent's credential
/// writes into no other log group than its own tasks' (a stopped task's too, whose last
/// lines may still be on their way). A task with an execution role writes with that
/// role's permissions, as AWS's log driver does: `logs:CreateLogStream` and
/// `logs:PutLogEvents`, and `logs:CreateLogGroup` when the group is to be created.
/// Returns where the group is: the region `awslogs-region` names, else the task's.
async fn check_log_source(app: &Agents, batch: &LogBatch) -> Result<Scope, ApiError> {
    let core = &*app.core;
    let denied = |why: &str| {
        ApiError::AccessDenied(format!(
            "This agent may not write to log group {} stream {}: {why}.",
            batch.log_group_name, batch.log_stream_name
        ))
    };
    if batch.task_arn.is_empty() || batch.container_name.is_empty() {
        return Err(denied(
            "the batch names no task and container (an agent older than the control plane; \
             upgrade it)",
        ));
    }
    let (task, def) =
        placed_task(core, &batch.task_arn, &batch.container_instance_arn, denied).await?;
    let id = task_id(&batch.task_arn);
    let options = def
        .container_definitions
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(batch.container_name.as_str()))
        .and_then(|c| c.log_configuration.as_ref())
        .filter(|l| l.log_driver.as_str() == "awslogs")
        .and_then(|l| l.options.clone())
        .ok_or_else(|| denied("the container does not log with awslogs"))?;
    if options.get("awslogs-group") != Some(&batch.log_group_name) {
        return Err(denied("the container logs to another group"));
    }
    if let Some(prefix) = options
        .get("awslogs-stream-prefix")
        .filter(|p| !p.is_empty())
    {
        let expected = format!("{prefix}/{}/{id}", batch.container_name);
        if batch.log_stream_name != expected {
            return Err(denied(&format!("the container's stream is {expected}")));
        }
    }
    let task_scope = crate::launch::task_scope(&core.account, &batch.task_arn)?;
    let scope = match options.get("awslogs-region").filter(|r| is_region_name(r)) {
        Some(region) => Scope::new(&task_scope.account, region),
        None => task_scope,
    };
    let Some(role) = execution_role(&task, &def) else {
        return Ok(scope);
    };
    let principal =
        crate::task_roles::session(&core.iam, role, id).map_err(ApiError::AccessDenied)?;
    let mut operations = vec!["CreateLogStream", "PutLogEvents"];
    if batch.create_group
        && matches!(
            app.logs
                .catalog
                .stream(&scope, &batch.log_group_name, &batch.log_stream_name)
                .await,
            Err(berth_logs::catalog::CatalogError::GroupNotFound)
        )
    {
        operations.push("CreateLogGroup");
    }
    let body = serde_json::json!({
        "logGroupName": batch.log_group_name,
        "logStreamName": batch.log_stream_name,
    });
    let place = crate::authz::requested::Place {
        account: &scope.account,
        region: &scope.region,
    };
    let requested: Vec<_> = operations
        .into_iter()
        .flat_map(|op| crate::authz::requested::logs(op, &body, place))
        .collect();
    crate::task_roles::authorize(
        &core.iam,
        &scope.account,
        &scope.region,
        &principal,
        &requested,
        core.clock.now(),
    )
    .map_err(ApiError::AccessDenied)?;
    Ok(scope)
}

/// Whether `name` looks like a region's name (`us-west-2`, `ca-central-1`): lowercase
/// letters, digits and dashes.
fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Query of `GET /assignments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentsQuery {
    container_instance_arn: String,
    #[serde(default)]
    after_revision: Option<u64>,
    #[serde(default)]
    wait_seconds: Option<u64>,
}

async fn assignments(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Query(q): Query<AssignmentsQuery>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &q.container_instance_arn).await?;
            do_assignments(&app, q).await
        }
        .await,
    )
}

async fn do_assignments(app: &Agents, q: AssignmentsQuery) -> Result<Assignments, ApiError> {
    let scope = app.core.home_scope();
    let key = instance_key(&scope, &q.container_instance_arn)?;
    let instance = records::get::<InstanceRecord>(&*app.core.store, &key)
        .await?
        .ok_or_else(|| {
            ApiError::InvalidParameter(
                "This container instance is not registered; register again.".into(),
            )
        })?;
    let arn = &instance.value.arn;
    if let Some(after) = q.after_revision {
        let wait = Duration::from_secs(q.wait_seconds.unwrap_or(20).min(MAX_WAIT_SECS));
        app.index.wait_for_change(arn, after, wait).await;
        if app.index.changed(arn) <= after && app.index.assigned(arn).is_some() {
            // Nothing of this instance's changed: the agent keeps what it has.
            return Ok(Assignments::unchanged(after));
        }
    }
    // Never a partial answer: an agent stops the containers of tasks it is not told of.
    let (revision, assigned) =
        app.index.assigned_when_complete(arn).await.ok_or_else(|| {
            ApiError::Server("The assignments are being rebuilt; try again.".into())
        })?;
    // The index names the keys; the records are read from the store (as new as the
    // index, or newer: a task that moved or stopped meanwhile wakes the next poll).
    let records: Vec<TaskRecord> = app
        .core
        .store
        .get_many(&assigned)
        .await
        .map_err(records::store_error)?
        .into_iter()
        .flatten()
        .filter_map(|kv| TaskRecord::decode(&kv.value).ok())
        .filter(|t| &t.placement.instance_arn == arn)
        .collect();
    let mut tasks = Vec::with_capacity(records.len());
    let mut definitions: BTreeMap<String, TaskDefinition> = BTreeMap::new();
    for t in records {
        if !definitions.contains_key(&t.task_definition_arn) {
            let def =
                task_definitions::load_by_arn(&*app.core.store, &scope, &t.task_definition_arn)
                    .await?;
            definitions.insert(t.task_definition_arn.clone(), def);
        }
        tasks.push(Assignment {
            task_definition: definitions[&t.task_definition_arn].clone(),
            task: t.to_wire(false),
        });
    }
    Ok(Assignments {
        revision,
        tasks,
        unchanged: false,
    })
}

async fn task_credentials(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<TaskCredentialsRequest>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &req.container_instance_arn).await?;
            crate::task_credentials::mint(&app.core, &req).await
        }
        .await,
    )
}

/// A login to this control plane's registry, good for
/// [`crate::registry_token::LIFETIME`], in the task's region: for a task with an
/// execution role, a session of that role (its pulls need that role's ECR permissions, as on AWS); otherwise the
/// agent's own, which pulls as the platform, as the ECS agent does with its instance's
/// role.
async fn registry_credentials(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<RegistryCredentialsRequest>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &req.container_instance_arn).await?;
            // A task's login is for its region: its repositories are that region's.
            let scope = match &req.task_arn {
                Some(task_arn) => crate::launch::task_scope(&app.core.account, task_arn)?,
                None => app.core.home_scope(),
            };
            let principal = match &req.task_arn {
                Some(task_arn) => {
                    let denied = |why: &str| {
                        ApiError::AccessDenied(format!(
                            "No registry login for task {task_arn}: {why}."
                        ))
                    };
                    let (task, def) =
                        placed_task(&app.core, task_arn, &req.container_instance_arn, denied)
                            .await?;
                    match execution_role(&task, &def) {
                        Some(role) => {
                            crate::task_roles::session(&app.core.iam, role, task_id(task_arn))
                                .map_err(ApiError::AccessDenied)?
                        }
                        None => crate::context::Principal::Root,
                    }
                }
                None => crate::context::Principal::Root,
            };
            let now = app.core.clock.now().as_secs_f64() as i64;
            let expires_at = now + crate::registry_token::LIFETIME.as_secs() as i64;
            Ok(RegistryCredentials {
                registry: app.ecr.host.clone(),
                username: "AWS".into(),
                password: app
                    .ecr
                    .key
                    .mint(&scope.account, &scope.region, expires_at, &principal),
                expires_at,
            })
        }
        .await,
    )
}

/// The values of a container's `secrets` and its `repositoryCredentials` login, read
/// with the task's execution role ([`crate::secrets::for_tasks`]); refused with the
/// reason the task stops with.
async fn task_secrets(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<TaskSecretsRequest>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &req.container_instance_arn).await?;
            let task_arn = &req.task_arn;
            let denied = |why: &str| {
                ApiError::AccessDenied(format!("No secrets for task {task_arn}: {why}."))
            };
            let (task, def) =
                placed_task(&app.core, task_arn, &req.container_instance_arn, denied).await?;
            let scope = crate::launch::task_scope(&app.core.account, task_arn)?;
            let principal = execution_role(&task, &def)
                .map(|role| crate::task_roles::session(&app.core.iam, role, task_id(task_arn)))
                .transpose()
                .map_err(ApiError::AccessDenied)?;
            crate::secrets::for_tasks::read(
                &app.core,
                &app.secrets,
                &scope,
                principal.as_ref(),
                &def,
                &req.container_name,
            )
            .await
            .map_err(ApiError::AccessDenied)
        }
        .await,
    )
}

/// A batch of a container's output, for its log stream.
async fn log_batch(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(batch): Json<LogBatch>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &batch.container_instance_arn).await?;
            let scope = check_log_source(&app, &batch).await?;
            crate::logs::ingest::agent_batch(&app.logs, &scope, batch).await
        }
        .await,
    )
}

/// Samples of the CPU and memory of the agent's tasks (see [`crate::task_metrics`]):
/// each is kept when its task is placed on the reporting instance.
async fn task_metrics(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(report): Json<TaskMetricsReport>,
) -> Response {
    reply(
        async {
            let instance = &report.container_instance_arn;
            acting_for(&app, &headers, instance).await?;
            let mut recorded = 0;
            for sample in &report.samples {
                let not_placed = |why: &str| ApiError::AccessDenied(why.to_string());
                let Ok(task) =
                    placed_record(&app.core, &sample.task_arn, instance, not_placed).await
                else {
                    continue;
                };
                let scope = crate::launch::task_scope(&app.core.account, &task.arn)?;
                crate::task_metrics::record(&app.logs, &scope, &task, sample).await?;
                recorded += 1;
            }
            Ok(TaskMetricsAnswer { recorded })
        }
        .await,
    )
}

/// A host's task subnet and address (see [`crate::task_network`]).
async fn network(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Json(req): Json<NetworkRequest>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &req.container_instance_arn).await?;
            crate::task_network::assign(&app.core, &app.task_cidr, &req).await
        }
        .await,
    )
}

/// Query of `GET /routes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoutesQuery {
    /// The caller's host (its first instance); only the operator may ask without one.
    #[serde(default)]
    container_instance_arn: Option<String>,
    #[serde(default)]
    after_revision: Option<u64>,
    #[serde(default)]
    wait_seconds: Option<u64>,
}

async fn task_routes(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Query(q): Query<RoutesQuery>,
) -> Response {
    reply(
        async {
            let principal = caller(&app, &headers).await?;
            let own = match &q.container_instance_arn {
                Some(arn) => {
                    principal.may_act_for(arn)?;
                    Some(crate::ecs::id_from(arn).to_string())
                }
                None if matches!(principal, AgentPrincipal::Operator) => None,
                None => {
                    return Err(ApiError::InvalidParameter(
                        "containerInstanceArn is required.".into(),
                    ))
                }
            };
            let wait = Duration::from_secs(q.wait_seconds.unwrap_or(20));
            crate::task_network::routes(&app.core, own.as_deref(), q.after_revision, wait).await
        }
        .await,
    )
}

/// Query of `POST /task-state`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReporterQuery {
    container_instance_arn: String,
}

async fn task_state(
    State(app): State<Arc<Agents>>,
    headers: HeaderMap,
    Query(q): Query<ReporterQuery>,
    Json(report): Json<TaskStateReport>,
) -> Response {
    reply(
        async {
            acting_for(&app, &headers, &q.container_instance_arn).await?;
            let task = crate::launch::apply_report(
                &app.core,
                &crate::launch::task_scope(&app.core.account, &report.task_arn)?,
                &report,
                Some(&q.container_instance_arn),
            )
            .await?;
            Ok(task.to_wire(false))
        }
        .await,
    )
}
