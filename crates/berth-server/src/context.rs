//! What every handler, the launch engine and every controller work with, at the bottom of
//! the crate: the [`Core`] every service shares (the store, the clock, the server's own
//! account and region) and, for one API call, the verified [`Caller`] ([`Ctx`]). Each
//! service keeps its own state beside it (`ecr::Ecr`, `logs::Logs`, the load
//! balancers' `Elb`); nothing here knows them.

use std::sync::Arc;

use berth_api::arn::Arn;
use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::container_instance::InstanceRecord;
use berth_store::cache::{WatchCache, WriteTracking};
use berth_store::{KeyValue, Store, StoreError};

use crate::keys::Scope;
use crate::records::{DecodedCache, Record, Stored};

/// Where "now" comes from: the system clock, read in one place.
#[derive(Clone, Debug, Default)]
pub struct Clock;

impl Clock {
    /// The current time.
    pub fn now(&self) -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }
}

/// A watch-fed copy of the ECS records in memory, for reads that would otherwise be a
/// round trip to a remote store each (replicas over etcd), with the tracker of this
/// replica's own writes, which such a read waits to see.
#[derive(Clone)]
pub struct ReadCache {
    pub ecs: Arc<WatchCache>,
    pub writes: Arc<WriteTracking>,
}

/// The state every service shares.
pub struct Core {
    pub store: Arc<dyn Store>,
    /// Set when the store is remote: eventually consistent reads (Describe calls) come
    /// from memory.
    pub read_cache: Option<ReadCache>,
    pub clock: Clock,
    /// The account `berth up` created, and the region agents register in.
    pub account: String,
    pub region: String,
    /// Decoded container instance records (every RunTask reads all of a cluster's).
    pub instance_cache: DecodedCache<InstanceRecord>,
    /// Agents' last heartbeats, mirrored in memory.
    pub liveness: Arc<crate::liveness::Liveness>,
    /// Every cluster's and instance's task counts, mirrored in memory.
    pub task_counts: Arc<crate::task_counts::TaskCounts>,
    /// Launches onto the same capacity take turns on this replica when set (a remote
    /// store, whose commits take long enough that concurrent launches would mostly
    /// conflict and read again).
    pub launch_turns: Option<Turns>,
    /// How many launches may read and plan at once on this replica (see
    /// [`planning_permits`]); their commits do not hold a permit.
    pub planning: Arc<tokio::sync::Semaphore>,
    /// IAM, mirrored in memory: the roles tasks run with.
    pub iam: Arc<crate::iam::directory::Directory>,
    /// Exec sessions issued by this replica and the agents taking them here.
    pub exec: Arc<crate::exec_sessions::Hub>,
}

/// The permits for launches' read-and-plan phase: one fewer than the machine's cores
/// (at least one). Planning onto thousands of instances is CPU work that does not
/// yield; left unbounded, a burst of RunTask calls fills every worker thread and
/// requests that need only a moment (an agent's heartbeat) wait seconds behind them.
/// Commits stay concurrent, so they still share the store's group commits.
pub fn planning_permits() -> Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1)))
}

/// One lock per name, made on first use.
#[derive(Default)]
pub struct Turns {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Turns {
    /// Waits for the turn of `name`.
    pub async fn take(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("turns lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

impl Core {
    /// See [`Ctx::list_prefix`].
    pub async fn list_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        match &self.read_cache {
            Some(cache) => cache.ecs.list(prefix, cache.writes.last_write()).await,
            None => Ok(self.store.page(prefix, None, 0).await?.kvs),
        }
    }

    /// [`Core::list_prefix`], decoded.
    pub async fn list_records<T: Stored>(&self, prefix: &str) -> Result<Vec<Record<T>>, ApiError> {
        self.list_prefix(prefix)
            .await
            .map_err(crate::records::store_error)?
            .into_iter()
            .map(|kv| Ok(crate::records::decode(kv)?))
            .collect()
    }

    /// The scope agents act in: the server's account and region.
    pub fn home_scope(&self) -> Scope {
        Scope::new(&self.account, &self.region)
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub region: String,
    pub access_key_id: String,
    /// The IAM principal ECS records (`registeredBy`).
    pub principal_arn: String,
    /// Who signed: the account's root, a user, or a role's session.
    pub principal: Principal,
}

/// Who signs a request, as IAM knows them (also carried, signed, in registry tokens).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Principal {
    /// The account's root: the key `berth up` made, or a session of it. Allowed
    /// everything.
    Root,
    /// An IAM user: one of its access keys, or a session it took (GetSessionToken).
    User {
        name: String,
        id: String,
        arn: String,
    },
    /// A session of a role: AssumeRole, or the credentials of a task's role.
    Role {
        role_name: String,
        role_id: String,
        role_arn: String,
        session_name: String,
    },
}

impl Principal {
    /// The user's name, for a user.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Principal::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether this is the account's root.
    pub fn is_root(&self) -> bool {
        matches!(self, Principal::Root)
    }

    /// The ARN IAM and STS name the caller by (`GetCallerIdentity`'s `Arn`): a session of
    /// a role is `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub fn arn(&self, account: &str) -> String {
        match self {
            Principal::Root => format!("arn:aws:iam::{account}:root"),
            Principal::User { arn, .. } => arn.clone(),
            Principal::Role {
                role_name,
                session_name,
                ..
            } => format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
        }
    }

    /// The id `GetCallerIdentity` answers as `UserId`.
    pub fn user_id(&self, account: &str) -> String {
        match self {
            Principal::Root => account.to_string(),
            Principal::User { id, .. } => id.clone(),
            Principal::Role {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
        }
    }

    /// The caller as policies' `Principal` elements and condition keys see it.
    pub fn for_policies(&self, account: &str) -> berth_iam::Principal {
        match self {
            Principal::Root => berth_iam::Principal::root(account),
            Principal::User { arn, .. } => berth_iam::Principal::user(arn),
            Principal::Role { role_arn, .. } => {
                berth_iam::Principal::assumed_role(&self.arn(account), role_arn)
            }
        }
    }
}

/// Everything a handler knows about the call it serves.
pub struct Ctx {
    pub core: Arc<Core>,
    pub caller: Caller,
}

impl Ctx {
    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.core.store
    }

    /// The account and region this call acts in.
    pub fn scope(&self) -> Scope {
        Scope::new(&self.caller.account, &self.caller.region)
    }

    /// An ECS ARN in the caller's account and region.
    pub fn arn(&self, resource: impl Into<String>) -> String {
        Arn::new("ecs", &self.caller.region, &self.caller.account, resource).to_string()
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.core.clock.now()
    }

    /// Every record under `prefix`, for a read-decide-commit that compares their
    /// revisions (launches) or a controller's view: from the read cache when there is
    /// one (having seen this replica's own writes; a stale revision only makes the
    /// commit conflict and read again), else from the store.
    pub async fn list_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        self.core.list_prefix(prefix).await
    }

    /// Several keys for an eventually consistent read (a Describe call): from the read
    /// cache when there is one (having seen at least this replica's own writes), else
    /// from the store. Never for a read whose revision a write compares against.
    pub async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<KeyValue>>, StoreError> {
        match &self.core.read_cache {
            Some(cache) => cache.ecs.get_many(keys, cache.writes.last_write()).await,
            None => self.core.store.get_many(keys).await,
        }
    }
}
