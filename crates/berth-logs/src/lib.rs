//! Berth's CloudWatch Logs storage: where the events of PutLogEvents are kept and
//! GetLogEvents / FilterLogEvents read them from.
//!
//! - [`store`]: the storage engine: append-only, checksummed segment files per stream,
//!   a sparse time index, group-committed durable appends, paged reads in timestamp
//!   order and whole-segment retention.
//! - [`catalog`]: log groups and streams (names, settings, each stream's storage id) in
//!   the shared [`berth_store::Store`].
//! - [`batch`]: PutLogEvents' batch rules; [`filter`]: filter patterns; [`search`]:
//!   FilterLogEvents' interleaved, paged search over several streams.
//!
//! The API layer (the server's `logs` module) maps log groups and streams to the opaque
//! stream ids the storage engine uses.

pub mod batch;
pub mod catalog;
pub mod filter;
pub mod search;
pub mod store;

pub use store::{
    Appended, Cursor, Direction, LogError, LogStore, LogStoreOptions, NewEvent, Position, ReadPage,
    ReadQuery, StoredEvent, StreamSummary, MAX_MESSAGE_BYTES,
};
