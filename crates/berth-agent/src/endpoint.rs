//! The task metadata endpoint (v4) and the container credentials endpoint, served by
//! the agent to the containers it runs, as the ECS agent serves them.
//!
//! Where: ECS's address, `169.254.170.2`, on port 51679 by default (several agents on
//! one host use several ports). The agent adds the address to the loopback interface
//! when the host does not have it yet; containers reach it through their network's
//! gateway (bridge and awsvpc) or directly (host mode), without NAT rules.
//!
//! Who: each container gets its own unguessable token at creation, carried in its
//! environment (`ECS_CONTAINER_METADATA_URI_V4=http://ADDR:PORT/v4/TOKEN`, and for a
//! task with a role `AWS_CONTAINER_CREDENTIALS_FULL_URI` plus
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`) and in a label the agent reads back after a
//! restart. A request is answered only for the task of the container whose token it
//! carries, so a task reads its own metadata and credentials and nobody else's.
//!
//! Answers follow the ECS agent's shapes: `${URI}` (the container), `${URI}/task`,
//! `${URI}/stats` and `${URI}/task/stats` (Docker's stats format, keyed by container
//! id for the task); unknown tokens get a 404 with a JSON string, as ECS answers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_api::agent::Assignment;
use berth_api::ecs::{ContainerDefinition, LaunchType, NetworkMode, Timestamp};
use serde_json::{json, Map, Value};

use crate::channel::Channel;
use crate::config::AgentConfig;
use crate::runtime::{
    ContainerSpec, ContainerState, Phase, Runtime, LABEL_ENDPOINT_TOKEN, PAUSE_CONTAINER_NAME,
};

/// One assigned task as the endpoint sees it.
struct TaskEntry {
    /// The container instance the task runs on (whose agent asks for credentials).
    reporter: String,
    assignment: Assignment,
    pulls: Option<(Timestamp, Timestamp)>,
    containers: Vec<ContainerState>,
}

/// The tasks and containers of the agent's last pass.
pub struct View {
    availability_zone: Option<String>,
    tasks: HashMap<String, TaskEntry>,
    /// Token to (task ARN, container id).
    tokens: HashMap<String, (String, String)>,
}

impl View {
    /// An empty view for an agent configured with `config`.
    pub fn new(config: &AgentConfig) -> View {
        View {
            availability_zone: config.availability_zone.clone(),
            tasks: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// Replaces the view with a pass's assignments and containers.
    pub fn update(
        &mut self,
        assigned: &[(String, Assignment)],
        containers: &[ContainerState],
        pulls: &HashMap<String, (Timestamp, Timestamp)>,
    ) {
        self.tasks.clear();
        self.tokens.clear();
        for (reporter, a) in assigned {
            let arn = a.task.task_arn.clone().unwrap_or_default();
            let entry = TaskEntry {
                reporter: reporter.clone(),
                assignment: a.clone(),
                pulls: pulls.get(&arn).copied(),
                containers: containers
                    .iter()
                    .filter(|c| c.task_arn() == Some(&arn))
                    .cloned()
                    .collect(),
            };
            for c in &entry.containers {
                if let Some(token) = c.labels.get(LABEL_ENDPOINT_TOKEN) {
                    self.tokens
                        .insert(token.clone(), (arn.clone(), c.id.clone()));
                }
            }
            self.tasks.insert(arn, entry);
        }
    }

    fn lookup(&self, token: &str) -> Option<(&TaskEntry, &ContainerState)> {
        let (task, id) = self.tokens.get(token)?;
        let entry = self.tasks.get(task)?;
        let c = entry.containers.iter().find(|c| c.id == *id)?;
        Some((entry, c))
    }
}

/// Gives a container its endpoint token and the environment that points at `url`.
pub fn inject(spec: &mut ContainerSpec, url: &str) {
    let token = uuid::Uuid::new_v4().simple().to_string();
    spec.environment.push((
        "ECS_CONTAINER_METADATA_URI_V4".into(),
        format!("{url}/v4/{token}"),
    ));
    if spec.task_role {
        spec.environment.push((
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            format!("{url}/v2/credentials"),
        ));
        spec.environment
            .push(("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), token.clone()));
    }
    spec.labels.insert(LABEL_ENDPOINT_TOKEN.into(), token);
}

/// The running endpoint; dropping it stops serving.
pub struct Endpoint {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Ctx {
    view: Arc<RwLock<View>>,
    runtime: Arc<dyn Runtime>,
    channel: Channel,
    /// ECS_ENABLE_TASK_IAM_ROLE: whether credentials are served at all.
    task_roles: bool,
}

impl Endpoint {
    /// Listens on `address:port` (adding `address` to the loopback interface when the
    /// host lacks it) and serves from `view`.
    pub async fn start(
        address: IpAddr,
        port: u16,
        view: Arc<RwLock<View>>,
        runtime: Arc<dyn Runtime>,
        channel: Channel,
        task_roles: bool,
    ) -> Result<Endpoint, String> {
        let listener = listen(address, port).await?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let ctx = Ctx {
            view,
            runtime,
            channel,
            task_roles,
        };
        let app = Router::new()
            .route("/v4/{token}", get(container))
            .route("/v4/{token}/task", get(task))
            .route("/v4/{token}/stats", get(container_stats))
            .route("/v4/{token}/task/stats", get(task_stats))
            .route("/v2/credentials", get(credentials))
            .route("/v2/credentials/{token}", get(credentials_by_path))
            .with_state(ctx);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the task metadata endpoint stopped");
            }
        });
        Ok(Endpoint {
            url: format!("http://{bound}"),
            server,
        })
    }

    /// The base URL containers use, e.g. `http://169.254.170.2:51679`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Listens at `address:port`, adding `address` to `lo` first when the host lacks it;
