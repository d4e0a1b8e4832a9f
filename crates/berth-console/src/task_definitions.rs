//! Task definitions: families and their revisions, a revision's page (its JSON, a new
//! revision from it, deregistering it, running it as tasks), and a new task definition
//! from a form (what seed 001 fills in: compatibility, network mode, task size, roles,
//! one container with image, port and environment, awslogs on by default as in the ECS
//! console) or from JSON.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::list_of;
use crate::pages::text;
use crate::web::*;
use crate::{api, Console};

/// Members DescribeTaskDefinition reports that RegisterTaskDefinition does not take.
const REPORTED_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "enableFaultInjection",
];

/// A described revision as RegisterTaskDefinition takes it (its tags aside).
pub fn registrable(definition: &Value) -> Value {
    let mut out = definition.clone();
    if let Some(map) = out.as_object_mut() {
        for key in REPORTED_ONLY {
            map.remove(key);
        }
    }
    out
}

/// The fields of the new task definition form, as typed.
#[derive(Debug, Clone, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub compatibility: String,
    #[serde(default)]
    pub network_mode: String,
    #[serde(default)]
    pub cpu: String,
    #[serde(default)]
    pub memory: String,
    #[serde(default)]
    pub task_role_arn: String,
    #[serde(default)]
    pub execution_role_arn: String,
    #[serde(default)]
    pub container_name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub container_port: String,
    /// The command, comma-separated (as the ECS console takes it): `sleep,3600`.
    #[serde(default)]
    pub command: String,
    /// `NAME=VALUE`, one per line.
    #[serde(default)]
    pub environment: String,
    /// Present ("on") when the awslogs box is ticked.
    #[serde(default)]
    pub awslogs: Option<String>,
}

impl Default for NewForm {
    /// The ECS console's defaults: Fargate, awsvpc, 0.5 vCPU and 1 GB, awslogs on.
    fn default() -> NewForm {
        NewForm {
            csrf: String::new(),
            family: String::new(),
            compatibility: "FARGATE".into(),
            network_mode: "awsvpc".into(),
            cpu: "512".into(),
            memory: "1024".into(),
            task_role_arn: String::new(),
            execution_role_arn: String::new(),
            container_name: String::new(),
            image: String::new(),
            container_port: String::new(),
            command: String::new(),
            environment: String::new(),
            awslogs: Some("on".into()),
        }
    }
}

impl NewForm {
    /// The RegisterTaskDefinition request the form describes, or what is wrong with it.
    pub fn to_request(&self, region: &str) -> Result<Value, ApiError> {
        let invalid = |m: &str| ApiError::InvalidParameter(m.to_string());
        let family = self.family.trim();
        let mut container = json!({
            "name": self.container_name.trim(),
            "image": self.image.trim(),
            "essential": true,
        });
        let port = self.container_port.trim();
        if !port.is_empty() {
            let port: u16 = port
                .parse()
                .map_err(|_| invalid("The container port must be a number from 1 to 65535."))?;
            container["portMappings"] = json!([{ "containerPort": port, "protocol": "tcp" }]);
        }
        let command: Vec<&str> = self
            .command
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if !command.is_empty() {
            container["command"] = json!(command);
        }
        let mut environment = Vec::new();
        for line in self
            .environment
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (name, value) = line.split_once('=').ok_or_else(|| {
                invalid(&format!(
                    "Environment line '{line}' is not NAME=VALUE; write one variable per line."
                ))
            })?;
            environment.push(json!({ "name": name.trim(), "value": value }));
        }
        if !environment.is_empty() {
            container["environment"] = Value::from(environment);
        }
        if self.awslogs.is_some() {
            container["logConfiguration"] = json!({
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": format!("/ecs/{family}"),
                    "awslogs-region": region,
                    "awslogs-stream-prefix": "ecs",
                    "awslogs-create-group": "true",
                },
            });
        }
        let mut request = json!({
            "family": family,
            "requiresCompatibilities": [self.compatibility.trim()],
            "networkMode": self.network_mode.trim(),
            "containerDefinitions": [container],
        });
        for (member, value) in [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("taskRoleArn", &self.task_role_arn),
            ("executionRoleArn", &self.execution_role_arn),
        ] {
            if !value.trim().is_empty() {
                request[member] = Value::String(value.trim().to_string());
            }
        }
        Ok(request)
    }
}

