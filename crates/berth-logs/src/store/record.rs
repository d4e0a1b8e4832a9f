//! How one event is framed on disk, and the header every segment file starts with.
//!
//! ```text
//! segment:  "BRTHLOG1" record record record …
//! record:   u32 body length | u32 CRC-32 of body | body
//! body:     i64 timestamp | i64 ingestion time | u64 seq | u8 flags | message (UTF-8)
//! flags:    1 = the last record of its append, 0 = more of the append follow
//! ```
//!
//! All integers are little-endian. The length comes first so a reader can skip a record
//! without parsing it; the CRC covers the whole body, so a record torn by a crash (or
//! garbage after the last record) fails its check instead of being read as an event.
//! The flag makes appends all or nothing across a crash too: records of an append whose
//! last record did not reach the disk are part of the torn tail, however many of them
//! are intact.

/// The first bytes of every segment file; the digit is the format version.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"BRTHLOG1";

/// Bytes before the first record of a segment.
pub(crate) const SEGMENT_HEADER_BYTES: u64 = SEGMENT_MAGIC.len() as u64;

/// The largest message an event may carry (CloudWatch's own limit is 1 MiB per event).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Length and CRC in front of every body.
const FRAME_BYTES: usize = 8;

/// Timestamp, ingestion time, seq and flags at the start of every body.
const FIXED_BODY_BYTES: usize = 25;

/// The flag of the last record of an append.
const ENDS_APPEND: u8 = 1;

/// One record as it lies in a buffer; the message is not copied or UTF-8 checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef<'a> {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub seq: u64,
    /// Whether this is the last record of its append.
    pub ends_append: bool,
    pub message: &'a [u8],
}

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole, intact record, and how many bytes it takes.
    Record(RecordRef<'a>, usize),
    /// The buffer ends before the record does (or is empty): read more, or it is a tail
    /// torn at the end of the file.
    Incomplete,
    /// The bytes are not a record; what is wrong with them.
    Corrupt(&'static str),
}

/// How many bytes a record with this message takes.
pub(crate) fn encoded_len(message: &[u8]) -> usize {
    FRAME_BYTES + FIXED_BODY_BYTES + message.len()
}

/// Appends one record to `buf`. The message must be at most [`MAX_MESSAGE_BYTES`]
/// (checked by the store before anything is queued).
pub(crate) fn encode(buf: &mut Vec<u8>, record: RecordRef<'_>) {
    let RecordRef {
        timestamp,
        ingestion_time,
        seq,
        ends_append,
        message,
    } = record;
    debug_assert!(message.len() <= MAX_MESSAGE_BYTES);
    let body_len = (FIXED_BODY_BYTES + message.len()) as u32;
    let start = buf.len();
    buf.extend_from_slice(&body_len.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&timestamp.to_le_bytes());
    buf.extend_from_slice(&ingestion_time.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.push(if ends_append { ENDS_APPEND } else { 0 });
    buf.extend_from_slice(message);
    let crc = crc32fast::hash(&buf[start + FRAME_BYTES..]);
    buf[start + 4..start + FRAME_BYTES].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the record at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(frame) = buf.get(..FRAME_BYTES) else {
        return Decoded::Incomplete;
    };
    let body_len = u32_at(frame, 0) as usize;
    if !(FIXED_BODY_BYTES..=FIXED_BODY_BYTES + MAX_MESSAGE_BYTES).contains(&body_len) {
        return Decoded::Corrupt("a record length out of range");
    }
    let Some(body) = buf.get(FRAME_BYTES..FRAME_BYTES + body_len) else {
        return Decoded::Incomplete;
    };
    if crc32fast::hash(body) != u32_at(frame, 4) {
        return Decoded::Corrupt("a record whose checksum does not match");
    }
    let ends_append = match body[24] {
        0 => false,
        ENDS_APPEND => true,
        _ => return Decoded::Corrupt("a record with unknown flags"),
    };
    let record = RecordRef {
        timestamp: u64_at(body, 0) as i64,
        ingestion_time: u64_at(body, 8) as i64,
        seq: u64_at(body, 16),
        ends_append,
        message: &body[FIXED_BODY_BYTES..],
    };
    Decoded::Record(record, FRAME_BYTES + body_len)
}

/// The little-endian `u32` at `at`; the caller has checked the length.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

/// The little-endian `u64` at `at`; the caller has checked the length.
pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(timestamp: i64, seq: u64, message: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        let message = message.as_bytes();
        encode(
            &mut buf,
            RecordRef {
                timestamp,
                ingestion_time: 77,
                seq,
                ends_append: true,
                message,
            },
        );
        buf
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let buf = one(-5, 9, "héllo");
        assert_eq!(buf.len(), encoded_len("héllo".as_bytes()));
        let Decoded::Record(record, len) = decode(&buf) else {
            panic!("not decoded");
        };
        assert_eq!(len, buf.len());
        assert_eq!(
            record,
            RecordRef {
                timestamp: -5,
                ingestion_time: 77,
                seq: 9,
                ends_append: true,
                message: "héllo".as_bytes()
            }
        );
    }

    #[test]
    fn every_prefix_of_a_record_is_incomplete() {
        let buf = one(1, 1, "some message");
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_the_body_is_caught() {
        let buf = one(1, 1, "some message");
        for at in FRAME_BYTES..buf.len() {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            assert!(matches!(decode(&bad), Decoded::Corrupt(_)), "flip at {at}");
        }
    }

    #[test]
    fn an_impossible_length_is_corrupt_not_a_reason_to_wait_for_more() {
        let mut bad = one(1, 1, "x");
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&bad), Decoded::Corrupt(_)));
        bad[..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(decode(&bad), Decoded::Corrupt(_)));
    }
}
