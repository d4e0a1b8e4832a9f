//! Fuzzes the Query protocol's request side: [`Params::parse`] of form-encoded bodies and
//! every reader of its members (`string`, `int`, `int_in`, `bool`, `strings`, `structs`,
//! `structure`, `finish`), with arbitrary bytes and with structure-aware mutations of
//! realistic ELBv2, IAM and STS bodies. Nothing may panic, every refusal is a
//! `ValidationError` with a message, and once every member has been read `finish`
//! refuses nothing. Bodies built with [`Params::encode`] read back to exactly what was
//! encoded, lists in index order.
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-query --test fuzz_parsers --release`

use std::collections::BTreeSet;

use berth_query::{Params, QueryError};
use proptest::prelude::*;

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

/// Bodies as the AWS CLI sends them, to mutate.
const VALID_BODIES: &[&str] = &[
    "Action=CreateTargetGroup&Version=2015-12-01&Name=web&Protocol=HTTP&Port=80\
     &VpcId=vpc-1&HealthCheckPath=%2Fhealth&Matcher.HttpCode=200-299\
     &HealthCheckIntervalSeconds=30&HealthCheckEnabled=true",
    "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing\
     %3Aus-east-1%3A123456789012%3Atargetgroup%2Fweb%2F0123&Targets.member.1.Id=10.0.0.1\
     &Targets.member.1.Port=8080&Targets.member.2.Id=10.0.0.2",
    "Action=CreateRule&Version=2015-12-01&ListenerArn=arn&Priority=10\
     &Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=%2Fapi%2F*\
     &Actions.member.1.Type=forward&Actions.member.1.ForwardConfig.TargetGroups.member.1\
     .TargetGroupArn=tg&Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight=3",
    "Action=PutRolePolicy&Version=2010-05-08&RoleName=task-role&PolicyName=logs\
     &PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect\
     %22%3A%22Allow%22%2C%22Action%22%3A%22logs%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole\
     %2Fdeploy&RoleSessionName=ci+run&DurationSeconds=3600&Tags.member.1.Key=team\
     &Tags.member.1.Value=web&TransitiveTagKeys=",
];

/// Fragments a mutation splices into keys or values: broken escapes, separators, list
/// indexes that are not numbers from 1, and non-ASCII text.
const FRAGMENTS: &[&str] = &[
    "%",
    "%f",
    "%ff",
    "%zz",
    "%C3",
    "%C3%28",
    "%00",
    "+",
    "&",
    "=",
    "==",
    "&&",
    ".",
    "..",
    ".member.",
    ".member.0",
    ".member.-1",
    ".member.01",
    ".member.+1",
    ".member.x",
    ".member.4294967296",
    ".member.99999999999999999999",
    "é",
    "\u{1F600}",
    "\0",
    " ",
];

/// One structure-aware change to a body split into `key=value` pairs.
#[derive(Debug, Clone)]
enum Mutation {
    DropPair(usize),
    DuplicatePair(usize),
    SwapPairs(usize, usize),
    SpliceIntoKey(usize, usize, &'static str),
    SpliceIntoValue(usize, usize, &'static str),
    ReplaceValue(usize, String),
    DropEquals(usize),
    TruncateKeyAtDot(usize),
    FlipByte(usize, u8),
    InsertByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<usize>();
    let fragment = prop::sample::select(FRAGMENTS);
    prop_oneof![
        index.prop_map(Mutation::DropPair),
        index.prop_map(Mutation::DuplicatePair),
        (index, index).prop_map(|(a, b)| Mutation::SwapPairs(a, b)),
        (index, index, fragment.clone()).prop_map(|(p, at, f)| Mutation::SpliceIntoKey(p, at, f)),
        (index, index, fragment).prop_map(|(p, at, f)| Mutation::SpliceIntoValue(p, at, f)),
        (index, integer_text()).prop_map(|(p, v)| Mutation::ReplaceValue(p, v)),
        index.prop_map(Mutation::DropEquals),
        index.prop_map(Mutation::TruncateKeyAtDot),
        (index, any::<u8>()).prop_map(|(at, b)| Mutation::FlipByte(at, b)),
        (index, any::<u8>()).prop_map(|(at, b)| Mutation::InsertByte(at, b)),
    ]
}

/// Values an integer or boolean reader may meet.
fn integer_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("+5".to_string()),
        Just("%205".to_string()),
        Just("1e3".to_string()),
        Just("true".to_string()),
        Just("TRUE".to_string()),
        Just(String::new()),
        "[0-9a-z.+-]{0,8}",
    ]
}

/// Inserts `fragment` into `text` at a character boundary chosen by `at`.
fn splice(text: &str, at: usize, fragment: &str) -> String {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = boundaries[at % boundaries.len()];
    format!("{}{fragment}{}", &text[..at], &text[at..])
}

/// `body` after `mutations`, as bytes (byte mutations may leave UTF-8 behind).
fn mutate(body: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut pairs: Vec<String> = body.split('&').map(str::to_owned).collect();
    let mut bytes_changes = Vec::new();
    for m in mutations {
        if pairs.is_empty() {
            pairs.push(String::new());
        }
        let len = pairs.len();
        let pick = |i: usize| i % len;
        match m {
            Mutation::DropPair(i) => {
                pairs.remove(pick(*i));
            }
            Mutation::DuplicatePair(i) => {
                let copy = pairs[pick(*i)].clone();
                pairs.push(copy);
            }
            Mutation::SwapPairs(a, b) => {
                let (a, b) = (pick(*a), pick(*b));
                pairs.swap(a, b);
            }
            Mutation::SpliceIntoKey(i, at, fragment) => {
                let pair = &mut pairs[pick(*i)];
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                *pair = format!("{}={value}", splice(key, *at, fragment));
            }
            Mutation::SpliceIntoValue(i, at, fragment) => {
                let pair = &mut pairs[pick(*i)];
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                *pair = format!("{key}={}", splice(value, *at, fragment));
            }
            Mutation::ReplaceValue(i, value) => {
                let pair = &mut pairs[pick(*i)];
                let key = pair.split_once('=').map_or(pair.as_str(), |(k, _)| k);
                *pair = format!("{key}={value}");
            }
            Mutation::DropEquals(i) => {
                let pair = &mut pairs[pick(*i)];
                *pair = pair.replacen('=', "", 1);
            }
            Mutation::TruncateKeyAtDot(i) => {
                let pair = &mut pairs[pick(*i)];
                if let Some(dot) = pair.rfind('.') {
                    pair.truncate(dot);
                }
            }
            Mutation::FlipByte(..) | Mutation::InsertByte(..) => bytes_changes.push(m),
        }
    }
    let mut bytes = pairs.join("&").into_bytes();
    for m in bytes_changes {
        match *m {
            Mutation::FlipByte(at, b) if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] ^= b;
            }
            Mutation::InsertByte(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            _ => {}
        }
    }
    bytes
}

/// The member names a body carries, decoded as the parser decodes them (loosely, for
/// bodies it refuses): what a handler would ask for.
fn candidate_keys(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or(""))
        .map(|key| {
            let spaced = key.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// A refusal must be AWS's `ValidationError` with something to say.
fn check_refusal(e: &QueryError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.code(), "ValidationError");
    prop_assert!(!e.message().is_empty());
    Ok(())
}

/// The value read, or `None` when the read was refused as it must be.
fn check<T>(result: Result<T, QueryError>) -> Result<Option<T>, TestCaseError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) => check_refusal(&e).map(|()| None),
    }
}

/// Reads every member `keys` (relative to `params`) could name, the way handlers do:
/// each dotted prefix as a scalar, a list and a structure, descending into structures
/// and lists of structures.
fn read_everything(params: &Params, keys: &[String], depth: usize) -> Result<(), TestCaseError> {
    if depth > 8 {
        return Ok(());
    }
    let names: BTreeSet<String> = keys
        .iter()
        .flat_map(|key| {
            let segments: Vec<&str> = key.split('.').collect();
            (1..=segments.len())
                .map(|end| segments[..end].join("."))
                .collect::<Vec<_>>()
        })
        .collect();
    let inside = |prefix: &str| -> Vec<String> {
        keys.iter()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    };
    for name in &names {
        params.string(name);
        params.peek(name);
        check(params.required(name))?;
        check(params.int(name))?;
        check(params.int_in(name, 1, 65535))?;
        check(params.bool(name))?;
        check(params.strings(name))?;
        if let Some(nested) = params.structure(name) {
            read_everything(&nested, &inside(&format!("{name}.")), depth + 1)?;
        }
        if let Some(items) = check(params.structs(name))?.flatten() {
            let members: Vec<String> = inside(&format!("{name}.member."))
                .iter()
                .filter_map(|rest| rest.split_once('.').map(|(_, k)| k.to_owned()))
                .collect();
            for item in items.iter().take(4) {
                read_everything(item, &members, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Parses `body` and, when it is accepted, reads it every way there is; having read
/// every member, `finish` has nothing left to refuse.
fn parse_and_read(body: &[u8]) -> Result<(), TestCaseError> {
    if let Some(params) = check(Params::parse(body))? {
        read_everything(&params, &candidate_keys(body), 0)?;
        let finished = params.finish("Fuzz");
        prop_assert!(
            finished.is_ok(),
            "{:?} left {:?}",
            String::from_utf8_lossy(body),
            finished
        );
    }
    Ok(())
}

/// Member names shaped like the Query protocol's: dotted, with list members.
fn member_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Z][a-zA-Z]{0,8}",
            (1u32..4).prop_map(|n| format!("member.{n}")),
            "\\PC{1,4}",
        ],
        1..4,
    )
    .prop_map(|segments| segments.join("."))
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes parse or are refused with a ValidationError; nothing panics.
    #[test]
    fn arbitrary_bytes_parse_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_and_read(&body)?;
    }

    /// Arbitrary text made of the protocol's own characters (more likely to parse).
    #[test]
    fn form_like_text_parses_or_is_refused(
        body in "([A-Za-z.0-9%+=&é]|member|%[0-9A-Fa-f]{2}){0,64}",
    ) {
        parse_and_read(body.as_bytes())?;
    }

    /// Realistic bodies, mutated pair by pair and byte by byte.
    #[test]
    fn mutated_valid_bodies_parse_or_are_refused(
        body in prop::sample::select(VALID_BODIES),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        parse_and_read(&mutate(body, &mutations))?;
    }

    /// What `encode` writes, `parse` reads back member for member, and reading every
    /// member leaves nothing for `finish` to refuse.
    #[test]
    fn encoded_members_read_back_exactly(
        members in prop::collection::btree_map(member_name(), "\\PC{0,12}", 0..8),
    ) {
        let body = Params::encode(members.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let params = Params::parse(body.as_bytes()).expect("encoded bodies parse");
        for (key, value) in &members {
            prop_assert_eq!(params.string(key), Some(value.clone()));
        }
        prop_assert!(params.finish("Fuzz").is_ok());
    }

    /// Integer members read back as the number that was encoded; others are refused.
    #[test]
    fn integers_read_back_or_are_refused(text in integer_text()) {
        let params = Params::parse(Params::encode([("Port", text.as_str())]).as_bytes())
            .expect("encoded bodies parse");
        match params.int("Port") {
            Ok(n) => prop_assert_eq!(n, Some(text.trim().parse::<i64>().expect("accepted"))),
            Err(e) => check_refusal(&e)?,
        }
    }

    /// List members come back in index order, whatever order the body gives them in.
    #[test]
    fn list_members_come_back_in_index_order(
        items in prop::collection::btree_map(1u32..1000, "[a-z]{0,6}", 1..6),
        reverse in any::<bool>(),
    ) {
        let mut pairs: Vec<(String, String)> = items
            .iter()
            .map(|(n, v)| (format!("Names.member.{n}"), v.clone()))
            .collect();
        if reverse {
            pairs.reverse();
        }
        let body = Params::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let params = Params::parse(body.as_bytes()).expect("encoded bodies parse");
        let expected: Vec<String> = items.values().cloned().collect();
        prop_assert_eq!(params.strings("Names").expect("a valid list"), Some(expected));
    }
}

#[test]
fn the_seed_bodies_are_valid() {
    for body in VALID_BODIES {
        let params = Params::parse(body.as_bytes()).expect(body);
        assert!(params.string("Action").is_some(), "{body}");
    }
}