fn select(name: &str, options: &[(&str, &str)], chosen: &str) -> Markup {
    html! {
        select name=(name) {
            @for (value, label) in options {
                option value=(value) selected[*value == chosen] { (label) }
            }
        }
    }
}

/// The new task definition page: the form, and the JSON editor beside it.
fn new_page(form: &NewForm, json_text: &str, csrf: &str) -> Markup {
    html! {
        p { a href="/console/task-definitions" { "All task definitions" } }
        h2 { "From a form" }
        form method="post" action="/console/task-definitions" id="new-task-definition" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Family " input name="family" value=(form.family) required; } }
            p { label { "Launch type " (select("compatibility", &[("FARGATE", "AWS Fargate"), ("EC2", "Amazon EC2 instances")], &form.compatibility)) } }
            p { label { "Network mode " (select("network_mode", &[("awsvpc", "awsvpc"), ("bridge", "bridge"), ("host", "host")], &form.network_mode)) } }
            p {
                label { "CPU " (select("cpu", &[("256", ".25 vCPU"), ("512", ".5 vCPU"), ("1024", "1 vCPU"), ("2048", "2 vCPU"), ("4096", "4 vCPU")], &form.cpu)) }
                label { " Memory (MiB) " input name="memory" value=(form.memory); }
                span.muted { " Fargate takes only its CPU and memory pairs (for .25 vCPU: 512, 1024 or 2048)." }
            }
            p { label { "Task role ARN " input name="task_role_arn" value=(form.task_role_arn) size="60"; } }
            p { label { "Task execution role ARN " input name="execution_role_arn" value=(form.execution_role_arn) size="60"; } }
            fieldset {
                legend { "Container" }
                p { label { "Name " input name="container_name" value=(form.container_name) required; } }
                p { label { "Image URI " input name="image" value=(form.image) size="60" required; } }
                p { label { "Container port " input name="container_port" value=(form.container_port); } }
                p { label { "Command (comma-separated) " input name="command" value=(form.command) size="60" placeholder="sleep,3600"; } }
                p { label { "Environment (NAME=VALUE per line)" br; textarea name="environment" rows="4" cols="60" { (form.environment) } } }
                p { label { input type="checkbox" name="awslogs" checked[form.awslogs.is_some()]; " Send logs to CloudWatch Logs (awslogs)" } }
            }
            button type="submit" { "Create" }
        }
        h2 { "From JSON" }
        form method="post" action="/console/task-definitions/json" {
            input type="hidden" name="csrf" value=(csrf);
            textarea name="definition" rows="16" cols="100" { (json_text) }
            br;
            button type="submit" { "Create from JSON" }
        }
    }
}

async fn list_view(c: &Console, r: &SignedInRequest) -> Result<Markup, ApiError> {
    let families = api::list_all(
        &c.front,
        &r.caller,
        "ListTaskDefinitionFamilies",
        json!({ "status": "ACTIVE" }),
        "families",
    )
    .await?;
    Ok(html! {
        p { a href="/console/task-definitions/new" { "Create new task definition" } }
        table id="families" {
            thead { tr { th { "Family" } } }
            tbody {
                @for f in &families {
                    tr { td { a href={ "/console/task-definitions/" (f) } { (f) } } }
                }
            }
        }
    })
}

/// `GET /console/task-definitions`: the active families.
pub(crate) async fn list_page(State(c): State<Arc<Console>>, r: SignedInRequest) -> Response {
    answer(&r, "Task definitions", list_view(&c, &r).await, None)
}

async fn family_view(c: &Console, r: &SignedInRequest, family: &str) -> Result<Markup, ApiError> {
    let arns = api::list_all(
        &c.front,
        &r.caller,
        "ListTaskDefinitions",
        json!({ "familyPrefix": family, "sort": "DESC", "status": "ACTIVE" }),
        "taskDefinitionArns",
    )
    .await?;
    Ok(html! {
        p { a href="/console/task-definitions" { "All task definitions" } }
        table id="revisions" {
            thead { tr { th { "Revision" } } }
            tbody {
                @for arn in &arns {
                    @let name = crate::pages::last_part(arn);
                    @let revision = name.rsplit(':').next().unwrap_or("");
                    tr { td { a href={ "/console/task-definitions/" (family) "/" (revision) } { (name) } } }
                }
            }
        }
    })
}

