//! IAM's shapes in XML, as botocore reads them: dates in ISO 8601, policy documents
//! URL-encoded (as IAM answers them), tags as `Key`/`Value` members.

use berth_api::ecs::Timestamp;
use berth_model::iam::{
    AccessKeyRecord, Entity, GroupRecord, InstanceProfileRecord, ManagedPolicyRecord,
    PolicyVersionRecord, RoleRecord, UserRecord,
};
use berth_model::tags::Tags;
use berth_query::xml::Xml;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What IAM leaves unencoded in documents: letters, digits and `-_.~`.
const DOCUMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `t` as IAM writes dates: `2026-12-07T03:30:00Z`.
pub fn iso8601(t: Timestamp) -> String {
    let secs = t.as_secs_f64().floor() as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A policy document as IAM answers it: URL-encoded.
pub fn document(text: &str) -> String {
    utf8_percent_encode(text, DOCUMENT).to_string()
}

/// `Tags` members, when there are any.
pub fn tags(x: &mut Xml, tags: &Tags) {
    if tags.is_empty() {
        return;
    }
    let pairs: Vec<(&String, &String)> = tags.iter().collect();
    x.list("Tags", &pairs, |x, (k, v)| {
        x.text("Key", k);
        x.text("Value", v);
    });
}

fn entity_head(x: &mut Xml, e: &Entity) {
    let word = e.kind.word();
    x.text("Path", &e.path);
    x.text(&format!("{word}Name"), &e.name);
    x.text(&format!("{word}Id"), &e.id);
    x.text("Arn", &e.arn);
    x.text("CreateDate", iso8601(e.created_at));
}

/// A `User` structure's members.
pub fn user(x: &mut Xml, u: &UserRecord) {
    entity_head(x, &u.entity);
    tags(x, &u.entity.tags);
}

/// A `Group` structure's members.
pub fn group(x: &mut Xml, g: &GroupRecord) {
    entity_head(x, &g.entity);
}

/// A `Role` structure's members.
pub fn role(x: &mut Xml, r: &RoleRecord) {
    entity_head(x, &r.entity);
    x.text("AssumeRolePolicyDocument", document(&r.assume_role_policy));
    x.opt("Description", r.description.as_ref());
    x.text("MaxSessionDuration", r.max_session_duration);
    tags(x, &r.entity.tags);
}

/// A `Policy` structure's members; `attachments` is how many entities it is attached
/// to.
pub fn policy(x: &mut Xml, p: &ManagedPolicyRecord, attachments: usize, with_description: bool) {
    x.text("PolicyName", &p.name);
    x.text("PolicyId", &p.id);
    x.text("Arn", &p.arn);
    x.text("Path", &p.path);
    x.text("DefaultVersionId", &p.default_version);
    x.text("AttachmentCount", attachments);
    x.text("PermissionsBoundaryUsageCount", 0);
    x.text("IsAttachable", true);
    if with_description {
        x.opt("Description", p.description.as_ref());
    }
    x.text("CreateDate", iso8601(p.created_at));
    x.text("UpdateDate", iso8601(p.updated_at));
    tags(x, &p.tags);
}

/// An AWS managed policy as a `Policy` structure.
pub fn aws_policy(
    x: &mut Xml,
    p: &berth_iam::managed::ManagedPolicy,
    attachments: usize,
    with_description: bool,
) {
    x.text("PolicyName", p.name);
    x.text("PolicyId", aws_policy_id(p.name));
    x.text("Arn", p.arn);
    x.text("Path", p.path);
    x.text("DefaultVersionId", p.default_version_id);
    x.text("AttachmentCount", attachments);
    x.text("PermissionsBoundaryUsageCount", 0);
    x.text("IsAttachable", true);
    if with_description {
        x.text("Description", p.description);
    }
    // AWS's own policies predate any Berth: dated at the epoch of IAM's 2012 policy
    // language, as a stable value.
    x.text("CreateDate", "2012-10-17T00:00:00Z");
    x.text("UpdateDate", "2012-10-17T00:00:00Z");
}

/// A stable `ANPA…` id for an AWS managed policy, derived from its name.
pub fn aws_policy_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    berth_model::iam::unique_id("ANPA", digest.into_iter())
}

/// A `PolicyVersion` structure's members.
pub fn policy_version(x: &mut Xml, v: &PolicyVersionRecord, is_default: bool, with_document: bool) {
    if with_document {
        x.text("Document", document(&v.document));
    }
    x.text("VersionId", &v.id);
    x.text("IsDefaultVersion", is_default);
    x.text("CreateDate", iso8601(v.created_at));
}

/// An `AccessKey` (with its secret, once, on creation) or `AccessKeyMetadata`.
pub fn access_key(x: &mut Xml, k: &AccessKeyRecord, with_secret: bool) {
    x.text("UserName", &k.user_name);
    x.text("AccessKeyId", &k.access_key_id);
    x.text("Status", k.status.as_str());
    if with_secret {
        x.text("SecretAccessKey", &k.secret_access_key);
    }
    x.text("CreateDate", iso8601(k.created_at));
}

/// An `InstanceProfile` structure's members, with its roles as stored.
pub fn instance_profile(x: &mut Xml, p: &InstanceProfileRecord, roles: &[RoleRecord]) {
    x.text("Path", &p.path);
    x.text("InstanceProfileName", &p.name);
    x.text("InstanceProfileId", &p.id);
    x.text("Arn", &p.arn);
    x.text("CreateDate", iso8601(p.created_at));
    x.list("Roles", roles, role);
    tags(x, &p.tags);
}
