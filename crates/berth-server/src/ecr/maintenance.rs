//! The registry's upkeep in the background: each pass applies every repository's
//! lifecycle policy, then collects garbage ([`berth_registry::gc`]). Passes run every
//! [`RegistryUpkeep::interval`], and soon after something frees space (an image deleted,
//! a lifecycle policy put), when [`Upkeep::wake`] is called. Level-triggered: a pass
//! reads everything afresh, so a missed or failed pass loses nothing, and replicas
//! running passes at once only repeat each other's work.

use std::sync::Arc;
use std::time::Duration;

use berth_registry::gc::Collection;
use berth_registry::metadata::MetadataError;
use berth_registry::{Digest, RepoName, Scope};
use tokio::sync::{watch, Notify};

use super::lifecycle::Policy;
use crate::App;

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

/// The upkeep's settings and its doorbell.
#[derive(Debug, Default)]
pub struct Upkeep {
    pub settings: RegistryUpkeep,
    wake: Notify,
}

impl Upkeep {
    pub fn new(settings: RegistryUpkeep) -> Upkeep {
        Upkeep {
            settings,
            wake: Notify::new(),
        }
    }

    /// Asks for a pass soon (space may have been freed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub expired_images: usize,
    pub collected: berth_registry::gc::Collected,
}

/// Runs passes until shutdown.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(app.upkeep.settings.interval) => {}
            _ = app.upkeep.wake.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        match pass(&app).await {
            Ok(report) if report != PassReport::default() => {
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
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "registry upkeep pass failed; will retry"),
        }
    }
}

/// One pass: lifecycle policies, then garbage collection.
pub async fn pass(app: &App) -> Result<PassReport, berth_registry::gc::GcError> {
    let mut report = PassReport::default();
    for (scope, name, record) in app.registry.metadata.all_repositories().await? {
        let Some(policy) = record.settings.lifecycle_policy else {
            continue;
        };
        // Policies are validated when put; one that no longer parses is left alone.
        let Ok(policy) = Policy::parse(&policy.text) else {
            tracing::warn!(repository = %name, "stored lifecycle policy does not parse");
            continue;
        };
        match apply(app, &scope, &name, &policy).await {
            Ok(expired) => report.expired_images += expired.len(),
            Err(MetadataError::RepositoryNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    report.collected = app
        .registry
        .collect_garbage(app.upkeep.settings.collection)
        .await?;
    Ok(report)
}

/// Applies `policy` to one repository now: deletes the images it expires and records
/// when it ran. Returns the expired digests.
pub async fn apply(
    app: &App,
    scope: &Scope,
    name: &RepoName,
    policy: &Policy,
) -> Result<Vec<Digest>, MetadataError> {
    let metadata = &app.registry.metadata;
    let now = berth_registry::metadata::records::now_millis();
    let images = metadata.images(scope, name).await?;
    let expired = policy.expired(&images, now);
    for digest in &expired {
        app.registry.delete_image(scope, name, digest).await?;
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
