//! The console's HTML: one function per page, over the JSON the API answered. maud
//! escapes every interpolated string, so a task definition family or an environment
//! value holding markup shows as text.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

use crate::api::objects;

/// The stylesheet, small and inline: no asset to fetch.
const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#16191f}\
header{background:#232f3e;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}\
header a{color:#fff}header form{margin-left:auto}main{padding:1em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #d5dbdb;padding:.3em .6em;text-align:left}\
.error{background:#fde8e8;border:1px solid #d13212;padding:.6em;margin:.5em 0}\
.muted{color:#687078}\
figure.chart{margin:.5em 0 1em;max-width:640px}figure.chart svg{width:100%;height:auto;border:1px solid #d5dbdb}\
.legend{margin:.2em 0;font-size:.9em}";

/// A page around `body`: the header (with who is signed in and a logout form, when
/// someone is), the title, and an error message when the last action failed.
pub fn layout(title: &str, who: Option<(&str, &str)>, error: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " - Berth" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Berth" }
                    @if let Some((principal, csrf)) = who {
                        a href="/console/clusters" { "Clusters" }
                        a href="/console/task-definitions" { "Task definitions" }
                        a href="/console/repositories" { "Repositories" }
                        a href="/console/load-balancers" { "Load balancers" }
                        a href="/console/iam" { "IAM" }
                        span.muted { (principal) }
                        form method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(e) = error {
                        div.error role="alert" { (e) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A script that keeps the element `id` up to date from the server-sent events at
/// `stream` (each event's data is the element's new HTML), without reloading the page.
pub fn live(id: &str, stream: &str) -> Markup {
    let script = format!(
        "(function(){{var s=new EventSource({stream:?});s.addEventListener('update',function(e){{\
         var el=document.getElementById({id:?});if(el){{el.outerHTML=e.data;}}}});}})();"
    );
    html! { script { (PreEscaped(script)) } }
}

/// What the sign-in form keeps of what was typed (never a secret or password).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub csrf: String,
}

/// The sign-in page: an IAM user's name and console password, or an access key pair.
pub fn sign_in(form: &SignInForm, csrf: &str, default_region: &str, error: Option<&str>) -> Markup {
    let region = if form.region.is_empty() {
        default_region
    } else {
        &form.region
    };
    layout(
        "Sign in",
        None,
        error,
        html! {
            form method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { "IAM user" }
                    label { "User name " input name="user_name" value=(form.user_name) autocomplete="username"; }
                    label { " Password " input type="password" name="password" autocomplete="current-password"; }
                    button type="submit" name="method" value="password" { "Sign in" }
                }
                fieldset {
                    legend { "Access key" }
                    label { "Access key ID " input name="access_key_id" value=(form.access_key_id); }
                    label { " Secret access key " input type="password" name="secret_access_key"; }
                    button type="submit" name="method" value="key" { "Sign in with the key" }
                }
                label { "Region " input name="region" value=(region); }
            }
        },
    )
}

pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

pub(crate) fn number(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

/// The items of a comma-separated form field (subnets, security groups), trimmed.
pub fn list_of(given: &str) -> Vec<String> {
    given
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The last part of an ARN (a task's id, a service's name).
pub fn last_part(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The clusters page: each with its counts, a form to create one, and delete buttons.
pub fn clusters(clusters: &[Value], csrf: &str) -> Markup {
    html! {
        table {
            thead { tr { th { "Cluster" } th { "Services" } th { "Running tasks" } th { "Pending tasks" } th { "Container instances" } th { "Status" } th {} } }
            tbody {
                @for c in clusters {
                    @let name = text(c, "clusterName");
                    tr {
                        td { a href={ "/console/clusters/" (name) } { (name) } }
                        td { (number(c, "activeServicesCount")) }
                        td { (number(c, "runningTasksCount")) }
                        td { (number(c, "pendingTasksCount")) }
                        td { (number(c, "registeredContainerInstancesCount")) }
                        td { (text(c, "status")) }
                        td {
                            form method="post" action={ "/console/clusters/" (name) "/delete" } {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create a cluster" }
        form method="post" action="/console/clusters" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Name " input name="cluster_name" required; }
            button type="submit" { "Create" }
        }
    }
}

/// A task's private IP: its ENI's, else its containers' first.
fn private_ip(task: &Value) -> String {
    for attachment in objects(task, "attachments") {
        for d in objects(attachment, "details") {
            if text(d, "name") == "privateIPv4Address" {
                return text(d, "value").to_string();
            }
        }
    }
    objects(task, "containers")
        .iter()
        .flat_map(|c| objects(c, "networkInterfaces"))
        .map(|n| text(n, "privateIpv4Address").to_string())
        .find(|ip| !ip.is_empty())
        .unwrap_or_default()
}

/// Host ports of a task's containers, `container:host->container`.
fn host_ports(task: &Value) -> String {
    let mut out = Vec::new();
    for c in objects(task, "containers") {
        for b in objects(c, "networkBindings") {
            out.push(format!(
                "{}->{}",
                number(b, "hostPort"),
                number(b, "containerPort")
            ));
        }
    }
    out.join(", ")
}

/// Exit codes of a stopped task's containers.
fn exit_codes(task: &Value) -> String {
    objects(task, "containers")
        .iter()
        .filter_map(|c| {
            c["exitCode"]
                .as_i64()
                .map(|code| format!("{}: {code}", text(c, "name")))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parts of a cluster page.
pub struct ClusterView<'a> {
    pub name: &'a str,
    pub services: &'a [Value],
    pub tasks: &'a [Value],
    pub instances: &'a [Value],
    /// Which tasks are listed: RUNNING or STOPPED.
    pub showing: &'a str,
    /// The page of tasks shown (a ListTasks token; none for the first) and the next.
    pub page: Option<&'a str>,
    pub next: Option<&'a str>,
    pub csrf: &'a str,
}

/// A cluster: its services, its tasks (running or stopped) and its container instances.
pub fn cluster(view: &ClusterView<'_>) -> Markup {
    let name = view.name;
    html! {
        h2 { "Services" }
        table {
            thead { tr { th { "Service" } th { "Desired" } th { "Running" } th { "Pending" } th { "Deployment" } th { "Status" } } }
            tbody {
                @for s in view.services {
                    @let rollout = objects(s, "deployments").first().map(|d| text(d, "rolloutState")).unwrap_or("");
                    tr {
                        td { a href={ "/console/clusters/" (name) "/services/" (text(s, "serviceName")) } { (text(s, "serviceName")) } }
                        td { (number(s, "desiredCount")) }
                        td { (number(s, "runningCount")) }
                        td { (number(s, "pendingCount")) }
                        td { (rollout) }
                        td { (text(s, "status")) }
                    }
                }
            }
        }
        h2 { "Tasks" }
        p {
            "Showing " (view.showing.to_lowercase()) " tasks. "
            @if view.showing == "RUNNING" {
                a href={ "/console/clusters/" (name) "?tasks=STOPPED" } { "Show stopped tasks" }
            } @else {
                a href={ "/console/clusters/" (name) } { "Show running tasks" }
            }
        }
        (tasks_table(name, view.tasks))
        p {
            @if view.page.is_some() {
                a href={ "/console/clusters/" (name) "?tasks=" (view.showing) } { "First page" } " "
            }
            @if let Some(next) = view.next {
                a href={ "/console/clusters/" (name) "?tasks=" (view.showing) "&page=" (next) } { "Next page" }
            }
        }
        (live("tasks", &format!(
            "/console/clusters/{name}/tasks/stream?tasks={}{}",
            view.showing,
            view.page.map(|p| format!("&page={p}")).unwrap_or_default()
        )))
        h2 { "Container instances" }
        table {
            thead { tr { th { "Instance" } th { "Agent connected" } th { "Status" } th { "CPU registered / remaining" } th { "Memory registered / remaining" } th {} } }
            tbody {
                @for i in view.instances {
                    tr {
                        td { (last_part(text(i, "containerInstanceArn"))) }
                        td { (i["agentConnected"].as_bool().unwrap_or(false)) }
                        td { (text(i, "status")) }
                        td { (resource(i, "registeredResources", "CPU")) " / " (resource(i, "remainingResources", "CPU")) }
                        td { (resource(i, "registeredResources", "MEMORY")) " / " (resource(i, "remainingResources", "MEMORY")) }
                        td {
                            @let id = last_part(text(i, "containerInstanceArn"));
                            @let (to, label) = if text(i, "status") == "DRAINING" { ("ACTIVE", "Activate") } else { ("DRAINING", "Drain") };
                            form method="post" action={ "/console/clusters/" (name) "/instances/" (id) "/state" } {
                                input type="hidden" name="csrf" value=(view.csrf);
                                input type="hidden" name="status" value=(to);
                                button type="submit" { (label) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A cluster's tasks table (`#tasks`), also sent alone as the cluster page's live update.
pub fn tasks_table(cluster: &str, tasks: &[Value]) -> Markup {
    let name = cluster;
    html! {
    table id="tasks" {
        thead { tr { th { "Task" } th { "Task definition" } th { "Last status" } th { "Health" } th { "Launch type" } th { "Private IP" } th { "Host ports" } th { "Exit codes" } th { "Stopped reason" } } }
        tbody {
            @for t in tasks {
                @let id = last_part(text(t, "taskArn"));
                tr {
                    td { a href={ "/console/clusters/" (name) "/tasks/" (id) } { (id) } }
                    td { (last_part(text(t, "taskDefinitionArn"))) }
                    td.status { (text(t, "lastStatus")) }
                    td { (text(t, "healthStatus")) }
                    td { (text(t, "launchType")) }
                    td.ip { (private_ip(t)) }
                    td { (host_ports(t)) }
                    td { (exit_codes(t)) }
                    td { (text(t, "stoppedReason")) }
                }
            }
        }
    }
    }
}

fn resource(instance: &Value, list: &str, name: &str) -> i64 {
    objects(instance, list)
        .iter()
        .find(|r| text(r, "name") == name)
        .map_or(0, |r| number(r, "integerValue"))
}

/// A task: its configuration, containers, network, tags, and a form to stop it.
pub fn task(cluster: &str, task: &Value, definition: Option<&Value>, csrf: &str) -> Markup {
    let id = last_part(text(task, "taskArn"));
    html! {
        div id="task-view" {
        table id="task" {
            tr { th { "Task" } td { (text(task, "taskArn")) } }
            tr { th { "Task definition" } td { (text(task, "taskDefinitionArn")) } }
            tr { th { "Last status" } td.status { (text(task, "lastStatus")) } }
            tr { th { "Desired status" } td { (text(task, "desiredStatus")) } }
            tr { th { "Launch type" } td { (text(task, "launchType")) } }
            tr { th { "Private IP" } td.ip { (private_ip(task)) } }
            tr { th { "Started by" } td { (text(task, "startedBy")) } }
            tr { th { "Stopped reason" } td { (text(task, "stoppedReason")) } }
        }
        h2 { "Containers" }
        table {
            thead { tr { th { "Name" } th { "Image" } th { "Status" } th { "Exit code" } th { "Health" } th { "Network bindings" } } }
            tbody {
                @for c in objects(task, "containers") {
                    tr {
                        td { (text(c, "name")) }
                        td { (text(c, "image")) }
                        td { (text(c, "lastStatus")) }
                        td { (c["exitCode"].as_i64().map(|e| e.to_string()).unwrap_or_default()) }
                        td { (text(c, "healthStatus")) }
                        td {
                            @for b in objects(c, "networkBindings") {
                                (number(b, "hostPort")) "->" (number(b, "containerPort")) " "
                            }
                        }
                    }
                }
            }
        }
        @if let Some(def) = definition {
            h2 { "Environment" }
            table id="environment" {
                thead { tr { th { "Container" } th { "Name" } th { "Value" } } }
                tbody {
                    @for c in objects(def, "containerDefinitions") {
                        @for e in objects(c, "environment") {
                            tr { td { (text(c, "name")) } td { (text(e, "name")) } td { (text(e, "value")) } }
                        }
                    }
                }
            }
        }
        h2 { "Tags" }
        table {
            @for t in objects(task, "tags") {
                tr { td { (text(t, "key")) } td { (text(t, "value")) } }
            }
        }
        @if text(task, "desiredStatus") != "STOPPED" {
            h2 { "Stop" }
            form method="post" action={ "/console/clusters/" (cluster) "/tasks/" (id) "/stop" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Reason " input name="reason" value="Stopped from the console"; }
                button type="submit" { "Stop" }
            }
        }
        }
    }
}
