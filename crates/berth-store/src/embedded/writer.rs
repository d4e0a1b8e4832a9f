//! The single writer thread and its group commit.
//!
//! Callers queue [`Request`]s on a channel. The writer takes the first one, drains up to
//! `max_batch - 1` more that are already waiting, evaluates them in order inside one redb
//! write transaction (each sees the writes of those before it), commits once with
//! `Durability::Immediate`, publishes the batch's events to live watchers, and only then
//! answers every caller. One fsync is shared by every transaction in the batch.

use std::sync::mpsc;
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::{broadcast, oneshot};

use super::codec::{decode_record, encode_events, encode_record};
use super::{first_conflict, DbResult, LiveBatch, HISTORY, KV, META, OLDEST_KEY, REVISION_KEY};
use crate::{KeyValue, Op, Revision, StoreError, Txn, TxnOutcome, WatchEvent};

/// Work for the writer and where to send its outcome once the batch is durable.
pub(crate) struct Request {
    pub work: Work,
    pub reply: oneshot::Sender<Result<TxnOutcome, StoreError>>,
}

/// What a request asks the writer to do.
pub(crate) enum Work {
    /// Evaluate a transaction.
    Txn(Txn),
    /// Drop history at and below this revision; answers `Committed` at the current revision.
    Compact(Revision),
}

/// The writer's view of the `meta` table, kept in memory between batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WriterState {
    /// The last committed revision.
    pub revision: Revision,
    /// The oldest revision still in the history table (`revision + 1` when it is empty).
    pub oldest: Revision,
}

/// The writer thread's state and configuration.
pub(crate) struct Writer {
    pub db: Arc<Database>,
    pub requests: mpsc::Receiver<Request>,
    pub live: broadcast::Sender<LiveBatch>,
    pub state: WriterState,
    pub max_batch: usize,
    pub history_revisions: u64,
}

/// What a batch produced: one outcome per request, in order, and the events it recorded.
struct Evaluated {
    outcomes: Vec<TxnOutcome>,
    events: Vec<WatchEvent>,
}

impl Writer {
    /// Serves requests until every sender is dropped.
    pub fn run(mut self) {
        while let Ok(first) = self.requests.recv() {
            let mut batch = vec![first];
            batch.extend(self.requests.try_iter().take(self.max_batch - 1));
            let answers: Vec<Result<TxnOutcome, StoreError>> = match self.commit(&batch) {
                Ok(Evaluated { outcomes, events }) => {
                    if !events.is_empty() {
                        // No receivers is fine: nobody is watching.
                        let _ = self.live.send(Arc::new(events));
                    }
                    outcomes.into_iter().map(Ok).collect()
                }
                Err(error) => {
                    let error = StoreError::from(error).to_string();
                    tracing::error!(%error, batch = batch.len(), "store commit failed");
                    batch
                        .iter()
                        .map(|_| Err(StoreError::Backend(error.clone())))
                        .collect()
                }
            };
            for (request, answer) in batch.into_iter().zip(answers) {
                // A caller that stopped waiting is not an error.
                let _ = request.reply.send(answer);
            }
        }
    }

    /// Evaluates a batch in one write transaction and commits it if anything changed.
    fn commit(&mut self, batch: &[Request]) -> DbResult<Evaluated> {
        let mut wtx = self.db.begin_write()?;
        wtx.set_durability(Durability::Immediate);
        let mut state = self.state;
        let evaluated = self.evaluate(&wtx, batch, &mut state)?;
        if state == self.state {
            wtx.abort()?;
        } else {
            wtx.commit()?;
            self.state = state;
        }
        Ok(evaluated)
    }

    fn evaluate(
        &self,
        wtx: &WriteTransaction,
        batch: &[Request],
        state: &mut WriterState,
    ) -> DbResult<Evaluated> {
        let mut kv = wtx.open_table(KV)?;
        let mut history = wtx.open_table(HISTORY)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        for request in batch {
            outcomes.push(match &request.work {
                Work::Txn(txn) => apply(&mut kv, &mut history, txn, state, &mut events)?,
                Work::Compact(through) => {
                    compact(&mut history, state, through.saturating_add(1))?;
                    TxnOutcome::Committed {
                        revision: state.revision,
                    }
                }
            });
        }
        let keep_from = state.revision.saturating_sub(self.history_revisions) + 1;
        compact(&mut history, state, keep_from)?;
        let mut meta = wtx.open_table(META)?;
        meta.insert(REVISION_KEY, state.revision)?;
        meta.insert(OLDEST_KEY, state.oldest)?;
        Ok(Evaluated { outcomes, events })
    }
}

