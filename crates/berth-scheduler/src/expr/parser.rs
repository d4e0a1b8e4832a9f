//! Recursive-descent parser for the cluster query language; checks each subject's
//! operators and types its arguments so evaluation cannot fail.

use super::compare::parse_time;
use super::lexer::{tokenize, Tok, Token};
use super::{
    Arg, InvalidExpression, Literal, Node, Operator, Pattern, Subject, Test, Typed,
    MAX_EXPRESSION_LEN,
};

/// Deepest nesting of parentheses and `not`s accepted.
const MAX_DEPTH: usize = 64;
/// Largest compiled size of one `matches` pattern.
const MAX_PATTERN_BYTES: usize = 1 << 20;

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Node, InvalidExpression> {
    let len = src.chars().count();
    if len > MAX_EXPRESSION_LEN {
        return Err(InvalidExpression {
            column: MAX_EXPRESSION_LEN + 1,
            message: format!(
                "expression is {len} characters long; at most {MAX_EXPRESSION_LEN} are allowed"
            ),
        });
    }
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Err(InvalidExpression {
            column: 1,
            message: "expression is empty".into(),
        });
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        end_column: len + 1,
        depth: 0,
    };
    let node = p.parse_or()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(
            t.column,
            format!(
                "unexpected {} after a complete expression; expected `and`, `or` or the end",
                describe(&t.tok)
            ),
        ));
    }
    Ok(node)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_column: usize,
    depth: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word {
            text,
            quoted: false,
        } => format!("`{text}`"),
        Tok::Word { text, quoted: true } => format!("'{text}'"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`==`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Match => "`=~`".into(),
        Tok::NotMatch => "`!~`".into(),
        Tok::NotIn => "`!in`".into(),
        Tok::NotExists => "`!exists`".into(),
        Tok::Bang => "`!`".into(),
        Tok::AndAnd => "`&&`".into(),
        Tok::OrOr => "`||`".into(),
    }
}

fn is_keyword(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Word { text, quoted: false } if text.eq_ignore_ascii_case(kw))
}

