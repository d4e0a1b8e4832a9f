//! The clusters page (with create and delete) and a cluster's page: its services,
//! tasks and container instances.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::Markup;
use serde::Deserialize;
use serde_json::json;

use crate::web::*;
use crate::{api, pages, Console};

pub(crate) async fn clusters_view(c: &Console, r: &SignedInRequest) -> Result<Markup, ApiError> {
    let arns = api::list_all(
        &c.front,
        &r.caller,
        "ListClusters",
        json!({}),
        "clusterArns",
    )
    .await?;
    let clusters = api::Describe {
        action: "DescribeClusters",
        base: json!({}),
        member: "clusters",
        batch: 100,
        key: "clusters",
    }
    .run(&c.front, &r.caller, &arns)
    .await?;
    Ok(pages::clusters(&clusters, &r.csrf))
}

/// The clusters page with `error` shown (after a failed action), or the page's own
/// error if it cannot be read.
pub(crate) async fn clusters_answer(
    c: &Console,
    r: &SignedInRequest,
    error: Option<&ApiError>,
) -> Response {
    let principal = r.principal();
    let who = Some((principal.as_str(), r.csrf.as_str()));
    match clusters_view(c, r).await {
        Ok(body) => html(
            error.map_or(StatusCode::OK, status_of),
            pages::layout("Clusters", who, error.map(words).as_deref(), body),
        ),
        Err(e) => html(
            status_of(&e),
            pages::layout("Clusters", who, Some(&words(&e)), maud::html! {}),
        ),
    }
}

pub(crate) async fn clusters_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    match signed_in(&c, &headers, &extensions).await {
        Ok(r) => clusters_answer(&c, &r, None).await,
        Err(refused) => refused.into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct CreateClusterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cluster_name: String,
}

pub(crate) async fn create_cluster(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CreateClusterForm>,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let body = json!({ "clusterName": form.cluster_name.trim() });
    match api::ecs(&c.front, &r.caller, "CreateCluster", body).await {
        Ok(_) => Redirect::to("/console/clusters").into_response(),
        Err(e) => clusters_answer(&c, &r, Some(&e)).await,
    }
}

pub(crate) async fn delete_cluster(
    State(c): State<Arc<Console>>,
    Path(cluster): Path<String>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CsrfForm>,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    match api::ecs(
        &c.front,
        &r.caller,
        "DeleteCluster",
        json!({ "cluster": cluster }),
    )
    .await
    {
        Ok(_) => Redirect::to("/console/clusters").into_response(),
        Err(e) => clusters_answer(&c, &r, Some(&e)).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct ClusterQuery {
    tasks: Option<String>,
}

impl ClusterQuery {
    /// Which tasks are listed: STOPPED when asked, else RUNNING.
    pub(crate) fn showing(&self) -> &'static str {
        match self.tasks.as_deref() {
            Some("STOPPED") => "STOPPED",
            _ => "RUNNING",
        }
    }
}

/// The cluster's tasks whose desired status is `showing` (RUNNING or STOPPED).
pub(crate) async fn tasks_of(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    showing: &str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let (front, caller) = (&c.front, &r.caller);
    let task_arns = api::list_all(
        front,
        caller,
        "ListTasks",
        json!({ "cluster": cluster, "desiredStatus": showing }),
        "taskArns",
    )
    .await?;
    api::Describe {
        action: "DescribeTasks",
        base: json!({ "cluster": cluster }),
        member: "tasks",
        batch: 100,
        key: "tasks",
    }
    .run(front, caller, &task_arns)
    .await
}

pub(crate) async fn cluster_view(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    showing: &str,
) -> Result<Markup, ApiError> {
    let (front, caller) = (&c.front, &r.caller);
    let in_cluster = json!({ "cluster": cluster });
    let service_arns = api::list_all(
        front,
        caller,
        "ListServices",
        in_cluster.clone(),
        "serviceArns",
    )
    .await?;
    let services = api::Describe {
        action: "DescribeServices",
        base: in_cluster.clone(),
        member: "services",
        batch: 10,
        key: "services",
    }
    .run(front, caller, &service_arns)
    .await?;
    let tasks = tasks_of(c, r, cluster, showing).await?;
    let instance_arns = api::list_all(
        front,
        caller,
        "ListContainerInstances",
        in_cluster.clone(),
        "containerInstanceArns",
    )
    .await?;
    let instances = api::Describe {
        action: "DescribeContainerInstances",
        base: in_cluster,
        member: "containerInstances",
        batch: 100,
        key: "containerInstances",
    }
    .run(front, caller, &instance_arns)
    .await?;
    Ok(pages::cluster(&pages::ClusterView {
        name: cluster,
        services: &services,
        tasks: &tasks,
        instances: &instances,
        showing,
    }))
}

pub(crate) async fn cluster_page(
    State(c): State<Arc<Console>>,
    Path(cluster): Path<String>,
    Query(query): Query<ClusterQuery>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let showing = query.showing();
    let principal = r.principal();
    let who = Some((principal.as_str(), r.csrf.as_str()));
    let title = format!("Cluster {cluster}");
    match cluster_view(&c, &r, &cluster, showing).await {
        Ok(body) => html(StatusCode::OK, pages::layout(&title, who, None, body)),
        Err(e) => html(
            status_of(&e),
            pages::layout(&title, who, Some(&words(&e)), maud::html! {}),
        ),
    }
}
