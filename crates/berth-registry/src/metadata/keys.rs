//! The registry's store keys.
//!
//! ```text
//! /registry/ACCOUNT/REGION/repos/NAME                              repository record
//! /registry/ACCOUNT/REGION/content/ENC/blobs/DIGEST                the repository links a blob
//! /registry/ACCOUNT/REGION/content/ENC/manifests/DIGEST            manifest record
//! /registry/ACCOUNT/REGION/content/ENC/tags/TAG                    tag → manifest digest
//! /registry/ACCOUNT/REGION/content/ENC/referrers/SUBJECT/DIGEST    a manifest whose subject
//!                                                                  is SUBJECT (its descriptor)
//! ```
//!
//! `NAME` is the repository name as is: repository records are leaves (nothing nests
//! under them), so `a` and `a/b` are simply two keys, and listing `repos/` yields names
//! in lexical order, as the catalog wants.
//!
//! Everything a repository holds lives under one prefix, `content/ENC/`, where `ENC` is
//! the name with `/` written `%2F` (and `%` written `%25`, though names cannot contain
//! it). Without that, the prefix of `a`'s tags, `content/a/`, would also cover `a/b`'s
//! keys; with it, `a/b` becomes `a%2Fb`, which no other name encodes to, and every
//! repository's prefix is disjoint from every other's. Account and region are encoded
//! the same way, so a scope cannot alias another either.
//!
//! Tags and digests need no encoding: neither can contain `/` or `%` once validated.

use crate::digest::Digest;
use crate::names::{RepoName, Tag};
use crate::Scope;

/// Writes `/` as `%2F` and `%` as `%25`, so the result contains no `/` and decodes
/// unambiguously.
pub fn encode_segment(segment: &str) -> String {
    segment.replace('%', "%25").replace('/', "%2F")
}

/// Undoes [`encode_segment`].
pub fn decode_segment(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%25", "%")
}

/// Where every scope's records live.
pub const ROOT: &str = "/registry/";

/// What a key under [`ROOT`] is, as far as garbage collection and maintenance care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A repository record of a scope.
    Repository(Scope),
    /// A blob link or manifest record: the blob with this digest is in use.
    Content(Digest),
    /// Anything else (tags, referrer entries).
    Other,
}

/// Classifies a key under [`ROOT`].
pub fn classify(key: &str) -> KeyKind {
    let Some(rest) = key.strip_prefix(ROOT) else {
        return KeyKind::Other;
    };
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    let [account, region, kind, tail] = parts[..] else {
        return KeyKind::Other;
    };
    match kind {
        "repos" => KeyKind::Repository(Scope {
            account: decode_segment(account),
            region: decode_segment(region),
        }),
        "content" => match tail.split('/').collect::<Vec<_>>()[..] {
            [_repo, "blobs" | "manifests", digest] => {
                digest.parse().map_or(KeyKind::Other, KeyKind::Content)
            }
            _ => KeyKind::Other,
        },
        _ => KeyKind::Other,
    }
}

fn base(scope: &Scope) -> String {
    format!(
        "{ROOT}{}/{}",
        encode_segment(&scope.account),
        encode_segment(&scope.region)
    )
}

/// Every repository record of a scope.
pub fn repos(scope: &Scope) -> String {
    format!("{}/repos/", base(scope))
}

/// One repository record.
pub fn repo(scope: &Scope, name: &RepoName) -> String {
    format!("{}{name}", repos(scope))
}

/// Everything one repository holds.
pub fn content(scope: &Scope, name: &RepoName) -> String {
    format!("{}/content/{}/", base(scope), encode_segment(name.as_str()))
}

/// Every blob link of a repository.
pub fn blob_links(scope: &Scope, name: &RepoName) -> String {
    format!("{}blobs/", content(scope, name))
}

/// One blob link.
pub fn blob_link(scope: &Scope, name: &RepoName, digest: &Digest) -> String {
    format!("{}{digest}", blob_links(scope, name))
}

/// Every manifest of a repository.
pub fn manifests(scope: &Scope, name: &RepoName) -> String {
    format!("{}manifests/", content(scope, name))
}

/// One manifest record.
pub fn manifest(scope: &Scope, name: &RepoName, digest: &Digest) -> String {
    format!("{}{digest}", manifests(scope, name))
}

/// Every tag of a repository, in tag order.
pub fn tags(scope: &Scope, name: &RepoName) -> String {
    format!("{}tags/", content(scope, name))
}

/// One tag.
pub fn tag(scope: &Scope, name: &RepoName, tag: &Tag) -> String {
    format!("{}{tag}", tags(scope, name))
}

