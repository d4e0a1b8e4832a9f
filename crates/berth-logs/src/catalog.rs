//! Log groups and log streams: their names, settings and where each stream's events are
//! stored, recorded in the [`berth_store::Store`] so every replica sees the same catalog.
//! The events themselves are in the [`crate::store`] under each stream's `storage_id`.
//!
//! ```text
//! /logs/ACCOUNT/REGION/groups/GROUP                 group record
//! /logs/ACCOUNT/REGION/streams/ENC(GROUP)/STREAM    stream record
//! ```
//!
//! Records are leaves, so names with `/` need no escaping, and a listing of a prefix
//! yields names in order (DescribeLogGroups, DescribeLogStreams by name). A group's
//! streams live under one prefix with the group name's `/` written `%2F` (group names
//! cannot contain `%`), so `a`'s streams never include `a/b`'s.
//!
//! Deleting a group first marks it `deleting` (from then on it is gone for every caller,
//! and no stream can be created in it), then removes its streams in batches, then the
//! group; an interrupted deletion is finished by the next create or delete of the name.
//!
//! Records are JSON ([`berth_store::records::Stored`]); every change is an optimistic
//! compare-and-swap made through the records layer's one loop
//! ([`berth_store::records::update`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use berth_store::records::{self, decode, get, put, RecordError, Step};
use berth_store::{Compare, Op, Store, StoreError, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};

/// How many keys one transaction deletes (etcd's default limit is 128 operations).
const DELETE_BATCH: usize = 100;

/// The account and region a call acts in.
pub use berth_api::Scope;

/// A log group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Events older than this many days are deleted; `None` keeps them forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

/// A log stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The id its events are stored under.
    pub storage_id: String,
}

berth_store::stored_as_json!(GroupRecord, StreamRecord);

/// Why a catalog call failed. Messages are CloudWatch Logs' own.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("The specified log group already exists")]
    GroupExists,
    #[error("The specified log group does not exist.")]
    GroupNotFound,
    #[error("The specified log stream already exists")]
    StreamExists,
    #[error("The specified log stream does not exist.")]
    StreamNotFound,
    #[error("{0} was changed concurrently too many times; retry the request")]
    Contention(String),
    #[error("the store failed: {0}; the request may be retried")]
    Store(#[from] StoreError),
    #[error("stored record {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

impl From<RecordError> for CatalogError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => CatalogError::Store(e),
            RecordError::Corrupt { key, reason } => CatalogError::Corrupt { key, reason },
            RecordError::Contention { what } => CatalogError::Contention(what),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// True when more follow.
    pub more: bool,
}

/// The catalog in a [`Store`].
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
}

/// Where every scope's catalog lives.
pub const ROOT: &str = "/logs/";

fn base(scope: &Scope) -> String {
    format!("{ROOT}{}/{}", escape(&scope.account), escape(&scope.region))
}

fn escape(segment: &str) -> String {
    segment.replace('%', "%25").replace('/', "%2F")
}

/// The scope of a group record's key (`ROOT` `ACCOUNT/REGION/groups/GROUP`); `None` for
/// any other key.
fn group_scope(key: &str) -> Option<Scope> {
    let rest = key.strip_prefix(ROOT)?;
    let [account, region, rest] = rest.splitn(3, '/').collect::<Vec<_>>()[..] else {
        return None;
    };
    rest.starts_with("groups/").then(|| {
        let unescape = |s: &str| s.replace("%2F", "/").replace("%25", "%");
        Scope::new(unescape(account), unescape(region))
    })
}

/// Whether `key` is a group record's (for watchers of [`ROOT`]).
pub fn is_group_key(key: &str) -> bool {
    group_scope(key).is_some()
}

fn groups_prefix(scope: &Scope) -> String {
    format!("{}/groups/", base(scope))
}

fn group_key(scope: &Scope, group: &str) -> String {
    format!("{}{group}", groups_prefix(scope))
}

fn streams_prefix(scope: &Scope, group: &str) -> String {
    format!("{}/streams/{}/", base(scope), escape(group))
}

