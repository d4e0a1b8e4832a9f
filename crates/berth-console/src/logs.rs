//! A task's logs on its page: for each container that logs with awslogs, the stream
//! ECS names (`PREFIX/CONTAINER/TASK_ID` in the container's group), its latest lines,
//! older lines by paging back (GetLogEvents' backward token), and a live tail while the
//! page is open (a server-sent event per new batch of lines, polled with the forward
//! token, each poll the signed-in principal's own GetLogEvents); and a service's
//! latest lines across its running tasks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_api::error::ApiError;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::{last_part, text};
use crate::web::*;
use crate::{api, Console};

/// Lines shown per page.
const LINES: u32 = 100;
/// How often the live tail asks for new lines.
const TAIL_EVERY: Duration = Duration::from_secs(1);

/// Where one container's awslogs output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub container: String,
    pub group: String,
    pub stream: String,
}

/// The awslogs sources of a task's containers, from its task definition.
pub fn sources(task_id: &str, definition: &Value) -> Vec<Source> {
    api::objects(definition, "containerDefinitions")
        .iter()
        .filter(|c| text(&c["logConfiguration"], "logDriver") == "awslogs")
        .filter_map(|c| {
            let options = &c["logConfiguration"]["options"];
            let group = text(options, "awslogs-group");
            let prefix = text(options, "awslogs-stream-prefix");
            let container = text(c, "name");
            (!group.is_empty() && !prefix.is_empty()).then(|| Source {
                container: container.to_string(),
                group: group.to_string(),
                stream: format!("{prefix}/{container}/{task_id}"),
            })
        })
        .collect()
}

fn lines(events: &[Value]) -> Markup {
    html! {
        @for e in events {
            (text(e, "message")) "\n"
        }
    }
}

/// Which page of a container's lines a task page shows.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogsQuery {
    /// The container paged back in, and the backward token to read before.
    pub container: Option<String>,
    pub before: Option<String>,
}

/// The logs section of a task's page.
pub(crate) async fn section(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &Value,
    definition: &Value,
    query: &LogsQuery,
) -> Markup {
    let task_id = last_part(text(task, "taskArn"));
    let page = format!("/console/clusters/{cluster}/tasks/{task_id}");
    let mut parts = Vec::new();
    for source in sources(task_id, definition) {
        let mut body = json!({
            "logGroupName": source.group,
            "logStreamName": source.stream,
            "limit": LINES,
            "startFromHead": false,
        });
        if query.container.as_deref() == Some(&source.container) {
            if let Some(token) = &query.before {
                body["nextToken"] = json!(token);
            }
        }
        let read = api::logs(&c.front, &r.caller, "GetLogEvents", body).await;
        let id = format!("logs-{}", source.container);
        let part = match read {
            Ok(answer) => {
                let older = text(&answer, "nextBackwardToken").to_string();
                let forward = text(&answer, "nextForwardToken").to_string();
                let events = api::objects(&answer, "events");
                html! {
                    h3 { (source.container) " " span.muted { (source.group) " / " (source.stream) } }
                    pre id=(id) { (lines(events)) }
                    // A full page may have more before it.
                    @if events.len() == LINES as usize {
                        p { a href={ (page) "?container=" (source.container) "&before=" (older) } { "Older lines" } }
                    }
                    @if query.before.is_none() {
                        (tail_script(&id, &format!("{page}/logs/stream?container={}&after={forward}", source.container)))
                    }
                }
            }
            // A stream not made yet (the container has not started) is not an error: the
            // tail reads it from its first line once it is there.
            Err(ApiError::ResourceNotFound(_)) => html! {
                h3 { (source.container) " " span.muted { (source.group) " / " (source.stream) } }
                p.muted { "No log stream yet." }
                pre id=(id) {}
                @if query.before.is_none() {
                    (tail_script(&id, &format!("{page}/logs/stream?container={}", source.container)))
                }
            },
            Err(e) => html! {
                h3 { (source.container) }
                div.error role="alert" { (words(&e)) }
            },
        };
        parts.push(part);
    }
    html! {
        h2 { "Logs" }
        @if parts.is_empty() {
            p.muted { "No container of this task logs with awslogs." }
        }
        @for p in &parts { (p) }
    }
}

/// How many of a service's running tasks its logs section reads.
const SERVICE_TASKS_READ: usize = 20;