/// Applies one transaction if its compares hold; records its events under its revision.
fn apply(
    kv: &mut Table<&'static [u8], &'static [u8]>,
    history: &mut Table<u64, &'static [u8]>,
    txn: &Txn,
    state: &mut WriterState,
    events: &mut Vec<WatchEvent>,
) -> DbResult<TxnOutcome> {
    if let Some(key) = first_conflict(kv, &txn.compares)? {
        return Ok(TxnOutcome::Conflict { key });
    }
    let revision = state.revision + 1;
    let first = events.len();
    for op in &txn.ops {
        match op {
            Op::Put { key, value } => {
                let create_revision = match kv.get(key.as_bytes())? {
                    Some(old) => decode_record(old.value())?.create_revision,
                    None => revision,
                };
                let record = encode_record(create_revision, revision, value);
                kv.insert(key.as_bytes(), record.as_slice())?;
                events.push(WatchEvent::Put(KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision,
                    mod_revision: revision,
                }));
            }
            Op::Delete { key } => {
                if kv.remove(key.as_bytes())?.is_some() {
                    events.push(WatchEvent::Delete {
                        key: key.clone(),
                        mod_revision: revision,
                    });
                }
            }
        }
    }
    // Like etcd, a transaction that changed nothing does not take a revision.
    if events.len() > first {
        history.insert(revision, encode_events(&events[first..]).as_slice())?;
        state.revision = revision;
    }
    Ok(TxnOutcome::Committed {
        revision: state.revision,
    })
}

/// Drops history below `keep_from` (never past the current revision).
fn compact(
    history: &mut Table<u64, &'static [u8]>,
    state: &mut WriterState,
    keep_from: Revision,
) -> DbResult<()> {
    let keep_from = keep_from.min(state.revision + 1);
    if keep_from > state.oldest {
        history.retain_in(state.oldest..keep_from, |_, _| false)?;
        state.oldest = keep_from;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Compare;

    fn writer(dir: &std::path::Path) -> Writer {
        let db = Arc::new(Database::create(dir.join("writer.redb")).unwrap());
        let state = super::super::create_tables(&db).unwrap();
        let (_, requests) = mpsc::channel();
        let (live, _) = broadcast::channel(8);
        Writer {
            db,
            requests,
            live,
            state,
            max_batch: 100,
            history_revisions: 100,
        }
    }

    #[test]
    fn a_batch_is_evaluated_in_order_with_one_revision_per_writing_txn() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(dir.path());
        let create = |value: &'static str| {
            Txn::new()
                .when(Compare::absent("a"))
                .then(Op::put("a", value))
        };
        let works = [
            Work::Txn(create("1")),
            Work::Txn(create("2")),
            Work::Txn(
                Txn::new()
                    .when(Compare::unchanged("a", 1))
                    .then(Op::put("a", "3"))
                    .then(Op::put("b", "")),
            ),
            Work::Txn(Txn::new().then(Op::delete("absent"))),
            Work::Txn(Txn::new().then(Op::delete("a"))),
            Work::Compact(1),
        ];
        let batch: Vec<Request> = works
            .into_iter()
            .map(|work| Request {
                work,
                reply: oneshot::channel().0,
            })
            .collect();
        let Evaluated { outcomes, events } = writer.commit(&batch).unwrap();
        let committed = |revision| TxnOutcome::Committed { revision };
        let conflict = TxnOutcome::Conflict { key: "a".into() };
        assert_eq!(
            outcomes,
            [
                committed(1),
                conflict,
                committed(2),
                committed(2),
                committed(3),
                committed(3)
            ]
        );
        let events: Vec<(&str, Revision)> =
            events.iter().map(|e| (e.key(), e.revision())).collect();
        assert_eq!(events, [("a", 1), ("a", 2), ("b", 2), ("a", 3)]);
        assert_eq!((writer.state.revision, writer.state.oldest), (3, 2));
    }

    #[test]
    fn a_batch_that_changes_nothing_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(dir.path());
        let batch = [Request {
            work: Work::Txn(Txn::new().then(Op::delete("a"))),
            reply: oneshot::channel().0,
        }];
        let Evaluated { outcomes, events } = writer.commit(&batch).unwrap();
        assert_eq!(outcomes, [TxnOutcome::Committed { revision: 0 }]);
        assert!(events.is_empty());
        assert_eq!((writer.state.revision, writer.state.oldest), (0, 1));
    }
}
