//! Services: a service's page (health, deployments with their rollout, events, its
//! tasks, its load balancers with their listener URLs and targets, its CPU and memory
//! charts, its logs) with its actions (desired count, task definition revision, force
//! new deployment; delete), and creating one from a task definition revision, behind a
//! target group given or made with its load balancer and listener, as the ECS console's
//! wizard (and seed 001) does.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::load_balancers::{call, listener_url};
use crate::pages::list_of;
use crate::pages::{last_part, number, tasks_table, text};
use crate::query::{field, members};
use crate::web::*;
use crate::{api, Console};

/// Events a service page shows, newest first.
const EVENTS_SHOWN: usize = 25;

/// The service and its tasks, as the signed-in principal reads them.
async fn load(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    name: &str,
) -> Result<(Value, Vec<Value>), ApiError> {
    let (front, caller) = (&c.front, &r.caller);
    let found = api::ecs(
        front,
        caller,
        "DescribeServices",
        json!({ "cluster": cluster, "services": [name] }),
    )
    .await?;
    let Some(s) = api::objects(&found, "services").first().cloned() else {
        return Err(ApiError::ServiceNotFound("Service not found.".into()));
    };
    let task_arns = api::list_all(
        front,
        caller,
        "ListTasks",
        json!({ "cluster": cluster, "serviceName": name }),
        "taskArns",
    )
    .await?;
    let tasks = api::Describe {
        action: "DescribeTasks",
        base: json!({ "cluster": cluster }),
        member: "tasks",
        batch: 100,
        key: "tasks",
    }
    .run(front, caller, &task_arns)
    .await?;
    Ok((s, tasks))
}

/// One of the service's load balancers as its page shows it.
#[derive(Debug, Default)]
struct Balanced {
    /// Its target group's targets: id, port and state; `None` when the principal may
    /// not read them.
    targets: Option<Vec<(String, String, String)>>,
    /// The URLs of the listeners that forward to the target group.
    urls: Vec<String>,
}

impl Balanced {
    fn healthy(&self) -> Option<(usize, usize)> {
        let targets = self.targets.as_ref()?;
        let healthy = targets.iter().filter(|(_, _, s)| s == "healthy").count();
        Some((healthy, targets.len()))
    }
}

