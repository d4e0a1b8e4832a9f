//! Wildcard patterns as IAM uses them: `*` matches any run of characters (including none),
//! `?` exactly one character; everything else is literal. Actions match without regard to
//! ASCII case; resources, `StringLike` and `ArnLike` values match case-sensitively.
//!
//! ARN patterns ([`ArnGlob`]) match each of the six colon-separated parts of an ARN on its
//! own, as AWS documents for `ArnLike`, so a `*` never spans a `:` between parts (the last
//! part, the resource, may itself contain colons). A pattern with fewer than six parts is
//! completed with `*` parts, the way IAM reads `arn:aws:ecs:*`.
//!
//! Patterns are compiled once; matching does not allocate.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text that must appear exactly (or ignoring ASCII case).
    Literal(Box<str>),
    /// `*`: any run of characters.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// Whether letters must match in case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Sensitive,
    /// ASCII letters match either case (action names are ASCII).
    AsciiInsensitive,
}

/// A compiled wildcard pattern with fast paths for the common shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// `*`
    Anything,
    /// No wildcard at all.
    Exact(Box<str>),
    /// `prefix*`, as in `ecs:Describe*`.
    Prefix(Box<str>),
    /// Anything else.
    Pieces(Box<[Piece]>),
}

/// Splits `pattern` into pieces: `*` and `?` are wildcards, everything else is literal.
pub(crate) fn pieces_of(pattern: &str, out: &mut Vec<Piece>) {
    let mut literal = String::new();
    for character in pattern.chars() {
        match character {
            '*' | '?' => {
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal).into()));
                }
                out.push(if character == '*' {
                    Piece::AnyRun
                } else {
                    Piece::AnyChar
                });
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Literal(literal.into()));
    }
}

impl Glob {
    /// Compiles a pattern where `*` and `?` are wildcards.
    pub(crate) fn new(pattern: &str) -> Glob {
        let mut pieces = Vec::new();
        pieces_of(pattern, &mut pieces);
        Glob::from_pieces(pieces)
    }

    /// Builds a glob from pieces, merging adjacent literals and repeated `*`.
    pub(crate) fn from_pieces(pieces: Vec<Piece>) -> Glob {
        let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match (merged.last_mut(), piece) {
                (Some(Piece::AnyRun), Piece::AnyRun) => {}
                (Some(Piece::Literal(previous)), Piece::Literal(next)) => {
                    let mut joined = String::from(&**previous);
                    joined.push_str(&next);
                    *previous = joined.into();
                }
                (_, piece) => merged.push(piece),
            }
        }
        match merged.as_slice() {
            [] => Glob::Exact("".into()),
            [Piece::AnyRun] => Glob::Anything,
            [Piece::Literal(text)] => Glob::Exact(text.clone()),
            [Piece::Literal(text), Piece::AnyRun] => Glob::Prefix(text.clone()),
            _ => Glob::Pieces(merged.into_boxed_slice()),
        }
    }

    /// Whether `text` matches the whole pattern.
    pub(crate) fn matches(&self, text: &str, case: Case) -> bool {
        match self {
            Glob::Anything => true,
            Glob::Exact(exact) => equal(text.as_bytes(), exact.as_bytes(), case),
            Glob::Prefix(prefix) => starts_with(text.as_bytes(), prefix.as_bytes(), case),
            Glob::Pieces(pieces) => match_pieces(pieces, text, case),
        }
    }
}

fn equal(text: &[u8], pattern: &[u8], case: Case) -> bool {
    match case {
        Case::Sensitive => text == pattern,
        Case::AsciiInsensitive => text.eq_ignore_ascii_case(pattern),
    }
}

fn starts_with(text: &[u8], prefix: &[u8], case: Case) -> bool {
    text.len() >= prefix.len() && equal(&text[..prefix.len()], prefix, case)
}

/// Length in bytes of the UTF-8 character whose first byte is `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        _ => 2,
    }
}

