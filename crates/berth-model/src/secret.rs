//! Secrets Manager secrets and SSM parameters as stored, and where a container
//! definition's `secrets[].valueFrom` points ([`SecretSource`]).
//!
//! Values are held only [`Sealed`]: encrypted by the server before a record is built
//! and opened by it when a caller (or a task's execution role) may read them. Nothing
//! here can open one, and a sealed value's `Debug` shows no bytes.

use berth_api::ecs::Timestamp;
use serde::{Deserialize, Serialize};

/// An encrypted value: the server's nonce and ciphertext (with its tag), in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(pub String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// The staging label of a secret's current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The staging label of the version that was current before it.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A Secrets Manager secret: its metadata and its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRecord {
    pub name: String,
    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`.
    pub arn: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Tags in the order they were first set.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub created: Timestamp,
    pub last_changed: Timestamp,
    /// The day its value was last read (Secrets Manager reports days, not instants).
    #[serde(default)]
    pub last_accessed: Option<Timestamp>,
    /// When DeleteSecret was called; the secret refuses reads until restored.
    #[serde(default)]
    pub deleted: Option<Timestamp>,
    /// When a deleted secret is gone for good.
    #[serde(default)]
    pub deletion_date: Option<Timestamp>,
    /// Its versions that still carry a staging label, oldest first.
    pub versions: Vec<SecretVersion>,
}

/// One version of a secret's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    /// The client request token that made it (a UUID when the client gave none).
    pub id: String,
    pub stages: Vec<String>,
    pub created: Timestamp,
    /// `SecretString`'s bytes, or `SecretBinary`'s.
    pub value: Sealed,
    pub binary: bool,
}

impl SecretRecord {
    /// The version with id `id`.
    pub fn version(&self, id: &str) -> Option<&SecretVersion> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The version labelled `stage`.
    pub fn staged(&self, stage: &str) -> Option<&SecretVersion> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// Adds a version labelled with `stages` (AWSCURRENT when none are given): a label
    /// moves from the version that had it; a new AWSCURRENT turns the old current
    /// version into AWSPREVIOUS. Versions left without labels are dropped.
    pub fn add_version(&mut self, version: SecretVersion) {
        let mut version = version;
        if version.stages.is_empty() {
            version.stages.push(AWSCURRENT.to_string());
        }
        let makes_current = version.stages.iter().any(|s| s == AWSCURRENT);
        for old in &mut self.versions {
            let was_current = old.stages.iter().any(|s| s == AWSCURRENT);
            old.stages.retain(|s| !version.stages.contains(s));
            if makes_current {
                old.stages.retain(|s| s != AWSPREVIOUS);
                if was_current {
                    old.stages.push(AWSPREVIOUS.to_string());
                }
            }
        }
        self.versions.retain(|v| !v.stages.is_empty());
        self.last_changed = version.created;
        self.versions.push(version);
    }
}

/// An SSM parameter: its versions, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterRecord {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub versions: Vec<ParameterVersion>,
}

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterVersion {
    pub version: i64,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    pub value: ParameterValue,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_pattern: Option<String>,
    /// The KMS key a SecureString names (`alias/aws/ssm` when none was given).
    #[serde(default)]
    pub key_id: Option<String>,
    pub data_type: String,
    #[serde(default)]
    pub labels: Vec<String>,
    pub modified: Timestamp,
    /// The ARN of the principal that wrote it.
    pub modified_user: String,
}

/// A parameter's value: in the clear (String, StringList) or sealed (SecureString).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ParameterValue {
    Plain(String),
    Sealed(Sealed),
}

/// The most versions a parameter keeps; the oldest goes when another is written.
pub const MAX_PARAMETER_VERSIONS: usize = 100;

impl ParameterRecord {
    /// The newest version.
    pub fn latest(&self) -> &ParameterVersion {
        self.versions.last().expect("a parameter has a version")
    }

    /// The version a selector (`5`, or a label) names.
    pub fn select(&self, selector: &Selector) -> Option<&ParameterVersion> {
        match selector {
            Selector::Latest => self.versions.last(),
            Selector::Version(n) => self.versions.iter().find(|v| v.version == *n),
            Selector::Label(label) => self
                .versions
                .iter()
                .find(|v| v.labels.iter().any(|l| l == label)),
        }
    }
}

/// Which version of a parameter a name asks for: `NAME`, `NAME:VERSION` or
/// `NAME:LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

