//! CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`): parsed once into
//! a [`FilterPattern`], then matched against each event's message. Pure.
//!
//! What is understood, as CloudWatch documents it (matching is case-sensitive):
//!
//! - an empty pattern matches every event;
//! - terms: `ERROR Exception` matches messages containing every term;
//! - quoted phrases: `"Exception at line"` is one term, spaces and symbols included;
//! - `?ERROR ?WARN` matches messages containing any of the `?` terms (alongside plain
//!   terms, which must all appear as well);
//! - `-DEBUG` excludes messages containing the term;
//! - JSON patterns: `{ $.level = "error" }` on messages that are JSON objects, with
//!   selectors (`$.a.b`, `$.list[0].x`), `=` and `!=` on strings (`*` is a wildcard) and
//!   numbers, `<`, `<=`, `>`, `>=` on numbers, `IS TRUE`, `IS FALSE`, `IS NULL`,
//!   `EXISTS`, `NOT EXISTS`, joined with `&&` and `||` and grouped with parentheses.
//!
//! Space-delimited patterns (`[ip, user, ...]`) and metric-filter extras are refused with
//! a [`PatternError`] naming them, not approximated.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterPattern {
    /// Matches every message.
    All,
    /// Term rules on the raw message.
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
    /// A condition on the message parsed as JSON.
    Json(Condition),
}

/// A JSON pattern's condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Compare {
        selector: Vec<Step>,
        op: Op,
        value: Literal,
    },
    Is {
        selector: Vec<Step>,
        what: Is,
    },
}

/// One step of a selector: `.name` or `[index]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Is {
    True,
    False,
    Null,
    Exists,
    NotExists,
}

/// Why a pattern cannot be used; the message is what InvalidParameterException says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern '{pattern}': {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// Longest pattern accepted, in characters: CloudWatch Logs' limit on `filterPattern`.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Deepest nesting of parentheses in a JSON pattern; the parser recurses once per level.
const MAX_DEPTH: usize = 64;

impl FilterPattern {
    /// Parses `pattern`.
    pub fn parse(pattern: &str) -> Result<FilterPattern, PatternError> {
        let fail = |reason: &str| PatternError {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        if pattern.chars().count() > MAX_PATTERN_LEN {
            return Err(fail(&format!(
                "a filter pattern is at most {MAX_PATTERN_LEN} characters long"
            )));
        }
        let trimmed = pattern.trim();
        if trimmed.is_empty() || trimmed == "\"\"" {
            return Ok(FilterPattern::All);
        }
        if trimmed.starts_with('[') {
            return Err(fail(
                "space-delimited patterns ([...]) are not supported by Berth; use terms or a \
                 JSON pattern",
            ));
        }
        if let Some(inner) = trimmed.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| fail("a JSON pattern must end with '}'"))?;
            let tokens = tokenize(inner).map_err(|r| fail(&r))?;
            let mut parser = Parser {
                tokens,
                at: 0,
                depth: 0,
            };
            let condition = parser.or().map_err(|r| fail(&r))?;
            if parser.at != parser.tokens.len() {
                return Err(fail(&format!(
                    "unexpected '{}'",
                    parser.tokens[parser.at].text()
                )));
            }
            return Ok(FilterPattern::Json(condition));
        }
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        for word in terms(trimmed).map_err(|r| fail(&r))? {
            let (list, term) = match (word.quoted, word.text.chars().next()) {
                (false, Some('?')) => (&mut any, word.text[1..].to_string()),
                (false, Some('-')) if word.text.len() > 1 => {
                    (&mut none, word.text[1..].to_string())
                }
                _ => (&mut all, word.text),
            };
            let term = unquote(&term);
            if term.is_empty() {
                return Err(fail("a term is empty"));
            }
            list.push(term);
        }
        Ok(FilterPattern::Terms { all, any, none })
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            FilterPattern::All => true,
            FilterPattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            FilterPattern::Json(condition) => match serde_json::from_str::<Value>(message) {
                Ok(value @ Value::Object(_)) => condition.holds(&value),
                _ => false,
            },
        }
    }
}