/// Every manifest of a repository whose subject is `subject`.
pub fn referrers(scope: &Scope, name: &RepoName, subject: &Digest) -> String {
    format!("{}referrers/{subject}/", content(scope, name))
}

/// The referrer entry of manifest `digest` under `subject`.
pub fn referrer(scope: &Scope, name: &RepoName, subject: &Digest, digest: &Digest) -> String {
    format!("{}{digest}", referrers(scope, name, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn tag_key(repo: &str, t: &str) -> String {
        tag(&scope(), &name(repo), &Tag::parse(t).unwrap())
    }

    #[test]
    fn layout_is_as_documented() {
        let s = scope();
        assert_eq!(
            repo(&s, &name("team/app")),
            "/registry/123456789012/us-east-1/repos/team/app"
        );
        assert_eq!(
            tag_key("team/app", "v1"),
            "/registry/123456789012/us-east-1/content/team%2Fapp/tags/v1"
        );
        let d = Digest::of(b"x");
        assert_eq!(
            referrer(&s, &name("a"), &d, &d),
            format!("/registry/123456789012/us-east-1/content/a/referrers/{d}/{d}")
        );
    }

    #[test]
    fn no_repository_prefix_covers_another_repository() {
        let names = [
            "a",
            "a/b",
            "a/b/c",
            "a-b",
            "a.b",
            "a_b",
            "ab",
            "b",
            "a/bc",
            "tags",
            "a/tags",
            "blobs",
            "a/manifests",
            "referrers",
            "content",
            "a/content/b",
        ];
        for outer in names {
            for inner in names {
                let (o, i) = (name(outer), name(inner));
                let covered = content(&scope(), &i).starts_with(&content(&scope(), &o));
                assert_eq!(covered, outer == inner, "{outer} vs {inner}");
                for key in [
                    tag_key(inner, "v1"),
                    manifest(&scope(), &i, &Digest::of(b"m")),
                    blob_link(&scope(), &i, &Digest::of(b"b")),
                    referrer(&scope(), &i, &Digest::of(b"s"), &Digest::of(b"r")),
                ] {
                    assert_eq!(
                        key.starts_with(&content(&scope(), &o)),
                        outer == inner,
                        "{key} under {outer}"
                    );
                    // Kinds never alias inside one repository either.
                    let kinds = [
                        tags(&scope(), &i),
                        manifests(&scope(), &i),
                        blob_links(&scope(), &i),
                        format!("{}referrers/", content(&scope(), &i)),
                    ];
                    assert_eq!(kinds.iter().filter(|k| key.starts_with(*k)).count(), 1);
                }
            }
        }
    }

    #[test]
    fn repository_records_list_in_name_order_and_stay_apart_from_content() {
        let s = scope();
        let mut keys: Vec<String> = ["a0", "a/b", "a-b", "a", "a_b"]
            .iter()
            .map(|n| repo(&s, &name(n)))
            .collect();
        keys.sort();
        let names: Vec<&str> = keys
            .iter()
            .map(|k| k.strip_prefix(&repos(&s)).unwrap())
            .collect();
        assert_eq!(names, ["a", "a-b", "a/b", "a0", "a_b"]);
        assert!(!content(&s, &name("a")).starts_with(&repos(&s)));
        assert!(!repo(&s, &name("a")).starts_with(&content(&s, &name("a"))));
    }

    #[test]
    fn keys_classify_by_what_they_hold() {
        let s = Scope {
            account: "1/2".into(),
            region: "r%".into(),
        };
        let d = Digest::of(b"x");
        let n = name("team/app");
        assert_eq!(classify(&repo(&s, &n)), KeyKind::Repository(s.clone()));
        assert_eq!(
            classify(&blob_link(&s, &n, &d)),
            KeyKind::Content(d.clone())
        );
        assert_eq!(classify(&manifest(&s, &n, &d)), KeyKind::Content(d.clone()));
        assert_eq!(
            classify(&tag(&s, &n, &Tag::parse("v1").unwrap())),
            KeyKind::Other
        );
        assert_eq!(classify(&referrer(&s, &n, &d, &d)), KeyKind::Other);
        assert_eq!(
            classify("/registry/a/b/content/x/blobs/nope"),
            KeyKind::Other
        );
        assert_eq!(classify("/elsewhere/a/b/repos/x"), KeyKind::Other);
    }

    #[test]
    fn scopes_do_not_alias() {
        let odd = Scope {
            account: "1/repos".into(),
            region: "x".into(),
        };
        assert!(!repos(&odd).starts_with(&repos(&scope())));
        assert_eq!(encode_segment("a/b%c"), "a%2Fb%25c");
        assert_ne!(encode_segment("a%2Fb"), encode_segment("a/b"));
    }
}
