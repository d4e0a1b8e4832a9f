use std::io::Write;

use futures::StreamExt;

use super::*;

/// An entry as the driver frames it.
fn frame(time_ns: i64, line: &str, partial: Option<bool>) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut entry = vec![0x0a, 6];
    entry.extend_from_slice(b"stdout");
    entry.push(0x10);
    varint(time_ns as u64, &mut entry);
    entry.push(0x1a);
    varint(line.len() as u64, &mut entry);
    entry.extend_from_slice(line.as_bytes());
    if let Some(last) = partial {
        entry.extend_from_slice(&[0x20, 1]);
        // Partial metadata: an id (field 2) always, `last` (field 1) when set.
        let mut meta = vec![0x12, 2, b'i', b'd'];
        if last {
            meta.extend_from_slice(&[0x08, 1]);
        }
        entry.push(0x2a);
        varint(meta.len() as u64, &mut entry);
        entry.extend_from_slice(&meta);
    }
    let len = (entry.len() as u32).to_be_bytes();
    [&len[..], &entry, &len[..]].concat()
}

fn decode_all(bytes: &[u8], since_ns: i64) -> Vec<OutputLine> {
    let mut lines = Lines::new(since_ns);
    let mut buf = bytes.to_vec();
    let mut out = lines.decode(&mut buf).unwrap();
    assert!(buf.is_empty(), "whole frames are consumed");
    out.extend(lines.finish());
    out
}

fn line(timestamp_ns: i64, message: &str) -> OutputLine {
    OutputLine {
        timestamp_ns,
        message: message.into(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_entries_as_docker_20_10_writes_them() {
    // Written by dockerd 20.10.24 for `sh -c 'echo one; printf abc'`: a whole line, then
    // a line cut off by the container's exit (partial, with an id and ordinal, no last).
    let id = "2fbbe43fec0d4788589a8963ed9b7a180ed8928496dfc40591a49d43d132665c";
    let mut bytes = hex("00000017 0a06 7374646f7574 10abc8f3f3d5da99f518 1a03 6f6e65 00000017");
    bytes.extend(hex(
        "0000005f 0a06 7374646f7574 10f68ea492d6da99f518 1a03 616263 2001 2a44 1240",
    ));
    bytes.extend_from_slice(id.as_bytes());
    bytes.extend(hex("1801 0000005f"));
    let lines = decode_all(&bytes, 0);
    let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["one", "abc"]);
    // 2024-ish nanoseconds, the first before the second.
    assert!(lines[0].timestamp_ns > 1_700_000_000_000_000_000);
    assert!(lines[0].timestamp_ns < lines[1].timestamp_ns);
}

#[test]
fn partial_entries_join_into_one_line_stamped_when_it_began() {
    let bytes = [
        frame(10, "hello ", Some(false)),
        frame(11, "wide ", Some(false)),
        frame(12, "world", Some(true)),
        frame(13, "next", None),
    ]
    .concat();
    assert_eq!(
        decode_all(&bytes, 0),
        [line(10, "hello wide world"), line(13, "next")]
    );
}

#[test]
fn an_unfinished_line_waits_for_the_end_of_the_read() {
    let mut lines = Lines::new(0);
    let mut buf = [frame(1, "done", None), frame(2, "half", Some(false))].concat();
    assert_eq!(lines.decode(&mut buf).unwrap(), [line(1, "done")]);
    assert_eq!(lines.finish(), Some(line(2, "half")));
    assert_eq!(lines.finish(), None);
}

#[test]
fn lines_longer_than_a_cloudwatch_event_are_cut() {
    let piece = "x".repeat(16 * 1024);
    let mut frames: Vec<u8> = Vec::new();
    for i in 0..20 {
        frames.extend(frame(100 + i, &piece, Some(i == 19)));
    }
    let lines = decode_all(&frames, 0);
    let sizes: Vec<usize> = lines.iter().map(|l| l.message.len()).collect();
    // 15 pieces fit in 262,118 bytes; the rest make a second line.
    assert_eq!(sizes, [15 * 16 * 1024, 5 * 16 * 1024]);
    assert_eq!((lines[0].timestamp_ns, lines[1].timestamp_ns), (100, 115));
}

#[test]
fn lines_before_since_are_left_out() {
    let bytes = [frame(5, "old", None), frame(9, "new", None)].concat();
    assert_eq!(decode_all(&bytes, 9), [line(9, "new")]);
}

#[test]
fn a_frame_still_being_written_stays_in_the_buffer() {
    let whole = frame(1, "first", None);
    let next = frame(2, "second", None);
    let mut buf = [&whole[..], &next[..7]].concat();
    let mut lines = Lines::new(0);
    assert_eq!(lines.decode(&mut buf).unwrap(), [line(1, "first")]);
    assert_eq!(buf, next[..7]);
    buf.extend_from_slice(&next[7..]);
    assert_eq!(lines.decode(&mut buf).unwrap(), [line(2, "second")]);
}

#[test]
fn frames_that_are_not_the_drivers_are_refused() {
    let mut mismatched = frame(1, "x", None);
    let end = mismatched.len() - 1;
    mismatched[end] ^= 1;
    assert!(Lines::new(0).decode(&mut mismatched).is_err());
    let mut huge = vec![0x7f, 0, 0, 0, 1, 2, 3];
    assert!(Lines::new(0).decode(&mut huge).is_err());
}

fn append(path: &Path, frames: &[Vec<u8>]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for f in frames {
        file.write_all(f).unwrap();
    }
}

fn numbered(range: std::ops::Range<i64>) -> Vec<Vec<u8>> {
    range.map(|i| frame(i, &i.to_string(), None)).collect()
}

fn messages(range: std::ops::Range<i64>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn a_read_goes_through_the_rotated_files_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("container.log.2"), &numbered(0..3));
    append(&dir.path().join("container.log.1"), &numbered(3..6));
    append(&dir.path().join("container.log"), &numbered(6..9));
    let got: Vec<String> = read(dir.path().to_owned(), 0, false)
        .unwrap()
        .map(|l| l.unwrap().message)
        .collect()
        .await;
    assert_eq!(got, messages(0..9));
}

#[tokio::test]
async fn following_goes_on_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("container.log");
    append(&current, &numbered(0..100));
    let mut lines = read(dir.path().to_owned(), 0, true).unwrap();
    let mut got = Vec::new();
    while got.len() < 100 {
        got.push(lines.next().await.unwrap().unwrap().message);
    }
    // The driver renames the file it wrote to and starts a new one; entries written just
    // before the rename must not be skipped, nor those of a file rotated twice since.
    append(&current, &numbered(100..150));
    std::fs::rename(&current, dir.path().join("container.log.1")).unwrap();
    append(&current, &numbered(150..200));
    std::fs::rename(
        dir.path().join("container.log.1"),
        dir.path().join("container.log.2"),
    )
    .unwrap();
    std::fs::rename(&current, dir.path().join("container.log.1")).unwrap();
    append(&current, &numbered(200..250));
    while got.len() < 250 {
        let next = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("the reader follows the new file")
            .unwrap()
            .unwrap();
        got.push(next.message);
    }
    assert_eq!(got, messages(0..250));
    // Nothing more, nothing twice.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), lines.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn following_a_container_that_has_not_written_yet_waits_for_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = read(dir.path().to_owned(), 0, true).unwrap();
    append(&dir.path().join("container.log"), &numbered(0..2));
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.message, "0");
}
