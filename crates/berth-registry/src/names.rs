//! Repository names, tags and manifest references, validated as the OCI distribution
//! spec defines them.
//!
//! A [`RepoName`] matches
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` and is at
//! most [`MAX_NAME_LEN`] characters; a [`Tag`] matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
//! Both are checked by hand rather than with a regex, so the rules are visible here.
//!
//! Names never reach the file system: blobs and uploads are stored by digest and upload
//! id only, so no name (`../x`, `a//b`, …) can address anything outside the storage
//! root. Names do reach store keys; see [`crate::metadata::keys`] for how they are
//! encoded there.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// The longest repository name accepted, counting every path component and `/`.
pub const MAX_NAME_LEN: usize = 255;

/// The longest tag accepted.
pub const MAX_TAG_LEN: usize = 128;

/// Why a name, tag or reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The repository name breaks the OCI name grammar.
    #[error("invalid repository name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// The tag breaks the OCI tag grammar.
    #[error(
        "invalid tag '{0}': a tag is 1 to 128 characters of letters, digits, '_', '.' and \
         '-', and does not start with '.' or '-'"
    )]
    InvalidTag(String),
    /// The reference is a malformed digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A validated repository name such as `team/app`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    /// Validates `name` against the OCI grammar and length limit.
    pub fn parse(name: &str) -> Result<RepoName, NameError> {
        let invalid = |reason| NameError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("the name is longer than 255 characters"));
        }
        for component in name.split('/') {
            check_component(component).map_err(invalid)?;
        }
        Ok(RepoName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks one `/`-separated component: runs of `[a-z0-9]` joined by `.`, `_`, `__` or
/// one or more `-`, starting and ending with `[a-z0-9]`.
fn check_component(component: &str) -> Result<(), &'static str> {
    if component.is_empty() {
        return Err("path components must not be empty (no leading, trailing or double '/')");
    }
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return Err("each path component must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        check_separator(&component[start..i])?;
    }
    Ok(())
}

/// A separator between two alphanumeric runs must be `.`, `_`, `__` or `-`+.
fn check_separator(separator: &str) -> Result<(), &'static str> {
    let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
    if ok {
        Ok(())
    } else if separator
        .bytes()
        .all(|b| matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        Err("separators must be '.', '_', '__' or a run of '-'")
    } else {
        Err("only lowercase letters, digits, '.', '_', '-' and '/' are allowed")
    }
}

/// A validated tag such as `v1.2` or `latest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validates `tag` against the OCI tag grammar.
    pub fn parse(tag: &str) -> Result<Tag, NameError> {
        let bytes = tag.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && bytes.len() <= MAX_TAG_LEN {
            Ok(Tag(tag.to_owned()))
        } else {
            Err(NameError::InvalidTag(tag.to_owned()))
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A digest when `reference` contains `:` (tags cannot), a tag otherwise.
    pub fn parse(reference: &str) -> Result<Reference, NameError> {
        if reference.contains(':') {
            Ok(Reference::Digest(reference.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(reference)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_of_the_oci_grammar() {
        for name in [
            "a",
            "app",
            "team/app",
            "a/b/c/d",
            "my.app",
            "my_app",
            "my__app",
            "my-app",
            "my---app",
            "0",
            "a1/b2.c3_d4__e5-f6",
            "blobs/manifests/tags/list",
        ] {
            assert_eq!(RepoName::parse(name).map(|n| n.0), Ok(name.to_owned()));
        }
    }

    #[test]
    fn rejects_names_outside_the_grammar() {
        for name in [
            "", "A", "Team/app", "../x", "..", ".", "a/../b", "a//b", "/a", "a/", "a..b", "a___b",
            "a._b", "a_-b", "-a", "a-", "_a", "a b", "a%2fb", "a\\b", "a:b", "a@b", "é", "a\0b",
        ] {
            assert!(RepoName::parse(name).is_err(), "{name:?} was accepted");
        }
    }

    #[test]
    fn names_are_limited_to_255_characters() {
        let long = "a".repeat(MAX_NAME_LEN);
        assert!(RepoName::parse(&long).is_ok());
        assert!(RepoName::parse(&format!("{long}a")).is_err());
        let nested = vec!["ab"; 86].join("/");
        assert_eq!(nested.len(), 257);
        assert!(RepoName::parse(&nested).is_err());
    }

    #[test]
    fn errors_say_what_was_wrong() {
        let e = RepoName::parse("a//b").unwrap_err().to_string();
        assert!(e.contains("double '/'"), "{e}");
        let e = RepoName::parse("App").unwrap_err().to_string();
        assert!(e.contains("lowercase"), "{e}");
    }

    #[test]
    fn tags_follow_the_oci_grammar() {
        for tag in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(Tag::parse(tag).is_ok(), "{tag}");
        }
        for tag in ["", ".x", "-x", "a/b", "a:b", "a b", &"t".repeat(129)] {
            assert!(Tag::parse(tag).is_err(), "{tag}");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        let hex = "a".repeat(64);
        assert_eq!(Reference::parse("v1"), Ok(Reference::Tag(Tag("v1".into()))));
        let digest = Reference::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(digest.to_string(), format!("sha256:{hex}"));
        assert!(matches!(
            Reference::parse("sha512:abc"),
            Err(NameError::Digest(DigestError::UnsupportedAlgorithm(_)))
        ));
        assert!(Reference::parse("sha256:xyz").is_err());
    }
}
