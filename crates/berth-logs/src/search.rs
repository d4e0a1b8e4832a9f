//! FilterLogEvents: the events of several streams that match a [`FilterPattern`],
//! interleaved in one order — by timestamp, then stream name, then seq — and paged with
//! a token naming the last event returned.
//!
//! Each stream is read forward from the token in chunks, keeping its matching events,
//! until it has `limit` of them, runs out, or has scanned its budget of events (so a
//! rare pattern over a big group answers in bounded time, with a token to go on, as
//! CloudWatch does). A stream that stopped early has a horizon — the last key it
//! looked at — and only events up to the nearest horizon are returned, so nothing a
//! stream has not yet scanned can be skipped.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::filter::FilterPattern;
use crate::store::{Cursor, LogError, LogStore, Position, ReadQuery, StoredEvent};

/// Most events one stream scans for one call, by default.
pub const SCAN_BUDGET: usize = 100_000;
/// Events read from a stream at a time.
const CHUNK: usize = 1_000;

/// A stream to search: its name (part of the order) and its storage id.
#[derive(Debug, Clone)]
pub struct Searched {
    pub name: String,
    pub storage_id: String,
}

/// The interleaving order's key of an event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    #[serde(rename = "t")]
    pub timestamp: i64,
    #[serde(rename = "s")]
    pub stream: String,
    #[serde(rename = "q")]
    pub seq: u64,
}