fn stream_key(scope: &Scope, group: &str, stream: &str) -> String {
    format!("{}{stream}", streams_prefix(scope, group))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>) -> Catalog {
        Catalog { store }
    }

    /// [`berth_store::records::update`] over the catalog's store, answering with its
    /// errors; `what` names the contended thing.
    async fn update<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, CatalogError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, CatalogError>>,
    {
        records::update(&*self.store, what, attempt).await
    }

    /// Commits `txn` once, outside an update loop: whether it committed.
    async fn commit(&self, txn: Txn) -> Result<bool, CatalogError> {
        Ok(matches!(
            self.store.txn(txn).await?,
            TxnOutcome::Committed { .. }
        ))
    }

    /// The group's record and revision when it exists and is not being deleted.
    async fn live_group(
        &self,
        scope: &Scope,
        group: &str,
    ) -> Result<(GroupRecord, u64), CatalogError> {
        match get::<GroupRecord>(&*self.store, &group_key(scope, group)).await? {
            Some(r) if !r.value.deleting => Ok((r.value, r.revision)),
            _ => Err(CatalogError::GroupNotFound),
        }
    }

    /// Creates a group; the name must be free.
    pub async fn create_group(
        &self,
        scope: &Scope,
        record: GroupRecord,
    ) -> Result<GroupRecord, CatalogError> {
        let key = &group_key(scope, &record.name);
        let record = &record;
        self.update(&format!("log group {}", record.name), || async move {
            if let Some(existing) = get::<GroupRecord>(&*self.store, key).await? {
                if !existing.value.deleting {
                    return Err(CatalogError::GroupExists);
                }
                // A deletion was interrupted: finish it, then create afresh (the create
                // compares the key's absence, so a group created meanwhile makes it
                // conflict and the next attempt sees that one).
                self.remove_group(scope, &existing.value.name, existing.revision)
                    .await?;
            }
            let txn = Txn::new().when(Compare::absent(key)).then(put(key, record));
            Ok(Step::Commit(txn, record.clone()))
        })
        .await
    }

    /// A group, when it exists.
    pub async fn group(&self, scope: &Scope, group: &str) -> Result<GroupRecord, CatalogError> {
        Ok(self.live_group(scope, group).await?.0)
    }

    /// Groups whose names start with `prefix`, in name order, after `after`, at most
    /// `limit`.
    pub async fn list_groups(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<GroupRecord>, CatalogError> {
        let all = groups_prefix(scope);
        let start = after.map(|a| format!("{all}{a}"));
        let page = self
            .store
            .page(&format!("{all}{prefix}"), start.as_deref(), limit)
            .await?;
        let mut items = Vec::new();
        for kv in page.kvs {
            let record = decode::<GroupRecord>(kv)?.value;
            if !record.deleting {
                items.push(record);
            }
        }
        Ok(Page {
            items,
            more: page.more,
        })
    }

    /// Changes a group's settings with `change`; returns the new record.
    pub async fn update_group<E: From<CatalogError>>(
        &self,
        scope: &Scope,
        group: &str,
        change: impl FnMut(&mut GroupRecord) -> Result<(), E>,
    ) -> Result<GroupRecord, E> {
        let key = &group_key(scope, group);
        // The attempt's future borrows `change`; a lock (never held across an await)
        // lets each attempt call it mutably.
        let change = &Mutex::new(change);
        // A refusal of `change` ends the loop as its answer, so the loop's own errors
        // stay `CatalogError`.
        self.update(&format!("log group {group}"), || async move {
            let (mut record, revision) = self.live_group(scope, group).await?;
            let changed = (change.lock().expect("change lock"))(&mut record);
            if let Err(refused) = changed {
                return Ok(Step::Done(Err(refused)));
            }
            let txn = Txn::new()
                .when(Compare::unchanged(key, revision))
                .then(put(key, &record));
            Ok(Step::Commit(txn, Ok(record)))
        })
        .await?
    }

    /// Deletes a group and its streams; returns the streams it had, whose stored events
    /// the caller removes.
    pub async fn delete_group(
        &self,
        scope: &Scope,
        group: &str,
    ) -> Result<Vec<StreamRecord>, CatalogError> {
        let key = &group_key(scope, group);
        self.update(&format!("log group {group}"), || async move {
            let (mut record, revision) = self.live_group(scope, group).await?;
            record.deleting = true;
            let txn = Txn::new()
                .when(Compare::unchanged(key, revision))
                .then(put(key, &record));
            Ok(Step::Commit(txn, ()))
        })
        .await?;
        let marked = self.store.get(key).await?.map_or(0, |kv| kv.mod_revision);
        self.remove_group(scope, group, marked).await
    }

    /// Removes the streams of a group marked `deleting` (at `marked`), then the group.
    async fn remove_group(
        &self,
        scope: &Scope,
        group: &str,
        marked: u64,
    ) -> Result<Vec<StreamRecord>, CatalogError> {
        let key = group_key(scope, group);
        let prefix = streams_prefix(scope, group);
        let mut removed = Vec::new();
        loop {
            let page = self.store.page(&prefix, None, DELETE_BATCH).await?;
            let last = page.kvs.is_empty();
            let mut txn = Txn::new().when(Compare::unchanged(&key, marked));
            for kv in page.kvs {
                let stream = decode::<StreamRecord>(kv)?;
                txn = txn.then(Op::delete(&stream.key));
                removed.push(stream.value);
            }
            if last {
                txn = txn.then(Op::delete(&key));
            }
            if !self.commit(txn).await? {
                // Only another removal changes a marked record: it finished first.
                return Ok(removed);
            }
            if last {
                return Ok(removed);
            }
        }
    }

    /// Creates a stream in a group; the name must be free in the group.
    pub async fn create_stream(
        &self,
        scope: &Scope,
        group: &str,
        record: StreamRecord,
    ) -> Result<StreamRecord, CatalogError> {
        let key = &stream_key(scope, group, &record.name);
        let record = &record;
        self.update(&format!("log stream {}", record.name), || async move {
            let (_, revision) = self.live_group(scope, group).await?;
            if self.store.get(key).await?.is_some() {
                return Err(CatalogError::StreamExists);
            }
            let txn = Txn::new()
                .when(Compare::unchanged(group_key(scope, group), revision))
                .when(Compare::absent(key))
                .then(put(key, record));
            Ok(Step::Commit(txn, record.clone()))
        })
        .await
    }

    /// A stream of a group.
    pub async fn stream(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
    ) -> Result<StreamRecord, CatalogError> {
        let mut found = self
            .store
            .get_many(&[group_key(scope, group), stream_key(scope, group, stream)])
            .await?
            .into_iter();
        let (group, stream) = (found.next().flatten(), found.next().flatten());
        match (group.map(decode::<GroupRecord>).transpose()?, stream) {
            (Some(g), _) if g.value.deleting => Err(CatalogError::GroupNotFound),
            (None, _) => Err(CatalogError::GroupNotFound),
            (_, Some(s)) => Ok(decode(s)?.value),
            (_, None) => Err(CatalogError::StreamNotFound),
        }
    }

    /// Streams of a group whose names start with `prefix`, in name order, after
    /// `after`, at most `limit` (0: all).
    pub async fn list_streams(
        &self,
        scope: &Scope,
        group: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<StreamRecord>, CatalogError> {
        self.live_group(scope, group).await?;
        let all = streams_prefix(scope, group);
        let start = after.map(|a| format!("{all}{a}"));
        let page = self
            .store
            .page(&format!("{all}{prefix}"), start.as_deref(), limit)
            .await?;
        let items = page
            .kvs
            .into_iter()
            .map(|kv| decode(kv).map(|r| r.value))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            more: page.more,
        })
    }

    /// Deletes a stream; returns its record, whose stored events the caller removes.
    pub async fn delete_stream(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
    ) -> Result<StreamRecord, CatalogError> {
        let key = &stream_key(scope, group, stream);
        self.update(&format!("log stream {stream}"), || async move {
            self.live_group(scope, group).await?;
            let Some(r) = get::<StreamRecord>(&*self.store, key).await? else {
                return Err(CatalogError::StreamNotFound);
            };
            let txn = Txn::new()
                .when(Compare::unchanged(key, r.revision))
                .then(Op::delete(key));
            Ok(Step::Commit(txn, r.value))
        })
        .await
    }

    /// Every group of every scope (for the retention loop).
    pub async fn all_groups(&self) -> Result<Vec<(Scope, GroupRecord)>, CatalogError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.page(ROOT, after.as_deref(), 1000).await?;
            let last = page.kvs.last().map(|kv| kv.key.clone());
            for kv in page.kvs {
                let Some(scope) = group_scope(&kv.key) else {
                    continue;
                };
                let record = decode::<GroupRecord>(kv)?.value;
                if !record.deleting {
                    found.push((scope, record));
                }
            }
            match (page.more, last) {
                (true, Some(last)) => after = Some(last),
                _ => return Ok(found),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_store::embedded::EmbeddedStore;

    use super::*;

    fn scope() -> Scope {
        Scope {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        (dir, Catalog::new(Arc::new(store)))
    }

    fn group(name: &str) -> GroupRecord {
        GroupRecord {
            name: name.into(),
            created_at: 1,
            retention_days: None,
            tags: BTreeMap::new(),
            kms_key_id: None,
            deleting: false,
        }
    }

    fn stream(name: &str) -> StreamRecord {
        StreamRecord {
            name: name.into(),
            created_at: 2,
            storage_id: format!("id-{}", name.replace('/', "-")),
        }
    }

    fn names<T>(page: Page<T>, name: impl Fn(&T) -> &str) -> Vec<String> {
        page.items.iter().map(|i| name(i).to_string()).collect()
    }

    #[tokio::test]
    async fn groups_and_streams_are_created_listed_and_deleted() {
        let (_dir, c) = catalog();
        let s = scope();
        for g in ["/ecs/web", "/ecs/web/x", "/ecs/api", "other"] {
            c.create_group(&s, group(g)).await.unwrap();
        }
        assert!(matches!(
            c.create_group(&s, group("/ecs/web")).await,
            Err(CatalogError::GroupExists)
        ));
        let listed = c.list_groups(&s, "/ecs/", None, 0).await.unwrap();
        assert_eq!(
            names(listed, |g| &g.name),
            ["/ecs/api", "/ecs/web", "/ecs/web/x"]
        );
        let page = c.list_groups(&s, "", Some("/ecs/api"), 2).await.unwrap();
        assert!(page.more);
        assert_eq!(names(page, |g| &g.name), ["/ecs/web", "/ecs/web/x"]);

        for name in ["ecs/web/1", "ecs/web/2", "z"] {
            c.create_stream(&s, "/ecs/web", stream(name)).await.unwrap();
        }
        c.create_stream(&s, "/ecs/web/x", stream("inner"))
            .await
            .unwrap();
        assert!(matches!(
            c.create_stream(&s, "/ecs/web", stream("z")).await,
            Err(CatalogError::StreamExists)
        ));
        assert!(matches!(
            c.create_stream(&s, "/nope", stream("z")).await,
            Err(CatalogError::GroupNotFound)
        ));
        let listed = c
            .list_streams(&s, "/ecs/web", "ecs/", None, 0)
            .await
            .unwrap();
        assert_eq!(names(listed, |x| &x.name), ["ecs/web/1", "ecs/web/2"]);
        let all = c.list_streams(&s, "/ecs/web", "", None, 0).await.unwrap();
        assert_eq!(
            all.items.len(),
            3,
            "a group's streams never include a nested group's"
        );
        assert_eq!(c.stream(&s, "/ecs/web", "z").await.unwrap(), stream("z"));
        assert!(matches!(
            c.stream(&s, "/ecs/web", "missing").await,
            Err(CatalogError::StreamNotFound)
        ));

        let deleted = c.delete_stream(&s, "/ecs/web", "z").await.unwrap();
        assert_eq!(deleted.storage_id, "id-z");
        let removed = c.delete_group(&s, "/ecs/web").await.unwrap();
        let mut ids: Vec<String> = removed.into_iter().map(|r| r.storage_id).collect();
        ids.sort();
        assert_eq!(ids, ["id-ecs-web-1", "id-ecs-web-2"]);
        assert!(matches!(
            c.group(&s, "/ecs/web").await,
            Err(CatalogError::GroupNotFound)
        ));
        assert_eq!(
            c.stream(&s, "/ecs/web/x", "inner").await.unwrap(),
            stream("inner")
        );
        // The name is free again, with no streams.
        c.create_group(&s, group("/ecs/web")).await.unwrap();
        let empty = c.list_streams(&s, "/ecs/web", "", None, 0).await.unwrap();
        assert!(empty.items.is_empty());
    }

    #[test]
    fn group_keys_are_told_from_stream_keys() {
        let s = scope();
        assert!(is_group_key(&group_key(&s, "a/b")));
        assert_eq!(group_scope(&group_key(&s, "a/b")), Some(s.clone()));
        assert!(!is_group_key(&stream_key(&s, "a/b", "groups/x")));
        assert!(!is_group_key("/logsx/a/r/groups/g"));
    }

    #[tokio::test]
    async fn settings_change_and_every_group_is_found_for_retention() {
        let (_dir, c) = catalog();
        let s = scope();
        c.create_group(&s, group("a/b")).await.unwrap();
        let other = Scope {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
        };
        c.create_group(&other, group("c")).await.unwrap();
        let changed = c
            .update_group(&s, "a/b", |g| {
                g.retention_days = Some(7);
                Ok::<_, CatalogError>(())
            })
            .await
            .unwrap();
        assert_eq!(changed.retention_days, Some(7));
        assert_eq!(c.group(&s, "a/b").await.unwrap().retention_days, Some(7));
        let mut all: Vec<(String, String)> = c
            .all_groups()
            .await
            .unwrap()
            .into_iter()
            .map(|(scope, g)| (scope.account, g.name))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                ("000000000000".to_string(), "a/b".to_string()),
                ("111111111111".to_string(), "c".to_string())
            ]
        );
        assert!(matches!(
            c.update_group(&s, "missing", |_| Ok::<_, CatalogError>(()))
                .await,
            Err(CatalogError::GroupNotFound)
        ));
    }
}