/// `GET /console/task-definitions/{family}`: its active revisions, newest first.
pub(crate) async fn family_page(
    State(c): State<Arc<Console>>,
    Path(family): Path<String>,
    r: SignedInRequest,
) -> Response {
    answer(
        &r,
        &format!("Task definition {family}"),
        family_view(&c, &r, &family).await,
        None,
    )
}

/// What the run form was given.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub launch_type: String,
    #[serde(default)]
    pub count: String,
    /// Comma-separated, for awsvpc.
    #[serde(default)]
    pub subnets: String,
    #[serde(default)]
    pub security_groups: String,
}

impl RunForm {
    /// The RunTask request for `task_definition`.
    pub fn to_request(&self, task_definition: &str) -> Result<Value, ApiError> {
        let count: u32 = match self.count.trim() {
            "" => 1,
            n => n.parse().map_err(|_| {
                ApiError::InvalidParameter("The number of tasks must be a whole number.".into())
            })?,
        };
        let mut request = json!({
            "cluster": self.cluster.trim(),
            "taskDefinition": task_definition,
            "count": count,
        });
        if !self.launch_type.trim().is_empty() {
            request["launchType"] = Value::String(self.launch_type.trim().to_string());
        }
        let subnets = list_of(&self.subnets);
        if !subnets.is_empty() {
            request["networkConfiguration"] = json!({ "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": list_of(&self.security_groups),
                "assignPublicIp": "ENABLED",
            }});
        }
        Ok(request)
    }
}

/// The forms on a revision's page, as typed (after a failed action) or empty.
#[derive(Debug, Default, Clone)]
pub(crate) struct Forms {
    pub run: RunForm,
    pub create: crate::services::CreateForm,
}

async fn revision_view(
    c: &Console,
    r: &SignedInRequest,
    family: &str,
    revision: &str,
    forms: &Forms,
) -> Result<Markup, ApiError> {
    let run = &forms.run;
    let found = api::ecs(
        &c.front,
        &r.caller,
        "DescribeTaskDefinition",
        json!({ "taskDefinition": format!("{family}:{revision}") }),
    )
    .await?;
    let def = &found["taskDefinition"];
    let pretty = serde_json::to_string_pretty(def).unwrap_or_default();
    let base = format!("/console/task-definitions/{family}/{revision}");
    let awsvpc = text(def, "networkMode") == "awsvpc";
    let fargate = def["requiresCompatibilities"]
        .as_array()
        .is_some_and(|c| c.iter().any(|v| v == "FARGATE"));
    let launch_type = if run.launch_type.is_empty() {
        if fargate {
            "FARGATE"
        } else {
            "EC2"
        }
    } else {
        run.launch_type.as_str()
    };
    Ok(html! {
        p { a href={ "/console/task-definitions/" (family) } { "All revisions of " (family) } }
        table {
            tr { th { "ARN" } td { (text(def, "taskDefinitionArn")) } }
            tr { th { "Status" } td { (text(def, "status")) } }
            tr { th { "Network mode" } td { (text(def, "networkMode")) } }
            tr { th { "CPU / memory" } td { (text(def, "cpu")) " / " (text(def, "memory")) } }
            tr { th { "Task role" } td { (text(def, "taskRoleArn")) } }
            tr { th { "Execution role" } td { (text(def, "executionRoleArn")) } }
        }
        p {
            a href={ "/console/task-definitions/new?from=" (family) ":" (revision) } { "Create new revision" }
        }
        @if text(def, "status") == "ACTIVE" {
            h2 { "Run task" }
            form method="post" action={ (base) "/run" } id="run-task" {
                input type="hidden" name="csrf" value=(r.csrf);
                label { "Cluster " input name="cluster" value=(if run.cluster.is_empty() { "default" } else { &run.cluster }) required; }
                label { " Launch type " (select("launch_type", &[("FARGATE", "FARGATE"), ("EC2", "EC2")], launch_type)) }
                label { " Tasks " input name="count" value=(if run.count.is_empty() { "1" } else { &run.count }) size="3"; }
                @if awsvpc {
                    label { " Subnets " input name="subnets" value=(run.subnets) placeholder="subnet-a, subnet-b"; }
                    label { " Security groups " input name="security_groups" value=(run.security_groups); }
                }
                button type="submit" { "Run" }
            }
            h2 { "Create service" }
            (crate::services::create_form(&base, &forms.create, launch_type, awsvpc, &r.csrf))
            h2 { "Deregister" }
            form method="post" action={ (base) "/deregister" } {
                input type="hidden" name="csrf" value=(r.csrf);
                button type="submit" { "Deregister revision " (revision) }
            }
        }
        h2 { "JSON" }
        pre id="definition-json" { (pretty) }
    })
}

