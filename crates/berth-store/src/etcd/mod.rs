//! The etcd backend: the same [`Store`] over an etcd v3 cluster, for control planes that
//! run as several replicas. Revisions are etcd's own (store-wide, starting above 0 on a
//! new cluster); a transaction is one etcd `Txn` whose compares are the store's; a watch
//! is an etcd watch that reconnects on its own to another member, from the revision it
//! last delivered, so a member's loss shows as nothing more than a pause.
//!
//! It speaks etcd's JSON gateway (`/v3/...`, served by every etcd since 3.3) with the
//! HTTP client the rest of Berth uses, rather than gRPC through the `etcd-client` crate:
//! that crate generates its code with `protoc` at build time, which a fresh machine does
//! not have, and the gateway is the same API (the same revisions, compares, watches and
//! leases).
//!
//! Every key lives under a namespace (default `/berth`), so several Berths, or a test's
//! fresh stores, can share one cluster.
//!
//! etcd's limits are kept, not hit: a transaction may carry at most
//! [`MAX_TXN_OPS`] operations (etcd's `--max-txn-ops` default) and
//! [`MAX_REQUEST_BYTES`] of keys and values (its `--max-request-bytes`, less room for
//! the framing); a larger one is refused whole, with an error saying which limit.

mod client;
pub mod election;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{
    Compare, KeyValue, Op, Page, Revision, Snapshot, Store, StoreError, Txn, TxnOutcome,
    WatchEvent, WatchStream,
};
use client::{CallError, Client, OUT_OF_RANGE};
use wire::{RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse, B64, I64};

/// The most operations one etcd transaction may carry (etcd's default `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;
/// The most bytes of keys and values one request may carry: etcd's default
/// `--max-request-bytes` (1.5 MiB) less room for the request's framing.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024 - 16 * 1024;

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Base URLs of the members (`http://HOST:PORT`, or `https://` with TLS).
    pub endpoints: Vec<String>,
    /// The prefix every key is stored under.
    pub namespace: String,
    /// PEM of the CA that signed the members' certificates (TLS).
    pub ca_pem: Option<Vec<u8>>,
    /// PEM of this client's certificate followed by its key (TLS client auth).
    pub client_identity_pem: Option<Vec<u8>>,
    /// How long a call may take before the next member is tried (reads) or it fails.
    pub request_timeout: Duration,
}

impl EtcdOptions {
    /// Options from `etcd://HOST:PORT[,HOST:PORT...][/NAMESPACE]` (`https` to the members
    /// when a CA is given later).
    pub fn parse(url: &str) -> Result<EtcdOptions, String> {
        let rest = url.strip_prefix("etcd://").ok_or_else(|| {
            format!("'{url}' is not an etcd URL; write etcd://HOST:PORT[,HOST:PORT...]")
        })?;
        let (hosts, namespace) = match rest.split_once('/') {
            Some((hosts, ns)) if !ns.is_empty() => {
                (hosts, format!("/{}", ns.trim_end_matches('/')))
            }
            Some((hosts, _)) => (hosts, "/berth".to_string()),
            None => (rest, "/berth".to_string()),
        };
        let endpoints: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains(':') {
                    Ok(format!("http://{h}"))
                } else {
                    Err(format!("etcd member '{h}' has no port; write HOST:PORT"))
                }
            })
            .collect::<Result<_, _>>()?;
        if endpoints.is_empty() {
            return Err(format!("'{url}' names no etcd member"));
        }
        Ok(EtcdOptions {
            endpoints,
            namespace,
            ca_pem: None,
            client_identity_pem: None,
            request_timeout: Duration::from_secs(5),
        })
    }

    /// Talks TLS to the members, trusting `ca_pem`, presenting `identity_pem` (a
    /// certificate and its key) when given.
    pub fn with_tls(mut self, ca_pem: Vec<u8>, identity_pem: Option<Vec<u8>>) -> EtcdOptions {
        self.endpoints = self
            .endpoints
            .iter()
            .map(|e| e.replacen("http://", "https://", 1))
            .collect();
        self.ca_pem = Some(ca_pem);
        self.client_identity_pem = identity_pem;
        self
    }
}

/// A [`Store`] on an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    client: Arc<Client>,
    namespace: Arc<str>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.client.endpoints())
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn backend(e: CallError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The first key after every key that starts with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte is 0xff (or the prefix is empty): to the end of the keyspace.
    vec![0]
}

impl EtcdStore {
    /// Connects to the cluster and checks that it answers.
    pub async fn connect(options: EtcdOptions) -> Result<EtcdStore, StoreError> {
        let client = Client::new(&options).map_err(StoreError::Backend)?;
        let store = EtcdStore {
            client: Arc::new(client),
            namespace: options.namespace.into(),
        };
        store.revision().await?;
        Ok(store)
    }