/// a port in use is an error that says how to give each agent its own.
async fn listen(address: IpAddr, port: u16) -> Result<tokio::net::TcpListener, String> {
    let at = SocketAddr::new(address, port);
    let listener = match tokio::net::TcpListener::bind(at).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            claim(address).await?;
            tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on {at}: {e}"))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!(
                "cannot listen on {at}: it is in use (another agent on this host?); give \
                 each agent its own port with BERTH_ENDPOINT_PORT (0 picks a free one)"
            ))
        }
        Err(e) => return Err(format!("cannot listen on {at}: {e}")),
    };
    Ok(listener)
}

/// Adds `address` to the loopback interface (needs CAP_NET_ADMIN).
async fn claim(address: IpAddr) -> Result<(), String> {
    let prefix = if address.is_ipv4() { 32 } else { 128 };
    let out = tokio::process::Command::new("ip")
        .args(["addr", "add", &format!("{address}/{prefix}"), "dev", "lo"])
        .output()
        .await
        .map_err(|e| format!("cannot run `ip` to add {address} to lo: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || stderr.contains("File exists") {
        Ok(())
    } else {
        Err(format!("cannot add {address} to lo: {}", stderr.trim()))
    }
}

fn not_found(what: &str, token: &str) -> Response {
    let message =
        format!("V4 {what} handler: unable to get task or container from endpoint ID: {token}");
    (StatusCode::NOT_FOUND, Json(Value::String(message))).into_response()
}

/// RFC 3339 in UTC, as the ECS agent writes times.
fn rfc3339(t: Timestamp) -> Option<String> {
    let nanos = (t.as_secs_f64() * 1e9) as i128;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn insert_if(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.into(), v);
    }
}

fn definition<'a>(entry: &'a TaskEntry, name: &str) -> Option<&'a ContainerDefinition> {
    entry
        .assignment
        .task_definition
        .container_definitions
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(name))
}