/// Each of the service's load balancers: its target group's targets
/// (DescribeTargetHealth) and the URLs of the listeners forwarding to it (the group's
/// load balancers, their DNS names and listeners), read with ELBv2 as the principal; what
/// it may not read stays empty.
async fn networking(c: &Console, r: &SignedInRequest, s: &Value) -> Vec<Balanced> {
    let mut out = Vec::new();
    for lb in api::objects(s, "loadBalancers") {
        let group = text(lb, "targetGroupArn").to_string();
        let mut shown = Balanced::default();
        if let Ok(xml) = call(
            c,
            r,
            &[
                ("Action", "DescribeTargetHealth"),
                ("TargetGroupArn", &group),
            ],
        )
        .await
        {
            let target = |t: &str, tag| field(t, tag).unwrap_or_default();
            shown.targets = Some(
                members(&xml)
                    .iter()
                    .map(|t| (target(t, "Id"), target(t, "Port"), target(t, "State")))
                    .collect(),
            );
        }
        let balancers = call(
            c,
            r,
            &[
                ("Action", "DescribeTargetGroups"),
                ("TargetGroupArns.member.1", &group),
            ],
        )
        .await
        .ok()
        .and_then(|xml| field(&xml, "LoadBalancerArns"))
        .map(|arns| {
            members(&arns)
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
        for arn in balancers {
            let described = call(
                c,
                r,
                &[
                    ("Action", "DescribeLoadBalancers"),
                    ("LoadBalancerArns.member.1", &arn),
                ],
            )
            .await;
            let listeners = call(
                c,
                r,
                &[("Action", "DescribeListeners"), ("LoadBalancerArn", &arn)],
            )
            .await;
            let (Ok(described), Ok(listeners)) = (described, listeners) else {
                continue;
            };
            let dns = field(&described, "DNSName").unwrap_or_default();
            for l in members(&listeners) {
                if field(l, "TargetGroupArn").as_deref() == Some(group.as_str()) {
                    let (protocol, port) = (
                        field(l, "Protocol").unwrap_or_default(),
                        field(l, "Port").unwrap_or_default(),
                    );
                    shown.urls.push(listener_url(&protocol, &dns, &port));
                }
            }
        }
        out.push(shown);
    }
    out
}

/// What changes as the service runs (`#service-view`): health, deployments,
/// networking, tasks, events.
fn state(cluster: &str, s: &Value, tasks: &[Value], balanced: &[Balanced]) -> Markup {
    html! {
        div id="service-view" {
            h2 { "Health" }
            table id="service-health" {
                tr { th { "Status" } td.status { (text(s, "status")) } }
                tr { th { "Desired" } td { (number(s, "desiredCount")) } }
                tr { th { "Running" } td.running { (number(s, "runningCount")) } }
                tr { th { "Pending" } td { (number(s, "pendingCount")) } }
                tr { th { "Task definition" } td { (last_part(text(s, "taskDefinition"))) } }
                tr { th { "Launch type" } td { (text(s, "launchType")) } }
            }
            h2 { "Deployments" }
            table id="deployments" {
                thead { tr { th { "Deployment" } th { "Status" } th { "Task definition" } th { "Desired" } th { "Running" } th { "Pending" } th { "Failed" } th { "Rollout" } } }
                tbody {
                    @for d in api::objects(s, "deployments") {
                        tr {
                            td { (text(d, "id")) }
                            td { (text(d, "status")) }
                            td { (last_part(text(d, "taskDefinition"))) }
                            td { (number(d, "desiredCount")) }
                            td { (number(d, "runningCount")) }
                            td { (number(d, "pendingCount")) }
                            td { (number(d, "failedTasks")) }
                            td.rollout { (text(d, "rolloutState")) " " span.muted { (text(d, "rolloutStateReason")) } }
                        }
                    }
                }
            }
            h2 { "Networking" }
            table id="load-balancers" {
                thead { tr { th { "Target group" } th { "Container" } th { "Port" } th { "Listener URLs" } th { "Healthy targets" } } }
                tbody {
                    @for (i, lb) in api::objects(s, "loadBalancers").iter().enumerate() {
                        @let shown = balanced.get(i);
                        tr {
                            td { (text(lb, "targetGroupArn")) }
                            td { (text(lb, "containerName")) }
                            td { (number(lb, "containerPort")) }
                            td.urls { @for url in shown.map(|b| b.urls.as_slice()).unwrap_or_default() { a href=(url) { (url) } " " } }
                            td.healthy { @if let Some((healthy, all)) = shown.and_then(Balanced::healthy) { (healthy) " of " (all) } }
                        }
                    }
                }
            }
            @for (i, lb) in api::objects(s, "loadBalancers").iter().enumerate() {
                @if let Some(targets) = balanced.get(i).and_then(|b| b.targets.as_ref()) {
                    // targetgroup/NAME/ID
                    h3 { "Targets of " (text(lb, "targetGroupArn").split('/').nth(1).unwrap_or_default()) }
                    table.targets {
                        thead { tr { th { "Target" } th { "Port" } th { "State" } } }
                        tbody {
                            @for (id, port, state) in targets {
                                tr { td { (id) } td { (port) } td.state { (state) } }
                            }
                        }
                    }
                }
            }
            h2 { "Tasks" }
            (tasks_table(cluster, tasks))
            h2 { "Events" }
            table id="events" {
                @for e in api::objects(s, "events").iter().take(EVENTS_SHOWN) {
                    tr { td { (text(e, "message")) } }
                }
            }
        }
    }
}

/// The service's forms: update (desired count, revision, force new deployment) and
/// delete.
fn actions(base: &str, s: &Value, csrf: &str) -> Markup {
    let name = text(s, "serviceName");
    html! {
        @if text(s, "status") == "ACTIVE" {
            h2 { "Update" }
            form method="post" action={ (base) "/update" } id="update-service" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Desired tasks " input name="desired_count" value=(number(s, "desiredCount")) size="4"; }
                label { " Task definition " input name="task_definition" value=(last_part(text(s, "taskDefinition"))); }
                label { " " input type="checkbox" name="force_new_deployment"; " Force new deployment" }
                " " button type="submit" { "Update" }
            }
            h2 { "Delete" }
            form method="post" action={ (base) "/delete" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Delete service " (name) } " " span.muted { "(its tasks stop)" }
            }
        }
    }
}

/// The service's page with `error` from a failed action above it; it follows the
/// service while open.
async fn service_answer(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    name: &str,
    error: Option<&ApiError>,
) -> Response {
    let base = format!("/console/clusters/{cluster}/services/{name}");
    let shown = match load(c, r, cluster, name).await {
        Ok((s, tasks)) => {
            let balanced = networking(c, r, &s).await;
            let metrics = crate::metrics::service_section(c, r, cluster, name, &tasks).await;
            let definition = api::ecs(
                &c.front,
                &r.caller,
                "DescribeTaskDefinition",
                json!({ "taskDefinition": s["taskDefinition"] }),
            )
            .await;
            let logs = match definition {
                Ok(d) => crate::logs::service_section(c, r, &d["taskDefinition"], &tasks).await,
                Err(e) => html! { h2 { "Logs" } div.error role="alert" { (words(&e)) } },
            };
            Ok(html! {
                (state(cluster, &s, &tasks, &balanced))
                (actions(&base, &s, &r.csrf))
                (crate::pages::live("service-view", &format!("{base}/stream")))
                (metrics)
                (logs)
            })
        }
        Err(e) => Err(e),
    };
    answer(r, &format!("Service {name}"), shown, error)
}

/// The live part of a service's page (`#service-view`), for its stream.
pub(crate) async fn service_live(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    name: &str,
) -> Result<Markup, ApiError> {
    let (s, tasks) = load(c, r, cluster, name).await?;
    let balanced = networking(c, r, &s).await;
    Ok(state(cluster, &s, &tasks, &balanced))
}

/// `GET /console/clusters/{cluster}/services/{service}`.
pub(crate) async fn service_page(
    State(c): State<Arc<Console>>,
    Path((cluster, name)): Path<(String, String)>,
    r: SignedInRequest,
) -> Response {
    service_answer(&c, &r, &cluster, &name, None).await
}

/// What the update form was given.
#[derive(Debug, Deserialize)]
pub(crate) struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    desired_count: String,
    #[serde(default)]
    task_definition: String,
    #[serde(default)]
    force_new_deployment: Option<String>,
}