    /// The same cluster under another namespace (for tests' fresh stores).
    pub fn with_namespace(&self, namespace: &str) -> EtcdStore {
        EtcdStore {
            client: self.client.clone(),
            namespace: namespace.into(),
        }
    }

    fn full(&self, key: &str) -> Vec<u8> {
        let mut k = self.namespace.as_bytes().to_vec();
        k.extend_from_slice(key.as_bytes());
        k
    }

    fn kv(&self, kv: wire::Kv) -> Result<KeyValue, StoreError> {
        let key = kv
            .key
            .0
            .strip_prefix(self.namespace.as_bytes())
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or_else(|| StoreError::Backend("etcd returned a key outside the namespace".into()))?
            .to_string();
        Ok(KeyValue {
            key,
            value: Bytes::from(kv.value.0),
            create_revision: kv.create_revision.0 as Revision,
            mod_revision: kv.mod_revision.0 as Revision,
        })
    }

    async fn range(&self, request: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.client
            .call("/v3/kv/range", request, false)
            .await
            .map_err(backend)
    }

    fn prefix_range(&self, prefix: &str) -> RangeRequest {
        let key = self.full(prefix);
        RangeRequest {
            range_end: Some(B64(prefix_end(&key))),
            key: B64(key),
            ..Default::default()
        }
    }

    /// Drops history below `revision`, as etcd's compaction does (for tests and
    /// operators; etcd compacts on its own with `--auto-compaction-retention`).
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let request = wire::CompactionRequest {
            revision: I64(revision as i64),
            physical: true,
        };
        let _: serde_json::Value = self
            .client
            .call("/v3/kv/compaction", &request, true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Whether history after `after` is gone; the oldest revision kept when it is.
    async fn compacted_after(&self, after: Revision) -> Result<Option<Revision>, StoreError> {
        let probe = RangeRequest {
            key: B64(self.full("")),
            revision: Some(I64(after as i64 + 1)),
            count_only: true,
            ..Default::default()
        };
        match self
            .client
            .call::<_, RangeResponse>("/v3/kv/range", &probe, false)
            .await
        {
            Err(CallError::Refused { code, message })
                if code == OUT_OF_RANGE && message.contains("compacted") =>
            {
                // The compaction revision comes with the watch's cancellation.
                let mut stream = self.open_watch("", after + 1).await?;
                loop {
                    match stream.next_message().await? {
                        Some(r) if r.canceled => return Ok(Some(r.compact_revision.0 as Revision)),
                        Some(_) => continue,
                        None => return Ok(Some(after + 1)),
                    }
                }
            }
            // A revision ahead of the store's ("future revision") is not compacted.
            Err(CallError::Refused { code, .. }) if code == OUT_OF_RANGE => Ok(None),
            Err(e) => Err(backend(e)),
            Ok(_) => Ok(None),
        }
    }

    async fn open_watch(&self, prefix: &str, start: Revision) -> Result<WatchLines, StoreError> {
        let key = self.full(prefix);
        let request = wire::WatchRequest {
            create_request: wire::WatchCreate {
                range_end: B64(prefix_end(&key)),
                key: B64(key),
                start_revision: I64(start as i64),
            },
        };
        let response = self
            .client
            .open_stream("/v3/watch", &request)
            .await
            .map_err(backend)?;
        Ok(WatchLines {
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        })
    }

    fn event(&self, e: wire::Event) -> Result<WatchEvent, StoreError> {
        let kv = self.kv(e.kv)?;
        Ok(match e.kind.as_deref() {
            Some("DELETE") => WatchEvent::Delete {
                key: kv.key,
                mod_revision: kv.mod_revision,
            },
            _ => WatchEvent::Put(kv),
        })
    }
}

/// A watch's response body, read a message (one JSON line) at a time.
struct WatchLines {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl WatchLines {
    /// The next result; `None` when the stream ended.
    async fn next_message(&mut self) -> Result<Option<wire::WatchResponse>, StoreError> {
        loop {
            if let Some(at) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let message: wire::WatchMessage = serde_json::from_slice(&line)
                    .map_err(|e| StoreError::Backend(format!("etcd watch message: {e}")))?;
                if let Some(error) = message.error {
                    return Err(StoreError::Backend(format!("etcd watch: {}", error.text())));
                }
                return Ok(message.result);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(StoreError::Backend(format!("etcd watch: {e}"))),
                None => return Ok(None),
            }
        }
    }
}

/// How long a watch waits before reconnecting, and how many times in a row it tries.
const RECONNECT_WAIT: Duration = Duration::from_millis(200);
const RECONNECT_TRIES: u32 = 50;

#[async_trait]
impl Store for EtcdStore {
    async fn revision(&self) -> Result<Revision, StoreError> {
        let probe = RangeRequest {
            key: B64(self.full("")),
            count_only: true,
            ..Default::default()
        };
        Ok(self.range(&probe).await?.header.revision.0 as Revision)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let request = RangeRequest {
            key: B64(self.full(key)),
            ..Default::default()
        };
        self.range(&request)
            .await?
            .kvs
            .into_iter()
            .next()
            .map(|kv| self.kv(kv))
            .transpose()
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KeyValue>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut at: Option<I64> = None;
        for chunk in keys.chunks(MAX_TXN_OPS) {
            // One read-only transaction per chunk, every chunk at the first one's revision.
            let txn = TxnRequest {
                success: chunk
                    .iter()
                    .map(|k| {
                        RequestOp::RequestRange(RangeRequest {
                            key: B64(self.full(k)),
                            revision: at,
                            ..Default::default()
                        })
                    })
                    .collect(),
                ..Default::default()
            };
            let answer: TxnResponse = self
                .client
                .call("/v3/kv/txn", &txn, false)
                .await
                .map_err(backend)?;
            at.get_or_insert(answer.header.revision);
            for response in answer.responses {
                let kv = response
                    .response_range
                    .and_then(|r| r.kvs.into_iter().next());
                out.push(kv.map(|kv| self.kv(kv)).transpose()?);
            }
        }
        Ok(out)
    }