fn container_json(entry: &TaskEntry, c: &ContainerState) -> Value {
    let name = c.container_name().unwrap_or_default();
    let pause = name == PAUSE_CONTAINER_NAME;
    let def = definition(entry, name);
    let task = &entry.assignment.task;
    let mode = entry
        .assignment
        .task_definition
        .network_mode
        .unwrap_or(NetworkMode::Bridge);
    let known = match (c.phase, pause) {
        (Phase::Created, _) => "CREATED",
        (Phase::Running, true) => "RESOURCES_PROVISIONED",
        (Phase::Running, false) => "RUNNING",
        (Phase::Exited { .. }, _) => "STOPPED",
    };
    let desired = match (task.desired_status.as_deref(), pause) {
        (Some("STOPPED"), _) => "STOPPED",
        (_, true) => "RESOURCES_PROVISIONED",
        _ => "RUNNING",
    };
    let mut m = Map::new();
    m.insert("DockerId".into(), json!(c.id));
    m.insert("Name".into(), json!(name));
    m.insert("DockerName".into(), json!(c.details.runtime_name));
    m.insert("Image".into(), json!(c.details.image));
    m.insert("ImageID".into(), json!(c.details.image_id));
    let ports: Vec<Value> = match mode {
        NetworkMode::Bridge => c
            .details
            .ports
            .iter()
            .map(|p| {
                json!({"ContainerPort": p.container_port, "Protocol": p.protocol,
                       "HostPort": p.host_port, "HostIp": p.host_ip})
            })
            .collect(),
        _ => def
            .and_then(|d| d.port_mappings.as_ref())
            .into_iter()
            .flatten()
            .map(|p| {
                let protocol = p.protocol.map_or("tcp", |p| p.as_str());
                json!({"ContainerPort": p.container_port, "Protocol": protocol,
                       "HostPort": p.host_port.or(p.container_port)})
            })
            .collect(),
    };
    insert_if(&mut m, "Ports", (!ports.is_empty()).then(|| json!(ports)));
    let labels: Map<String, Value> = c
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("berth."))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    m.insert("Labels".into(), Value::Object(labels));
    m.insert("DesiredStatus".into(), json!(desired));
    m.insert("KnownStatus".into(), json!(known));
    if let Phase::Exited { code } = c.phase {
        m.insert("ExitCode".into(), json!(code));
    }
    let mut limits = Map::new();
    limits.insert(
        "CPU".into(),
        json!(def.and_then(|d| d.cpu).unwrap_or(0).max(2)),
    );
    insert_if(
        &mut limits,
        "Memory",
        def.and_then(|d| d.memory).map(|m| json!(m)),
    );
    m.insert("Limits".into(), Value::Object(limits));
    for (key, at) in [
        ("CreatedAt", &c.details.created_at),
        ("StartedAt", &c.details.started_at),
        ("FinishedAt", &c.details.finished_at),
    ] {
        insert_if(&mut m, key, (!at.is_empty()).then(|| json!(at)));
    }
    m.insert(
        "Type".into(),
        json!(if pause { "CNI_PAUSE" } else { "NORMAL" }),
    );
    let health = c.health.and_then(|h| match h.as_str() {
        "UNKNOWN" => None,
        s => Some(json!({ "status": s })),
    });
    insert_if(&mut m, "Health", health);
    if let Some(log) = def.and_then(|d| d.log_configuration.as_ref()) {
        m.insert("LogDriver".into(), json!(log.log_driver.as_str()));
        insert_if(&mut m, "LogOptions", log.options.as_ref().map(|o| json!(o)));
    }
    let arn = task
        .containers
        .iter()
        .flatten()
        .find(|k| k.name.as_deref() == Some(name))
        .and_then(|k| k.container_arn.clone());
    insert_if(&mut m, "ContainerARN", arn.map(Value::String));
    let network = match mode {
        NetworkMode::Awsvpc => {
            let ip = entry
                .containers
                .iter()
                .find(|p| p.container_name() == Some(PAUSE_CONTAINER_NAME))
                .and_then(|p| p.details.ipv4.clone());
            json!({"NetworkMode": "awsvpc", "IPv4Addresses": ip.into_iter().collect::<Vec<_>>(),
                   "AttachmentIndex": 0})
        }
        _ => {
            let mut n = Map::new();
            n.insert("NetworkMode".into(), json!(c.details.network));
            if let Some(ip) = &c.details.ipv4 {
                n.insert("IPv4Addresses".into(), json!([ip]));
            }
            Value::Object(n)
        }
    };
    m.insert("Networks".into(), json!([network]));
    Value::Object(m)
}

fn task_json(view: &View, entry: &TaskEntry) -> Value {
    let task = &entry.assignment.task;
    let def = &entry.assignment.task_definition;
    let fargate = task.launch_type == Some(LaunchType::Fargate);
    let cluster_arn = task.cluster_arn.clone().unwrap_or_default();
    let cluster = if fargate {
        cluster_arn.clone()
    } else {
        cluster_arn
            .rsplit_once("cluster/")
            .map_or(cluster_arn.clone(), |(_, n)| n.to_string())
    };
    let mut m = Map::new();
    m.insert("Cluster".into(), json!(cluster));
    m.insert("TaskARN".into(), json!(task.task_arn));
    m.insert("Family".into(), json!(def.family));
    m.insert("Revision".into(), json!(def.revision.to_string()));
    insert_if(
        &mut m,
        "DesiredStatus",
        task.desired_status.clone().map(Value::String),
    );
    m.insert(
        "KnownStatus".into(),
        json!(task.last_status.as_deref().unwrap_or("PENDING")),
    );
    let mut limits = Map::new();
    if let Some(cpu) = task.cpu.as_deref().and_then(|c| c.parse::<f64>().ok()) {
        limits.insert("CPU".into(), json!(cpu / 1024.0));
    }
    if let Some(mem) = task.memory.as_deref().and_then(|c| c.parse::<i64>().ok()) {
        limits.insert("Memory".into(), json!(mem));
    }
    if !limits.is_empty() {
        m.insert("Limits".into(), Value::Object(limits));
    }
    if let Some((started, stopped)) = entry.pulls {
        insert_if(&mut m, "PullStartedAt", rfc3339(started).map(Value::String));
        insert_if(&mut m, "PullStoppedAt", rfc3339(stopped).map(Value::String));
    }
    insert_if(
        &mut m,
        "ExecutionStoppedAt",
        task.execution_stopped_at
            .and_then(rfc3339)
            .map(Value::String),
    );
    insert_if(
        &mut m,
        "AvailabilityZone",
        view.availability_zone.clone().map(Value::String),
    );
    m.insert(
        "LaunchType".into(),
        json!(if fargate { "FARGATE" } else { "EC2" }),
    );
    let containers: Vec<Value> = entry
        .containers
        .iter()
        .map(|c| container_json(entry, c))
        .collect();
    m.insert("Containers".into(), json!(containers));
    let service = task
        .group
        .as_deref()
        .and_then(|g| g.strip_prefix("service:"));
    insert_if(&mut m, "ServiceName", service.map(|s| json!(s)));
    m.insert("FaultInjectionEnabled".into(), json!(false));
    Value::Object(m)
}