/// One whitespace-separated word of a term pattern; `?"a b"` and `-"a b"` keep their
/// prefix outside the quotes.
struct Word {
    text: String,
    quoted: bool,
}

fn terms(pattern: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        if c == '?' || c == '-' {
            text.push(c);
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            quoted = text.is_empty();
            text.push('"');
            loop {
                match chars.next() {
                    Some('\\') => {
                        if let Some(escaped) = chars.next() {
                            text.push(escaped);
                        }
                    }
                    Some('"') => break,
                    Some(ch) => text.push(ch),
                    None => return Err("a quoted term is not closed".into()),
                }
            }
            text.push('"');
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                text.push(ch);
                chars.next();
            }
        }
        words.push(Word { text, quoted });
    }
    Ok(words)
}

/// A term without its surrounding quotes, if it had them.
fn unquote(term: &str) -> String {
    term.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(term)
        .to_string()
}

// ---- JSON patterns ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Selector(Vec<Step>),
    Text(String),
    Number(f64),
    Op(Op),
    And,
    Or,
    Open,
    Close,
    Word(String),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Selector(_) => "selector".into(),
            Token::Text(t) => format!("\"{t}\""),
            Token::Number(n) => n.to_string(),
            Token::Op(op) => format!("{op:?}"),
            Token::And => "&&".into(),
            Token::Or => "||".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Word(w) => w.clone(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '&' if two == "&&" => {
                tokens.push(Token::And);
                i += 2;
            }
            '|' if two == "||" => {
                tokens.push(Token::Or);
                i += 2;
            }
            '=' | '!' | '<' | '>' => {
                let (op, len) = match two.as_str() {
                    "!=" => (Op::Ne, 2),
                    "<=" => (Op::Le, 2),
                    ">=" => (Op::Ge, 2),
                    "==" => (Op::Eq, 2),
                    _ => match c {
                        '=' => (Op::Eq, 1),
                        '<' => (Op::Lt, 1),
                        '>' => (Op::Gt, 1),
                        _ => return Err("'!' must be followed by '='".into()),
                    },
                };
                tokens.push(Token::Op(op));
                i += len;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        Some('\\') => {
                            if let Some(&escaped) = chars.get(i + 1) {
                                value.push(escaped);
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            value.push(ch);
                            i += 1;
                        }
                        None => return Err("a quoted value is not closed".into()),
                    }
                }
                tokens.push(Token::Text(value));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && !chars[i].is_whitespace() && !"=!<>()&|".contains(chars[i])
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                tokens.push(Token::Selector(selector(&raw)?));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"=!<>()&|\"".contains(chars[i])
                {
                    i += 1;
                }
                if i == start {
                    // A lone `&` or `|`: nothing above takes it, and skipping nothing
                    // would loop here forever.
                    return Err(format!("'{c}' is not an operator; use '&&' or '||'"));
                }
                let word: String = chars[start..i].iter().collect();
                match word.parse::<f64>() {
                    Ok(n) => tokens.push(Token::Number(n)),
                    Err(_) => tokens.push(Token::Word(word)),
                }
            }
        }
    }
    Ok(tokens)
}

