//! Content digests. Berth stores and verifies SHA-256 only (`sha256:` + 64 lowercase hex
//! digits, as the OCI image spec writes them); any other algorithm is refused with an
//! error that says so, never misread.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Well formed, but not SHA-256.
    #[error(
        "unsupported digest algorithm '{0}': this registry stores sha256 digests only \
         (sha256:<64 lowercase hex digits>)"
    )]
    UnsupportedAlgorithm(String),
    /// Not a digest at all.
    #[error("invalid digest '{0}': expected sha256:<64 lowercase hex digits>")]
    Malformed(String),
}

/// A SHA-256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// 64 lowercase hex digits.
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything fed to `hasher`.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let malformed = || DigestError::Malformed(s.to_owned());
        let (algorithm, encoded) = s.split_once(':').ok_or_else(malformed)?;
        if algorithm != "sha256" {
            return if is_algorithm(algorithm) && !encoded.is_empty() {
                Err(DigestError::UnsupportedAlgorithm(algorithm.to_owned()))
            } else {
                Err(malformed())
            };
        }
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if encoded.len() != 64 || !encoded.bytes().all(lower_hex) {
            return Err(malformed());
        }
        Ok(Digest {
            hex: encoded.to_owned(),
        })
    }
}

/// The image spec's algorithm grammar: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn is_algorithm(s: &str) -> bool {
    let component = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    s.split(['+', '.', '_', '-']).all(component)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_of_bytes_match_known_values() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        let parsed: Digest = EMPTY.parse().unwrap();
        assert_eq!(parsed, Digest::of(b""));
        assert_eq!(parsed.hex().len(), 64);
    }

    #[test]
    fn other_algorithms_are_refused_by_name() {
        let e = "sha512:abcd".parse::<Digest>().unwrap_err();
        assert_eq!(e, DigestError::UnsupportedAlgorithm("sha512".into()));
        assert!(e.to_string().contains("sha256 digests only"));
        let e = "blake3:abcd".parse::<Digest>().unwrap_err();
        assert!(matches!(e, DigestError::UnsupportedAlgorithm(_)));
    }

    #[test]
    fn malformed_digests_are_rejected() {
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        for s in [
            "",
            "sha256",
            "sha256:",
            "sha256:abc",
            &upper,
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
            "sha256:../../../../etc/passwd",
            ":abc",
            "SHA256:abc",
            "sha512:",
        ] {
            assert!(
                matches!(s.parse::<Digest>(), Err(DigestError::Malformed(_))),
                "{s:?}"
            );
        }
    }

    #[test]
    fn digests_serialize_as_strings() {
        let d = Digest::of(b"");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
