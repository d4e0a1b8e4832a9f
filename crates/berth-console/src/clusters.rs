//! The clusters page (with create and delete) and a cluster's page: its services,
//! tasks and container instances.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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

pub(crate) async fn clusters_page(State(c): State<Arc<Console>>, r: SignedInRequest) -> Response {
    clusters_answer(&c, &r, None).await
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
    r: SignedInRequest,
    Form(form): Form<CreateClusterForm>,
) -> Response {
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
    r: SignedInRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
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
    /// ListTasks' token of the page of tasks shown.
    pub(crate) page: Option<String>,
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

/// Tasks a cluster page shows at once.
pub(crate) const TASKS_PER_PAGE: u32 = 100;

/// One page of the cluster's tasks whose desired status is `showing` (RUNNING or
/// STOPPED), from ListTasks' `page` token; and the next page's token.
pub(crate) async fn tasks_of(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    showing: &str,
    page: Option<&str>,
) -> Result<(Vec<serde_json::Value>, Option<String>), ApiError> {
    let (front, caller) = (&c.front, &r.caller);
    let mut body = json!({
        "cluster": cluster,
        "desiredStatus": showing,
        "maxResults": TASKS_PER_PAGE,
    });
    if let Some(token) = page {
        body["nextToken"] = json!(token);
    }
    let listed = api::ecs(front, caller, "ListTasks", body).await?;
    let arns = api::strings(&listed, "taskArns");
    let tasks = api::Describe {
        action: "DescribeTasks",
        base: json!({ "cluster": cluster }),
        member: "tasks",
        batch: 100,
        key: "tasks",
    }
    .run(front, caller, &arns)
    .await?;
    Ok((tasks, listed["nextToken"].as_str().map(str::to_string)))
}

pub(crate) async fn cluster_view(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    showing: &str,
    page: Option<&str>,
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
    let (tasks, next) = tasks_of(c, r, cluster, showing, page).await?;
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
        page,
        next: next.as_deref(),
        csrf: &r.csrf,
    }))
}

pub(crate) async fn cluster_page(
    State(c): State<Arc<Console>>,
    Path(cluster): Path<String>,
    Query(query): Query<ClusterQuery>,
    r: SignedInRequest,
) -> Response {
    let showing = query.showing();
    let principal = r.principal();
    let who = Some((principal.as_str(), r.csrf.as_str()));
    let title = format!("Cluster {cluster}");
    match cluster_view(&c, &r, &cluster, showing, query.page.as_deref()).await {
        Ok(body) => html(StatusCode::OK, pages::layout(&title, who, None, body)),
        Err(e) => html(
            status_of(&e),
            pages::layout(&title, who, Some(&words(&e)), maud::html! {}),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct InstanceStateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

/// `POST /console/clusters/{cluster}/instances/{instance}/state`: drain or activate a
/// container instance (UpdateContainerInstancesState).
pub(crate) async fn instance_state(
    State(c): State<Arc<Console>>,
    Path((cluster, instance)): Path<(String, String)>,
    r: SignedInRequest,
    Form(form): Form<InstanceStateForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let body = json!({
        "cluster": cluster,
        "containerInstances": [instance],
        "status": form.status,
    });
    let outcome = api::ecs(&c.front, &r.caller, "UpdateContainerInstancesState", body)
        .await
        .and_then(|answer| match api::objects(&answer, "failures").first() {
            Some(f) => Err(ApiError::InvalidParameter(format!(
                "{} {}",
                pages::text(f, "reason"),
                pages::text(f, "detail")
            ))),
            None => Ok(()),
        });
    match outcome {
        Ok(()) => Redirect::to(&format!("/console/clusters/{cluster}")).into_response(),
        Err(e) => {
            let shown = cluster_view(&c, &r, &cluster, "RUNNING", None).await;
            answer(&r, &format!("Cluster {cluster}"), shown, Some(&e))
        }
    }
}