const SUBJECTS: &str = "agentConnected, agentVersion, attribute:NAME, ec2InstanceId, \
                        registeredAt, runningTasksCount or task:group";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn error_at(&self, column: usize, message: String) -> InvalidExpression {
        InvalidExpression { column, message }
    }

    /// Error about the next token, or about the end of input.
    fn unexpected(&self, expected: &str) -> InvalidExpression {
        match self.peek() {
            Some(t) => self.error_at(
                t.column,
                format!("expected {expected}, found {}", describe(&t.tok)),
            ),
            None => self.error_at(
                self.end_column,
                format!("expected {expected}, found the end of the expression"),
            ),
        }
    }

    fn parse_or(&mut self) -> Result<Node, InvalidExpression> {
        let mut items = vec![self.parse_and()?];
        while let Some(t) = self.peek() {
            if t.tok == Tok::OrOr || is_keyword(&t.tok, "or") {
                self.pos += 1;
                items.push(self.parse_and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Node, InvalidExpression> {
        let mut items = vec![self.parse_unary()?];
        while let Some(t) = self.peek() {
            if t.tok == Tok::AndAnd || is_keyword(&t.tok, "and") {
                self.pos += 1;
                items.push(self.parse_unary()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn enter(&mut self, column: usize) -> Result<(), InvalidExpression> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                column,
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn parse_unary(&mut self) -> Result<Node, InvalidExpression> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&format!("a subject ({SUBJECTS}), `not` or `(`")));
        };
        if t.tok == Tok::Bang || is_keyword(&t.tok, "not") {
            self.pos += 1;
            self.enter(t.column)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        if t.tok == Tok::LParen {
            self.pos += 1;
            self.enter(t.column)?;
            let inner = self.parse_or()?;
            self.depth -= 1;
            match self.peek() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => {
                    self.pos += 1;
                    Ok(inner)
                }
                _ => Err(self.unexpected(&format!("`)` to close the `(` at column {}", t.column))),
            }
        } else {
            self.parse_test()
        }
    }

    fn parse_subject(&mut self) -> Result<Subject, InvalidExpression> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&format!("a subject ({SUBJECTS})")));
        };
        let Tok::Word {
            text,
            quoted: false,
        } = &t.tok
        else {
            return Err(self.unexpected(&format!("a subject ({SUBJECTS}), `not` or `(`")));
        };
        let lower = text.to_ascii_lowercase();
        let subject = match lower.as_str() {
            "agentconnected" => Subject::AgentConnected,
            "agentversion" => Subject::AgentVersion,
            "ec2instanceid" => Subject::Ec2InstanceId,
            "registeredat" => Subject::RegisteredAt,
            "runningtaskscount" => Subject::RunningTasksCount,
            "task:group" => Subject::TaskGroup,
            _ if lower.starts_with("attribute:") => {
                let name = &text["attribute:".len()..];
                if name.is_empty() {
                    return Err(self.error_at(
                        t.column,
                        "`attribute:` needs an attribute name, e.g. attribute:ecs.instance-type"
                            .into(),
                    ));
                }
                Subject::Attribute(name.to_owned())
            }
            _ => {
                return Err(self.error_at(
                    t.column,
                    format!("unknown subject `{text}`; expected {SUBJECTS}"),
                ))
            }
        };
        self.pos += 1;
        Ok(subject)
    }

    fn parse_operator(&mut self) -> Result<(Operator, usize), InvalidExpression> {
        let expected = "an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)";
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(expected));
        };
        let op = match &t.tok {
            Tok::Eq => Operator::Eq,
            Tok::Ne => Operator::Ne,
            Tok::Gt => Operator::Gt,
            Tok::Ge => Operator::Ge,
            Tok::Lt => Operator::Lt,
            Tok::Le => Operator::Le,
            Tok::Match => Operator::Matches,
            Tok::NotMatch => Operator::NotMatches,
            Tok::NotIn => Operator::NotIn,
            Tok::NotExists => Operator::NotExists,
            Tok::Word {
                text,
                quoted: false,
            } => match text.to_ascii_lowercase().as_str() {
                "equals" => Operator::Eq,
                "not_equals" => Operator::Ne,
                "greater_than" => Operator::Gt,
                "greater_than_equal" => Operator::Ge,
                "less_than" => Operator::Lt,
                "less_than_equal" => Operator::Le,
                "exists" => Operator::Exists,
                "not_exists" => Operator::NotExists,
                "in" => Operator::In,
                "not_in" => Operator::NotIn,
                "matches" => Operator::Matches,
                "not_matches" => Operator::NotMatches,
                _ => return Err(self.unexpected(expected)),
            },
            _ => return Err(self.unexpected(expected)),
        };
        self.pos += 1;
        Ok((op, t.column))
    }

    fn parse_value(&mut self, what: &str) -> Result<(String, usize), InvalidExpression> {
        match self.peek().cloned() {
            Some(Token {
                tok: Tok::Word { text, .. },
                column,
            }) => {
                self.pos += 1;
                Ok((text, column))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn parse_test(&mut self) -> Result<Node, InvalidExpression> {
        let subject = self.parse_subject()?;
        let (op, op_column) = self.parse_operator()?;
        check_operator(&subject, op).map_err(|m| self.error_at(op_column, m))?;
        let arg = match op {
            Operator::Exists | Operator::NotExists => Arg::None,
            Operator::In | Operator::NotIn => {
                match self.peek() {
                    Some(Token {
                        tok: Tok::LBracket, ..
                    }) => self.pos += 1,
                    _ => return Err(self.unexpected("`[` to start the argument list")),
                }
                let mut items = Vec::new();
                loop {
                    let (text, column) = self.parse_value("a value in the argument list")?;
                    items
                        .push(typed_literal(&subject, text).map_err(|m| self.error_at(column, m))?);
                    match self.next() {
                        Some(Token {
                            tok: Tok::Comma, ..
                        }) => continue,
                        Some(Token {
                            tok: Tok::RBracket, ..
                        }) => break,
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected("`,` or `]` in the argument list"));
                        }
                    }
                }
                Arg::List(items)
            }
            Operator::Matches | Operator::NotMatches => {
                let (text, column) = self.parse_value("a pattern")?;
                let regex = regex::RegexBuilder::new(&format!("^(?:{text})$"))
                    .size_limit(MAX_PATTERN_BYTES)
                    .build()
                    .map_err(|e| {
                        let detail = e
                            .to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ");
                        self.error_at(column, format!("invalid pattern `{text}`: {detail}"))
                    })?;
                Arg::Pattern(Pattern { text, regex })
            }
            _ => {
                let (text, column) = self.parse_value("a value")?;
                Arg::One(typed_literal(&subject, text).map_err(|m| self.error_at(column, m))?)
            }
        };
        Ok(Node::Test(Test { subject, op, arg }))
    }
}

fn subject_name(s: &Subject) -> String {
    match s {
        Subject::AgentConnected => "agentConnected".into(),
        Subject::AgentVersion => "agentVersion".into(),
        Subject::Attribute(n) => format!("attribute:{n}"),
        Subject::Ec2InstanceId => "ec2InstanceId".into(),
        Subject::RegisteredAt => "registeredAt".into(),
        Subject::RunningTasksCount => "runningTasksCount".into(),
        Subject::TaskGroup => "task:group".into(),
    }
}

