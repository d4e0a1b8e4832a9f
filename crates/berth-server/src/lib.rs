//! The control plane: the HTTP front door (AWS JSON 1.1 with SigV4), one handler module
//! per AWS service, the launch engine ([`launch`]), the agent channel, and the
//! controllers ([`controller`]: services, the janitor, registry upkeep, log retention).
//! Everything it knows lives in the [`berth_store::Store`]; restarting it loses nothing.

pub mod agent_channel;
pub mod auth;
pub mod controller;
pub mod ecr;
pub mod ecs;
pub mod identity;
pub mod janitor;
pub mod keys;
pub mod launch;
pub mod logs;
pub mod pagination;
pub mod protocol;
pub mod records;
pub mod registry_token;
pub mod service_controller;
pub mod task_credentials;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use berth_api::ecs::Timestamp;
use berth_store::embedded::EmbeddedStore;
use berth_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::controller::Swept;
use crate::identity::Identity;
use crate::keys::Scope;

/// How to run a control plane.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The region agents register in and `berth up`'s profile names.
    pub region: String,
    pub identity: Identity,
    /// How often the registry applies lifecycle policies and collects garbage, and how
    /// it treats recent content.
    pub registry_upkeep: ecr::maintenance::RegistryUpkeep,
    /// Where load balancers' listeners listen (and the `DNSName` they report).
    pub load_balancers: berth_lb::ElbConfig,
}

/// Shared state of every handler and loop.
pub struct App {
    pub store: Arc<dyn Store>,
    pub identity: Identity,
    pub region: String,
    pub agent_token: String,
    pub verifier: auth::Verifier,
    /// The wall clock.
    pub clock: Clock,
    /// Decoded container instance records (RunTask reads every instance of a cluster).
    pub instance_cache: records::DecodedCache<berth_model::container_instance::InstanceRecord>,
    /// The OCI registry behind ECR, served on the API's port under `/v2/`.
    pub registry: Arc<berth_registry::Registry>,
    /// `HOST:PORT` of the registry as clients name it in image references.
    pub registry_host: String,
    /// Signs and checks `docker login` tokens and layer download grants.
    pub registry_key: registry_token::TokenKey,
    /// The registry's background upkeep (lifecycle policies, garbage collection).
    pub upkeep: ecr::maintenance::Upkeep,
    /// CloudWatch Logs' groups and streams.
    pub log_catalog: berth_logs::catalog::Catalog,
    /// CloudWatch Logs' events, under the data directory.
    pub log_store: berth_logs::LogStore,
    /// Turns of conditional appends of agents' log batches, per stream.
    pub log_appends: logs::ingest::AppendLocks,
    /// ELBv2: its Query API and the data plane serving its listeners.
    pub elb: Arc<berth_lb::Elb>,
}

impl App {
    /// The scope agents act in: the server's account and region.
    pub fn home_scope(&self) -> Scope {
        Scope {
            account: self.identity.account_id.clone(),
            region: self.region.clone(),
        }
    }
}

/// Where "now" comes from: the system clock, read in one place.
#[derive(Clone, Debug, Default)]
pub struct Clock;

impl Clock {
    /// The current time.
    pub fn now(&self) -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }
}

