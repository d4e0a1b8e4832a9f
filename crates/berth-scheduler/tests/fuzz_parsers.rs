//! Fuzzes the ECS cluster query language parser ([`Expression::parse`]), which reads
//! `memberOf` placement constraints and `ListContainerInstances --filter` expressions
//! straight from API requests, and the evaluation of what it accepts.
//!
//! `tests/properties.rs` already checks short arbitrary strings and the round trip of
//! generated well-formed expressions; this harness mutates realistic expressions token
//! by token (dropping, repeating, swapping and splicing in operators, keywords, quotes,
//! brackets, regexes and dates; nesting deeper than the limit; growing past the length
//! limit). Properties: nothing panics; a refusal names a column inside the input (or
//! just past its end); whatever is accepted prints canonically, parses back to the same
//! tree, and selects the same instances as the original, for instances with any facts.
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-scheduler --test fuzz_parsers --release`

use berth_scheduler::{ContainerInstance, Expression, InvalidExpression};
use proptest::prelude::*;

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

/// Expressions from the ECS documentation and the CLI's examples, to mutate.
const VALID_EXPRESSIONS: &[&str] = &[
    "attribute:ecs.instance-type == t2.small",
    "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
    "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
    "not(task:group == database)",
    "runningTasksCount == 1 || agentVersion < 1.14.5",
    "registeredAt >= 2018-06-18T22:28:28+00:00 && registeredAt < 2018-06-19",
    "ec2InstanceId in ['i-abcd1234', \"i-wxyx7890\"]",
    "(attribute:a exists or attribute:b !exists) and attribute:c not_exists",
    "agentConnected == false || !(ec2InstanceId !~ 'i-(a|b)+')",
    "attribute:x not_in [a] and attribute:y !in [b, c]",
];

/// Tokens of the language and near misses, to splice into expressions.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "==",
    "=",
    "!=",
    "!",
    ">",
    ">=",
    "<",
    "<=",
    "=~",
    "!~",
    "~",
    "&",
    "&&",
    "|",
    "||",
    "and",
    "or",
    "not",
    "in",
    "!in",
    "exists",
    "!exists",
    "matches",
    "not_matches",
    "greater_than",
    "attribute:",
    "attribute:x",
    "task:group",
    "agentConnected",
    "agentVersion",
    "ec2InstanceId",
    "registeredAt",
    "runningTasksCount",
    "true",
    "FALSE",
    "0",
    "18446744073709551616",
    "-1",
    "1.14.5",
    "2018-02-13",
    "2018-02-30",
    "9999-12-31T23:59:60-23:59",
    "0000-01-01T00:00:00+23:59",
    "'a b'",
    "(a|b)*",
    "(",
    "[z-a]",
    "\\",
    "a{99999}",
    "é",
    " ",
];

/// One token-level change to an expression.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Remove(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// `not (…)` or `(…)` this many times over.
    Nest(usize, bool),
    /// The expression `and`-ed with itself this many times.
    Repeat(usize),
    /// The expression joined to another valid one with this operator.
    Combine(&'static str, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, prop::sample::select(TOKENS)).prop_map(|(i, t)| Edit::Insert(i, t)),
        2 => at.prop_map(Edit::Remove),
        1 => at.prop_map(Edit::Duplicate),
        1 => (at, at).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => (1usize..40, any::<bool>()).prop_map(|(n, not)| Edit::Nest(n, not)),
        1 => (1usize..40).prop_map(Edit::Repeat),
        2 => (
            prop::sample::select(vec!["and", "or", "&&", "||", "and not"]),
            prop::sample::select(VALID_EXPRESSIONS),
        )
            .prop_map(|(op, other)| Edit::Combine(op, other)),
    ]
}

/// Splits an expression at spaces and around punctuation, keeping quoted strings
/// whole, so edits move whole tokens.
fn tokens(expression: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in expression.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    out.push(std::mem::take(&mut current));
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
                quote = Some(c);
            }
            None if c == ' ' || "()[],".contains(c) => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                if c != ' ' {
                    out.push(c.to_string());
                }
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `expression` after `edits`, positions taken modulo its token count.
fn apply(expression: &str, edits: &[Edit]) -> String {
    let mut parts = tokens(expression);
    for e in edits {
        let len = parts.len();
        match *e {
            Edit::Insert(i, t) => parts.insert(i % (len + 1), t.to_owned()),
            Edit::Remove(i) if len > 0 => {
                parts.remove(i % len);
            }
            Edit::Duplicate(i) if len > 0 => {
                let copy = parts[i % len].clone();
                parts.insert(i % len, copy);
            }
            Edit::Swap(a, b) if len > 0 => parts.swap(a % len, b % len),
            Edit::Nest(depth, not) => {
                let opening = if not { "not (" } else { "(" };
                let text = parts.join(" ");
                parts = tokens(&format!(
                    "{}{text}{}",
                    opening.repeat(depth),
                    ")".repeat(depth)
                ));
            }
            // Bounded: repeated edits multiply.
            Edit::Repeat(times) if parts.len() * times < 4000 => {
                let text = format!("({})", parts.join(" "));
                parts = tokens(&vec![text; times + 1].join(" and "));
            }
            Edit::Combine(op, other) => {
                let text = format!("({}) {op} ({other})", parts.join(" "));
                parts = tokens(&text);
            }
            _ => {}
        }
    }
    parts.join(" ")
}

/// Expressions: arbitrary text, token soup, and valid expressions edited.
fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "\\PC{0,80}",
        1 => prop::collection::vec(prop::sample::select(TOKENS), 0..20).prop_map(|t| t.join(" ")),
        1 => prop::collection::vec(prop::sample::select(TOKENS), 0..20).prop_map(|t| t.concat()),
        5 => (prop::sample::select(VALID_EXPRESSIONS), prop::collection::vec(edit(), 0..4))
            .prop_map(|(e, edits)| apply(e, &edits)),
    ]
}

/// Instances with every fact an expression can ask about, including extremes.
fn instance() -> impl Strategy<Value = ContainerInstance> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "t2.small",
            "g2.xlarge",
            "us-east-1a",
            "us-east-1d",
            "a",
            "prod",
            "",
            "1.14.5",
            "10",
            "NaN",
            "inf",
            "1e999",
            "true",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,8}",
    ];
    (
        prop::collection::btree_map(
            prop::sample::select(vec![
                "ecs.instance-type",
                "ecs.availability-zone",
                "a",
                "b",
                "c",
                "x",
                "y",
                "stack",
            ]),
            prop::option::of(text.clone()),
            0..5,
        ),
        prop::option::of(text.clone()),
        prop::option::of(text),
        prop::option::of(prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>(),
            1_500_000_000i64..1_600_000_000,
        ]),
        any::<bool>(),
        any::<u32>(),
        prop::collection::btree_map(
            prop::sample::select(vec!["database", "service:web", "family:x"]),
            0u32..3,
            0..3,
        ),
    )
        .prop_map(
            |(attributes, ec2, version, registered_at, connected, running, groups)| {
                let mut ci =
                    ContainerInstance::new("arn:aws:ecs:r:0:container-instance/c/i", 1024, 2048);
                for (name, value) in attributes {
                    ci = ci.with_attribute(name, value.as_deref());
                }
                ci.ec2_instance_id = ec2;
                ci.agent_version = version;
                ci.registered_at = registered_at;
                ci.agent_connected = connected;
                ci.running_tasks_count = running;
                ci.task_groups = groups.into_iter().map(|(g, n)| (g.to_owned(), n)).collect();
                ci
            },
        )
}

/// A refusal names a column in the input or just past its end, and says something.
fn check_refusal(source: &str, e: &InvalidExpression) -> Result<(), TestCaseError> {
    let len = source.chars().count();
    prop_assert!(
        e.column >= 1 && e.column <= len + 1,
        "column {} of {len}: {e}",
        e.column
    );
    prop_assert!(!e.message.is_empty());
    prop_assert!(e.to_string().starts_with("invalid expression at column"));
    Ok(())
}

/// Parses `source`; what is accepted must print, parse back to the same tree and select
/// the same instances.
fn check_expression(source: &str, instances: &[ContainerInstance]) -> Result<(), TestCaseError> {
    let parsed = match Expression::parse(source) {
        Ok(parsed) => parsed,
        Err(e) => return check_refusal(source, &e),
    };
    prop_assert_eq!(parsed.as_str(), source);
    let canonical = parsed.to_string();
    let again = Expression::parse(&canonical)
        .unwrap_or_else(|e| panic!("{source:?} printed as {canonical:?}, which fails: {e}"));
    prop_assert_eq!(&again, &parsed, "{:?} printed as {:?}", source, canonical);
    prop_assert_eq!(again.depends_on_tasks(), parsed.depends_on_tasks());
    for ci in instances {
        prop_assert_eq!(
            parsed.matches(ci),
            again.matches(ci),
            "{:?} on {:?}",
            canonical,
            ci
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary text, token soup and mutated expressions parse or are refused at a
    /// column of the input; what parses round-trips and evaluates on any instance.
    #[test]
    fn expressions_parse_or_are_refused_at_a_column(
        source in expression(),
        instances in prop::collection::vec(instance(), 1..4),
    ) {
        check_expression(&source, &instances)?;
    }

    /// Valid expressions grown past the length limit or nested past the depth limit are
    /// refused, not parsed at length or in depth.
    #[test]
    fn limits_are_enforced(
        seed in prop::sample::select(VALID_EXPRESSIONS),
        // Past the nesting limit, short of the length limit.
        depth in 65usize..150,
        not in any::<bool>(),
    ) {
        let nested = apply(seed, &[Edit::Nest(depth, not)]);
        let e = Expression::parse(&nested).expect_err("nested past the limit");
        check_refusal(&nested, &e)?;
        prop_assert!(e.message.contains("deeper"), "{}", e);
        let long = format!("{seed} or {}", "attribute:x exists or ".repeat(100));
        let long = long.trim_end_matches(" or ");
        let e = Expression::parse(long).expect_err("longer than the limit");
        check_refusal(long, &e)?;
    }
}

#[test]
fn the_seed_expressions_are_valid() {
    for source in VALID_EXPRESSIONS {
        Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    }
}