impl UpdateForm {
    fn to_request(&self, cluster: &str, service: &str) -> Result<Value, ApiError> {
        let mut request = json!({ "cluster": cluster, "service": service });
        let desired = self.desired_count.trim();
        if !desired.is_empty() {
            let n: u32 = desired.parse().map_err(|_| {
                ApiError::InvalidParameter("The desired count must be a whole number.".into())
            })?;
            request["desiredCount"] = json!(n);
        }
        if !self.task_definition.trim().is_empty() {
            request["taskDefinition"] = json!(self.task_definition.trim());
        }
        if self.force_new_deployment.is_some() {
            request["forceNewDeployment"] = json!(true);
        }
        Ok(request)
    }
}

/// `POST .../update`: UpdateService.
pub(crate) async fn update(
    State(c): State<Arc<Console>>,
    Path((cluster, name)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<UpdateForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let outcome = match form.to_request(&cluster, &name) {
        Ok(request) => api::ecs(&c.front, &r.caller, "UpdateService", request).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => {
            Redirect::to(&format!("/console/clusters/{cluster}/services/{name}")).into_response()
        }
        Err(e) => service_answer(&c, &r, &cluster, &name, Some(&e)).await,
    }
}

/// `POST .../delete`: DeleteService with force (its tasks stop).
pub(crate) async fn delete(
    State(c): State<Arc<Console>>,
    Path((cluster, name)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let body = json!({ "cluster": cluster, "service": name, "force": true });
    match api::ecs(&c.front, &r.caller, "DeleteService", body).await {
        Ok(_) => Redirect::to(&format!("/console/clusters/{cluster}")).into_response(),
        Err(e) => service_answer(&c, &r, &cluster, &name, Some(&e)).await,
    }
}

/// What the create-service form (on a revision's page) was given.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub desired_count: String,
    #[serde(default)]
    pub launch_type: String,
    #[serde(default)]
    pub subnets: String,
    #[serde(default)]
    pub security_groups: String,
    #[serde(default)]
    pub target_group_arn: String,
    #[serde(default)]
    pub container_name: String,
    #[serde(default)]
    pub container_port: String,
    #[serde(default)]
    pub grace_period: String,
    /// A listener port: when given (and no target group), the wizard makes a load
    /// balancer named after the service, a target group and a listener forwarding to it.
    #[serde(default)]
    pub listener_port: String,
    #[serde(default)]
    pub health_check_path: String,
}

fn whole(given: &str, what: &str) -> Result<Option<u32>, ApiError> {
    match given.trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| ApiError::InvalidParameter(format!("{what} must be a whole number."))),
    }
}

