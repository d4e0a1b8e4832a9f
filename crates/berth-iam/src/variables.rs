//! Policy variables: `${aws:username}`, `${aws:userid}`, `${aws:PrincipalTag/team}`, any
//! other condition key, the escapes `${*}`, `${?}` and `${$}` for a literal `*`, `?` and `$`,
//! and a default for a key the request lacks: `${aws:username, 'guest'}`.
//!
//! Variables are recognised only in documents whose `Version` is `2012-10-17`; in older
//! documents `${…}` is plain text, as AWS documents. A variable's value is always literal:
//! a user named `a*` does not turn into a wildcard. A key the request lacks (or holds more
//! than one value for) and that has no default cannot be resolved, and the value that uses
//! it matches nothing.

use crate::pattern::{pieces_of, Piece};
use crate::request::RequestContext;

/// A piece of a value that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text as written; in patterns its `*` and `?` are wildcards.
    Text(Box<str>),
    /// `${*}`, `${?}` or `${$}`: one literal character, never a wildcard.
    Escape(char),
    /// `${key}` or `${key, 'default'}`; the key is stored in lowercase.
    Variable {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// A policy value (resource or condition value) that contains at least one `${…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Box<[Segment]>,
}

impl Template {
    /// Parses `text`; returns `None` when it contains no `${…}` at all (or variables are off),
    /// so callers keep their static fast path.
    pub(crate) fn parse(text: &str, variables_enabled: bool) -> Option<Template> {
        if !variables_enabled || !text.contains("${") {
            return None;
        }
        let mut segments = Vec::new();
        let mut text_run = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let inner = &after[..end];
            let Some(segment) = parse_inner(inner) else {
                // Not a variable: keep "${" as text and look further on.
                text_run.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            };
            text_run.push_str(&rest[..start]);
            if !text_run.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text_run).into()));
            }
            segments.push(segment);
            rest = &after[end + 1..];
        }
        text_run.push_str(rest);
        if !text_run.is_empty() {
            segments.push(Segment::Text(text_run.into()));
        }
        if segments
            .iter()
            .all(|segment| matches!(segment, Segment::Text(_)))
        {
            return None;
        }
        Some(Template {
            segments: segments.into_boxed_slice(),
        })
    }

    /// Whether any segment needs the request to be resolved.
    pub(crate) fn needs_request(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| matches!(segment, Segment::Variable { .. }))
    }

    /// The value with every variable replaced, for equality operators; `None` when a variable
    /// cannot be resolved.
    pub(crate) fn resolve_text(&self, context: &RequestContext) -> Option<String> {
        let mut out = String::new();
        for segment in self.segments.iter() {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Escape(character) => out.push(*character),
                Segment::Variable { key, default } => {
                    out.push_str(resolve_variable(key, default.as_deref(), context)?)
                }
            }
        }
        Some(out)
    }

    /// The value as wildcard pieces: `*`/`?` in written text are wildcards, escapes and
    /// variable values are literal. `None` when a variable cannot be resolved.
    pub(crate) fn resolve_pieces(&self, context: &RequestContext) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        for segment in self.segments.iter() {
            match segment {
                Segment::Text(text) => pieces_of(text, &mut pieces),
                Segment::Escape(character) => {
                    pieces.push(Piece::Literal(character.to_string().into()))
                }
                Segment::Variable { key, default } => {
                    let value = resolve_variable(key, default.as_deref(), context)?;
                    if !value.is_empty() {
                        pieces.push(Piece::Literal(value.into()));
                    }
                }
            }
        }
        Some(pieces)
    }
}

fn resolve_variable<'a>(
    key: &str,
    default: Option<&'a str>,
    context: &'a RequestContext,
) -> Option<&'a str> {
    match context.values_lowercase(key) {
        Some([single]) => Some(single.as_str()),
        _ => default,
    }
}

/// Reads what is between `${` and `}`; `None` when it is not a variable.
fn parse_inner(inner: &str) -> Option<Segment> {
    match inner {
        "*" => return Some(Segment::Escape('*')),
        "?" => return Some(Segment::Escape('?')),
        "$" => return Some(Segment::Escape('$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default
                .strip_prefix('\'')
                .and_then(|rest| rest.strip_suffix('\''))?;
            (key.trim(), Some(quoted.into()))
        }
        None => (inner.trim(), None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains("${") {
        return None;
    }
    Some(Segment::Variable {
        key: key.to_lowercase().into(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Case;
    use crate::pattern::Glob;

    fn context() -> RequestContext {
        let mut context = RequestContext::new();
        context.insert("aws:username", "alice");
        context.insert("aws:PrincipalTag/Team", "web");
        context.insert_all("aws:TagKeys", ["a", "b"]);
        context
    }

    #[test]
    fn plain_text_is_not_a_template() {
        assert_eq!(Template::parse("arn:aws:s3:::bucket/*", true), None);
        assert_eq!(Template::parse("cost ${ unterminated", true), None);
    }

    #[test]
    fn variables_are_off_for_old_versions() {
        assert_eq!(Template::parse("home/${aws:username}", false), None);
    }

    #[test]
    fn variables_resolve_case_insensitively() {
        let template = Template::parse("home/${aws:UserName}/${aws:principaltag/team}", true)
            .expect("has variables");
        assert!(template.needs_request());
        assert_eq!(
            template.resolve_text(&context()).as_deref(),
            Some("home/alice/web")
        );
    }

    #[test]
    fn missing_and_multi_valued_keys_do_not_resolve_without_default() {
        let missing = Template::parse("${aws:userid}", true).expect("variable");
        assert_eq!(missing.resolve_text(&context()), None);
        let multi = Template::parse("${aws:TagKeys}", true).expect("variable");
        assert_eq!(multi.resolve_text(&context()), None);
    }

    #[test]
    fn defaults_fill_missing_keys() {
        let template = Template::parse("${aws:userid, 'nobody'}-${aws:username,'x'}", true)
            .expect("variables");
        assert_eq!(
            template.resolve_text(&context()).as_deref(),
            Some("nobody-alice")
        );
    }

    #[test]
    fn escapes_are_literal_characters() {
        let template = Template::parse("a${*}b${?}c${$}", true).expect("escapes");
        assert!(!template.needs_request());
        assert_eq!(
            template.resolve_text(&RequestContext::new()).as_deref(),
            Some("a*b?c$")
        );
        let glob = Glob::from_pieces(
            template
                .resolve_pieces(&RequestContext::new())
                .expect("resolves"),
        );
        assert!(glob.matches("a*b?c$", Case::Sensitive));
        assert!(!glob.matches("aXbYc$", Case::Sensitive));
    }

    #[test]
    fn variable_values_are_never_wildcards() {
        let mut context = RequestContext::new();
        context.insert("aws:username", "*");
        let template = Template::parse("home/${aws:username}", true).expect("variable");
        let glob = Glob::from_pieces(template.resolve_pieces(&context).expect("resolves"));
        assert!(glob.matches("home/*", Case::Sensitive));
        assert!(!glob.matches("home/bob", Case::Sensitive));
    }

    #[test]
    fn written_wildcards_stay_wildcards() {
        let template = Template::parse("home/${aws:username}/*", true).expect("variable");
        let glob = Glob::from_pieces(template.resolve_pieces(&context()).expect("resolves"));
        assert!(glob.matches("home/alice/docs/x", Case::Sensitive));
        assert!(!glob.matches("home/bob/docs/x", Case::Sensitive));
    }

    #[test]
    fn a_malformed_default_is_plain_text() {
        assert_eq!(Template::parse("${aws:username, guest}", true), None);
    }
}