impl Key {
    /// The pagination token of this key.
    pub fn token(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The key a token names; `None` for a token that is not one of ours.
    pub fn from_token(token: &str) -> Option<Key> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    pub pattern: &'a FilterPattern,
    pub start_time: Option<i64>,
    /// Exclusive.
    pub end_time: Option<i64>,
    /// Continue after this key (from a previous page's token).
    pub after: Option<Key>,
    pub limit: usize,
    /// Most events each stream scans ([`SCAN_BUDGET`] unless testing).
    pub scan_budget: usize,
}

/// A matching event and the stream it is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub stream: String,
    pub storage_id: String,
    pub event: StoredEvent,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPage {
    pub events: Vec<Found>,
    /// Where the next page starts; `None` when every stream was searched to the end.
    pub next: Option<Key>,
}

/// Where a stream's read starts, so that it yields exactly the events after `key`.
fn cursor_after(stream: &str, key: &Key) -> Cursor {
    use std::cmp::Ordering::*;
    let position = match stream.cmp(&key.stream) {
        // Events at the key's timestamp come before the key: only later ones follow.
        Less => Position {
            timestamp: key.timestamp,
            seq: u64::MAX,
        },
        Equal => Position {
            timestamp: key.timestamp,
            seq: key.seq,
        },
        // Events at the key's timestamp come after the key.
        Greater => match key.timestamp.checked_sub(1) {
            Some(timestamp) => Position {
                timestamp,
                seq: u64::MAX,
            },
            None => return Cursor::Oldest,
        },
    };
    Cursor::After(position)
}

/// Searches `streams`.
pub async fn search(
    store: &LogStore,
    streams: &[Searched],
    search: Search<'_>,
) -> Result<FoundPage, LogError> {
    let mut found: Vec<Found> = Vec::new();
    let mut horizon: Option<Key> = None;
    for stream in streams {
        let mut from = match &search.after {
            Some(key) => cursor_after(&stream.name, key),
            None => Cursor::Oldest,
        };
        let (mut matched, mut scanned) = (0, 0);
        loop {
            let page = store
                .read(
                    &stream.storage_id,
                    ReadQuery {
                        start_time: search.start_time,
                        end_time: search.end_time,
                        from,
                        limit: CHUNK,
                    },
                )
                .await?;
            scanned += page.events.len();
            let last = page.events.last().map(|e| Key {
                timestamp: e.timestamp,
                stream: stream.name.clone(),
                seq: e.seq,
            });
            for event in page.events {
                if search.pattern.matches(&event.message) {
                    matched += 1;
                    found.push(Found {
                        stream: stream.name.clone(),
                        storage_id: stream.storage_id.clone(),
                        event,
                    });
                }
            }
            if !page.more {
                break;
            }
            if matched >= search.limit || scanned >= search.scan_budget {
                if let Some(last) = last {
                    horizon = Some(horizon.map_or(last.clone(), |h| h.min(last)));
                }
                break;
            }
            from = page.next;
        }
    }
    let key_of = |f: &Found| Key {
        timestamp: f.event.timestamp,
        stream: f.stream.clone(),
        seq: f.event.seq,
    };
    found.sort_by_key(key_of);
    if let Some(h) = &horizon {
        found.retain(|f| key_of(f) <= *h);
    }
    let cut = found.len() > search.limit;
    found.truncate(search.limit);
    let next = match (found.last(), cut || horizon.is_some()) {
        (Some(last), true) => Some(key_of(last)),
        (None, true) => horizon,
        (_, false) => None,
    };
    Ok(FoundPage {
        events: found,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewEvent;

    async fn store_with(streams: &[(&str, &[(i64, &str)])]) -> (tempfile::TempDir, LogStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        for (id, events) in streams {
            let events = events
                .iter()
                .map(|(t, m)| NewEvent {
                    timestamp: *t,
                    message: m.to_string(),
                })
                .collect();
            store.append(id, events, 0).await.unwrap();
        }
        (dir, store)
    }

    fn streams() -> Vec<Searched> {
        ["a", "b"]
            .iter()
            .map(|n| Searched {
                name: n.to_string(),
                storage_id: format!("id-{n}"),
            })
            .collect()
    }

    async fn all_pages(
        store: &LogStore,
        pattern: &str,
        limit: usize,
        budget: usize,
    ) -> Vec<String> {
        let pattern = FilterPattern::parse(pattern).unwrap();
        let mut after = None;
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let page = search(
                store,
                &streams(),
                Search {
                    pattern: &pattern,
                    start_time: None,
                    end_time: None,
                    after: after.clone(),
                    limit,
                    scan_budget: budget,
                },
            )
            .await
            .unwrap();
            seen.extend(
                page.events
                    .iter()
                    .map(|f| format!("{}:{}", f.stream, f.event.message)),
            );
            match page.next {
                Some(next) => after = Some(Key::from_token(&next.token()).unwrap()),
                None => return seen,
            }
        }
        panic!("the search never ended");
    }

    #[tokio::test]
    async fn streams_interleave_by_time_then_name_and_pages_cover_each_event_once() {
        let a: &[(i64, &str)] = &[
            (1, "a1 ERROR"),
            (3, "a3"),
            (3, "a3b ERROR"),
            (7, "a7 ERROR"),
        ];
        let b: &[(i64, &str)] = &[(2, "b2 ERROR"), (3, "b3 ERROR"), (9, "b9")];
        let (_dir, store) = store_with(&[("id-a", a), ("id-b", b)]).await;
        let everything = [
            "a:a1 ERROR",
            "b:b2 ERROR",
            "a:a3",
            "a:a3b ERROR",
            "b:b3 ERROR",
            "a:a7 ERROR",
            "b:b9",
        ];
        for limit in [1, 2, 3, 100] {
            for budget in [1, 2, 1000] {
                assert_eq!(
                    all_pages(&store, "", limit, budget).await,
                    everything,
                    "{limit} {budget}"
                );
            }
        }
        let errors: Vec<&str> = everything
            .iter()
            .copied()
            .filter(|e| e.contains("ERROR"))
            .collect();
        for (limit, budget) in [(1, 1), (2, 1), (2, 3), (100, 1000)] {
            assert_eq!(all_pages(&store, "ERROR", limit, budget).await, errors);
        }
    }

    #[tokio::test]
    async fn time_windows_bound_the_search() {
        let a: &[(i64, &str)] = &[(1, "x"), (5, "y"), (10, "z")];
        let (_dir, store) = store_with(&[("id-a", a)]).await;
        let pattern = FilterPattern::All;
        let page = search(
            &store,
            &streams(),
            Search {
                pattern: &pattern,
                start_time: Some(2),
                end_time: Some(10),
                after: None,
                limit: 10,
                scan_budget: SCAN_BUDGET,
            },
        )
        .await
        .unwrap();
        let got: Vec<&str> = page
            .events
            .iter()
            .map(|f| f.event.message.as_str())
            .collect();
        assert_eq!(got, ["y"]);
        assert_eq!(page.next, None);
        assert_eq!(Key::from_token("not a token"), None);
    }
}