/// Splits `NAME[:SELECTOR]` (a name holds no `:`). `None` when the selector is empty
/// or a version that is not a positive number.
pub fn split_selector(given: &str) -> Option<(&str, Selector)> {
    let Some((name, selector)) = given.split_once(':') else {
        return Some((given, Selector::Latest));
    };
    if selector.is_empty() || selector.contains(':') {
        return None;
    }
    if selector.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = selector.parse().ok().filter(|n| *n > 0)?;
        return Some((name, Selector::Version(n)));
    }
    Some((name, Selector::Label(selector.to_string())))
}

/// Where a container's secret comes from, as its `valueFrom` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A Secrets Manager secret: `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`
    /// (with or without the suffix), then optionally `:JSON-KEY:VERSION-STAGE:VERSION-ID`
    /// (any of them empty).
    SecretsManager {
        region: String,
        account: String,
        /// The ARN up to the secret's name (its suffix included, when given).
        secret: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
    /// An SSM parameter, by name (`/app/db`, `db`) or ARN
    /// (`arn:aws:ssm:REGION:ACCOUNT:parameter/app/db`); region and account are the
    /// ARN's, `None` for a bare name (the task's).
    Parameter {
        region: Option<String>,
        account: Option<String>,
        /// The names the parameter may have: an ARN's `parameter/db` is `db` or `/db`.
        names: Vec<String>,
    },
}