impl CreateForm {
    /// The CreateService request for `task_definition`.
    pub fn to_request(&self, task_definition: &str) -> Result<Value, ApiError> {
        let mut request = json!({
            "cluster": self.cluster.trim(),
            "serviceName": self.service_name.trim(),
            "taskDefinition": task_definition,
            "desiredCount": whole(&self.desired_count, "The desired count")?.unwrap_or(1),
        });
        if !self.launch_type.trim().is_empty() {
            request["launchType"] = json!(self.launch_type.trim());
        }
        let subnets = list_of(&self.subnets);
        if !subnets.is_empty() {
            request["networkConfiguration"] = json!({ "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": list_of(&self.security_groups),
                "assignPublicIp": "ENABLED",
            }});
        }
        if !self.target_group_arn.trim().is_empty() {
            let port = whole(&self.container_port, "The container port")?.ok_or_else(|| {
                ApiError::InvalidParameter(
                    "A load balancer needs the container port its target group sends to.".into(),
                )
            })?;
            request["loadBalancers"] = json!([{
                "targetGroupArn": self.target_group_arn.trim(),
                "containerName": self.container_name.trim(),
                "containerPort": port,
            }]);
        }
        if let Some(grace) = whole(&self.grace_period, "The health check grace period")? {
            request["healthCheckGracePeriodSeconds"] = json!(grace);
        }
        Ok(request)
    }
}

/// The create-service form for the revision `family:revision`, as typed so far.
pub fn create_form(
    base: &str,
    form: &CreateForm,
    launch_type: &str,
    awsvpc: bool,
    csrf: &str,
) -> Markup {
    let or = |given: &str, default: &'static str| -> String {
        if given.is_empty() {
            default.to_string()
        } else {
            given.to_string()
        }
    };
    html! {
        form method="post" action={ (base) "/create-service" } id="create-service" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="launch_type" value=(launch_type);
            p {
                label { "Cluster " input name="cluster" value=(or(&form.cluster, "default")) required; }
                label { " Service name " input name="service_name" value=(form.service_name) required; }
                label { " Desired tasks " input name="desired_count" value=(or(&form.desired_count, "1")) size="3"; }
            }
            @if awsvpc {
                p {
                    label { "Subnets " input name="subnets" value=(form.subnets); }
                    label { " Security groups " input name="security_groups" value=(form.security_groups); }
                }
            }
            p {
                "Load balancing: give a listener port to have a load balancer, target group and listener made for the service, or an existing target group's ARN."
            }
            p {
                label { "Listener port " input name="listener_port" value=(form.listener_port) size="5"; }
                label { " Health check path " input name="health_check_path" value=(or(&form.health_check_path, "/")) size="20"; }
            }
            p {
                label { "Target group ARN " input name="target_group_arn" value=(form.target_group_arn) size="60"; }
                label { " Container " input name="container_name" value=(form.container_name); }
                label { " Port " input name="container_port" value=(form.container_port) size="5"; }
                label { " Health check grace period (s) " input name="grace_period" value=(form.grace_period) size="4"; }
            }
            button type="submit" { "Create service" }
        }
    }
}

