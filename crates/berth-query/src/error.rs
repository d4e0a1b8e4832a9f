//! What reading a Query request can refuse: AWS's `ValidationError`, worded as AWS words
//! its model's constraints.

/// A request's members do not fit what the action takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A member is missing, of the wrong type, out of range, or not taken at all
    /// (`ValidationError`).
    #[error("{0}")]
    Validation(String),
}

impl QueryError {
    /// `member`'s `value` breaks `constraint`.
    pub fn constraint(value: impl std::fmt::Display, member: &str, constraint: &str) -> QueryError {
        QueryError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: {constraint}"
        ))
    }

    /// A required member is absent.
    pub fn missing(member: &str) -> QueryError {
        QueryError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            lower_first(member)
        ))
    }

    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Validation(_) => "ValidationError",
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            QueryError::Validation(m) => m,
        }
    }
}

/// `member` with its first letter in lower case, as AWS names members in messages.
pub fn lower_first(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
