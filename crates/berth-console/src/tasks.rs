//! A task's page (its state followed live, its CPU and memory charts, its logs) and
//! stopping it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::Markup;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::logs::{self, LogsQuery};
use crate::web::*;
use crate::{api, pages, Console};

/// A task and (when the principal may read it) its task definition.
async fn load(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
) -> Result<(Value, Option<Value>), ApiError> {
    let (front, caller) = (&c.front, &r.caller);
    let found = api::ecs(
        front,
        caller,
        "DescribeTasks",
        json!({ "cluster": cluster, "tasks": [task], "include": ["TAGS"] }),
    )
    .await?;
    let Some(t) = api::objects(&found, "tasks").first().cloned() else {
        return Err(ApiError::InvalidParameter(format!(
            "The task {task} was not found in cluster {cluster}."
        )));
    };
    // The environment comes from its task definition; a caller who may not read it
    // still sees the task.
    let definition = api::ecs(
        front,
        caller,
        "DescribeTaskDefinition",
        json!({ "taskDefinition": t["taskDefinitionArn"] }),
    )
    .await
    .ok()
    .map(|d: Value| d["taskDefinition"].clone());
    Ok((t, definition))
}

/// What changes as the task runs (`#task-view`), for the page and its stream.
pub(crate) async fn task_view(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
) -> Result<Markup, ApiError> {
    let (t, definition) = load(c, r, cluster, task).await?;
    Ok(pages::task(cluster, &t, definition.as_ref(), &r.csrf))
}

/// The task's page (kept up to date while open, its logs tailed), with `error` from a
/// failed action.
pub(crate) async fn task_answer(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
    logs_query: &LogsQuery,
    error: Option<&ApiError>,
) -> Response {
    let stream = format!("/console/clusters/{cluster}/tasks/{task}/stream");
    let shown = match load(c, r, cluster, task).await {
        Ok((t, definition)) => {
            let logs = match &definition {
                Some(d) => logs::section(c, r, cluster, &t, d, logs_query).await,
                None => maud::html! {},
            };
            let id = pages::last_part(pages::text(&t, "taskArn"));
            let metrics = crate::metrics::task_section(c, r, cluster, id).await;
            Ok(maud::html! {
                (pages::task(cluster, &t, definition.as_ref(), &r.csrf))
                (pages::live("task-view", &stream))
                (metrics)
                (logs)
            })
        }
        Err(e) => Err(e),
    };
    answer(r, &format!("Task {task}"), shown, error)
}

pub(crate) async fn task_page(
    State(c): State<Arc<Console>>,
    Path((cluster, task)): Path<(String, String)>,
    Query(logs_query): Query<LogsQuery>,
    r: SignedInRequest,
) -> Response {
    task_answer(&c, &r, &cluster, &task, &logs_query, None).await
}

#[derive(Deserialize)]
pub(crate) struct StopForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn stop_task(
    State(c): State<Arc<Console>>,
    Path((cluster, task)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<StopForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let mut body = json!({ "cluster": cluster, "task": task });
    if !form.reason.trim().is_empty() {
        body["reason"] = Value::String(form.reason.trim().to_string());
    }
    match api::ecs(&c.front, &r.caller, "StopTask", body).await {
        Ok(_) => Redirect::to(&format!("/console/clusters/{cluster}/tasks/{task}")).into_response(),
        Err(e) => task_answer(&c, &r, &cluster, &task, &LogsQuery::default(), Some(&e)).await,
    }
}