/// The logs section of a service's page: the latest lines of its running tasks (each
/// task's latest [`LINES`] of each awslogs container, merged by time, the newest
/// [`LINES`] kept), each line marked with its task, as the ECS console's service Logs
/// tab shows them.
pub(crate) async fn service_section(
    c: &Console,
    r: &SignedInRequest,
    definition: &Value,
    tasks: &[Value],
) -> Markup {
    let mut lines: Vec<(i64, String, String)> = Vec::new();
    let mut refused = None;
    let mut containers = 0;
    for t in tasks.iter().take(SERVICE_TASKS_READ) {
        let task_id = last_part(text(t, "taskArn"));
        let found = sources(task_id, definition);
        containers = containers.max(found.len());
        for source in found {
            let body = json!({
                "logGroupName": source.group,
                "logStreamName": source.stream,
                "limit": LINES,
                "startFromHead": false,
            });
            match api::logs(&c.front, &r.caller, "GetLogEvents", body).await {
                Ok(answer) => lines.extend(api::objects(&answer, "events").iter().map(|e| {
                    (
                        e["timestamp"].as_i64().unwrap_or(0),
                        format!("{task_id}/{}", source.container),
                        text(e, "message").to_string(),
                    )
                })),
                Err(ApiError::ResourceNotFound(_)) => {}
                Err(e) => refused = Some(e),
            }
        }
    }
    lines.sort_by_key(|(at, _, _)| *at);
    let newest = &lines[lines.len().saturating_sub(LINES as usize)..];
    html! {
        section #service-logs {
            h2 { "Logs" }
            @if let Some(e) = &refused {
                div.error role="alert" { (words(e)) }
            }
            @if containers == 0 {
                p.muted { "No running task of this service logs with awslogs." }
            } @else {
                pre id="service-log-lines" {
                    @for (_, from, message) in newest {
                        span.muted { (from) } " " (message) "\n"
                    }
                }
            }
        }
    }
}

fn tail_script(id: &str, stream: &str) -> Markup {
    let script = format!(
        "(function(){{var s=new EventSource({stream:?});s.addEventListener('lines',function(e){{\
         var el=document.getElementById({id:?});if(el){{el.textContent+=e.data+'\\n';}}}});}})();"
    );
    html! { script { (maud::PreEscaped(script)) } }
}

/// What the tail endpoint is given.
#[derive(Debug, Deserialize)]
pub(crate) struct TailQuery {
    container: String,
    after: Option<String>,
}

/// `GET /console/clusters/{cluster}/tasks/{task}/logs/stream?container=NAME&after=TOKEN`:
/// new lines of one container as `lines` events (each event's data the lines, one per
/// line).
pub(crate) async fn tail(
    State(c): State<Arc<Console>>,
    Path((cluster, task)): Path<(String, String)>,
    Query(query): Query<TailQuery>,
    r: SignedInRequest,
) -> Response {
    let described = api::ecs(
        &c.front,
        &r.caller,
        "DescribeTasks",
        json!({ "cluster": cluster, "tasks": [task] }),
    )
    .await;
    let definition = match described {
        Ok(found) => match api::objects(&found, "tasks").first() {
            Some(t) => {
                api::ecs(
                    &c.front,
                    &r.caller,
                    "DescribeTaskDefinition",
                    json!({ "taskDefinition": t["taskDefinitionArn"] }),
                )
                .await
            }
            None => Err(ApiError::InvalidParameter("The task was not found.".into())),
        },
        Err(e) => Err(e),
    };
    let source = definition.ok().and_then(|d| {
        sources(&task, &d["taskDefinition"])
            .into_iter()
            .find(|s| s.container == query.container)
    });
    let Some(source) = source else {
        return answer(
            &r,
            "Logs",
            Err(ApiError::InvalidParameter(format!(
                "The container {} of task {task} does not log with awslogs.",
                query.container
            ))),
            None,
        );
    };
    let state = (c, r, source, query.after);
    let events = futures::stream::unfold(state, |(c, r, source, after)| async move {
        loop {
            tokio::time::sleep(TAIL_EVERY).await;
            let mut body = json!({
                "logGroupName": source.group,
                "logStreamName": source.stream,
                "startFromHead": true,
            });
            if let Some(token) = &after {
                body["nextToken"] = json!(token);
            }
            let Ok(answer) = api::logs(&c.front, &r.caller, "GetLogEvents", body).await else {
                continue;
            };
            let next = Some(text(&answer, "nextForwardToken").to_string());
            let new: Vec<&str> = api::objects(&answer, "events")
                .iter()
                .map(|e| text(e, "message"))
                .collect();
            if new.is_empty() {
                continue;
            }
            let event = Event::default().event("lines").data(new.join("\n"));
            return Some((Ok::<_, Infallible>(event), (c, r, source, next)));
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_awslogs_container_has_the_stream_ecs_names() {
        let definition = json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/app", "awslogs-stream-prefix": "ecs"}}},
            {"name": "sidecar"},
            {"name": "other", "logConfiguration": {"logDriver": "json-file"}},
        ]});
        assert_eq!(
            sources("abc123", &definition),
            [Source {
                container: "web".into(),
                group: "/ecs/app".into(),
                stream: "ecs/web/abc123".into(),
            }]
        );
    }
}
