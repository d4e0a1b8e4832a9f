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
pub mod pages;
pub mod session;
pub mod signed_out;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use berth_api::error::ApiError;
use berth_server::context::{Caller, Principal};
use berth_server::protocol::FrontDoor;
use berth_server::sign_in;
use berth_server::App;
use maud::Markup;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::SignInForm;
use crate::session::{Sealer, Session, COOKIE, LIFETIME_SECS, SIGN_IN_COOKIE};

/// What the console's handlers share.
pub struct Console {
    front: Arc<FrontDoor>,
    sealer: Sealer,
    /// The region a sign-in defaults to: the control plane's.
    region: String,
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
        .route("/console/clusters/{cluster}/tasks/{task}", get(task_page))
        .route(
            "/console/clusters/{cluster}/tasks/{task}/stop",
            post(stop_task),
        )
        .with_state(console)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the epoch: when sessions are issued and signed out of.
fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether the request came over TLS (cookies are then Secure).
fn over_tls(extensions: &Extensions) -> bool {
    extensions.get::<berth_server::tls::OverTls>().is_some()
}

fn cookie_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, name))
}

/// An HTML answer with `status`, never cached.
fn html(status: StatusCode, page: Markup) -> Response {
    let mut r = (status, axum::response::Html(page.into_string())).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A request's session and caller, or the answer to give instead: to the sign-in page
/// when there is no valid session (clearing a session whose sign-in is gone).
struct SignedInRequest {
    session: Session,
    caller: Caller,
    csrf: String,
}

impl SignedInRequest {
    /// Who is signed in, as the header shows them.
    fn principal(&self) -> String {
        match &self.caller.principal {
            Principal::Root => format!("root ({})", self.caller.account),
            _ => self.caller.principal_arn.clone(),
        }
    }
}

/// Why a request is not served as asked.
enum Refusal {
    /// No valid session: to the sign-in page, clearing a session whose sign-in is gone.
    NoSession { clear: bool, tls: bool },
    /// A form without its session's CSRF token.
    Csrf,
    /// The store could not be read; the request may be retried.
    Store(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoSession { clear, tls } => to_sign_in(clear, tls),
            Refusal::Csrf => forbidden(),
            Refusal::Store(e) => html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::layout(
                    "Unavailable",
                    None,
                    Some(&format!(
                        "The console cannot read its sessions right now ({e}); try again."
                    )),
                    maud::html! {},
                ),
            ),
        }
    }
}

fn to_sign_in(clear: bool, tls: bool) -> Response {
    let r = Redirect::to("/console/login").into_response();
    if clear {
        with_cookie(r, session::set_cookie(COOKIE, "", 0, tls))
    } else {
        r
    }
}

async fn signed_in(
    c: &Console,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<SignedInRequest, Refusal> {
    let tls = over_tls(extensions);
    let Some(s) = cookie_of(headers, COOKIE).and_then(|v| c.sealer.open(v, now())) else {
        return Err(Refusal::NoSession { clear: false, tls });
    };
    let gone = Refusal::NoSession { clear: true, tls };
    let signed_out = signed_out::since(&*c.front.core.store, &c.front.core.account, &s.who)
        .await
        .map_err(|e| Refusal::Store(e.to_string()))?;
    if signed_out.is_some_and(|at| s.issued <= at) {
        return Err(gone);
    }
    let caller = sign_in::caller(&c.front, &s.who, &s.region).map_err(|_| gone)?;
    Ok(SignedInRequest {
        csrf: c.sealer.csrf(&s.nonce),
        session: s,
        caller,
    })
}

/// Refuses a form whose CSRF token is not its session's.
fn check_csrf(c: &Console, r: &SignedInRequest, token: &str) -> Result<(), Refusal> {
    if c.sealer.csrf_matches(&r.session.nonce, token) {
        Ok(())
    } else {
        Err(Refusal::Csrf)
    }
}

fn forbidden() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::layout(
            "Refused",
            None,
            Some("The form was not sent from this console session (missing or wrong CSRF token). Reload the page and try again."),
            maud::html! {},
        ),
    )
}

