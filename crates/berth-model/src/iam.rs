//! IAM's entities as stored: users (with their access keys and console password),
//! groups, roles, customer managed policies and their versions, instance profiles, and
//! STS sessions; the rules AWS gives their names and paths; and the ARNs they are known
//! by. Policy documents are kept as the text the caller gave (IAM answers them back
//! URL-encoded, as given); what they mean is `berth-iam`'s.

use std::collections::{BTreeMap, BTreeSet};

use berth_api::ecs::Timestamp;
use serde::{Deserialize, Serialize};

use crate::tags::Tags;

/// The kinds of IAM entity that policies attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    User,
    Group,
    Role,
}

impl EntityKind {
    /// The ARN resource type (`user`, `group`, `role`).
    pub fn resource_type(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Role => "role",
        }
    }

    /// The word AWS uses for it in messages and action names.
    pub fn word(self) -> &'static str {
        match self {
            EntityKind::User => "User",
            EntityKind::Group => "Group",
            EntityKind::Role => "Role",
        }
    }

    /// The prefix of the ids AWS gives it (`AIDA…`, `AGPA…`, `AROA…`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            EntityKind::User => "AIDA",
            EntityKind::Group => "AGPA",
            EntityKind::Role => "AROA",
        }
    }
}

/// What users, groups and roles have in common: a name, a path, an id, the managed
/// policies attached to them and their inline policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created_at: Timestamp,
    /// ARNs of the managed policies attached, AWS's and the account's.
    #[serde(default)]
    pub attached: BTreeSet<String>,
    /// Inline policies by name: the document as given.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Tags,
}

/// A user: an entity with group memberships and, optionally, a console password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub entity: Entity,
    /// Names of the groups it belongs to.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub login_profile: Option<LoginProfile>,
}

/// A console password, kept as a salted PBKDF2 digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginProfile {
    pub created_at: Timestamp,
    pub password_reset_required: bool,
    /// Hex salt, and hex PBKDF2-HMAC-SHA256 of the password with it.
    pub salt: String,
    pub digest: String,
    pub iterations: u32,
}

/// A group: an entity whose policies apply to its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub entity: Entity,
}

/// A role: an entity others assume, as its trust policy allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub entity: Entity,
    /// The trust policy as given.
    pub assume_role_policy: String,
    pub description: Option<String>,
    /// How long a session of it may last, in seconds (3,600 to 43,200).
    pub max_session_duration: u32,
}

/// Whether an access key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    /// AWS's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    /// Parses AWS's word.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

/// A user's long-term access key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub user_name: String,
    pub status: KeyStatus,
    pub created_at: Timestamp,
}

/// One version of a customer managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, …
    pub id: String,
    pub document: String,
    pub created_at: Timestamp,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicyRecord {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub default_version: String,
    /// At most [`MAX_POLICY_VERSIONS`], oldest first.
    pub versions: Vec<PolicyVersionRecord>,
    /// The number the next version gets.
    pub next_version: u32,
    #[serde(default)]
    pub tags: Tags,
}

/// How many versions a managed policy keeps (AWS's limit).
pub const MAX_POLICY_VERSIONS: usize = 5;

impl ManagedPolicyRecord {
    /// The default version's document.
    pub fn default_document(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
            .unwrap_or("")
    }
}

/// An instance profile: a container for one role, which EC2 hosts (and Berth's agents'
/// hosts) present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceProfileRecord {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created_at: Timestamp,
    /// Names of its roles (AWS allows one).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// Who an STS session acts as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionOf {
    /// A session of a role (AssumeRole, or a task's role).
    Role {
        role_name: String,
        role_id: String,
        role_arn: String,
        session_name: String,
    },
    /// A user's own session (GetSessionToken): the user's permissions.
    User { user_name: String },
    /// The account root's own session (GetSessionToken with the root key).
    Root,
}

/// Temporary credentials issued by STS (or for a task's role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub of: SessionOf,
    pub expires_at: Timestamp,
}

