//! A task's page and stopping it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::Markup;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::web::*;
use crate::{api, pages, Console};

pub(crate) async fn task_view(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
) -> Result<Markup, ApiError> {
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
    Ok(pages::task(cluster, &t, definition.as_ref(), &r.csrf))
}

/// The task's page (kept up to date while open), with `error` from a failed action.
pub(crate) async fn task_answer(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
    error: Option<&ApiError>,
) -> Response {
    let stream = format!("/console/clusters/{cluster}/tasks/{task}/stream");
    let shown = task_view(c, r, cluster, task)
        .await
        .map(|view| maud::html! { (view) (pages::live("task-view", &stream)) });
    answer(r, &format!("Task {task}"), shown, error)
}

pub(crate) async fn task_page(
    State(c): State<Arc<Console>>,
    Path((cluster, task)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    match signed_in(&c, &headers, &extensions).await {
        Ok(r) => task_answer(&c, &r, &cluster, &task, None).await,
        Err(refused) => refused.into_response(),
    }
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
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<StopForm>,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let mut body = json!({ "cluster": cluster, "task": task });
    if !form.reason.trim().is_empty() {
        body["reason"] = Value::String(form.reason.trim().to_string());
    }
    match api::ecs(&c.front, &r.caller, "StopTask", body).await {
        Ok(_) => Redirect::to(&format!("/console/clusters/{cluster}/tasks/{task}")).into_response(),
        Err(e) => task_answer(&c, &r, &cluster, &task, Some(&e)).await,
    }
}
