//! Tokenizer for the cluster query language.

use super::InvalidExpression;

/// One token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word or a quoted string.
    Word {
        text: String,
        quoted: bool,
    },
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
    /// `!in`
    NotIn,
    /// `!exists`
    NotExists,
    /// `!` (logical not)
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
}

/// A token and the 1-based character column it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) column: usize,
}

/// Characters a bare word may contain: anything but whitespace, quotes, brackets, commas
/// and operator characters.
pub(crate) fn is_word_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '(' | ')' | '[' | ']' | ',' | '\'' | '"' | '=' | '!' | '<' | '>' | '~' | '&' | '|'
        )
}

fn err(column: usize, message: impl Into<String>) -> InvalidExpression {
    InvalidExpression {
        column,
        message: message.into(),
    }
}

/// Splits an expression into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, InvalidExpression> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        let mut push = |tok: Tok, len: usize, i: &mut usize| {
            out.push(Token { tok, column });
            *i += len;
        };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => push(Tok::LParen, 1, &mut i),
            ')' => push(Tok::RParen, 1, &mut i),
            '[' => push(Tok::LBracket, 1, &mut i),
            ']' => push(Tok::RBracket, 1, &mut i),
            ',' => push(Tok::Comma, 1, &mut i),
            '=' => match next {
                Some('=') => push(Tok::Eq, 2, &mut i),
                Some('~') => push(Tok::Match, 2, &mut i),
                _ => return Err(err(column, "unexpected `=`; use `==` or `=~`")),
            },
            '!' => match next {
                Some('=') => push(Tok::Ne, 2, &mut i),
                Some('~') => push(Tok::NotMatch, 2, &mut i),
                _ => {
                    let word: String = chars[i + 1..]
                        .iter()
                        .take_while(|c| is_word_char(**c))
                        .collect();
                    if word.eq_ignore_ascii_case("in") {
                        push(Tok::NotIn, 3, &mut i)
                    } else if word.eq_ignore_ascii_case("exists") {
                        push(Tok::NotExists, 7, &mut i)
                    } else {
                        push(Tok::Bang, 1, &mut i)
                    }
                }
            },
            '>' => match next {
                Some('=') => push(Tok::Ge, 2, &mut i),
                _ => push(Tok::Gt, 1, &mut i),
            },
            '<' => match next {
                Some('=') => push(Tok::Le, 2, &mut i),
                _ => push(Tok::Lt, 1, &mut i),
            },
            '&' => match next {
                Some('&') => push(Tok::AndAnd, 2, &mut i),
                _ => return Err(err(column, "unexpected `&`; use `&&` or `and`")),
            },
            '|' => match next {
                Some('|') => push(Tok::OrOr, 2, &mut i),
                _ => return Err(err(column, "unexpected `|`; use `||` or `or`")),
            },
            '~' => return Err(err(column, "unexpected `~`; use `=~` or `!~`")),
            '\'' | '"' => {
                let end = chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| {
                    err(column, format!("unterminated string: missing closing {c}"))
                })?;
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                push(Tok::Word { text, quoted: true }, end + 2, &mut i)
            }
            _ => {
                let len = chars[i..].iter().take_while(|c| is_word_char(**c)).count();
                let text: String = chars[i..i + len].iter().collect();
                push(
                    Tok::Word {
                        text,
                        quoted: false,
                    },
                    len,
                    &mut i,
                )
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn word(s: &str) -> Tok {
        Tok::Word {
            text: s.into(),
            quoted: false,
        }
    }

    #[test]
    fn splits_operators_without_spaces() {
        assert_eq!(
            kinds("attribute:stack==prod"),
            vec![word("attribute:stack"), Tok::Eq, word("prod")]
        );
        assert_eq!(
            kinds("a!=b&&!(c=~d*)||e!in[x,'y z']"),
            vec![
                word("a"),
                Tok::Ne,
                word("b"),
                Tok::AndAnd,
                Tok::Bang,
                Tok::LParen,
                word("c"),
                Tok::Match,
                word("d*"),
                Tok::RParen,
                Tok::OrOr,
                word("e"),
                Tok::NotIn,
                Tok::LBracket,
                word("x"),
                Tok::Comma,
                Tok::Word {
                    text: "y z".into(),
                    quoted: true
                },
                Tok::RBracket
            ]
        );
    }

    #[test]
    fn bang_before_other_words_is_not() {
        assert_eq!(kinds("!instance"), vec![Tok::Bang, word("instance")]);
        assert_eq!(kinds("a !exists"), vec![word("a"), Tok::NotExists]);
        assert_eq!(kinds("!existsx"), vec![Tok::Bang, word("existsx")]);
    }

    #[test]
    fn reports_columns() {
        let e = tokenize("a == 'b").unwrap_err();
        assert_eq!(e.column, 6);
        let e = tokenize("a = b").unwrap_err();
        assert_eq!(e.column, 3);
    }
}