/// Wildcard matching with a single backtrack point (the most recent `*`), linear in practice.
/// Positions always sit on character boundaries: literals are whole characters and `?` and
/// backtracking advance by whole characters.
pub(crate) fn match_pieces(pieces: &[Piece], text: &str, case: Case) -> bool {
    let bytes = text.as_bytes();
    let (mut piece, mut position) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if let Some(current) = pieces.get(piece) {
            match current {
                Piece::AnyRun => {
                    if piece + 1 == pieces.len() {
                        return true;
                    }
                    resume = Some((piece + 1, position));
                    piece += 1;
                    continue;
                }
                Piece::AnyChar => {
                    if position < bytes.len() {
                        position += char_len(bytes[position]);
                        piece += 1;
                        continue;
                    }
                }
                Piece::Literal(literal) => {
                    if starts_with(&bytes[position..], literal.as_bytes(), case) {
                        position += literal.len();
                        piece += 1;
                        continue;
                    }
                }
            }
        } else if position == bytes.len() {
            return true;
        }
        match resume {
            Some((resume_piece, resume_position)) if resume_position < bytes.len() => {
                let next = resume_position + char_len(bytes[resume_position]);
                resume = Some((resume_piece, next));
                piece = resume_piece;
                position = next;
            }
            _ => return false,
        }
    }
}

/// The six parts of an ARN (`arn`, partition, service, region, account, resource), or the
/// whole text when it is not an ARN (`*`, a bare name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArnParts<'a> {
    pub(crate) full: &'a str,
    pub(crate) parts: Option<[&'a str; 6]>,
}

impl<'a> ArnParts<'a> {
    /// Splits `text` at its first five colons if it starts with `arn:`.
    pub(crate) fn split(text: &'a str) -> ArnParts<'a> {
        let mut parts = [""; 6];
        let mut rest = text;
        for slot in parts.iter_mut().take(5) {
            match rest.split_once(':') {
                Some((part, after)) => {
                    *slot = part;
                    rest = after;
                }
                None => {
                    return ArnParts {
                        full: text,
                        parts: None,
                    }
                }
            }
        }
        parts[5] = rest;
        ArnParts {
            full: text,
            parts: (parts[0] == "arn").then_some(parts),
        }
    }

    /// The account part, when this is an ARN and the part is not empty.
    pub(crate) fn account(&self) -> Option<&'a str> {
        self.parts
            .map(|parts| parts[4])
            .filter(|part| !part.is_empty())
    }
}

/// A resource or `ArnLike` pattern: six part patterns for an ARN, or one pattern for the
/// whole text otherwise (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnGlob {
    /// The pattern is `*` or otherwise not an ARN: it matches the whole text.
    Whole(Glob),
    /// One pattern per ARN part.
    Parts(Box<[Glob; 6]>),
}

impl ArnGlob {
    /// Compiles a pattern given as pieces; colons in literals separate the ARN's parts.
    pub(crate) fn from_pieces(pieces: Vec<Piece>) -> ArnGlob {
        let starts_like_arn =
            matches!(pieces.first(), Some(Piece::Literal(text)) if text.starts_with("arn:"));
        if !starts_like_arn {
            return ArnGlob::Whole(Glob::from_pieces(pieces));
        }
        let mut parts: Vec<Vec<Piece>> = vec![Vec::new()];
        for piece in pieces {
            match piece {
                Piece::Literal(text) if parts.len() < 6 => {
                    let mut rest: &str = &text;
                    while parts.len() < 6 {
                        match rest.split_once(':') {
                            Some((before, after)) => {
                                if !before.is_empty() {
                                    parts
                                        .last_mut()
                                        .unwrap_or_else(|| unreachable!())
                                        .push(Piece::Literal(before.into()));
                                }
                                parts.push(Vec::new());
                                rest = after;
                            }
                            None => break,
                        }
                    }
                    if !rest.is_empty() {
                        if let Some(last) = parts.last_mut() {
                            last.push(Piece::Literal(rest.into()));
                        }
                    }
                }
                other => {
                    if let Some(last) = parts.last_mut() {
                        last.push(other);
                    }
                }
            }
        }
        while parts.len() < 6 {
            parts.push(vec![Piece::AnyRun]);
        }
        let globs: Vec<Glob> = parts.into_iter().map(Glob::from_pieces).collect();
        match <[Glob; 6]>::try_from(globs) {
            Ok(array) => ArnGlob::Parts(Box::new(array)),
            Err(_) => unreachable!("exactly six parts were built"),
        }
    }

    /// Compiles a pattern where `*` and `?` are wildcards.
    pub(crate) fn new(pattern: &str) -> ArnGlob {
        let mut pieces = Vec::new();
        pieces_of(pattern, &mut pieces);
        ArnGlob::from_pieces(pieces)
    }