/// The status an API error is shown with.
fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::AccessDenied(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    }
}

/// An API error in words: its code and message, as the AWS CLI prints them.
fn words(e: &ApiError) -> String {
    format!("{}: {}", e.code(), e.message())
}

// ---- signing in and out ----

async fn sign_in_page(State(c): State<Arc<Console>>, extensions: Extensions) -> Response {
    let nonce = session::nonce();
    let page = pages::sign_in(
        &SignInForm::default(),
        &c.sealer.csrf(&nonce),
        &c.region,
        None,
    );
    with_cookie(
        html(StatusCode::OK, page),
        session::set_cookie(SIGN_IN_COOKIE, &nonce, 3600, over_tls(&extensions)),
    )
}

async fn sign_in_submit(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    let tls = over_tls(&extensions);
    let nonce = cookie_of(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !c.sealer.csrf_matches(nonce, &form.csrf) {
        return forbidden();
    }
    let region = if form.region.trim().is_empty() {
        c.region.clone()
    } else {
        form.region.trim().to_string()
    };
    let who = if form.method == "key" {
        sign_in::with_key(&c.front, form.access_key_id.trim(), &form.secret_access_key).await
    } else {
        sign_in::with_password(&c.front, form.user_name.trim(), &form.password).await
    };
    match who {
        Ok(who) => {
            let s = Session {
                who,
                region,
                issued: now_millis(),
                expires: now() + LIFETIME_SECS,
                nonce: session::nonce(),
            };
            let r = Redirect::to("/console/clusters").into_response();
            let r = with_cookie(
                r,
                session::set_cookie(COOKIE, &c.sealer.seal(&s), LIFETIME_SECS, tls),
            );
            with_cookie(r, session::set_cookie(SIGN_IN_COOKIE, "", 0, tls))
        }
        Err(e) => html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(&form, &form.csrf, &c.region, Some(e.message())),
        ),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(c): State<Arc<Console>>,
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
    let store = &*c.front.core.store;
    if let Err(e) =
        signed_out::record(store, &c.front.core.account, &r.session.who, now_millis()).await
    {
        return Refusal::Store(e.to_string()).into_response();
    }
    to_sign_in(true, over_tls(&extensions))
}

// ---- clusters ----

async fn clusters_view(c: &Console, r: &SignedInRequest) -> Result<Markup, ApiError> {
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
async fn clusters_answer(c: &Console, r: &SignedInRequest, error: Option<&ApiError>) -> Response {
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

async fn clusters_page(
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
struct CreateClusterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cluster_name: String,
}

async fn create_cluster(
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

async fn delete_cluster(
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
struct ClusterQuery {
    tasks: Option<String>,
}

async fn cluster_view(
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
    let task_arns = api::list_all(
        front,
        caller,
        "ListTasks",
        json!({ "cluster": cluster, "desiredStatus": showing }),
        "taskArns",
    )
    .await?;
    let tasks = api::Describe {
        action: "DescribeTasks",
        base: in_cluster.clone(),
        member: "tasks",
        batch: 100,
        key: "tasks",
    }
    .run(front, caller, &task_arns)
    .await?;
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

async fn cluster_page(
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
    let showing = match query.tasks.as_deref() {
        Some("STOPPED") => "STOPPED",
        _ => "RUNNING",
    };
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

// ---- tasks ----

async fn task_view(
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

async fn task_answer(
    c: &Console,
    r: &SignedInRequest,
    cluster: &str,
    task: &str,
    error: Option<&ApiError>,
) -> Response {
    let principal = r.principal();
    let who = Some((principal.as_str(), r.csrf.as_str()));
    let title = format!("Task {task}");
    match task_view(c, r, cluster, task).await {
        Ok(body) => html(
            error.map_or(StatusCode::OK, status_of),
            pages::layout(&title, who, error.map(words).as_deref(), body),
        ),
        Err(e) => html(
            status_of(&e),
            pages::layout(&title, who, Some(&words(&e)), maud::html! {}),
        ),
    }
}

async fn task_page(
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
struct StopForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn stop_task(
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