async fn container(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let view = ctx.view.read().expect("view lock");
    match view.lookup(&token) {
        Some((entry, c)) => Json(container_json(entry, c)).into_response(),
        None => not_found("container metadata", &token),
    }
}

async fn task(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let view = ctx.view.read().expect("view lock");
    match view.lookup(&token) {
        Some((entry, _)) => Json(task_json(&view, entry)).into_response(),
        None => not_found("task metadata", &token),
    }
}

async fn container_stats(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let id = {
        let view = ctx.view.read().expect("view lock");
        match view.lookup(&token) {
            Some((_, c)) => c.id.clone(),
            None => return not_found("container stats", &token),
        }
    };
    match ctx.runtime.stats(&id).await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(Value::String(format!(
                "Unable to get container stats for: {id}: {e}"
            ))),
        )
            .into_response(),
    }
}

async fn task_stats(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let ids: Vec<String> = {
        let view = ctx.view.read().expect("view lock");
        match view.lookup(&token) {
            Some((entry, _)) => entry.containers.iter().map(|c| c.id.clone()).collect(),
            None => return not_found("task stats", &token),
        }
    };
    let mut out = Map::new();
    for id in ids {
        let stats = ctx.runtime.stats(&id).await.unwrap_or_else(|_| json!({}));
        out.insert(id, stats);
    }
    Json(Value::Object(out)).into_response()
}

fn credentials_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "HTTPErrorCode": status.as_u16()});
    (status, Json(body)).into_response()
}

async fn credentials(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    serve_credentials(ctx, token).await
}

async fn credentials_by_path(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    serve_credentials(ctx, token).await
}

async fn serve_credentials(ctx: Ctx, token: String) -> Response {
    let found = {
        let view = ctx.view.read().expect("view lock");
        view.lookup(&token).map(|(entry, _)| {
            (
                entry.reporter.clone(),
                entry.assignment.task.task_arn.clone().unwrap_or_default(),
                entry
                    .assignment
                    .task
                    .overrides
                    .as_ref()
                    .and_then(|o| o.task_role_arn.as_ref())
                    .or(entry.assignment.task_definition.task_role_arn.as_ref())
                    .is_some(),
            )
        })
    };
    let Some((reporter, task_arn, has_role)) = found else {
        return credentials_error(
            StatusCode::BAD_REQUEST,
            "InvalidIdInRequest",
            "CredentialsV2Request: Credentials not found",
        );
    };
    if !ctx.task_roles {
        return credentials_error(
            StatusCode::BAD_REQUEST,
            "InvalidIdInRequest",
            "CredentialsV2Request: task roles are off on this agent (ECS_ENABLE_TASK_IAM_ROLE=false)",
        );
    }
    if !has_role {
        return credentials_error(
            StatusCode::BAD_REQUEST,
            "InvalidIdInRequest",
            "CredentialsV2Request: the task has no taskRoleArn",
        );
    }
    match ctx.channel.task_credentials(&reporter, &task_arn).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => credentials_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CredentialsUnavailable",
            &format!("CredentialsV2Request: {e}"),
        ),
    }
}

#[cfg(test)]
mod listen_tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_says_how_to_give_each_agent_its_own() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = listen(IpAddr::from([127, 0, 0, 1]), port)
            .await
            .unwrap_err();
        assert!(e.contains("BERTH_ENDPOINT_PORT"), "{e}");
        assert!(listen(IpAddr::from([127, 0, 0, 1]), 0).await.is_ok());
    }
}