/// The wizard's load balancing: when the form names a listener port and no target group,
/// a load balancer named after the service (made if missing), a target group for the
/// container (`ip` targets for awsvpc, `instance` otherwise) and a listener forwarding
/// to it, each the principal's own ELBv2 call; the form then names the new group.
async fn make_listener(
    c: &Console,
    r: &SignedInRequest,
    family: &str,
    revision: &str,
    form: &mut CreateForm,
) -> Result<(), ApiError> {
    let port = form.listener_port.trim().to_string();
    if port.is_empty() || !form.target_group_arn.trim().is_empty() {
        return Ok(());
    }
    let container_port = form.container_port.trim().to_string();
    if container_port.is_empty() || form.container_name.trim().is_empty() {
        return Err(ApiError::InvalidParameter(
            "A listener needs the container and port its target group sends to.".into(),
        ));
    }
    let def = api::ecs(
        &c.front,
        &r.caller,
        "DescribeTaskDefinition",
        json!({ "taskDefinition": format!("{family}:{revision}") }),
    )
    .await?;
    let target_type = if text(&def["taskDefinition"], "networkMode") == "awsvpc" {
        "ip"
    } else {
        "instance"
    };
    let elb = |params: Vec<(&'static str, String)>| async move {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        call(c, r, &borrowed).await
    };
    let name = form.service_name.trim().to_string();
    let lb = match elb(vec![
        ("Action", "DescribeLoadBalancers".into()),
        ("Names.member.1", name.clone()),
    ])
    .await
    {
        Ok(found) if !members(&found).is_empty() => found,
        _ => {
            elb(vec![
                ("Action", "CreateLoadBalancer".into()),
                ("Name", name.clone()),
            ])
            .await?
        }
    };
    let lb_arn = field(&lb, "LoadBalancerArn").unwrap_or_default();
    let path = if form.health_check_path.trim().is_empty() {
        "/".to_string()
    } else {
        form.health_check_path.trim().to_string()
    };
    let tg = elb(vec![
        ("Action", "CreateTargetGroup".into()),
        ("Name", format!("{name}-tg")),
        ("Protocol", "HTTP".into()),
        ("Port", container_port),
        ("TargetType", target_type.into()),
        ("HealthCheckPath", path),
    ])
    .await?;
    let tg_arn = field(&tg, "TargetGroupArn").unwrap_or_default();
    elb(vec![
        ("Action", "CreateListener".into()),
        ("LoadBalancerArn", lb_arn),
        ("Protocol", "HTTP".into()),
        ("Port", port),
        ("DefaultActions.member.1.Type", "forward".into()),
        ("DefaultActions.member.1.TargetGroupArn", tg_arn.clone()),
    ])
    .await?;
    form.target_group_arn = tg_arn;
    Ok(())
}

/// `POST /console/task-definitions/{family}/{revision}/create-service`.
pub(crate) async fn create(
    State(c): State<Arc<Console>>,
    Path((family, revision)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let mut form = form;
    let outcome = match make_listener(&c, &r, &family, &revision, &mut form).await {
        Ok(()) => match form.to_request(&format!("{family}:{revision}")) {
            Ok(request) => api::ecs(&c.front, &r.caller, "CreateService", request).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Redirect::to(&format!(
            "/console/clusters/{}/services/{}",
            form.cluster.trim(),
            form.service_name.trim()
        ))
        .into_response(),
        Err(e) => {
            let forms = crate::task_definitions::Forms {
                create: form,
                ..Default::default()
            };
            crate::task_definitions::revision_answer(&c, &r, &family, &revision, &forms, Some(&e))
                .await
        }
    }
}
