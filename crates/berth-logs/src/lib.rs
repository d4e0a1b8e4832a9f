//! Berth's CloudWatch Logs storage: where the events of PutLogEvents are kept and
//! GetLogEvents / FilterLogEvents read them from.
//!
//! - [`store`]: the storage engine: append-only, checksummed segment files per stream,
//!   a sparse time index, group-committed durable appends, paged reads in timestamp
//!   order and whole-segment retention.
//!
//! The API layer maps log groups and streams to the opaque stream ids this crate uses.

pub mod store;

pub use store::{
    Appended, Cursor, Direction, LogError, LogStore, LogStoreOptions, NewEvent, Position, ReadPage,
    ReadQuery, StoredEvent, StreamSummary, MAX_MESSAGE_BYTES,
};
