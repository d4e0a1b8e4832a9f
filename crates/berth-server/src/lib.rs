//! The control plane: the HTTP front door (AWS JSON 1.1 and Query with SigV4, every
//! request authorized by IAM's policies: [`authz`]), one handler module per AWS service
//! ([`ecs`], [`ecr`], [`logs`], [`iam`], [`sts`], [`secrets`]; ELBv2 is `berth_lb`), the launch
//! engine ([`launch`]), the agent channel, and the
//! controllers ([`controller`]: services, the janitor, registry upkeep, log retention).
//! Everything it knows lives in the [`berth_store::Store`]; restarting it loses nothing.

pub mod agent_access;
pub mod agent_channel;
pub mod assignment_index;
pub mod auth;
pub mod authz;
pub mod context;
pub mod controller;
pub mod ecr;
pub mod ecs;
pub mod exec_sessions;
pub mod exec_stream;
pub mod iam;
pub mod identity;
pub mod janitor;
pub mod json;
pub mod key_material;
pub mod keys;
pub mod launch;
pub mod liveness;
pub mod logs;
pub mod lost_hosts;
pub mod metrics;
pub mod pagination;
pub mod protocol;
pub mod records;
pub mod registry_token;
pub mod secrets;
pub mod service_controller;
pub mod sign_in;
pub mod sts;
pub mod task_counts;
pub mod task_credentials;
pub mod task_metrics;
pub mod task_network;
pub mod task_roles;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use berth_store::cache::{WatchCache, WriteTracking};
use berth_store::embedded::EmbeddedStore;
use berth_store::leader::{Elector, FencedStore, Solo};
use berth_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::{Clock, Core, ReadCache};
use crate::controller::Swept;
use crate::identity::Identity;

/// How to run a control plane.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The region agents register in and `berth up`'s profile names.
    pub region: String,
    pub identity: Identity,
    /// Whether the operator gave the keys (they then replace the ones replicas share).
    pub keys_given: bool,
    /// A directory every replica reaches (a shared filesystem), for registry blobs and
    /// uploads in progress; the data directory when absent.
    pub shared_dir: Option<PathBuf>,
    /// Serve eventually consistent reads (DescribeTasks) from a watch-fed copy of the
    /// ECS records in memory instead of a store round trip each: for remote stores.
    pub watch_cache: bool,
    /// How often the registry applies lifecycle policies and collects garbage, and how
    /// it treats recent content.
    pub registry_upkeep: ecr::maintenance::RegistryUpkeep,
    /// Where load balancers' listeners listen (and the `DNSName` they report).
    pub load_balancers: berth_lb::ElbConfig,
    /// Serve HTTPS with this certificate instead of HTTP.
    pub tls: Option<tls::TlsFiles>,
    /// The cluster's task range, out of which each host gets a /24 for its awsvpc tasks
    /// ([`berth_model::host_network::DEFAULT_TASK_CIDR`] when absent).
    pub task_cidr: Option<berth_model::host_network::Cidr>,
    /// The file holding the key secret values are sealed with (64 hex digits); when
    /// absent, one is generated into the data directory and shared through the store
    /// ([`secrets::cipher`]).
    pub secrets_key_file: Option<PathBuf>,
    /// The host name (or address) other hosts reach this server by: the registry's
    /// `HOST:PORT` in repository URIs. The listen address when absent (127.0.0.1 for
    /// an unspecified one).
    pub advertise_host: Option<String>,
    /// Routes served beside the control plane's own on its port (the web console, which
    /// lives in a crate of its own above this one).
    pub mounts: Vec<Mount>,
}

/// Routes built from the running control plane, mounted on its port.
pub type Mount = fn(&Arc<App>) -> Router;

