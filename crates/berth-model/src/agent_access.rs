//! Who may join a cluster as an agent, and what a joined agent may do.
//!
//! A **join token** lets a host register capacity: for one cluster's container
//! instances, or (unscoped) for any cluster and the Fargate pool. Operators create, list
//! and revoke them; revoking stops new joins and leaves joined agents alone. Registering
//! gives the agent an **agent credential** of its own, bound to the container instances
//! it registered: with it, it may heartbeat, follow assignments, report tasks, fetch task
//! role credentials and ship logs for those instances and their tasks only.
//!
//! Both are `PREFIX_ID_SECRET` strings; the store keeps only the secret's SHA-256, so a
//! copy of the store does not let anyone join or act as an agent.

use std::collections::BTreeSet;

use berth_api::ecs::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a join token starts.
pub const JOIN_TOKEN_PREFIX: &str = "bjt";
/// How an agent credential starts.
pub const AGENT_CREDENTIAL_PREFIX: &str = "bac";

/// A join token as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    pub id: String,
    /// Hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// The only cluster it joins; none for any cluster and the Fargate pool.
    pub cluster: Option<String>,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl JoinTokenRecord {
    /// Whether it may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at
            .is_none_or(|t| now.as_secs_f64() < t.as_secs_f64())
    }

    /// Whether it lets a host offer a container instance of `cluster` (`None`: Fargate
    /// pool capacity).
    pub fn admits(&self, cluster: Option<&str>) -> bool {
        match (&self.cluster, cluster) {
            (None, _) => true,
            (Some(ours), Some(theirs)) => ours == theirs,
            (Some(_), None) => false,
        }
    }
}

/// An agent's own credential as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCredentialRecord {
    pub id: String,
    pub secret_sha256: String,
    /// The container instances it acts for.
    pub instance_arns: BTreeSet<String>,
    /// The join token it was issued under.
    pub join_token_id: Option<String>,
    pub created_at: Timestamp,
}

/// A secret string split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    pub prefix: &'a str,
    pub id: &'a str,
    pub secret: &'a str,
}

/// Splits `PREFIX_ID_SECRET`; `None` when it is not of that form.
pub fn parse(given: &str) -> Option<Presented<'_>> {
    let mut parts = given.splitn(3, '_');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = [JOIN_TOKEN_PREFIX, AGENT_CREDENTIAL_PREFIX].contains(&prefix)
        && is_id(id)
        && secret.len() >= 32
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some(Presented { prefix, id, secret })
}

/// Whether `id` is a well-formed token or credential id (16 lowercase hex digits).
pub fn is_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The string handed out for `prefix`, `id` and `secret`.
pub fn format(prefix: &str, id: &str, secret: &str) -> String {
    format!("{prefix}_{id}_{secret}")
}

/// Hex SHA-256 of a secret.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `expected`, compared in constant time.
pub fn matches(secret: &str, expected: &str) -> bool {
    let got = digest(secret);
    got.len() == expected.len()
        && got
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";

    #[test]
    fn a_formatted_token_parses_back_and_anything_else_does_not() {
        let s = format(JOIN_TOKEN_PREFIX, "0123456789abcdef", SECRET);
        assert_eq!(
            parse(&s),
            Some(Presented {
                prefix: "bjt",
                id: "0123456789abcdef",
                secret: SECRET
            })
        );
        for bad in [
            "",
            "bjt",
            "bjt_0123456789abcdef",
            "xyz_0123456789abcdef_abcdefghijklmnopqrstuvwxyz0123456789",
            "bjt_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123456789",
            "bjt_0123_abcdefghijklmnopqrstuvwxyz0123456789",
            "bjt_0123456789abcdef_short",
            "bjt_0123456789abcdef_abcdefghijklmnopqrstuvwxyz01234567-9",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_right_secret_matches_its_digest() {
        let d = digest(SECRET);
        assert!(matches(SECRET, &d));
        assert!(!matches("abcdefghijklmnopqrstuvwxyz0123456789ABCE", &d));
        assert!(!matches(SECRET, &d[..63]));
    }

    #[test]
    fn a_cluster_token_admits_its_cluster_only_and_an_unscoped_one_everything() {
        let mut t = JoinTokenRecord {
            id: "0123456789abcdef".into(),
            secret_sha256: digest(SECRET),
            cluster: Some("gpu".into()),
            description: None,
            created_at: Timestamp::from_secs(100),
            expires_at: Some(Timestamp::from_secs(200)),
        };
        assert!(t.admits(Some("gpu")));
        assert!(!t.admits(Some("web")));
        assert!(
            !t.admits(None),
            "Fargate pool capacity serves every cluster"
        );
        assert!(t.is_live(Timestamp::from_secs(199)));
        assert!(!t.is_live(Timestamp::from_secs(200)));
        t.cluster = None;
        t.expires_at = None;
        assert!(t.admits(Some("web")) && t.admits(None));
        assert!(t.is_live(Timestamp::from_secs(1 << 40)));
    }
}