/// The most roles an instance profile holds.
pub const MAX_ROLES_PER_INSTANCE_PROFILE: usize = 1;
/// The most managed policies one user, group or role may have attached (AWS's default
/// quota).
pub const MAX_ATTACHED_POLICIES: usize = 10;
/// The most groups a user may be in.
pub const MAX_GROUPS_PER_USER: usize = 10;
/// The most access keys a user may have.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;

/// Why a name or path is not one IAM accepts: the message of a `ValidationError`.
pub type Invalid = String;

/// Checks an entity or policy name: `[\w+=,.@-]+` of 1 to `max` characters, as AWS's
/// model constrains it (64 for users, groups and roles, 128 for policies and instance
/// profiles).
pub fn check_name(member: &str, name: &str, max: usize) -> Result<(), Invalid> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if name.is_empty() || name.chars().count() > max || !valid_chars {
        return Err(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and \
             have length between 1 and {max}"
        ));
    }
    Ok(())
}

/// Checks a path: `/`, or `/` then printable ASCII then `/`, at most 512 characters.
pub fn check_path(member: &str, path: &str) -> Result<(), Invalid> {
    let valid = path == "/"
        || (path.len() >= 2
            && path.starts_with('/')
            && path.ends_with('/')
            && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)));
    if !valid || path.len() > 512 {
        return Err(format!(
            "1 validation error detected: Value '{path}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)"
        ));
    }
    Ok(())
}

/// The ARN of an IAM resource of `resource_type` at `path` named `name`.
pub fn arn(account: &str, resource_type: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{resource_type}{path}{name}")
}

/// The store's key form of a name: IAM names are unique without regard to case.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// An id of `prefix` followed by 17 characters of `random` (upper-case letters and
/// digits), as AWS's ids look (`AIDA…`, `AROA…`, `ANPA…`).
pub fn unique_id(prefix: &str, random: impl Iterator<Item = u8>) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::from(prefix);
    id.extend(
        random
            .take(17)
            .map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char),
    );
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_model_pattern_and_length() {
        assert!(check_name("roleName", "ecsTaskExecutionRole", 64).is_ok());
        assert!(check_name("roleName", "a+b=c,d.e@f-g_h", 64).is_ok());
        assert!(check_name("roleName", "", 64).is_err());
        assert!(check_name("roleName", &"a".repeat(65), 64).is_err());
        let e = check_name("roleName", "has space", 64).unwrap_err();
        assert!(e.contains("'has space' at 'roleName'"), "{e}");
    }

    #[test]
    fn paths_start_and_end_with_a_slash() {
        assert!(check_path("path", "/").is_ok());
        assert!(check_path("path", "/service-role/").is_ok());
        assert!(check_path("path", "/a/b/").is_ok());
        assert!(check_path("path", "service-role/").is_err());
        assert!(check_path("path", "/service-role").is_err());
        assert!(check_path("path", "//x y/").is_err());
    }

    #[test]
    fn arns_and_ids_look_like_aws() {
        assert_eq!(
            arn("123456789012", "role", "/service-role/", "r"),
            "arn:aws:iam::123456789012:role/service-role/r"
        );
        let id = unique_id("AROA", (0u8..).step_by(7));
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(id[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }

    #[test]
    fn a_policy_answers_its_default_version() {
        let at = Timestamp::try_from_secs_f64(1.0).unwrap();
        let version = |id: &str, doc: &str| PolicyVersionRecord {
            id: id.into(),
            document: doc.into(),
            created_at: at,
        };
        let p = ManagedPolicyRecord {
            name: "p".into(),
            path: "/".into(),
            id: "ANPA".into(),
            arn: "arn".into(),
            description: None,
            created_at: at,
            updated_at: at,
            default_version: "v2".into(),
            versions: vec![version("v1", "one"), version("v2", "two")],
            next_version: 3,
            tags: Tags::new(),
        };
        assert_eq!(p.default_document(), "two");
    }
}