/// A revision's page with `forms` as typed and `error` from a failed action.
pub(crate) async fn revision_answer(
    c: &Console,
    r: &SignedInRequest,
    family: &str,
    revision: &str,
    forms: &Forms,
    error: Option<&ApiError>,
) -> Response {
    let shown = revision_view(c, r, family, revision, forms).await;
    answer(
        r,
        &format!("Task definition {family}:{revision}"),
        shown,
        error,
    )
}

/// `GET /console/task-definitions/{family}/{revision}`.
pub(crate) async fn revision_page(
    State(c): State<Arc<Console>>,
    Path((family, revision)): Path<(String, String)>,
    r: SignedInRequest,
) -> Response {
    revision_answer(&c, &r, &family, &revision, &Forms::default(), None).await
}

/// `POST .../run`: RunTask, then the cluster's page; an error shows on the revision's
/// page with the form as typed.
pub(crate) async fn run(
    State(c): State<Arc<Console>>,
    Path((family, revision)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<RunForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let outcome = match form.to_request(&format!("{family}:{revision}")) {
        Ok(request) => api::ecs(&c.front, &r.caller, "RunTask", request).await,
        Err(e) => Err(e),
    };
    // RunTask reports placement failures in `failures`, not as an error.
    let outcome = outcome.and_then(|answer| match api::objects(&answer, "failures").first() {
        Some(f) if api::objects(&answer, "tasks").is_empty() => {
            Err(ApiError::InvalidParameter(format!(
                "No task was placed: {} {}",
                text(f, "reason"),
                text(f, "detail")
            )))
        }
        _ => Ok(()),
    });
    match outcome {
        Ok(()) => {
            Redirect::to(&format!("/console/clusters/{}", form.cluster.trim())).into_response()
        }
        Err(e) => {
            let forms = Forms {
                run: form,
                ..Forms::default()
            };
            revision_answer(&c, &r, &family, &revision, &forms, Some(&e)).await
        }
    }
}

/// `POST .../deregister`.
pub(crate) async fn deregister(
    State(c): State<Arc<Console>>,
    Path((family, revision)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let body = json!({ "taskDefinition": format!("{family}:{revision}") });
    match api::ecs(&c.front, &r.caller, "DeregisterTaskDefinition", body).await {
        Ok(_) => {
            Redirect::to(&format!("/console/task-definitions/{family}/{revision}")).into_response()
        }
        Err(e) => revision_answer(&c, &r, &family, &revision, &Forms::default(), Some(&e)).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewQuery {
    from: Option<String>,
}

/// `GET /console/task-definitions/new[?from=FAMILY:REVISION]`: the form, and the JSON
/// editor holding the revision a new one starts from.
pub(crate) async fn new_page_handler(
    State(c): State<Arc<Console>>,
    Query(query): Query<NewQuery>,
    r: SignedInRequest,
) -> Response {
    let mut form = NewForm::default();
    let json_text = match &query.from {
        Some(from) => {
            let found = api::ecs(
                &c.front,
                &r.caller,
                "DescribeTaskDefinition",
                json!({ "taskDefinition": from }),
            )
            .await;
            match found {
                Ok(found) => {
                    form.family = text(&found["taskDefinition"], "family").to_string();
                    serde_json::to_string_pretty(&registrable(&found["taskDefinition"]))
                        .unwrap_or_default()
                }
                Err(e) => {
                    return answer(
                        &r,
                        "New task definition",
                        Ok(new_page(&form, "", &r.csrf)),
                        Some(&e),
                    )
                }
            }
        }
        None => String::new(),
    };
    answer(
        &r,
        "New task definition",
        Ok(new_page(&form, &json_text, &r.csrf)),
        None,
    )
}

/// Registers `request`; the new revision's page, or the form as typed with the error.
async fn register(
    c: &Console,
    r: &SignedInRequest,
    request: Result<Value, ApiError>,
    form: &NewForm,
    json_text: &str,
) -> Response {
    let outcome = match request {
        Ok(request) => api::ecs(&c.front, &r.caller, "RegisterTaskDefinition", request).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(done) => {
            let def = &done["taskDefinition"];
            let revision = def["revision"].as_i64().unwrap_or(1);
            Redirect::to(&format!(
                "/console/task-definitions/{}/{revision}",
                text(def, "family")
            ))
            .into_response()
        }
        Err(e) => answer(
            r,
            "New task definition",
            Ok(new_page(form, json_text, &r.csrf)),
            Some(&e),
        ),
    }
}

/// `POST /console/task-definitions`: from the form.
pub(crate) async fn create_from_form(
    State(c): State<Arc<Console>>,
    r: SignedInRequest,
    Form(form): Form<NewForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let request = form.to_request(&r.session.region);
    register(&c, &r, request, &form, "").await
}

#[derive(Debug, Deserialize)]
pub(crate) struct JsonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    definition: String,
}

/// `POST /console/task-definitions/json`: from the JSON editor.
pub(crate) async fn create_from_json(
    State(c): State<Arc<Console>>,
    r: SignedInRequest,
    Form(form): Form<JsonForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let request = serde_json::from_str::<Value>(&form.definition).map_err(|e| {
        ApiError::Serialization(format!("The task definition is not valid JSON: {e}"))
    });
    register(&c, &r, request, &NewForm::default(), &form.definition).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_consoles_default_task_definition() {
        let form = NewForm {
            family: "web".into(),
            container_name: "app".into(),
            image: "nginx".into(),
            container_port: "80".into(),
            command: "sh, -c, echo hi".into(),
            environment: "A=1\n\n B = two=2 \n".into(),
            task_role_arn: "arn:aws:iam::1:role/t".into(),
            ..NewForm::default()
        };
        let req = form.to_request("eu-west-1").unwrap();
        assert_eq!(req["requiresCompatibilities"], json!(["FARGATE"]));
        assert_eq!(
            (req["cpu"].as_str(), req["memory"].as_str()),
            (Some("512"), Some("1024"))
        );
        assert_eq!(req["taskRoleArn"], "arn:aws:iam::1:role/t");
        assert!(req.get("executionRoleArn").is_none());
        let c = &req["containerDefinitions"][0];
        assert_eq!(
            c["portMappings"],
            json!([{"containerPort": 80, "protocol": "tcp"}])
        );
        assert_eq!(
            c["environment"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": " two=2"}])
        );
        assert_eq!(
            c["logConfiguration"]["options"]["awslogs-group"],
            "/ecs/web"
        );
        assert_eq!(
            c["logConfiguration"]["options"]["awslogs-region"],
            "eu-west-1"
        );
    }

    #[test]
    fn a_form_says_what_is_wrong_with_it() {
        let bad_port = NewForm {
            container_port: "http".into(),
            ..NewForm::default()
        };
        assert!(bad_port
            .to_request("r")
            .unwrap_err()
            .to_string()
            .contains("container port"));
        let bad_env = NewForm {
            environment: "JUSTANAME".into(),
            ..NewForm::default()
        };
        assert!(bad_env
            .to_request("r")
            .unwrap_err()
            .to_string()
            .contains("'JUSTANAME'"));
        let no_logs = NewForm {
            awslogs: None,
            ..NewForm::default()
        };
        assert!(no_logs.to_request("r").unwrap()["containerDefinitions"][0]
            .get("logConfiguration")
            .is_none());
    }

    #[test]
    fn a_described_revision_registers_again_without_its_reported_members() {
        let described = json!({"family": "web", "revision": 3, "status": "ACTIVE",
            "taskDefinitionArn": "arn", "compatibilities": ["EC2"], "containerDefinitions": []});
        assert_eq!(
            registrable(&described),
            json!({"family": "web", "containerDefinitions": []})
        );
    }

    #[test]
    fn the_run_form_becomes_run_task() {
        let run = RunForm {
            cluster: " c1 ".into(),
            launch_type: "FARGATE".into(),
            count: "2".into(),
            subnets: "subnet-a, subnet-b".into(),
            security_groups: "sg-1".into(),
            ..RunForm::default()
        };
        let req = run.to_request("web:3").unwrap();
        assert_eq!(req["cluster"], "c1");
        assert_eq!(req["count"], 2);
        assert_eq!(
            req["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
            json!(["subnet-a", "subnet-b"])
        );
        let bad = RunForm {
            count: "many".into(),
            ..RunForm::default()
        };
        assert!(bad.to_request("web:3").is_err());
    }
}