/// Operators each subject accepts, per the ECS documentation.
fn check_operator(subject: &Subject, op: Operator) -> Result<(), String> {
    use Operator::*;
    let (valid, list): (&[Operator], &str) = match subject {
        Subject::Attribute(_) => return Ok(()),
        Subject::AgentConnected | Subject::Ec2InstanceId | Subject::TaskGroup => (
            &[Eq, Ne, In, NotIn, Matches, NotMatches],
            "==, !=, in, !in, =~, !~",
        ),
        Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => {
            (&[Eq, Ne, Gt, Ge, Lt, Le], "==, !=, >, >=, <, <=")
        }
    };
    if valid.contains(&op) {
        Ok(())
    } else {
        Err(format!(
            "operator `{}` is not valid for {}; use one of {list}",
            op.symbol(),
            subject_name(subject)
        ))
    }
}

/// Reads a literal as the subject's type.
fn typed_literal(subject: &Subject, text: String) -> Result<Literal, String> {
    let typed = match subject {
        Subject::AgentConnected => match text.to_ascii_lowercase().as_str() {
            "true" => Typed::Bool(true),
            "false" => Typed::Bool(false),
            _ => {
                return Err(format!(
                    "agentConnected compares with true or false, not `{text}`"
                ))
            }
        },
        Subject::RunningTasksCount => match text.parse::<u64>() {
            Ok(n) => Typed::Count(n),
            Err(_) => {
                return Err(format!(
                    "runningTasksCount compares with a whole number, not `{text}`"
                ))
            }
        },
        Subject::RegisteredAt => match parse_time(&text) {
            Some((secs, date_only)) => Typed::Time { secs, date_only },
            None => {
                return Err(format!(
                    "registeredAt compares with a date such as 2018-06-18T22:28:28+00:00, \
                     2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18, not `{text}`"
                ))
            }
        },
        Subject::AgentVersion
        | Subject::Attribute(_)
        | Subject::Ec2InstanceId
        | Subject::TaskGroup => Typed::Text,
    };
    Ok(Literal { text, typed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Node {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn err(src: &str) -> InvalidExpression {
        parse(src).expect_err(src)
    }

    #[test]
    fn parses_every_documented_example() {
        for src in [
            "attribute:ecs.instance-type == t2.small",
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
            "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
            "task:group == service:production",
            "not(task:group == database)",
            "runningTasksCount == 1",
            "agentVersion < 1.14.5",
            "registeredAt < 2018-02-13",
            "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
            "attribute:stack != prod",
            "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
            "(attribute:a exists or attribute:b !exists) and attribute:c not_exists",
            "agentConnected == false || !(ec2InstanceId !~ 'i-.*')",
            "registeredAt >= 2018-06-18T22:28:28+00:00 && registeredAt <= 2018-06-18T22:28:28Z",
            "registeredAt greater_than 2018-06-18T22:28:28",
            "attribute:x not_in [a] and attribute:y !in [b, c]",
        ] {
            ok(src);
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let n = ok("attribute:a exists or attribute:b exists and attribute:c exists");
        match n {
            Node::Or(items) => {
                assert_eq!(items.len(), 2);
                assert!(matches!(items[1], Node::And(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = err("attribute:x ==");
        assert_eq!(e.column, 15);
        assert!(e.message.contains("expected a value"), "{e}");

        let e = err("foo == bar");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown subject `foo`"), "{e}");

        let e = err("ec2InstanceId > i-1");
        assert_eq!(e.column, 15);
        assert!(e.message.contains("not valid for ec2InstanceId"), "{e}");

        let e = err("(attribute:x exists");
        assert!(
            e.message.contains("`)` to close the `(` at column 1"),
            "{e}"
        );

        let e = err("attribute:x exists attribute:y exists");
        assert_eq!(e.column, 20);

        let e = err("runningTasksCount > many");
        assert_eq!(e.column, 21);

        let e = err("attribute:x in a");
        assert!(e.message.contains("`[`"), "{e}");

        let e = err("attribute:x =~ '('");
        assert!(e.message.contains("invalid pattern"), "{e}");

        let e = err("registeredAt < yesterday");
        assert!(
            e.message.contains("registeredAt compares with a date"),
            "{e}"
        );

        assert_eq!(err("").message, "expression is empty");
        assert!(err(&"x".repeat(2001)).message.contains("at most 2000"));
        assert!(err(&"(".repeat(100)).message.contains("deeper"));
    }
}