/// The running control plane's state, assembled from each part's own: the shared core
/// and the services built on it.
pub struct App {
    pub core: Arc<Core>,
    pub identity: Identity,
    pub agent_token: String,
    /// The front door's state (every AWS API) and the agent channel's.
    pub front: Arc<protocol::FrontDoor>,
    pub agents: Arc<agent_channel::Agents>,
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
    #[error("{0}")]
    Shared(String),
    #[error("cannot read the registry's token key from the store: {0}")]
    RegistryKey(String),
    #[error("cannot set up the secrets key: {0}")]
    SecretsKey(String),
    #[error(
        "cannot listen on {addr}: {source} (is another Berth running? pick another with --listen)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve HTTPS: {0}")]
    Tls(tls::TlsError),
    #[error("{0}")]
    Defaults(String),
}

impl Server {
    /// Opens the embedded store in the data directory and starts serving, as the only
    /// replica.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        let path = config.data_dir.join("store");
        let store = EmbeddedStore::open(&path).map_err(|source| StartError::Store {
            path: path.clone(),
            source,
        })?;
        Self::start_with_store(config, Arc::new(store), Arc::new(Solo)).await
    }

    /// Starts serving over the given store; controllers act while `elector` says this
    /// replica leads.
    pub async fn start_with_store(
        config: ServerConfig,
        store: Arc<dyn Store>,
        elector: Arc<dyn Elector>,
    ) -> Result<Server, StartError> {
        let (local_token, agent_token_path) =
            identity::load_or_create_agent_token(&config.data_dir)?;
        // Replicas share one identity and agent token through the store.
        let (shared_identity, agent_token) = identity::settle_in_store(
            &*store,
            &config.data_dir,
            config.identity.clone(),
            config.keys_given,
            local_token,
        )
        .await
        .map_err(StartError::Shared)?;
        let config = ServerConfig {
            identity: shared_identity,
            ..config
        };
        let tls_acceptor = config
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()
            .map_err(StartError::Tls)?;
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
        let (shutdown, mut on_shutdown) = watch::channel(false);
        // IAM in memory: who signs requests and what they may do, for the front door
        // and the registry alike.
        let directory = iam::directory::Directory::start(
            store.clone(),
            &config.identity.account_id,
            shutdown.subscribe(),
        );
        let registry_key = registry_token::TokenKey::load_or_create(&*store)
            .await
            .map_err(|e| StartError::RegistryKey(e.message().to_string()))?;
        let secrets_key = secrets::cipher::SecretsKey::settle(
            &*store,
            &config.data_dir,
            config.secrets_key_file.as_deref(),
        )
        .await
        .map_err(StartError::SecretsKey)?;
        tracing::info!(fingerprint = secrets_key.fingerprint(), "secrets key ready");
        let secrets = Arc::new(secrets::Secrets {
            key: Arc::new(secrets_key),
        });
        // Blobs and uploads in progress live where every replica reaches them.
        let registry_root = config
            .shared_dir
            .as_ref()
            .unwrap_or(&config.data_dir)
            .join("registry");
        let registry = berth_registry::Registry::open(
            &registry_root,
            store.clone(),
            Arc::new(ecr::TokenAuthorizer::new(
                registry_key.clone(),
                directory.clone(),
                store.clone(),
            )),
        )
        .map_err(|e| StartError::Registry {
            path: registry_root.clone(),
            reason: e.to_string(),
        })?;
        // Log events too: on the shared directory each replica writes a lane of its
        // own and reads every replica's.
        let log_store = match &config.shared_dir {
            Some(shared) => {
                let root = shared.join("logs");
                berth_logs::LogStore::open_shared(&root, Default::default()).map_err(|e| (root, e))
            }
            None => {
                let root = config.data_dir.join("logs");
                berth_logs::LogStore::open(&root).map_err(|e| (root, e))
            }
        }
        .map_err(|(path, e)| StartError::Logs {
            path,
            reason: e.to_string(),
        })?;
        // A remote store's reads for Describe calls come from a watch-fed copy; writes
        // are tracked so a replica reads its own.
        let (store, read_cache) = if config.watch_cache {
            let copied = "/ecs/";
            let writes = Arc::new(WriteTracking::new(store, copied));
            let ecs = WatchCache::start(writes.clone(), copied, shutdown.subscribe());
            (
                writes.clone() as Arc<dyn Store>,
                Some(ReadCache { ecs, writes }),
            )
        } else {
            (store, None)
        };
        let liveness = liveness::Liveness::start(
            store.clone(),
            &keys::Scope::new(&config.identity.account_id, &config.region),
            shutdown.subscribe(),
        );
        let task_counts = task_counts::TaskCounts::start(
            store.clone(),
            &keys::account_ecs(&config.identity.account_id),
            shutdown.subscribe(),
        );
        let core = Arc::new(Core {
            task_counts,
            launch_turns: read_cache.as_ref().map(|_| Default::default()),
            planning: context::planning_permits(),
            store,
            read_cache,
            clock: Clock,
            account: config.identity.account_id.clone(),
            liveness,
            region: config.region,
            instance_cache: Default::default(),
            iam: directory.clone(),
            exec: Arc::new(exec_sessions::Hub::new(format!(
                "{}://{}",
                if config.tls.is_some() { "wss" } else { "ws" },
                ecr::registry_host(local_addr, config.advertise_host.as_deref())
            ))),
        });
        iam::defaults::ensure(&core, &directory)
            .await
            .map_err(StartError::Defaults)?;
        let verifier = Arc::new(auth::Verifier::new(&config.identity, directory));
        let ecr = Arc::new(ecr::Ecr {
            registry: Arc::new(registry),
            host: ecr::registry_host(local_addr, config.advertise_host.as_deref()),
            https: config.tls.is_some(),
            key: registry_key,
            upkeep: ecr::maintenance::Upkeep::new(config.registry_upkeep),
        });
        let logs = Arc::new(logs::Logs {
            catalog: berth_logs::catalog::Catalog::new(core.store.clone()),
            events: log_store,
            appends: Default::default(),
        });
        let elb = Arc::new(berth_lb::Elb::new(
            core.store.clone(),
            config.load_balancers,
        ));
        let app = Arc::new(App {
            front: Arc::new(protocol::FrontDoor {
                core: core.clone(),
                verifier: verifier.clone(),
                ecr: ecr.clone(),
                logs: logs.clone(),
                elb: elb.clone(),
                secrets: secrets.clone(),
            }),
            agents: Arc::new(agent_channel::Agents {
                core: core.clone(),
                token: agent_token.clone(),
                ecr: ecr.clone(),
                logs: logs.clone(),
                secrets,
                verifier,
                index: assignment_index::AssignmentIndex::start(
                    core.store.clone(),
                    &keys::account_ecs(&core.account),
                    shutdown.subscribe(),
                ),
                task_cidr: config.task_cidr.unwrap_or_else(|| {
                    berth_model::host_network::Cidr::parse(
                        berth_model::host_network::DEFAULT_TASK_CIDR,
                    )
                    .expect("the default task range parses")
                }),
            }),
            core: core.clone(),
            identity: config.identity,
            agent_token,
        });
        // Every route is counted, the mounted ones too.
        let counted = Arc::new(metrics::Metrics::default());
        let router = config
            .mounts
            .iter()
            .fold(router(app.clone()), |r, mount| r.merge(mount(&app)))
            .route(
                "/metrics",
                get(metrics::scrape).with_state(metrics::Scrape {
                    core: app.core.clone(),
                    metrics: counted.clone(),
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                counted,
                metrics::track,
            ));
        let serve = match tls_acceptor {
            Some(acceptor) => tokio::spawn(tls::serve(listener, acceptor, router, on_shutdown)),
            None => tokio::spawn(async move {
                let stop = async move {
                    let _ = on_shutdown.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            }),
        };
        // Retention removes only files: every replica runs it for the log events it
        // writes (and for lanes of replicas gone), leader or not.
        let retention = tokio::spawn(controller::run(
            Arc::new(Swept(logs::retention::RetentionSweep::new(logs.clone()))),
            core.store.clone(),
            shutdown.subscribe(),
        ));
        let controllers = tokio::spawn(lead(core, ecr, elector, shutdown.subscribe()));
        let load_balancers = tokio::spawn(elb.serve(shutdown.subscribe()));
        tracing::info!(%local_addr, "control plane listening");
        Ok(Server {
            app,
            local_addr,
            agent_token_path,
            shutdown,
            tasks: vec![serve, controllers, retention, load_balancers],
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
        agent_channel::ensure_cluster(
            &self.app.core,
            &self.app.core.home_scope(),
            ecs::DEFAULT_CLUSTER,
        )
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

/// Runs the controllers while this replica leads: campaigns, runs them over a store
/// fenced by the term (so nothing they write lands after a successor starts), stops
/// them when the term ends, and campaigns again; until shutdown, when it resigns.
async fn lead(
    core: Arc<Core>,
    ecr: Arc<ecr::Ecr>,
    elector: Arc<dyn Elector>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let leadership = tokio::select! {
            l = elector.campaign() => l,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let mut leadership = match leadership {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot campaign for leadership; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        };
        tracing::info!(term = ?leadership.term, "leading: controllers start");
        let fenced: Arc<dyn Store> = Arc::new(FencedStore::new(
            core.store.clone(),
            leadership.term.clone(),
        ));
        let leader = Arc::new(Core {
            store: fenced.clone(),
            read_cache: core.read_cache.clone(),
            launch_turns: core.read_cache.as_ref().map(|_| Default::default()),
            planning: core.planning.clone(),
            clock: core.clock.clone(),
            account: core.account.clone(),
            region: core.region.clone(),
            instance_cache: Default::default(),
            liveness: core.liveness.clone(),
            task_counts: core.task_counts.clone(),
            iam: core.iam.clone(),
            exec: core.exec.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let running = vec![
            tokio::spawn(controller::run(
                Arc::new(Swept(janitor::Janitor(leader.clone()))),
                fenced.clone(),
                stopped.clone(),
            )),
            tokio::spawn(controller::run(
                Arc::new(Swept(ecr::maintenance::RegistrySweep::new(ecr.clone()))),
                fenced.clone(),
                stopped.clone(),
            )),
            tokio::spawn(controller::run(
                Arc::new(Swept(lost_hosts::LostHosts::new(leader.clone()))),
                fenced.clone(),
                stopped.clone(),
            )),
            tokio::spawn(controller::run(
                Arc::new(service_controller::Services::new(leader)),
                fenced,
                stopped,
            )),
        ];
        let shutting_down = tokio::select! {
            _ = leadership.lost.wait_for(|l| *l) => false,
            _ = shutdown.wait_for(|s| *s) => true,
        };
        let _ = stop.send(true);
        for task in running {
            let _ = task.await;
        }
        if shutting_down {
            leadership.resign();
            return;
        }
        tracing::warn!("no longer leading: controllers stopped; campaigning again");
    }
}

/// Every route the control plane serves.
pub fn router(app: Arc<App>) -> Router {
    let registry = app.front.ecr.registry.router();
    let downloads = Router::new()
        .route(ecr::download::ROUTE, get(ecr::download::layer))
        .with_state(app.front.ecr.clone());
    Router::new()
        .route("/", post(protocol::aws_json).fallback(protocol::unrouted))
        .with_state(app.front.clone())
        .merge(exec_stream::cli_routes(app.core.clone()))
        .route("/health", get(|| async { "ok\n" }))
        .nest(
            "/agent/v1",
            agent_channel::routes()
                .merge(exec_stream::agent_routes())
                .with_state(app.agents.clone()),
        )
        .merge(downloads)
        .merge(registry)
        .fallback_service(
            Router::new()
                .fallback(protocol::unrouted)
                .with_state(app.front.clone()),
        )
}
