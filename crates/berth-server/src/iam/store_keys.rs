//! Where IAM's entities live in the store: `/iam/ACCOUNT/KIND/NAME`, names lower-cased
//! (IAM names are unique without regard to case), access keys and sessions by key id.

use berth_model::iam::{name_key, EntityKind};

/// Everything IAM keeps for `account`.
pub fn account(account: &str) -> String {
    format!("/iam/{account}/")
}

/// The users, groups or roles of `account`.
pub fn entities(account: &str, kind: EntityKind) -> String {
    format!("/iam/{account}/{}s/", kind.resource_type())
}

/// The user, group or role `name`.
pub fn entity(account: &str, kind: EntityKind, name: &str) -> String {
    format!("{}{}", entities(account, kind), name_key(name))
}

/// The customer managed policies of `account`.
pub fn policies(account: &str) -> String {
    format!("/iam/{account}/policies/")
}

/// The customer managed policy `name`.
pub fn policy(account: &str, name: &str) -> String {
    format!("{}{}", policies(account), name_key(name))
}

/// The access keys of `account`'s users.
pub fn access_keys(account: &str) -> String {
    format!("/iam/{account}/access-keys/")
}

/// The access key `id`.
pub fn access_key(account: &str, id: &str) -> String {
    format!("{}{id}", access_keys(account))
}

/// The instance profiles of `account`.
pub fn instance_profiles(account: &str) -> String {
    format!("/iam/{account}/instance-profiles/")
}

/// The instance profile `name`.
pub fn instance_profile(account: &str, name: &str) -> String {
    format!("{}{}", instance_profiles(account), name_key(name))
}

/// The STS sessions of `account`.
pub fn sessions(account: &str) -> String {
    format!("/iam/{account}/sessions/")
}

/// The session whose key id is `id`.
pub fn session(account: &str, id: &str) -> String {
    format!("{}{id}", sessions(account))
}
