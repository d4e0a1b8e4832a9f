//! Watches over the embedded store: replay from the history table, then live batches from
//! the writer's broadcast, with no gap and no duplicate at the seam.
//!
//! The seam works because the watcher subscribes to the broadcast *before* it opens the
//! read transaction it replays from: a revision committed before that read is replayed
//! from history (and its live copy skipped), one committed after it is published after
//! the subscription, so the live side receives it.

use futures::{future, stream, StreamExt};
use redb::Database;
use tokio::sync::broadcast::{self, error::RecvError};

use super::codec::decode_events;
use super::{meta_state, DbError, DbResult, LiveBatch, HISTORY, META};
use crate::{Revision, StoreError, WatchEvent, WatchStream};

/// Opens a watch on `prefix` for revisions after `after`.
pub(crate) fn watch(
    db: &Database,
    live: &broadcast::Sender<LiveBatch>,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream, StoreError> {
    let receiver = live.subscribe();
    let rtx = db.begin_read().map_err(DbError::from)?;
    let state = meta_state(&rtx.open_table(META).map_err(DbError::from)?)?;
    if after.saturating_add(1) < state.oldest {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: state.oldest,
        });
    }
    let history = rtx.open_table(HISTORY).map_err(DbError::from)?;
    let range = history
        .range(after.saturating_add(1)..)
        .map_err(DbError::from)?;

    let replay_prefix = prefix.to_owned();
    let replay = stream::iter(range).flat_map(move |entry| {
        let decoded: DbResult<_> = entry
            .map_err(DbError::from)
            .and_then(|(revision, events)| decode_events(revision.value(), events.value()));
        stream::iter(match decoded {
            Ok(events) => select(&events, &replay_prefix, after),
            Err(error) => vec![Err(error.into())],
        })
    });

    let replayed_through = after.max(state.revision);
    let live_prefix = prefix.to_owned();
    let live = stream::unfold(receiver, |mut receiver| async move {
        let batch = match receiver.recv().await {
            Ok(batch) => Ok(batch),
            Err(RecvError::Lagged(_)) => Err(StoreError::Lagged),
            Err(RecvError::Closed) => Err(StoreError::Closed),
        };
        Some((batch, receiver))
    })
    .flat_map(move |batch| {
        stream::iter(match batch {
            Ok(events) => select(&events, &live_prefix, replayed_through),
            Err(error) => vec![Err(error)],
        })
    });

    // The history range is read to its end as of `rtx`, i.e. through `state.revision`;
    // the live side starts after that. The first error ends the stream.
    let events = replay.chain(live).scan(false, |failed, item| {
        if *failed {
            return future::ready(None);
        }
        *failed = item.is_err();
        future::ready(Some(item))
    });
    Ok(Box::pin(events))
}

/// The events under `prefix` after revision `after`, as stream items.
fn select(
    events: &[WatchEvent],
    prefix: &str,
    after: Revision,
) -> Vec<Result<WatchEvent, StoreError>> {
    events
        .iter()
        .filter(|event| event.revision() > after && event.key().starts_with(prefix))
        .cloned()
        .map(Ok)
        .collect()
}