    async fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let mut request = self.prefix_range(prefix);
        if let Some(after) = start_after {
            let mut from = self.full(after);
            from.push(0);
            if from > request.key.0 {
                request.key = B64(from);
            }
        }
        if limit > 0 {
            request.limit = Some(I64(limit as i64));
        }
        let answer = self.range(&request).await?;
        Ok(Page {
            revision: answer.header.revision.0 as Revision,
            more: answer.more,
            kvs: answer
                .kvs
                .into_iter()
                .map(|kv| self.kv(kv))
                .collect::<Result<_, _>>()?,
        })
    }

    async fn snapshot(&self, prefixes: &[String]) -> Result<Snapshot, StoreError> {
        let mut sorted: Vec<&String> = prefixes.iter().collect();
        sorted.sort();
        sorted.dedup();
        // A prefix inside another adds nothing.
        let mut outer: Vec<&String> = Vec::new();
        for p in sorted {
            if !outer.iter().any(|o| p.starts_with(o.as_str())) {
                outer.push(p);
            }
        }
        let mut snapshot = Snapshot::default();
        let mut at: Option<I64> = None;
        for prefix in outer {
            let mut request = self.prefix_range(prefix);
            request.revision = at;
            let answer = self.range(&request).await?;
            at.get_or_insert(answer.header.revision);
            for kv in answer.kvs {
                snapshot.kvs.push(self.kv(kv)?);
            }
        }
        snapshot.revision = match at {
            Some(r) => r.0 as Revision,
            None => self.revision().await?,
        };
        snapshot.kvs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(snapshot)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        if txn.ops.len() > MAX_TXN_OPS || txn.compares.len() > MAX_TXN_OPS {
            return Err(StoreError::Backend(format!(
                "a transaction of {} operations and {} compares is over etcd's limit of {MAX_TXN_OPS} \
                 each; nothing was written",
                txn.ops.len(),
                txn.compares.len()
            )));
        }
        let bytes: usize = txn
            .ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => key.len() + value.len(),
                Op::Delete { key } => key.len(),
            })
            .sum();
        if bytes > MAX_REQUEST_BYTES {
            return Err(StoreError::Backend(format!(
                "a transaction of {bytes} bytes is over etcd's request limit of \
                 {MAX_REQUEST_BYTES}; nothing was written"
            )));
        }
        let compared: Vec<(&str, Revision)> = txn
            .compares
            .iter()
            .map(|c| match c {
                Compare::ModRevision { key, revision } => (key.as_str(), *revision),
            })
            .collect();
        let request = TxnRequest {
            compare: compared
                .iter()
                .map(|(key, revision)| wire::Compare {
                    key: B64(self.full(key)),
                    target: "MOD",
                    result: "EQUAL",
                    mod_revision: I64(*revision as i64),
                })
                .collect(),
            success: txn
                .ops
                .iter()
                .map(|op| match op {
                    Op::Put { key, value } => RequestOp::RequestPut(wire::PutRequest {
                        key: B64(self.full(key)),
                        value: B64(value.to_vec()),
                        lease: None,
                    }),
                    Op::Delete { key } => RequestOp::RequestDeleteRange(wire::DeleteRangeRequest {
                        key: B64(self.full(key)),
                    }),
                })
                .collect(),
            // When a compare fails, read the compared keys at the same revision to name
            // the first one that no longer holds.
            failure: compared
                .iter()
                .map(|(key, _)| {
                    RequestOp::RequestRange(RangeRequest {
                        key: B64(self.full(key)),
                        keys_only: true,
                        ..Default::default()
                    })
                })
                .collect(),
        };
        let answer: TxnResponse = self
            .client
            .call("/v3/kv/txn", &request, !txn.ops.is_empty())
            .await
            .map_err(backend)?;
        if answer.succeeded {
            return Ok(TxnOutcome::Committed {
                revision: answer.header.revision.0 as Revision,
            });
        }
        for ((key, expected), response) in compared.iter().zip(answer.responses) {
            let actual = response
                .response_range
                .and_then(|r| r.kvs.into_iter().next())
                .map_or(0, |kv| kv.mod_revision.0 as Revision);
            if actual != *expected {
                return Ok(TxnOutcome::Conflict {
                    key: key.to_string(),
                });
            }
        }
        Err(StoreError::Backend(
            "etcd refused a transaction whose compares all hold".into(),
        ))
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        if let Some(oldest) = self.compacted_after(after_revision).await? {
            return Err(StoreError::Compacted {
                requested: after_revision,
                oldest,
            });
        }
        let first = self.open_watch(prefix, after_revision + 1).await?;
        let (sender, receiver) = mpsc::channel(1024);
        let store = self.clone();
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            tokio::select! {
                _ = feed(&store, &prefix, after_revision, first, &sender) => {}
                _ = sender.closed() => {}
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
            receiver,
        )))
    }
}

