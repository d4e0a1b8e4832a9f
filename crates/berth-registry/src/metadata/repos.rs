//! Repositories: create, read, list (the catalog), delete. The ECR API creates and
//! deletes them; the distribution API only pushes into repositories that exist.

use std::sync::Mutex;

use berth_store::records::{decode, get, put, Step};
use berth_store::{Compare, Op, Txn};

use super::records::now_millis;
use super::{keys, Metadata, MetadataError, RepositoryRecord, RepositorySettings};
use crate::names::RepoName;
use crate::Scope;

/// How many keys one transaction deletes when a repository's content is removed (etcd
/// refuses transactions of more than 128 operations by default).
const DELETE_BATCH: usize = 100;

/// One page of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryPage {
    /// In name order.
    pub repositories: Vec<RepositoryRecord>,
    /// True when more repositories follow.
    pub more: bool,
}

impl Metadata {
    /// Creates a repository; it must not exist yet.
    pub async fn create_repository(
        &self,
        scope: &Scope,
        name: &RepoName,
        settings: impl Into<RepositorySettings>,
    ) -> Result<RepositoryRecord, MetadataError> {
        let settings = &settings.into();
        let key = &keys::repo(scope, name);
        self.update(&format!("repository {name}"), || async move {
            if let Some(existing) = get::<RepositoryRecord>(&*self.store, key).await? {
                if !existing.value.deleting {
                    return Err(MetadataError::RepositoryAlreadyExists {
                        name: name.to_string(),
                        registry_id: scope.account.clone(),
                    });
                }
                // A deletion was interrupted: finish it, then create afresh (the create
                // compares the key's absence, so a repository created meanwhile makes it
                // conflict and the next attempt sees that one).
                self.remove_content(scope, name, existing.revision).await?;
            }
            let record = RepositoryRecord {
                name: name.to_string(),
                created_at: now_millis(),
                settings: settings.clone(),
                deleting: false,
            };
            let txn = Txn::new()
                .when(Compare::absent(key))
                .then(put(key, &record));
            Ok(Step::Commit(txn, record))
        })
        .await
    }

    /// Changes a repository's settings with `change`, which sees the current ones and
    /// may refuse (its error is returned as is); returns the updated record. Retried
    /// on concurrent changes, so `change` may run more than once.
    pub async fn update_repository<E>(
        &self,
        scope: &Scope,
        name: &RepoName,
        change: impl FnMut(&mut RepositorySettings) -> Result<(), E>,
    ) -> Result<RepositoryRecord, E>
    where
        E: From<MetadataError>,
    {
        let key = &keys::repo(scope, name);
        // The attempt's future borrows `change`; a lock (never held across an await)
        // lets each attempt call it mutably.
        let change = &Mutex::new(change);
        // A refusal of `change` ends the loop as its answer, so the loop's own errors
        // stay `MetadataError`.
        self.update(&format!("repository {name}"), || async move {
            let repo = self.live_repo(scope, name).await?;
            let mut record = repo.value;
            let changed = (change.lock().expect("change lock"))(&mut record.settings);
            if let Err(refused) = changed {
                return Ok(Step::Done(Err(refused)));
            }
            let txn = Txn::new()
                .when(Compare::unchanged(key, repo.revision))
                .then(put(key, &record));
            Ok(Step::Commit(txn, Ok(record)))
        })
        .await?
    }

    /// A repository, when it exists.
    pub async fn repository(
        &self,
        scope: &Scope,
        name: &RepoName,
    ) -> Result<Option<RepositoryRecord>, MetadataError> {
        match self.live_repo(scope, name).await {
            Ok(repo) => Ok(Some(repo.value)),
            Err(MetadataError::RepositoryNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Repositories in name order, strictly after `last` when given, at most `limit`
    /// (0: all).
    pub async fn list_repositories(
        &self,
        scope: &Scope,
        last: Option<&str>,
        limit: usize,
    ) -> Result<RepositoryPage, MetadataError> {
        let prefix = keys::repos(scope);
        let start_after = last.map(|last| format!("{prefix}{last}"));
        let page = self
            .store
            .page(&prefix, start_after.as_deref(), limit)
            .await?;
        let mut repositories = Vec::with_capacity(page.kvs.len());
        for kv in page.kvs {
            let repo = decode::<RepositoryRecord>(kv)?;
            if !repo.value.deleting {
                repositories.push(repo.value);
            }
        }
        Ok(RepositoryPage {
            repositories,
            more: page.more,
        })
    }

    /// Deletes a repository and everything it holds. Without `force`, a repository that
    /// still holds manifests is left as it was. Blob files stay in the blob store for
    /// garbage collection (other repositories may link them).
    pub async fn delete_repository(
        &self,
        scope: &Scope,
        name: &RepoName,
        force: bool,
    ) -> Result<RepositoryRecord, MetadataError> {
        let key = &keys::repo(scope, name);
        let (repo, marked_at) = self
            .update_at(&format!("repository {name}"), || async move {
                let repo = self.live_repo(scope, name).await?;
                let mut marked = repo.value.clone();
                marked.deleting = true;
                let txn = Txn::new()
                    .when(Compare::unchanged(key, repo.revision))
                    .then(put(key, &marked));
                Ok(Step::Commit(txn, repo.value))
            })
            .await?;
        // The mark is a write, so its commit has a revision.
        let marked_at = marked_at.unwrap_or_default();
        if !force && self.holds_manifests(scope, name).await? {
            let restore = Txn::new()
                .when(Compare::unchanged(key, marked_at))
                .then(put(key, &repo));
            self.commit(restore).await?;
            return Err(MetadataError::RepositoryNotEmpty {
                name: name.to_string(),
                registry_id: scope.account.clone(),
            });
        }
        self.remove_content(scope, name, marked_at).await?;
        Ok(repo)
    }

    async fn holds_manifests(&self, scope: &Scope, name: &RepoName) -> Result<bool, MetadataError> {
        let page = self
            .store
            .page(&keys::manifests(scope, name), None, 1)
            .await?;
        Ok(!page.kvs.is_empty())
    }

    /// Removes the content of a repository marked `deleting` (at `marked_revision`), then
    /// its record. Nothing can be written to it meanwhile, so batches may be separate
    /// transactions; an interrupted removal is finished by the next delete or create, and
    /// two removals running at once both end well.
    async fn remove_content(
        &self,
        scope: &Scope,
        name: &RepoName,
        marked_revision: u64,
    ) -> Result<(), MetadataError> {
        let key = keys::repo(scope, name);
        let prefix = keys::content(scope, name);
        loop {
            let page = self.store.page(&prefix, None, DELETE_BATCH).await?;
            let last = page.kvs.is_empty();
            let txn = page.kvs.iter().fold(
                Txn::new().when(Compare::unchanged(&key, marked_revision)),
                |txn, kv| txn.then(Op::delete(&kv.key)),
            );
            let txn = if last {
                txn.then(Op::delete(&key))
            } else {
                txn
            };
            if self.commit(txn).await?.is_none() {
                // Only another removal changes a marked record: it finished first.
                return match get::<RepositoryRecord>(&*self.store, &key).await? {
                    None => Ok(()),
                    Some(_) => Err(MetadataError::Contention(format!("repository {name}"))),
                };
            }
            if last {
                return Ok(());
            }
        }
    }
}