impl SecretSource {
    /// Reads a `valueFrom`; the error says what is wrong with it.
    pub fn parse(value_from: &str) -> Result<SecretSource, String> {
        let bad = |why: &str| format!("invalid valueFrom '{value_from}': {why}");
        let Some(rest) = value_from.strip_prefix("arn:") else {
            if value_from.is_empty() {
                return Err(bad("it is empty"));
            }
            return Ok(SecretSource::Parameter {
                region: None,
                account: None,
                names: vec![value_from.to_string()],
            });
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [_partition, service, region, account, resource] = parts[..] else {
            return Err(bad(
                "an ARN has the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE",
            ));
        };
        if region.is_empty() || account.is_empty() {
            return Err(bad("the ARN names no region or account"));
        }
        match service {
            "secretsmanager" => {
                let Some(after) = resource.strip_prefix("secret:") else {
                    return Err(bad("a Secrets Manager ARN's resource is secret:NAME"));
                };
                let mut fields = after.split(':');
                let name = fields.next().unwrap_or_default();
                let extra: Vec<&str> = fields.collect();
                if name.is_empty() || extra.len() > 3 {
                    return Err(bad(
                        "expected the secret's ARN, then optionally :JSON-KEY:VERSION-STAGE:VERSION-ID",
                    ));
                }
                let field = |i: usize| {
                    extra
                        .get(i)
                        .filter(|s| !s.is_empty())
                        .map(|s| s.to_string())
                };
                let (version_stage, version_id) = (field(1), field(2));
                if version_stage.is_some() && version_id.is_some() {
                    return Err(bad("give a version stage or a version id, not both"));
                }
                let secret = format!(
                    "arn:{}:secretsmanager:{region}:{account}:secret:{name}",
                    parts[0]
                );
                Ok(SecretSource::SecretsManager {
                    region: region.to_string(),
                    account: account.to_string(),
                    secret,
                    json_key: field(0),
                    version_stage,
                    version_id,
                })
            }
            "ssm" => {
                let Some(path) = resource.strip_prefix("parameter") else {
                    return Err(bad("an SSM ARN's resource is parameter/NAME"));
                };
                let Some(trimmed) = path.strip_prefix('/').filter(|p| !p.is_empty()) else {
                    return Err(bad("an SSM ARN's resource is parameter/NAME"));
                };
                // `parameter/db` is the ARN of `db` and of `/db`; deeper names are
                // always fully qualified.
                let names = if trimmed.contains('/') {
                    vec![path.to_string()]
                } else {
                    vec![trimmed.to_string(), path.to_string()]
                };
                Ok(SecretSource::Parameter {
                    region: Some(region.to_string()),
                    account: Some(account.to_string()),
                    names,
                })
            }
            other => Err(bad(&format!(
                "secrets come from Secrets Manager or SSM Parameter Store, not '{other}'"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf";

    #[test]
    fn value_from_forms_as_ecs_documents_them() {
        let whole = SecretSource::parse(ARN).unwrap();
        assert_eq!(
            whole,
            SecretSource::SecretsManager {
                region: "us-east-1".into(),
                account: "000000000000".into(),
                secret: ARN.into(),
                json_key: None,
                version_stage: None,
                version_id: None,
            }
        );
        let keyed = SecretSource::parse(&format!("{ARN}:password::")).unwrap();
        let SecretSource::SecretsManager {
            json_key,
            version_stage,
            secret,
            ..
        } = keyed
        else {
            panic!("not a secret")
        };
        assert_eq!(json_key.as_deref(), Some("password"));
        assert_eq!(version_stage, None);
        assert_eq!(secret, ARN);
        let staged = SecretSource::parse(&format!("{ARN}::AWSPREVIOUS:")).unwrap();
        assert!(matches!(
            staged,
            SecretSource::SecretsManager { json_key: None, version_stage: Some(ref s), .. } if s == "AWSPREVIOUS"
        ));
        let by_id = SecretSource::parse(&format!("{ARN}:user::v-1")).unwrap();
        assert!(matches!(
            by_id,
            SecretSource::SecretsManager { version_id: Some(ref s), .. } if s == "v-1"
        ));
        assert!(SecretSource::parse(&format!("{ARN}:k:AWSCURRENT:v-1")).is_err());
        assert!(SecretSource::parse(&format!("{ARN}:a:b:c:d")).is_err());
        assert!(
            SecretSource::parse("arn:aws:secretsmanager:us-east-1:000000000000:other:x").is_err()
        );
        assert!(SecretSource::parse("arn:aws:s3:::bucket/key").is_err());
        assert!(SecretSource::parse("").is_err());
    }

    #[test]
    fn parameters_by_name_or_arn() {
        assert_eq!(
            SecretSource::parse("/app/db").unwrap(),
            SecretSource::Parameter {
                region: None,
                account: None,
                names: vec!["/app/db".into()]
            }
        );
        assert_eq!(
            SecretSource::parse("arn:aws:ssm:eu-west-1:000000000000:parameter/app/db").unwrap(),
            SecretSource::Parameter {
                region: Some("eu-west-1".into()),
                account: Some("000000000000".into()),
                names: vec!["/app/db".into()]
            }
        );
        let SecretSource::Parameter { names, .. } =
            SecretSource::parse("arn:aws:ssm:eu-west-1:000000000000:parameter/db").unwrap()
        else {
            panic!("not a parameter")
        };
        assert_eq!(names, vec!["db".to_string(), "/db".to_string()]);
        assert!(SecretSource::parse("arn:aws:ssm:eu-west-1:000000000000:parameter").is_err());
        assert!(SecretSource::parse("arn:aws:ssm:eu-west-1:000000000000:document/x").is_err());
    }

    #[test]
    fn selectors() {
        assert_eq!(split_selector("/a/b"), Some(("/a/b", Selector::Latest)));
        assert_eq!(
            split_selector("/a/b:3"),
            Some(("/a/b", Selector::Version(3)))
        );
        assert_eq!(
            split_selector("db:prod"),
            Some(("db", Selector::Label("prod".into())))
        );
        assert_eq!(split_selector("db:"), None);
        assert_eq!(split_selector("db:0"), None);
        assert_eq!(split_selector("db:1:2"), None);
    }

    fn version(id: &str, stages: &[&str], at: i64) -> SecretVersion {
        SecretVersion {
            id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: Timestamp::from_secs(at),
            value: Sealed(id.into()),
            binary: false,
        }
    }

    #[test]
    fn a_new_current_version_moves_the_labels() {
        let mut s = SecretRecord {
            name: "db".into(),
            arn: ARN.into(),
            description: None,
            kms_key_id: None,
            tags: vec![],
            created: Timestamp::from_secs(1),
            last_changed: Timestamp::from_secs(1),
            last_accessed: None,
            deleted: None,
            deletion_date: None,
            versions: vec![],
        };
        s.add_version(version("v1", &[], 1));
        s.add_version(version("v2", &[], 2));
        assert_eq!(s.staged(AWSCURRENT).unwrap().id, "v2");
        assert_eq!(s.staged(AWSPREVIOUS).unwrap().id, "v1");
        s.add_version(version("v3", &[], 3));
        assert_eq!(s.staged(AWSPREVIOUS).unwrap().id, "v2");
        assert!(
            s.version("v1").is_none(),
            "a version without labels is dropped"
        );
        s.add_version(version("v4", &["TEST"], 4));
        assert_eq!(
            s.staged(AWSCURRENT).unwrap().id,
            "v3",
            "a custom label leaves AWSCURRENT"
        );
        assert_eq!(s.last_changed, Timestamp::from_secs(4));
    }
}
