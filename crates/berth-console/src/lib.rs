//! Berth's web console, served by the control plane under `/console` (mounted by the
//! binary through [`berth_server::ServerConfig::mounts`]). Server-rendered pages over the
//! same API calls the AWS CLI makes, each made as the signed-in principal
//! ([`api`]), so IAM decides every action. Sessions are signed cookies ([`session`]);
//! every form carries a CSRF token.
//!
//! ```text
//! browser ──GET /console/...──► session cookie ─► caller (key or user, checked now)
//!                                                   │
//!                            protocol::call (authorize, dispatch) ─► ECS handlers
//!                                                   │
//!                            pages (maud, escaped) ◄┘
//! ```

pub mod api;
pub mod charts;
mod clusters;
pub mod iam;
mod live;
pub mod load_balancers;
pub mod logs;
pub mod metrics;
pub mod pages;
pub mod query;
pub mod repositories;
pub mod services;
pub mod session;
pub mod signed_out;
mod signing;
pub mod task_definitions;
mod tasks;
mod web;

use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use berth_server::protocol::FrontDoor;
use berth_server::App;

use crate::clusters::{
    cluster_page, clusters_page, create_cluster, delete_cluster, instance_state,
};
use crate::session::Sealer;
use crate::signing::{sign_in_page, sign_in_submit, sign_out};
use crate::task_definitions as defs;
use crate::tasks::{stop_task, task_page};

/// What the console's handlers share.
pub struct Console {
    pub(crate) front: Arc<FrontDoor>,
    pub(crate) sealer: Sealer,
    /// The region a sign-in defaults to: the control plane's.
    pub(crate) region: String,
}

/// The console's routes, for [`berth_server::ServerConfig::mounts`].
pub fn routes(app: &Arc<App>) -> Router {
    let console = Arc::new(Console {
        front: app.front.clone(),
        sealer: Sealer::from_secret(&app.identity.secret_access_key),
        region: app.core.region.clone(),
    });
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/clusters") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/clusters") }),
        )
        .route("/console/login", get(sign_in_page).post(sign_in_submit))
        .route("/console/logout", post(sign_out))
        .route("/console/clusters", get(clusters_page).post(create_cluster))
        .route("/console/clusters/{cluster}", get(cluster_page))
        .route("/console/clusters/{cluster}/delete", post(delete_cluster))
        .route(
            "/console/clusters/{cluster}/instances/{instance}/state",
            post(instance_state),
        )
        .route(
            "/console/clusters/{cluster}/services/{service}",
            get(services::service_page),
        )
        .route(
            "/console/clusters/{cluster}/services/{service}/stream",
            get(live::service),
        )
        .route(
            "/console/clusters/{cluster}/services/{service}/update",
            post(services::update),
        )
        .route(
            "/console/clusters/{cluster}/services/{service}/delete",
            post(services::delete),
        )
        .route(
            "/console/clusters/{cluster}/tasks/stream",
            get(live::cluster_tasks),
        )
        .route("/console/clusters/{cluster}/tasks/{task}", get(task_page))
        .route(
            "/console/clusters/{cluster}/tasks/{task}/stream",
            get(live::task),
        )
        .route(
            "/console/clusters/{cluster}/tasks/{task}/stop",
            post(stop_task),
        )
        .route(
            "/console/clusters/{cluster}/tasks/{task}/logs/stream",
            get(logs::tail),
        )
        .route(
            "/console/task-definitions",
            get(defs::list_page).post(defs::create_from_form),
        )
        .route("/console/task-definitions/new", get(defs::new_page_handler))
        .route(
            "/console/task-definitions/json",
            post(defs::create_from_json),
        )
        .route("/console/task-definitions/{family}", get(defs::family_page))
        .route(
            "/console/task-definitions/{family}/{revision}",
            get(defs::revision_page),
        )
        .route(
            "/console/task-definitions/{family}/{revision}/run",
            post(defs::run),
        )
        .route(
            "/console/task-definitions/{family}/{revision}/deregister",
            post(defs::deregister),
        )
        .route(
            "/console/task-definitions/{family}/{revision}/create-service",
            post(services::create),
        )
        .route("/console/load-balancers", get(load_balancers::page))
        .route("/console/iam", get(iam::page))
        .route("/console/iam/roles", post(iam::create_role))
        .route("/console/iam/policies", post(iam::create_policy))
        .route("/console/iam/attach", post(iam::attach_policy))
        .route("/console/repositories", get(repositories::list_page))
        .route("/console/repository", get(repositories::repository_page))
        .with_state(console)
}
