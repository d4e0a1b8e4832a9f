//! The registry's upkeep in the background: each pass applies every repository's
//! lifecycle policy, then collects garbage ([`berth_registry::gc`]). Passes run every
//! [`RegistryUpkeep::interval`], and soon after something frees space (an image deleted,
//! a lifecycle policy put), as the store's watch shows ([`RegistrySweep`]).
//! Level-triggered: a pass reads everything afresh, so a missed or failed pass loses
//! nothing, and replicas running passes at once only repeat each other's work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_api::error::ApiError;
use berth_registry::gc::Collection;
use berth_registry::metadata::keys::{self, KeyKind};
use berth_registry::metadata::records::RepositoryRecord;
use berth_registry::metadata::MetadataError;
use berth_registry::{Digest, RepoName, Scope};
use berth_store::WatchEvent;

use super::lifecycle::Policy;
use super::Ecr;
use crate::controller::Sweep;

/// How the registry's upkeep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryUpkeep {
    /// Time between passes.
    pub interval: Duration,
    /// How a collection treats recent content.
    pub collection: Collection,
}

impl Default for RegistryUpkeep {
    fn default() -> Self {
        RegistryUpkeep {
            interval: Duration::from_secs(600),
            collection: Collection::default(),
        }
    }
}

/// The upkeep's settings.
#[derive(Debug, Default)]
pub struct Upkeep {
    pub settings: RegistryUpkeep,
}

impl Upkeep {
    pub fn new(settings: RegistryUpkeep) -> Upkeep {
        Upkeep { settings }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub expired_images: usize,
    pub collected: berth_registry::gc::Collected,
}

/// The upkeep as a [`Sweep`]: a pass every [`RegistryUpkeep::interval`], and soon after
/// an image's manifest or a layer's link is deleted or a repository gets a new lifecycle
/// policy (seen in the store, so through any replica).
pub struct RegistrySweep {
    ecr: Arc<Ecr>,
    /// Each repository record's lifecycle policy text as last seen: a pass rewrites the
    /// record (its last evaluation time), which must not call for another pass.
    policies: Mutex<HashMap<String, Option<String>>>,
}

impl RegistrySweep {
    pub fn new(ecr: Arc<Ecr>) -> RegistrySweep {
        RegistrySweep {
            ecr,
            policies: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Sweep for RegistrySweep {
    fn name(&self) -> &'static str {
        "registry upkeep"
    }
    fn interval(&self) -> Duration {
        self.ecr.upkeep.settings.interval
    }
    fn watched(&self) -> Vec<String> {
        vec![keys::ROOT.into()]
    }
    fn wakes(&self, event: &WatchEvent) -> bool {
        match (event, keys::classify(event.key())) {
            // A manifest or a layer's link gone: its blob may be nobody's now.
            (WatchEvent::Delete { .. }, KeyKind::Content(_)) => true,
            (WatchEvent::Put(kv), KeyKind::Repository(_)) => {
                let policy = serde_json::from_slice::<RepositoryRecord>(&kv.value)
                    .ok()
                    .and_then(|r| r.settings.lifecycle_policy.map(|p| p.text));
                // A new policy (not a repository without one, nor a pass's own rewrite
                // of the record) calls for a pass.
                let mut seen = self.policies.lock().expect("policies lock");
                let before = seen.insert(kv.key.clone(), policy.clone());
                policy.is_some() && before != Some(policy)
            }
            _ => false,
        }
    }
    async fn pass(&self) -> Result<(), ApiError> {
        let report = pass(&self.ecr)
            .await
            .map_err(|e| ApiError::Server(format!("registry upkeep failed: {e}")))?;
        if report != PassReport::default() {
            let c = report.collected;
            tracing::info!(
                expired_images = report.expired_images,
                blobs = c.blobs,
                bytes = c.bytes,
                abandoned_links = c.abandoned_links,
                uploads = c.uploads,
                "registry upkeep reclaimed space"
            );
        }
        Ok(())
    }
}

/// One pass: lifecycle policies, then garbage collection.
pub async fn pass(ecr: &Ecr) -> Result<PassReport, berth_registry::gc::GcError> {
    let mut report = PassReport::default();
    for (scope, name, record) in ecr.registry.metadata.all_repositories().await? {
        let Some(policy) = record.settings.lifecycle_policy else {
            continue;
        };
        // Policies are validated when put; one that no longer parses is left alone.
        let Ok(policy) = Policy::parse(&policy.text) else {
            tracing::warn!(repository = %name, "stored lifecycle policy does not parse");
            continue;
        };
        match apply(ecr, &scope, &name, &policy).await {
            Ok(expired) => report.expired_images += expired.len(),
            Err(MetadataError::RepositoryNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    report.collected = ecr
        .registry
        .collect_garbage(ecr.upkeep.settings.collection)
        .await?;
    Ok(report)
}

/// Applies `policy` to one repository now: deletes the images it expires and records
/// when it ran. Returns the expired digests.
pub async fn apply(
    ecr: &Ecr,
    scope: &Scope,
    name: &RepoName,
    policy: &Policy,
) -> Result<Vec<Digest>, MetadataError> {
    let metadata = &ecr.registry.metadata;
    let now = berth_registry::metadata::records::now_millis();
    let images = metadata.images(scope, name).await?;
    let expired = policy.expired(&images, now);
    for digest in &expired {
        ecr.registry.delete_image(scope, name, digest).await?;
        tracing::info!(repository = %name, %digest, "lifecycle policy expired an image");
    }
    metadata
        .update_repository(scope, name, |settings| {
            if let Some(p) = settings.lifecycle_policy.as_mut() {
                p.last_evaluated_at = Some(now);
            }
            Ok::<_, MetadataError>(())
        })
        .await?;
    Ok(expired)
}