    /// Whether the (split) text matches.
    pub(crate) fn matches(&self, text: &ArnParts<'_>) -> bool {
        match self {
            ArnGlob::Whole(glob) => glob.matches(text.full, Case::Sensitive),
            ArnGlob::Parts(globs) => match &text.parts {
                Some(parts) => globs
                    .iter()
                    .zip(parts.iter())
                    .all(|(glob, part)| glob.matches(part, Case::Sensitive)),
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).matches(text, Case::Sensitive)
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything at all"));
        assert!(glob("ecs:Describe*", "ecs:Describe"));
        assert!(glob("ecs:Describe*", "ecs:DescribeClusters"));
        assert!(!glob("ecs:Describe*", "ecs:ListClusters"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("*Tasks", "ecs:DescribeTasks"));
        assert!(glob("a**b", "ab"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(glob("ab?", "abc"));
        assert!(!glob("ab?", "ab"));
        assert!(!glob("ab?", "abcd"));
        assert!(glob("?é?", "xéy"));
        assert!(glob("a?c", "aéc"), "? matches one multi-byte character");
        assert!(!glob("a?c", "aééc"));
    }

    #[test]
    fn backtracking_finds_later_occurrences() {
        assert!(glob("*abc", "ababcabc"));
        assert!(glob("*a?c*", "xxabdxaxc"));
        assert!(glob("*é", "ééé"));
        assert!(!glob("*ab", "abba"));
    }

    #[test]
    fn case_sensitivity_is_chosen_by_the_caller() {
        let pattern = Glob::new("ecs:describe*");
        assert!(pattern.matches("ECS:DescribeTasks", Case::AsciiInsensitive));
        assert!(!pattern.matches("ECS:DescribeTasks", Case::Sensitive));
        assert!(Glob::new("ECS:LISTCLUSTERS").matches("ecs:ListClusters", Case::AsciiInsensitive));
        assert!(Glob::new("e?s:*").matches("ECS:x", Case::AsciiInsensitive));
    }

    #[test]
    fn fast_paths_are_chosen() {
        assert_eq!(Glob::new("*"), Glob::Anything);
        assert_eq!(Glob::new("**"), Glob::Anything);
        assert_eq!(Glob::new("abc"), Glob::Exact("abc".into()));
        assert_eq!(Glob::new("abc*"), Glob::Prefix("abc".into()));
        assert!(matches!(Glob::new("a*c"), Glob::Pieces(_)));
    }

    fn arn(pattern: &str, text: &str) -> bool {
        ArnGlob::new(pattern).matches(&ArnParts::split(text))
    }

    #[test]
    fn arn_parts_match_separately() {
        let task = "arn:aws:ecs:us-east-1:123456789012:task/prod/abc";
        assert!(arn("arn:aws:ecs:*:*:task/*", task));
        assert!(arn("arn:aws:ecs:us-east-1:123456789012:task/prod/*", task));
        assert!(!arn("arn:aws:ecs:us-east-1:123456789012:task/dev/*", task));
        assert!(!arn("arn:aws:ecs:*:999999999999:task/*", task));
        // A star in one part does not swallow the colons that separate parts.
        assert!(!arn("arn:aws:ecs:*:task/*", task));
        assert!(arn("*", task));
        assert!(arn("arn:aws:ecs:us-?ast-1:*:*", task));
    }

    #[test]
    fn short_arn_patterns_are_completed_with_stars() {
        let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
        assert!(arn("arn:aws:ecs:*", cluster));
        assert!(arn("arn:aws:ecs", cluster));
        assert!(!arn("arn:aws:ecr:*", cluster));
    }

    #[test]
    fn the_resource_part_may_contain_colons() {
        let stream = "arn:aws:logs:us-east-1:123456789012:log-group:web:log-stream:a";
        assert!(arn("arn:aws:logs:*:*:log-group:web:*", stream));
        assert!(!arn("arn:aws:logs:*:*:log-group:api:*", stream));
    }

    #[test]
    fn non_arn_text_only_matches_whole_patterns() {
        assert!(arn("*", "*"));
        assert!(!arn("arn:aws:ecs:*:*:*", "*"));
        assert!(arn("cluster/*", "cluster/x"));
    }

    #[test]
    fn arn_matching_is_case_sensitive() {
        assert!(!arn(
            "arn:aws:ecs:*:*:cluster/Prod",
            "arn:aws:ecs:us-east-1:1:cluster/prod"
        ));
    }

    #[test]
    fn split_recognises_arns() {
        let parts = ArnParts::split("arn:aws:iam::123456789012:role/x");
        assert_eq!(
            parts.parts,
            Some(["arn", "aws", "iam", "", "123456789012", "role/x"])
        );
        assert_eq!(parts.account(), Some("123456789012"));
        assert_eq!(ArnParts::split("arn:aws:s3").parts, None);
        assert_eq!(ArnParts::split("notarn:a:b:c:d:e").parts, None);
    }
}