/// A running control plane.
pub struct Server {
    app: Arc<App>,
    local_addr: SocketAddr,
    agent_token_path: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store in {path}: {source}")]
    Store {
        path: PathBuf,
        source: berth_store::StoreError,
    },
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error("cannot open the registry's storage in {path}: {reason}")]
    Registry { path: PathBuf, reason: String },
    #[error("cannot open the log store in {path}: {reason}")]
    Logs { path: PathBuf, reason: String },
    #[error("cannot read the registry's token key from the store: {0}")]
    RegistryKey(String),
    #[error(
        "cannot listen on {addr}: {source} (is another Berth running? pick another with --listen)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Server {
    /// Opens the embedded store in the data directory and starts serving.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        let path = config.data_dir.join("store");
        let store = EmbeddedStore::open(&path).map_err(|source| StartError::Store {
            path: path.clone(),
            source,
        })?;
        Self::start_with_store(config, Arc::new(store)).await
    }

    /// Starts serving over the given store.
    pub async fn start_with_store(
        config: ServerConfig,
        store: Arc<dyn Store>,
    ) -> Result<Server, StartError> {
        let (agent_token, agent_token_path) =
            identity::load_or_create_agent_token(&config.data_dir)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let registry_key = registry_token::TokenKey::load_or_create(&*store)
            .await
            .map_err(|e| StartError::RegistryKey(e.message().to_string()))?;
        let registry_root = config.data_dir.join("registry");
        let registry = berth_registry::Registry::open(
            &registry_root,
            store.clone(),
            Arc::new(ecr::TokenAuthorizer::new(registry_key.clone())),
        )
        .map_err(|e| StartError::Registry {
            path: registry_root.clone(),
            reason: e.to_string(),
        })?;
        let logs_root = config.data_dir.join("logs");
        let log_store = berth_logs::LogStore::open(&logs_root).map_err(|e| StartError::Logs {
            path: logs_root.clone(),
            reason: e.to_string(),
        })?;
        let app = Arc::new(App {
            elb: Arc::new(berth_lb::Elb::new(store.clone(), config.load_balancers)),
            log_catalog: berth_logs::catalog::Catalog::new(store.clone()),
            log_store,
            log_appends: Default::default(),
            store,
            verifier: auth::Verifier::new(&config.identity),
            identity: config.identity,
            region: config.region,
            agent_token,
            clock: Clock,
            instance_cache: Default::default(),
            registry: Arc::new(registry),
            registry_host: ecr::registry_host(local_addr),
            registry_key,
            upkeep: ecr::maintenance::Upkeep::new(config.registry_upkeep),
        });
        let (shutdown, mut on_shutdown) = watch::channel(false);
        let router = router(app.clone());
        let serve = tokio::spawn(async move {
            let stop = async move {
                let _ = on_shutdown.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        let store = app.store.clone();
        let janitor = tokio::spawn(controller::run(
            Arc::new(Swept(janitor::Janitor(app.clone()))),
            store.clone(),
            shutdown.subscribe(),
        ));
        let upkeep = tokio::spawn(controller::run(
            Arc::new(Swept(ecr::maintenance::RegistrySweep::new(app.clone()))),
            store.clone(),
            shutdown.subscribe(),
        ));
        let retention = tokio::spawn(controller::run(
            Arc::new(Swept(logs::retention::RetentionSweep::new(app.clone()))),
            store.clone(),
            shutdown.subscribe(),
        ));
        let services = tokio::spawn(controller::run(
            Arc::new(service_controller::Services::new(app.clone())),
            store,
            shutdown.subscribe(),
        ));
        let load_balancers = tokio::spawn(app.elb.clone().serve(shutdown.subscribe()));
        tracing::info!(%local_addr, "control plane listening");
        Ok(Server {
            app,
            local_addr,
            agent_token_path,
            shutdown,
            tasks: vec![serve, janitor, upkeep, retention, load_balancers, services],
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The file holding the token agents join with.
    pub fn agent_token_path(&self) -> &Path {
        &self.agent_token_path
    }

    /// The shared state (for in-process agents and tests).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Creates the `default` cluster in the server's account and region if it is missing,
    /// as ECS does when its first agent joins.
    pub async fn ensure_default_cluster(&self) -> Result<(), berth_api::error::ApiError> {
        agent_channel::ensure_cluster(&self.app, &self.app.home_scope(), ecs::DEFAULT_CLUSTER)
            .await
            .map(|_| ())
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Every route the control plane serves.
pub fn router(app: Arc<App>) -> Router {
    let registry = app.registry.router();
    Router::new()
        .route("/", post(protocol::aws_json))
        .route("/health", get(|| async { "ok\n" }))
        .nest("/agent/v1", agent_channel::routes())
        .route(ecr::download::ROUTE, get(ecr::download::layer))
        .with_state(app)
        .merge(registry)
}
