//! Live updates without reloading: server-sent events fed by the store's watch. A page
//! opens a stream for what it shows (a cluster's tasks, one task); whenever the store
//! changes under that prefix the part is rendered again, through the same API calls as
//! the page (so as the signed-in principal, authorized each time), and sent as one
//! `update` event whose data is the part's new HTML. Changes that arrive together are
//! rendered once. The stream ends when the browser leaves or the session ends.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_server::keys::{EcsKeys, Scope};
use berth_store::{Store, WatchStream};
use futures::StreamExt;
use maud::Markup;

use crate::clusters::{tasks_of, ClusterQuery};
use crate::services::service_live;
use crate::tasks::task_view;
use crate::web::*;
use crate::{pages, Console};

/// How long changes are gathered before one render.
const GATHER: Duration = Duration::from_millis(100);

/// What a stream renders.
#[derive(Clone)]
enum Part {
    /// A cluster's tasks table, of tasks whose desired status is `showing` (the page
    /// from ListTasks token `page`).
    ClusterTasks {
        cluster: String,
        showing: String,
        page: Option<String>,
    },
    /// One task's view.
    Task { cluster: String, task: String },
    /// One service's state.
    Service { cluster: String, service: String },
}

async fn render(c: &Console, r: &SignedInRequest, part: &Part) -> Markup {
    let shown = match part {
        Part::ClusterTasks {
            cluster,
            showing,
            page,
        } => tasks_of(c, r, cluster, showing, page.as_deref())
            .await
            .map(|(tasks, _)| pages::tasks_table(cluster, &tasks)),
        Part::Task { cluster, task } => task_view(c, r, cluster, task).await,
        Part::Service { cluster, service } => service_live(c, r, cluster, service).await,
    };
    // An error (the principal lost access, say) replaces the part with its words.
    shown.unwrap_or_else(|e| maud::html! { div.error role="alert" { (words(&e)) } })
}

/// The stream of `part`'s renders: one at once, then one per burst of changes under
/// `prefix`.
async fn stream(c: Arc<Console>, r: SignedInRequest, prefix: String, part: Part) -> Response {
    let store: &dyn Store = &*c.front.core.store;
    let watch = match store.revision().await {
        Ok(revision) => store.watch(&prefix, revision).await,
        Err(e) => Err(e),
    };
    let watch: WatchStream = match watch {
        Ok(w) => w,
        Err(e) => return Refusal::Store(e.to_string()).into_response(),
    };
    let state = (c, r, part, Some(watch), true);
    let events = futures::stream::unfold(state, |(c, r, part, watch, first)| async move {
        let mut watch = watch?;
        if !first {
            // Wait for a change, then gather the burst it starts.
            watch.next().await?.ok()?;
            let deadline = tokio::time::sleep(GATHER);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    next = watch.next() => { next?.ok()?; }
                }
            }
        }
        let html = render(&c, &r, &part).await.into_string();
        let event = Event::default().event("update").data(html);
        Some((Ok::<_, Infallible>(event), (c, r, part, Some(watch), false)))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /console/clusters/{cluster}/tasks/stream[?tasks=STOPPED]`.
pub(crate) async fn cluster_tasks(
    State(c): State<Arc<Console>>,
    Path(cluster): Path<String>,
    Query(query): Query<ClusterQuery>,
    r: SignedInRequest,
) -> Response {
    let prefix = Scope::new(&r.caller.account, &r.caller.region).tasks(&cluster);
    let part = Part::ClusterTasks {
        cluster,
        showing: query.showing().to_string(),
        page: query.page.clone(),
    };
    stream(c, r, prefix, part).await
}

/// `GET /console/clusters/{cluster}/tasks/{task}/stream`.
pub(crate) async fn task(
    State(c): State<Arc<Console>>,
    Path((cluster, task)): Path<(String, String)>,
    r: SignedInRequest,
) -> Response {
    let prefix = Scope::new(&r.caller.account, &r.caller.region).task(&cluster, &task);
    let part = Part::Task { cluster, task };
    stream(c, r, prefix, part).await
}

/// `GET /console/clusters/{cluster}/services/{service}/stream`: the service's state,
/// again whenever the cluster's services or tasks change.
pub(crate) async fn service(
    State(c): State<Arc<Console>>,
    Path((cluster, service)): Path<(String, String)>,
    r: SignedInRequest,
) -> Response {
    // The service record and its tasks both live under the scope: watch the account's
    // ECS records of the region, and render when anything there changes.
    let prefix = format!(
        "{}/",
        Scope::new(&r.caller.account, &r.caller.region).base()
    );
    let part = Part::Service { cluster, service };
    stream(c, r, prefix, part).await
}