/// `$.a.b[0].c` as steps.
fn selector(raw: &str) -> Result<Vec<Step>, String> {
    let rest = raw
        .strip_prefix('$')
        .ok_or_else(|| format!("selector '{raw}' must start with '$'"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch == '.' || ch == '[' {
                        break;
                    }
                    name.push(ch);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("selector '{raw}' has an empty field name"));
                }
                steps.push(Step::Field(name));
            }
            '[' => {
                let mut index = String::new();
                for ch in chars.by_ref() {
                    if ch == ']' {
                        break;
                    }
                    index.push(ch);
                }
                let index = index
                    .parse()
                    .map_err(|_| format!("selector '{raw}' has a bad index '{index}'"))?;
                steps.push(Step::Index(index));
            }
            _ => return Err(format!("selector '{raw}' is not like $.field or $.list[0]")),
        }
    }
    if steps.is_empty() {
        return Err(format!("selector '{raw}' names no field"));
    }
    Ok(steps)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.primary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!("parentheses nest deeper than {MAX_DEPTH} levels"));
                }
                let inner = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a '(' is not closed".into()),
                }
            }
            Some(Token::Selector(selector)) => self.after_selector(selector),
            Some(other) => Err(format!(
                "expected a selector such as $.level, found {}",
                other.text()
            )),
            None => Err("the pattern ends too early".into()),
        }
    }

    fn after_selector(&mut self, selector: Vec<Step>) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Op(op)) => {
                let value = match self.next() {
                    Some(Token::Text(t)) => Literal::Text(t),
                    Some(Token::Number(n)) => Literal::Number(n),
                    Some(Token::Word(w)) => Literal::Text(w),
                    _ => return Err("a comparison needs a value".into()),
                };
                if matches!(value, Literal::Text(_)) && !matches!(op, Op::Eq | Op::Ne) {
                    return Err("only = and != compare strings".into());
                }
                Ok(Condition::Compare {
                    selector,
                    op,
                    value,
                })
            }
            Some(Token::Word(w)) if w == "IS" => {
                let what = match self.next() {
                    Some(Token::Word(w)) if w == "TRUE" => Is::True,
                    Some(Token::Word(w)) if w == "FALSE" => Is::False,
                    Some(Token::Word(w)) if w == "NULL" => Is::Null,
                    _ => return Err("IS must be followed by TRUE, FALSE or NULL".into()),
                };
                Ok(Condition::Is { selector, what })
            }
            Some(Token::Word(w)) if w == "EXISTS" => Ok(Condition::Is {
                selector,
                what: Is::Exists,
            }),
            Some(Token::Word(w)) if w == "NOT" => match self.next() {
                Some(Token::Word(w)) if w == "EXISTS" => Ok(Condition::Is {
                    selector,
                    what: Is::NotExists,
                }),
                _ => Err("NOT must be followed by EXISTS".into()),
            },
            _ => Err("a selector must be followed by an operator, IS, EXISTS or NOT EXISTS".into()),
        }
    }
}

