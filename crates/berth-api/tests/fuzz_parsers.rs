//! Fuzzes the readers of exec input (`berth_api::exec`): the frame [`Decoder`], which
//! the agent and the CLI run over bytes from the network, and [`split_command`], which
//! the control plane runs over ExecuteCommand's `command`. Properties: nothing panics;
//! any frames, cut anywhere, decode to themselves; what arbitrary bytes decode to
//! encodes back to those bytes; a declared payload over the limit is refused before it
//! is buffered; any argument vector survives [`join_command`] and [`split_command`].
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-api --test fuzz_parsers --release`

use berth_api::exec::{join_command, split_command, Decoder, Frame, FrameError, MAX_PAYLOAD};
use proptest::prelude::*;

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

fn frame() -> impl Strategy<Value = Frame> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (any::<bool>(), any::<u16>(), any::<u16>()).prop_map(|(tty, cols, rows)| Frame::Open {
            tty,
            cols,
            rows
        }),
        bytes().prop_map(Frame::Stdin),
        Just(Frame::StdinClosed),
        (any::<u16>(), any::<u16>()).prop_map(|(cols, rows)| Frame::Resize { cols, rows }),
        bytes().prop_map(Frame::Stdout),
        bytes().prop_map(Frame::Stderr),
        any::<i32>().prop_map(Frame::Exit),
        ".{0,80}".prop_map(Frame::Error),
    ]
}

/// Every frame `bytes` holds when pushed in pieces of the given sizes (then the rest),
/// up to the first refusal.
fn decode_in_pieces(bytes: &[u8], sizes: &[usize]) -> (Vec<Frame>, Option<FrameError>) {
    let (mut decoder, mut frames, mut at) = (Decoder::default(), Vec::new(), 0);
    for size in sizes.iter().copied().chain(std::iter::once(bytes.len())) {
        let end = (at + size).min(bytes.len());
        decoder.push(&bytes[at..end]);
        at = end;
        loop {
            match decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_cut_anywhere_decode_to_themselves(
        frames in proptest::collection::vec(frame(), 0..12),
        sizes in proptest::collection::vec(0usize..64, 0..40),
    ) {
        let mut bytes = Vec::new();
        for f in &frames {
            f.encode(&mut bytes);
        }
        let (got, refused) = decode_in_pieces(&bytes, &sizes);
        prop_assert_eq!(refused, None);
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn what_arbitrary_bytes_decode_to_encodes_back_to_them(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..300, 0..20),
    ) {
        let (frames, _) = decode_in_pieces(&bytes, &sizes);
        // Error messages are read leniently (invalid UTF-8 replaced); the rest exactly.
        if !frames.iter().any(|f| matches!(f, Frame::Error(_))) {
            let mut again = Vec::new();
            for f in &frames {
                f.encode(&mut again);
            }
            prop_assert!(bytes.starts_with(&again));
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_payload_arrives(
        tag in prop_oneof![Just(2u8), Just(16u8), Just(17u8), Just(19u8)],
        len in (MAX_PAYLOAD as u32 + 1)..=u32::MAX,
    ) {
        let mut decoder = Decoder::default();
        decoder.push(&[tag]);
        decoder.push(&len.to_be_bytes());
        prop_assert_eq!(decoder.next_frame(), Err(FrameError::TooLarge(len as usize)));
    }

    #[test]
    fn any_command_line_splits_into_words_or_is_refused(line in ".{0,200}") {
        if let Ok(words) = split_command(&line) {
            prop_assert!(!words.is_empty());
        }
    }

    #[test]
    fn any_argument_vector_survives_joining_and_splitting(
        argv in proptest::collection::vec(".{0,30}", 1..8),
    ) {
        prop_assert_eq!(split_command(&join_command(&argv)).unwrap(), argv);
    }
}
