//! The agent's own login to its control plane's registry (ECR's images on Berth): pulls
//! of an image there authenticate with a token the control plane hands the agent over
//! the agent channel, so an agent needs no `docker login` of its own. The login is kept
//! until shortly before it expires. Images of other registries use the Docker client's
//! configuration ([`crate::registry_auth`]).

use std::collections::HashMap;

use tokio::sync::Mutex;

use crate::channel::{Channel, ChannelError};
use crate::registry_auth::registry_of;
use crate::registry_trust::RegistryTrust;
use crate::runtime::PullAuth;
use berth_api::agent::RegistryCredentials;

/// A login is renewed once it has less than this left (seconds).
const RENEW_BEFORE: i64 = 600;

/// What a login is for: a region, and the execution role it is a session of (none: the
/// agent's own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoginKey {
    region: String,
    execution_role: Option<String>,
}

/// The control plane's registry login, fetched on first need.
pub struct RegistryLogin {
    /// `HOST:PORT` of each replica the agent reaches the control plane at: the registry
    /// answers there too, whatever name the control plane gives itself (replicas share
    /// the key logins are signed with, so one login works on every one).
    server_hosts: Vec<String>,
    /// Logins held: per region, the agent's own and one per execution role.
    cached: Mutex<HashMap<LoginKey, RegistryCredentials>>,
    /// The control plane's CA, installed for Docker under each name its registry has.
    trust: Option<RegistryTrust>,
}

impl RegistryLogin {
    /// For an agent talking to the control plane at `server` (`http://HOST:PORT`, or
    /// several such, comma-separated).
    pub fn new(server: &str, trust: Option<RegistryTrust>) -> RegistryLogin {
        let server_hosts = server
            .split(',')
            .map(|s| {
                s.trim()
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .filter(|h| !h.is_empty())
            .collect();
        let server_hosts: Vec<String> = server_hosts;
        if let Some(t) = &trust {
            for host in &server_hosts {
                t.install(host);
            }
        }
        RegistryLogin {
            server_hosts,
            cached: Mutex::new(HashMap::new()),
            trust,
        }
    }

    /// The credentials to pull `image` for task `task_arn` with, when the image is in
    /// the control plane's registry and a login can be had; `None` otherwise (the
    /// runtime then uses Docker's). The login is for the task's region (repositories
    /// belong to a region) and, for a task with an execution role, a session of that
    /// role; when the control plane refuses one (the role cannot be assumed), the pull
    /// fails with its reason rather than falling back to the agent's own login.
    pub async fn auth_for(
        &self,
        channel: &Channel,
        instance: &str,
        image: &str,
        task_arn: &str,
        execution_role: Option<&str>,
    ) -> Result<Option<PullAuth>, String> {
        let registry = registry_of(image);
        let region = task_arn.split(':').nth(3).unwrap_or_default();
        let key = LoginKey {
            region: region.to_string(),
            execution_role: execution_role.map(str::to_string),
        };
        let mut cached = self.cached.lock().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let held = cached.get(&key);
        let fresh = held.is_some_and(|c| c.expires_at - now > RENEW_BEFORE);
        // The registry's name is only known from a login, so one is asked for when the
        // image could be there (our server's host) or none is held yet.
        let wanted = !fresh
            && (cached.is_empty()
                || self.server_hosts.iter().any(|h| h == registry)
                || cached.values().any(|l| l.registry == registry));
        if wanted {
            match channel.registry_credentials(instance, Some(task_arn)).await {
                Ok(login) => {
                    if let Some(t) = &self.trust {
                        t.install(&login.registry);
                    }
                    cached.insert(key.clone(), login);
                }
                Err(e) => {
                    cached.remove(&key);
                    if let (Some(role), ChannelError::Refused { message, .. }) =
                        (execution_role, &e)
                    {
                        if self.names(cached.values().next(), registry) {
                            return Err(format!(
                                "pull image {image} with execution role {role}: {message}"
                            ));
                        }
                    }
                    tracing::warn!(error = %e, "no registry login from the control plane");
                }
            }
        }
        let Some(login) = cached.get(&key) else {
            return Ok(None);
        };
        Ok(self.names(Some(login), registry).then(|| PullAuth {
            server: registry.to_string(),
            username: login.username.clone(),
            password: login.password.clone(),
        }))
    }

    /// Whether `registry` is the control plane's: the host the agent reaches it at, or
    /// the name the control plane gives its registry.
    fn names(&self, login: Option<&RegistryCredentials>, registry: &str) -> bool {
        self.server_hosts.iter().any(|h| h == registry)
            || login.is_some_and(|l| l.registry == registry)
    }
}