impl Condition {
    fn holds(&self, doc: &Value) -> bool {
        match self {
            Condition::And(a, b) => a.holds(doc) && b.holds(doc),
            Condition::Or(a, b) => a.holds(doc) || b.holds(doc),
            Condition::Is { selector, what } => {
                let found = select(doc, selector);
                match what {
                    Is::Exists => found.is_some(),
                    Is::NotExists => found.is_none(),
                    Is::True => found == Some(&Value::Bool(true)),
                    Is::False => found == Some(&Value::Bool(false)),
                    Is::Null => found == Some(&Value::Null),
                }
            }
            Condition::Compare {
                selector,
                op,
                value,
            } => {
                let Some(found) = select(doc, selector) else {
                    return false;
                };
                match value {
                    Literal::Number(n) => {
                        let Some(x) = found.as_f64() else {
                            return false;
                        };
                        match op {
                            Op::Eq => x == *n,
                            Op::Ne => x != *n,
                            Op::Lt => x < *n,
                            Op::Le => x <= *n,
                            Op::Gt => x > *n,
                            Op::Ge => x >= *n,
                        }
                    }
                    Literal::Text(pattern) => {
                        let text = match found {
                            Value::String(s) => s.clone(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => return false,
                        };
                        let equal = berth_model::wildcard::matches(pattern, &text);
                        if *op == Op::Ne {
                            !equal
                        } else {
                            equal
                        }
                    }
                }
            }
        }
    }
}

fn select<'a>(doc: &'a Value, selector: &[Step]) -> Option<&'a Value> {
    selector.iter().try_fold(doc, |value, step| match step {
        Step::Field(name) => value.get(name),
        Step::Index(i) => value.get(i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(pattern: &str, messages: &[&str]) -> Vec<usize> {
        let p = FilterPattern::parse(pattern).unwrap();
        messages
            .iter()
            .enumerate()
            .filter(|(_, m)| p.matches(m))
            .map(|(i, _)| i)
            .collect()
    }

    const LINES: [&str; 5] = [
        "[ERROR] 400 BadRequest",
        "[WARN] disk almost full",
        "[INFO] GET /health 200",
        "[ERROR] Exception at line 7",
        "[DEBUG] ERROR counter reset",
    ];

    #[test]
    fn terms_must_all_appear() {
        assert_eq!(matching("", &LINES), [0, 1, 2, 3, 4]);
        assert_eq!(matching("ERROR", &LINES), [0, 3, 4]);
        assert_eq!(matching("ERROR Exception", &LINES), [3]);
        assert_eq!(
            matching("error", &LINES),
            Vec::<usize>::new(),
            "case-sensitive"
        );
    }

    #[test]
    fn quoted_phrases_are_one_term() {
        assert_eq!(matching("\"Exception at line\"", &LINES), [3]);
        assert_eq!(matching("\"GET /health\" 200", &LINES), [2]);
        assert_eq!(matching("\"at line 8\"", &LINES), Vec::<usize>::new());
    }

    #[test]
    fn question_marks_mean_any_and_minus_excludes() {
        assert_eq!(matching("?WARN ?Exception", &LINES), [1, 3]);
        assert_eq!(matching("ERROR -DEBUG", &LINES), [0, 3]);
        assert_eq!(matching("ERROR -DEBUG -400", &LINES), [3]);
        assert_eq!(matching("?\"disk almost\" ?BadRequest", &LINES), [0, 1]);
    }

    #[test]
    fn json_patterns_select_and_compare() {
        let docs = [
            r#"{"level": "error", "latency": 120, "user": {"id": "u1", "admin": true}}"#,
            r#"{"level": "info", "latency": 8, "user": {"id": "u2", "admin": false}}"#,
            r#"{"level": "error", "latency": 3, "tags": ["db", "slow"], "trace": null}"#,
            "not json at all: level = error",
            r#"["an", "array"]"#,
        ];
        assert_eq!(matching(r#"{ $.level = "error" }"#, &docs), [0, 2]);
        assert_eq!(matching(r#"{ $.level != "error" }"#, &docs), [1]);
        assert_eq!(matching("{ $.latency > 100 }", &docs), [0]);
        assert_eq!(matching("{ $.latency <= 8 }", &docs), [1, 2]);
        assert_eq!(
            matching(r#"{ $.level = "error" && $.latency < 100 }"#, &docs),
            [2]
        );
        assert_eq!(
            matching(
                r#"{ ($.latency > 100 || $.level = "info") && $.user.admin IS FALSE }"#,
                &docs
            ),
            [1]
        );
        assert_eq!(matching("{ $.user.admin IS TRUE }", &docs), [0]);
        assert_eq!(matching("{ $.trace IS NULL }", &docs), [2]);
        assert_eq!(matching(r#"{ $.tags[1] = "slow" }"#, &docs), [2]);
        assert_eq!(matching("{ $.tags EXISTS }", &docs), [2]);
        assert_eq!(matching("{ $.tags NOT EXISTS }", &docs), [0, 1]);
        assert_eq!(matching(r#"{ $.user.id = "u*" }"#, &docs), [0, 1]);
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (pattern, reason) in [
            ("[ip, user]", "space-delimited"),
            ("{ $.level = \"error\"", "must end with '}'"),
            ("{ level = \"error\" }", "expected a selector"),
            ("{ $.level > \"x\" }", "only = and != compare strings"),
            ("{ $.a = 1 && }", "ends too early"),
            ("{ ($.a = 1 }", "not closed"),
            ("{ $.a IS MAYBE }", "IS must be followed"),
            ("\"unclosed", "not closed"),
        ] {
            let e = FilterPattern::parse(pattern).unwrap_err();
            assert!(e.reason.contains(reason), "{pattern}: {}", e.reason);
            assert!(e.to_string().starts_with("Invalid filter pattern"));
        }
    }
}
