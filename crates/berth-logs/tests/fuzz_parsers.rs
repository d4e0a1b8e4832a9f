//! Fuzzes what CloudWatch Logs requests hand this crate unchecked: filter patterns
//! ([`FilterPattern::parse`], then matched against arbitrary messages), FilterLogEvents'
//! pagination tokens ([`Key::from_token`]) and PutLogEvents' batches of client
//! timestamps and messages ([`batch::check`]).
//!
//! Properties: arbitrary and mutated patterns (token soup, deep nesting, long chains)
//! parse or are refused with an `Invalid filter pattern` message, promptly and without
//! overflowing the stack, and a parsed pattern matches any message without panicking;
//! term patterns match exactly the messages an independent reading of the rules
//! selects; JSON equality patterns select the documents they name; tokens read back to
//! the key they were made from, and any other string is refused or reads as a key that
//! mints it back; any batch is judged without panicking, and what it accepts lies inside
//! the batch.
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-logs --test fuzz_parsers --release`

use berth_logs::batch::{self, BatchError};
use berth_logs::filter::FilterPattern;
use berth_logs::search::Key;
use proptest::prelude::*;
use serde_json::{json, Value};

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

// ------------------------------------------------------------------ filter patterns

/// Patterns as the console and CLI users write them, to mutate.
const VALID_PATTERNS: &[&str] = &[
    "",
    "ERROR",
    "ERROR Exception -DEBUG",
    "?WARN ?ERROR",
    "\"Exception at line\" ?\"disk almost\"",
    r#"{ $.level = "error" }"#,
    r#"{ $.latency > 100 && $.user.admin IS TRUE }"#,
    r#"{ ($.latency >= 1.5e2 || $.level != "in*fo") && $.tags[1] = "slow" }"#,
    "{ $.trace IS NULL || $.tags NOT EXISTS || $.user.id EXISTS }",
    r#"{ $.msg = "a \"quoted\" \\ value" }"#,
];

/// Tokens of both pattern languages, right and wrong, to splice into patterns.
const PATTERN_TOKENS: &[&str] = &[
    " ",
    "\t",
    "\"",
    "\\",
    "?",
    "-",
    "*",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "$",
    "$.",
    "$.a",
    "$.a.b",
    "$.a[0]",
    "$.a[",
    "$.[1]",
    "$..a",
    "$.a[-1]",
    "$.a[99999999999999999999]",
    "=",
    "==",
    "!=",
    "!",
    "<",
    "<=",
    ">",
    ">=",
    "&",
    "&&",
    "|",
    "||",
    "IS",
    "TRUE",
    "FALSE",
    "NULL",
    "NOT",
    "EXISTS",
    "1",
    "-0",
    "1e999",
    "NaN",
    "inf",
    "0x10",
    "\"x\"",
    "ERROR",
    "é",
];

/// One token-level change to a pattern.
#[derive(Debug, Clone)]
enum PatternEdit {
    Insert(usize, &'static str),
    Remove(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Wraps the pattern's inside in this many parentheses.
    Nest(usize),
    /// Repeats the whole condition joined with `&&` or `||`.
    Chain(usize, bool),
}

fn pattern_edit() -> impl Strategy<Value = PatternEdit> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, prop::sample::select(PATTERN_TOKENS))
            .prop_map(|(i, t)| PatternEdit::Insert(i, t)),
        2 => at.prop_map(PatternEdit::Remove),
        1 => at.prop_map(PatternEdit::Duplicate),
        1 => (at, at).prop_map(|(a, b)| PatternEdit::Swap(a, b)),
        1 => prop_oneof![1usize..64, 64usize..2048].prop_map(PatternEdit::Nest),
        1 => (1usize..300, any::<bool>()).prop_map(|(n, and)| PatternEdit::Chain(n, and)),
    ]
}

/// Splits a pattern into tokens: runs of word characters, and single other characters.
fn tokens(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in pattern.chars() {
        if c.is_alphanumeric() || c == '.' || c == '_' {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Longest pattern an edit may produce: past CloudWatch's 1024-character limit, short
/// of wasting the run.
const MAX_EDITED_LEN: usize = 8192;

/// `pattern` after `edits`, positions taken modulo its token count.
fn edit_pattern(pattern: &str, edits: &[PatternEdit]) -> String {
    let mut parts = tokens(pattern);
    for e in edits {
        let text_len: usize = parts.iter().map(String::len).sum();
        let len = parts.len();
        match *e {
            PatternEdit::Insert(i, t) => parts.insert(i % (len + 1), t.to_owned()),
            PatternEdit::Remove(i) if len > 0 => {
                parts.remove(i % len);
            }
            PatternEdit::Duplicate(i) if len > 0 => {
                let copy = parts[i % len].clone();
                parts.insert(i % len, copy);
            }
            PatternEdit::Swap(a, b) if len > 0 => parts.swap(a % len, b % len),
            PatternEdit::Nest(depth) if text_len + 2 * depth <= MAX_EDITED_LEN => {
                let text = parts.concat();
                let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
                let nested = format!("{{{}{inner}{}}}", "(".repeat(depth), ")".repeat(depth));
                parts = tokens(&nested);
            }
            PatternEdit::Chain(times, and) if (text_len + 6) * times <= MAX_EDITED_LEN => {
                let text = parts.concat();
                let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
                let joiner = if and { " && " } else { " || " };
                let chained = vec![format!("({inner})"); times].join(joiner);
                parts = tokens(&format!("{{ {chained} }}"));
            }
            _ => {}
        }
    }
    parts.concat()
}

/// Patterns: arbitrary text, token soup, and valid patterns edited.
fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "\\PC{0,60}",
        1 => prop::collection::vec(prop::sample::select(PATTERN_TOKENS), 0..16)
            .prop_map(|t| t.concat()),
        1 => prop::collection::vec(prop::sample::select(PATTERN_TOKENS), 0..16)
            .prop_map(|t| format!("{{{}}}", t.concat())),
        4 => (prop::sample::select(VALID_PATTERNS), prop::collection::vec(pattern_edit(), 0..4))
            .prop_map(|(p, e)| edit_pattern(p, &e)),
    ]
}

/// JSON documents shaped like structured log lines, with every kind of value.
fn json_message() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec!["error", "info", "slow", "u1", "", "in*fo"])
            .prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "level", "latency", "user", "admin", "id", "tags", "trace", "a", "b", "msg"
                ]),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    });
    prop_oneof![
        4 => value.prop_map(|v| v.to_string()),
        1 => "\\PC{0,40}",
        1 => Just("{".repeat(4000)),
    ]
}

/// The parsed pattern, or `None` when it was refused with a message saying why.
fn parse_or_refuse(pattern: &str) -> Result<Option<FilterPattern>, TestCaseError> {
    match FilterPattern::parse(pattern) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(e) => {
            prop_assert!(e.to_string().starts_with("Invalid filter pattern"), "{e}");
            prop_assert!(!e.reason.is_empty());
            Ok(None)
        }
    }
}

/// Words a term pattern can be made of: no whitespace, quotes or leading `?`/`-`.
fn term() -> impl Strategy<Value = String> {
    "[A-Za-z0-9:/.]{1,5}"
}

// ------------------------------------------------------------------ batches and tokens

/// Client timestamps: ordinary ones around `NOW`, and extremes.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => (NOW - 20 * DAY_MS)..(NOW + 3 * HOUR_MS),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
        1 => Just(0i64),
    ]
}

/// The server's clock for batches, in milliseconds since the Unix epoch.
const NOW: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

proptest! {
    #![proptest_config(config())]

    /// Any pattern parses or is refused with a message saying why; a parsed pattern
    /// matches any message, plain or JSON, without panicking.
    #[test]
    fn patterns_parse_or_are_refused_and_match_anything(
        pattern in pattern(),
        messages in prop::collection::vec(json_message(), 1..4),
    ) {
        if let Some(parsed) = parse_or_refuse(&pattern)? {
            for message in &messages {
                parsed.matches(message);
            }
        }
    }

    /// A term pattern selects exactly the messages holding every plain term, one of the
    /// `?` terms if there are any, and none of the `-` terms.
    #[test]
    fn term_patterns_select_what_their_terms_say(
        all in prop::collection::vec(term(), 0..3),
        any in prop::collection::vec(term(), 0..3),
        none in prop::collection::vec(term(), 0..2),
        message in "[A-Za-z0-9:/. ]{0,40}",
    ) {
        let pattern = all.iter().cloned()
            .chain(any.iter().map(|t| format!("?{t}")))
            .chain(none.iter().map(|t| format!("-{t}")))
            .collect::<Vec<_>>()
            .join(" ");
        let parsed = FilterPattern::parse(&pattern)
            .unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
        let expected = all.iter().all(|t| message.contains(t.as_str()))
            && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
            && !none.iter().any(|t| message.contains(t.as_str()));
        prop_assert_eq!(parsed.matches(&message), expected, "{} on {:?}", pattern, message);
    }

    /// `{ $.field = "value" }` selects the documents whose field is that string.
    #[test]
    fn json_equality_selects_the_named_value(
        field in "[a-z]{1,6}",
        value in "[a-zA-Z0-9 ._-]{0,8}",
        other in "[a-zA-Z0-9 ._-]{0,8}",
    ) {
        let pattern = format!("{{ $.{field} = \"{value}\" }}");
        let parsed = FilterPattern::parse(&pattern).unwrap_or_else(|e| panic!("{e}"));
        let named = json!({ field.clone(): value }).to_string();
        let other_value = json!({ field.clone(): other }).to_string();
        prop_assert!(parsed.matches(&named), "{} on {}", pattern, named);
        prop_assert_eq!(parsed.matches(&other_value), other == value);
        let array = json!([value]).to_string();
        prop_assert!(!parsed.matches(&array));
    }

    /// A pagination token reads back as the key it was made from.
    #[test]
    fn tokens_read_back_as_their_key(
        timestamp in any::<i64>(),
        stream in "\\PC{0,30}",
        seq in any::<u64>(),
    ) {
        let key = Key { timestamp, stream, seq };
        prop_assert_eq!(Key::from_token(&key.token()), Some(key));
    }

    /// Any other token, or a real one damaged, is refused without panicking.
    #[test]
    fn arbitrary_tokens_are_refused_or_read(
        token in prop_oneof![
            "\\PC{0,60}",
            "[A-Za-z0-9_-]{0,80}",
            (any::<i64>(), any::<usize>(), any::<char>()).prop_map(|(t, at, c)| {
                let mut chars: Vec<char> = Key { timestamp: t, stream: "web".into(), seq: 1 }
                    .token()
                    .chars()
                    .collect();
                let at = at % chars.len();
                chars[at] = c;
                chars.into_iter().collect()
            }),
        ],
    ) {
        if let Some(key) = Key::from_token(&token) {
            prop_assert_eq!(Key::from_token(&key.token()), Some(key));
        }
    }

    /// Any batch of client timestamps is judged without panicking; what it accepts is
    /// a range of the batch, and every cut-off lies inside it.
    #[test]
    fn batches_are_judged_without_panicking(
        events in prop::collection::vec((timestamp(), "[a-z ]{0,8}"), 0..12),
        sorted in any::<bool>(),
        retention_days in prop::option::of(prop::sample::select(vec![1, 7, 30, 3653])),
    ) {
        let mut events = events;
        if sorted {
            events.sort_by_key(|(t, _)| *t);
        }
        let verdict = batch::check(
            events.iter().map(|(t, m)| (*t, m.as_str())),
            NOW,
            retention_days,
        );
        match verdict {
            Ok(v) => {
                prop_assert!(v.accepted.start <= v.accepted.end && v.accepted.end <= events.len());
                for cut in [v.too_new_start, v.too_old_end, v.expired_end].into_iter().flatten() {
                    prop_assert!(cut <= events.len());
                }
            }
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                if events.is_empty() {
                    prop_assert_eq!(e, BatchError::Empty);
                }
            }
        }
    }
}

#[test]
fn the_seed_patterns_are_valid() {
    for pattern in VALID_PATTERNS {
        FilterPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    }
}

/// Found by `patterns_parse_or_are_refused_and_match_anything`: a lone `&` or `|` in a
/// JSON pattern made the tokenizer loop forever, allocating until the process died.
#[test]
fn a_lone_ampersand_or_bar_is_refused() {
    for pattern in ["{ $.a = 1 & $.b = 2 }", "{ | }", "{ $.a EXISTS &}"] {
        let e = FilterPattern::parse(pattern).unwrap_err();
        assert!(e.reason.contains("'&&' or '||'"), "{pattern}: {e}");
    }
}

/// Found by the same property: each `(` is a level of recursion, so deep nesting
/// overflowed the stack (aborting the process), and long `&&` chains build trees as
/// deep as they are long; CloudWatch's length limit and a nesting limit bound both.
#[test]
fn deep_and_long_patterns_are_refused() {
    let deep = format!("{{{}}}", "(".repeat(1022));
    let e = FilterPattern::parse(&deep).unwrap_err();
    assert!(e.reason.contains("nest deeper"), "{e}");
    let long = format!("{{ {} }}", vec!["$.a = 1"; 200].join(" && "));
    let e = FilterPattern::parse(&long).unwrap_err();
    assert!(e.reason.contains("at most 1024 characters"), "{e}");
    let nested = format!("{{ {}$.a = 1{} }}", "(".repeat(64), ")".repeat(64));
    assert!(FilterPattern::parse(&nested).is_ok());
}

/// Found by `batches_are_judged_without_panicking`: the span of the earliest and latest
/// client timestamps overflowed.
#[test]
fn a_batch_spanning_all_of_i64_is_too_long() {
    let events = [(i64::MIN, "a"), (i64::MAX, "b")];
    assert_eq!(
        batch::check(events.into_iter(), NOW, None),
        Err(BatchError::SpansTooLong)
    );
}
