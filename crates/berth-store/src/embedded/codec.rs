//! The embedded backend's on-disk encoding: a stored key's record and one revision's list
//! of events. Little-endian integers, lengths as `u32` prefixes; no serde.
//!
//! ```text
//! record := create_revision:u64 mod_revision:u64 value:rest
//! events := count:u32 event*
//! event  := 0:u8 key put_create_revision:u64 value    (put)
//!         | 1:u8 key                                  (delete)
//! key, value := len:u32 bytes
//! ```

use bytes::Bytes;

use super::DbResult;
use crate::{KeyValue, Revision, WatchEvent};

const PUT: u8 = 0;
const DELETE: u8 = 1;
const HEADER: usize = 16;

/// A stored key's record, borrowed from the encoded bytes.
pub(crate) struct Record<'a> {
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub value: &'a [u8],
}

impl Record<'_> {
    /// The record as the trait's [`KeyValue`].
    pub fn to_key_value(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(self.value),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

/// Encodes a key's record.
pub(crate) fn encode_record(create: Revision, modified: Revision, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.extend_from_slice(&create.to_le_bytes());
    out.extend_from_slice(&modified.to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes a key's record.
pub(crate) fn decode_record(bytes: &[u8]) -> DbResult<Record<'_>> {
    let mut r = Reader(bytes);
    Ok(Record {
        create_revision: r.u64()?,
        mod_revision: r.u64()?,
        value: r.0,
    })
}

/// Encodes the events one revision recorded.
pub(crate) fn encode_events(events: &[WatchEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    put_len(&mut out, events.len());
    for event in events {
        match event {
            WatchEvent::Put(kv) => {
                out.push(PUT);
                put_bytes(&mut out, kv.key.as_bytes());
                out.extend_from_slice(&kv.create_revision.to_le_bytes());
                put_bytes(&mut out, &kv.value);
            }
            WatchEvent::Delete { key, .. } => {
                out.push(DELETE);
                put_bytes(&mut out, key.as_bytes());
            }
        }
    }
    out
}

/// Decodes the events recorded at `revision`.
pub(crate) fn decode_events(revision: Revision, bytes: &[u8]) -> DbResult<Vec<WatchEvent>> {
    let mut r = Reader(bytes);
    let count = r.len()?;
    let mut events = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let tag = r.u8()?;
        let key = r.string()?;
        events.push(match tag {
            PUT => {
                let create_revision = r.u64()?;
                let value = Bytes::copy_from_slice(r.bytes()?);
                WatchEvent::Put(KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: revision,
                })
            }
            DELETE => WatchEvent::Delete {
                key,
                mod_revision: revision,
            },
            other => return Err(corrupt(format!("unknown event tag {other}"))),
        });
    }
    if !r.0.is_empty() {
        return Err(corrupt(format!(
            "{} trailing bytes after events",
            r.0.len()
        )));
    }
    Ok(events)
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("store keys, values and batches are under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn corrupt(what: String) -> super::DbError {
    redb::Error::Corrupted(format!("berth-store record: {what}")).into()
}

/// A cursor over encoded bytes that fails, rather than panics, on truncation.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> DbResult<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt(format!(
                "truncated: wanted {n} bytes, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> DbResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> DbResult<u64> {
        let bytes = self.take(8)?.try_into().expect("took 8 bytes");
        Ok(u64::from_le_bytes(bytes))
    }
    fn len(&mut self) -> DbResult<usize> {
        let bytes = self.take(4)?.try_into().expect("took 4 bytes");
        Ok(u32::from_le_bytes(bytes) as usize)
    }
    fn bytes(&mut self) -> DbResult<&'a [u8]> {
        let len = self.len()?;
        self.take(len)
    }
    fn string(&mut self) -> DbResult<String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("key is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let encoded = encode_record(3, 7, b"hello");
        let record = decode_record(&encoded).unwrap();
        assert_eq!((record.create_revision, record.mod_revision), (3, 7));
        assert_eq!(record.value, b"hello");
        assert!(decode_record(&encoded[..10]).is_err());
    }

    #[test]
    fn events_round_trip() {
        let events = vec![
            WatchEvent::Put(KeyValue {
                key: "a/1".into(),
                value: Bytes::from_static(b"v"),
                create_revision: 2,
                mod_revision: 9,
            }),
            WatchEvent::Delete {
                key: "a/2".into(),
                mod_revision: 9,
            },
            WatchEvent::Put(KeyValue {
                key: "a/3".into(),
                value: Bytes::new(),
                create_revision: 9,
                mod_revision: 9,
            }),
        ];
        let encoded = encode_events(&events);
        assert_eq!(decode_events(9, &encoded).unwrap(), events);
        for cut in 0..encoded.len() {
            assert!(
                decode_events(9, &encoded[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
    }
}
