//! The ECS cluster query language: expressions that select container instances
//! (`memberOf` constraints, and `ListContainerInstances --filter`).
//!
//! An expression is parsed once into an AST ([`Expression::parse`]): the [`lexer`] turns
//! text into tokens, the recursive-descent [`parser`] builds the tree and checks each
//! subject's operators and arguments, and [`eval`] evaluates it against an instance.
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | "(" expr ")" | test
//! test    := subject operator [argument]
//! subject := agentConnected | agentVersion | attribute:NAME | ec2InstanceId
//!          | registeredAt | runningTasksCount | task:group
//! argument:= value | "[" value ("," value)* "]"
//! value   := bare-word | 'single quoted' | "double quoted"
//! ```

mod compare;
mod eval;
mod lexer;
mod parser;

use std::fmt;

pub(crate) use eval::Facts;

/// Longest expression ECS accepts.
pub(crate) const MAX_EXPRESSION_LEN: usize = 2000;

/// A cluster query language expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expression at column {column}: {message}")]
pub struct InvalidExpression {
    /// 1-based character column where the problem was found.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A parsed cluster query language expression.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: Node,
    dynamic: bool,
}

impl PartialEq for Expression {
    /// Two expressions are equal when their trees are, whatever their spelling.
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Expression {
    /// Parses an expression such as
    /// `attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d`.
    pub fn parse(source: &str) -> Result<Self, InvalidExpression> {
        let root = parser::parse(source)?;
        let dynamic = root.is_dynamic();
        Ok(Expression {
            source: source.to_owned(),
            root,
            dynamic,
        })
    }

    /// The text the expression was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the expression reads `task:group` or `runningTasksCount`, which change as
    /// tasks are placed; otherwise its answer per instance is fixed.
    pub fn depends_on_tasks(&self) -> bool {
        self.dynamic
    }

    /// Whether the expression selects this instance.
    pub fn matches(&self, instance: &crate::ContainerInstance) -> bool {
        self.evaluate(instance)
    }

    pub(crate) fn evaluate(&self, facts: &impl Facts) -> bool {
        eval::eval(&self.root, facts)
    }
}

impl std::str::FromStr for Expression {
    type Err = InvalidExpression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expression::parse(s)
    }
}

impl fmt::Display for Expression {
    /// Canonical spelling: compound operands parenthesised, values quoted when needed.
    /// Parsing it gives an equal expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// A node of the expression tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Test(Test),
}

impl Node {
    fn is_dynamic(&self) -> bool {
        match self {
            Node::Or(v) | Node::And(v) => v.iter().any(Node::is_dynamic),
            Node::Not(n) => n.is_dynamic(),
            Node::Test(t) => matches!(t.subject, Subject::TaskGroup | Subject::RunningTasksCount),
        }
    }
}

/// `subject operator [argument]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Test {
    pub(crate) subject: Subject,
    pub(crate) op: Operator,
    pub(crate) arg: Arg,
}

/// What a test looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    AgentConnected,
    AgentVersion,
    Attribute(String),
    Ec2InstanceId,
    RegisteredAt,
    RunningTasksCount,
    TaskGroup,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::Ne => "!=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Exists => "exists",
            Operator::NotExists => "!exists",
            Operator::In => "in",
            Operator::NotIn => "!in",
            Operator::Matches => "=~",
            Operator::NotMatches => "!~",
        }
    }
}

/// Argument of a test, already checked and typed for its subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    None,
    One(Literal),
    List(Vec<Literal>),
    Pattern(Pattern),
}

/// A literal argument and its typed reading for the subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    pub(crate) text: String,
    pub(crate) typed: Typed,
}

/// Typed reading of a literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Typed {
    Text,
    Bool(bool),
    Count(u64),
    Time { secs: i64, date_only: bool },
}

/// A compiled `matches` pattern (whole-value match).
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    pub(crate) regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(n: &Node, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match n {
                Node::Test(_) => n.fmt(f),
                _ => write!(f, "({n})"),
            }
        }
        match self {
            Node::Or(v) | Node::And(v) => {
                let sep = if matches!(self, Node::Or(_)) {
                    " or "
                } else {
                    " and "
                };
                for (i, n) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    operand(n, f)?;
                }
                Ok(())
            }
            Node::Not(n) => write!(f, "not ({n})"),
            Node::Test(t) => {
                match &t.subject {
                    Subject::AgentConnected => f.write_str("agentConnected")?,
                    Subject::AgentVersion => f.write_str("agentVersion")?,
                    Subject::Attribute(name) => write!(f, "attribute:{name}")?,
                    Subject::Ec2InstanceId => f.write_str("ec2InstanceId")?,
                    Subject::RegisteredAt => f.write_str("registeredAt")?,
                    Subject::RunningTasksCount => f.write_str("runningTasksCount")?,
                    Subject::TaskGroup => f.write_str("task:group")?,
                }
                write!(f, " {}", t.op.symbol())?;
                match &t.arg {
                    Arg::None => Ok(()),
                    Arg::One(l) => write!(f, " {}", Quoted(&l.text)),
                    Arg::Pattern(p) => write!(f, " {}", Quoted(&p.text)),
                    Arg::List(items) => {
                        f.write_str(" [")?;
                        for (i, l) in items.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write!(f, "{}", Quoted(&l.text))?;
                        }
                        f.write_str("]")
                    }
                }
            }
        }
    }
}

/// Writes a value bare when the lexer would read it back as one word, else quoted.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if !s.is_empty() && s.chars().all(lexer::is_word_char) {
            f.write_str(s)
        } else if s.contains('\'') {
            write!(f, "\"{s}\"")
        } else {
            write!(f, "'{s}'")
        }
    }
}