/// Moves a watch's events to `sender`, reconnecting (to any member) from the last
/// delivered revision when the stream breaks; ends with an error the caller acts on
/// (relist) when history is compacted or no member answers for a while.
async fn feed(
    store: &EtcdStore,
    prefix: &str,
    after: Revision,
    mut lines: WatchLines,
    sender: &mpsc::Sender<Result<WatchEvent, StoreError>>,
) {
    let mut delivered = after;
    let mut failures = 0;
    loop {
        if let Ok(Some(result)) = lines.next_message().await {
            {
                failures = 0;
                if result.canceled {
                    let oldest = result.compact_revision.0 as Revision;
                    let error = if oldest > 0 {
                        StoreError::Compacted {
                            requested: delivered,
                            oldest,
                        }
                    } else {
                        StoreError::Backend(format!(
                            "etcd canceled the watch: {}",
                            result.cancel_reason
                        ))
                    };
                    let _ = sender.send(Err(error)).await;
                    return;
                }
                for event in result.events {
                    let event = store.event(event);
                    if let Ok(e) = &event {
                        delivered = e.revision();
                    }
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        }
        // The stream broke: open it again after the last delivered revision.
        loop {
            failures += 1;
            if failures > RECONNECT_TRIES {
                let _ = sender
                    .send(Err(StoreError::Backend(
                        "the etcd watch broke and no member answered; relist and watch again"
                            .into(),
                    )))
                    .await;
                return;
            }
            tokio::time::sleep(RECONNECT_WAIT).await;
            match store.compacted_after(delivered).await {
                Ok(Some(oldest)) => {
                    let _ = sender
                        .send(Err(StoreError::Compacted {
                            requested: delivered,
                            oldest,
                        }))
                        .await;
                    return;
                }
                Ok(None) => {}
                Err(_) => continue,
            }
            match store.open_watch(prefix, delivered + 1).await {
                Ok(fresh) => {
                    lines = fresh;
                    break;
                }
                Err(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"/berth/a/"), b"/berth/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn urls_name_members_and_a_namespace() {
        let o = EtcdOptions::parse("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(
            o.endpoints,
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(o.namespace, "/berth");
        let o = EtcdOptions::parse("etcd://h:1/team-a/").unwrap();
        assert_eq!(o.namespace, "/team-a");
        let tls = o.with_tls(b"ca".to_vec(), None);
        assert_eq!(tls.endpoints, ["https://h:1"]);
        assert!(EtcdOptions::parse("http://h:1")
            .unwrap_err()
            .contains("etcd://HOST:PORT"));
        assert!(EtcdOptions::parse("etcd://h")
            .unwrap_err()
            .contains("no port"));
        assert!(EtcdOptions::parse("etcd:///ns")
            .unwrap_err()
            .contains("names no etcd member"));
    }
}
