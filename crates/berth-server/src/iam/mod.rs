//! IAM: users and their access keys and console passwords, groups, roles, managed and
//! inline policies, instance profiles: the Query protocol API `aws iam` and boto3 speak
//! (signed for `iam`, answered in XML in IAM's namespace). IAM is global: its entities
//! belong to the account, whatever region a request is signed for.
//!
//! Entities live under `/iam/ACCOUNT/` ([`store_keys`]), keyed by their lower-cased
//! names (IAM names are unique without regard to case). What policy documents mean is
//! `berth_iam`'s; handlers parse every document before they store it, so nothing stored
//! is malformed.

pub mod access_keys;
pub mod defaults;
pub mod directory;
pub mod entities;
pub mod error;
pub mod instance_profiles;
pub mod login_profiles;
pub mod policies;
pub mod render;
pub mod simulate;
pub mod store_keys;

use std::sync::Arc;

use berth_api::ecs::Timestamp;
use berth_query::Params;
use berth_store::cache::WriteTracking;
use berth_store::Store;

pub use error::IamError;

use crate::context::{Caller, Core};
use directory::Directory;

/// An answer in the Query protocol: HTTP status, XML body, request id.
pub struct QueryAnswer {
    pub status: u16,
    pub body: String,
    pub request_id: String,
}

/// Serves one IAM (`service` "iam") or STS ("sts") request from `caller` whose form
/// body is `body`. A call that wrote answers once this replica's [`Directory`] holds
/// the write, so the caller's next request sees it.
pub async fn serve(
    core: &Arc<Core>,
    directory: &Arc<Directory>,
    caller: Caller,
    service: &str,
    body: &[u8],
) -> QueryAnswer {
    let request_id = uuid::Uuid::new_v4().to_string();
    let namespace = if service == "sts" {
        crate::sts::NAMESPACE
    } else {
        NAMESPACE
    };
    // The directory mirrors the account's IAM keys: the call waits for its own writes
    // there to be mirrored before it answers.
    let store = WriteTracking::new(core.store.clone(), &store_keys::account(&core.account));
    let result = async {
        let p = Params::parse(body)?;
        let action = p.required("Action")?;
        let _version = p.string("Version");
        crate::authz::front_door::query(directory, &caller, service, &action, &p, core.clock.now())
            .map_err(|denied| IamError::AccessDenied(denied.0))?;
        let ctx = IamCtx {
            core,
            store: &store,
            caller: &caller,
            action: &action,
            request_id: &request_id,
        };
        if service == "sts" {
            crate::sts::dispatch(&ctx, directory, &p).await
        } else {
            dispatch(&ctx, &p).await
        }
    }
    .await;
    let written = store.last_write();
    if written > 0 {
        directory.wait_for(written).await;
    }
    match result {
        Ok(body) => QueryAnswer {
            status: 200,
            body,
            request_id,
        },
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(code = e.code(), message = e.message(), "IAM request failed");
            }
            QueryAnswer {
                status: e.status(),
                body: berth_query::xml::error_response(
                    namespace,
                    e.status(),
                    e.code(),
                    e.message(),
                    &request_id,
                ),
                request_id,
            }
        }
    }
}

/// IAM's XML namespace.
pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// One IAM call: the store, the account, the caller, and the answer's frame.
pub struct IamCtx<'a> {
    pub core: &'a Arc<Core>,
    /// The store, remembering the newest revision this call wrote at.
    pub store: &'a WriteTracking,
    pub caller: &'a Caller,
    pub action: &'a str,
    pub request_id: &'a str,
}

impl IamCtx<'_> {
    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store
    }

    /// The account IAM's entities belong to.
    pub fn account(&self) -> &str {
        &self.caller.account
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.core.clock.now()
    }

    /// The response document for this call, with the result `result` writes.
    pub fn respond(&self, result: impl FnOnce(&mut berth_query::xml::Xml)) -> String {
        berth_query::xml::response(NAMESPACE, self.action, self.request_id, result)
    }
}

/// Answers one IAM call whose form body is `params`: the XML document, or the error.
pub async fn dispatch(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    use berth_model::iam::EntityKind::{Group, Role, User};
    let answer = match ctx.action {
        // Users, groups, roles.
        "CreateUser" => entities::create_user(ctx, p).await,
        "GetUser" => entities::get_user(ctx, p).await,
        "ListUsers" => entities::list_users(ctx, p).await,
        "UpdateUser" => entities::update_user(ctx, p).await,
        "DeleteUser" => entities::delete_user(ctx, p).await,
        "CreateGroup" => entities::create_group(ctx, p).await,
        "GetGroup" => entities::get_group(ctx, p).await,
        "ListGroups" => entities::list_groups(ctx, p).await,
        "DeleteGroup" => entities::delete_group(ctx, p).await,
        "AddUserToGroup" => entities::add_user_to_group(ctx, p).await,
        "RemoveUserFromGroup" => entities::remove_user_from_group(ctx, p).await,
        "ListGroupsForUser" => entities::list_groups_for_user(ctx, p).await,
        "CreateRole" => entities::create_role(ctx, p).await,
        "GetRole" => entities::get_role(ctx, p).await,
        "ListRoles" => entities::list_roles(ctx, p).await,
        "UpdateRole" => entities::update_role(ctx, p).await,
        "UpdateRoleDescription" => entities::update_role_description(ctx, p).await,
        "UpdateAssumeRolePolicy" => entities::update_assume_role_policy(ctx, p).await,
        "DeleteRole" => entities::delete_role(ctx, p).await,
        "TagRole" => entities::tag(ctx, p, Role).await,
        "UntagRole" => entities::untag(ctx, p, Role).await,
        "ListRoleTags" => entities::list_tags(ctx, p, Role).await,
        "TagUser" => entities::tag(ctx, p, User).await,
        "UntagUser" => entities::untag(ctx, p, User).await,
        "ListUserTags" => entities::list_tags(ctx, p, User).await,
        // Access keys and console passwords.
        "CreateAccessKey" => access_keys::create(ctx, p).await,
        "ListAccessKeys" => access_keys::list(ctx, p).await,
        "UpdateAccessKey" => access_keys::update(ctx, p).await,
        "DeleteAccessKey" => access_keys::delete(ctx, p).await,
        "GetAccessKeyLastUsed" => access_keys::last_used(ctx, p).await,
        "CreateLoginProfile" => login_profiles::create(ctx, p).await,
        "GetLoginProfile" => login_profiles::get(ctx, p).await,
        "UpdateLoginProfile" => login_profiles::update(ctx, p).await,
        "DeleteLoginProfile" => login_profiles::delete(ctx, p).await,
        // Managed policies.
        "CreatePolicy" => policies::create(ctx, p).await,
        "GetPolicy" => policies::get(ctx, p).await,
        "ListPolicies" => policies::list(ctx, p).await,
        "DeletePolicy" => policies::delete(ctx, p).await,
        "CreatePolicyVersion" => policies::create_version(ctx, p).await,
        "GetPolicyVersion" => policies::get_version(ctx, p).await,
        "ListPolicyVersions" => policies::list_versions(ctx, p).await,
        "DeletePolicyVersion" => policies::delete_version(ctx, p).await,
        "SetDefaultPolicyVersion" => policies::set_default_version(ctx, p).await,
        "ListEntitiesForPolicy" => policies::list_entities(ctx, p).await,
        "AttachUserPolicy" => policies::attach(ctx, p, User).await,
        "AttachGroupPolicy" => policies::attach(ctx, p, Group).await,
        "AttachRolePolicy" => policies::attach(ctx, p, Role).await,
        "DetachUserPolicy" => policies::detach(ctx, p, User).await,
        "DetachGroupPolicy" => policies::detach(ctx, p, Group).await,
        "DetachRolePolicy" => policies::detach(ctx, p, Role).await,
        "ListAttachedUserPolicies" => policies::list_attached(ctx, p, User).await,
        "ListAttachedGroupPolicies" => policies::list_attached(ctx, p, Group).await,
        "ListAttachedRolePolicies" => policies::list_attached(ctx, p, Role).await,
        // Inline policies.
        "PutUserPolicy" => policies::put_inline(ctx, p, User).await,
        "PutGroupPolicy" => policies::put_inline(ctx, p, Group).await,
        "PutRolePolicy" => policies::put_inline(ctx, p, Role).await,
        "GetUserPolicy" => policies::get_inline(ctx, p, User).await,
        "GetGroupPolicy" => policies::get_inline(ctx, p, Group).await,
        "GetRolePolicy" => policies::get_inline(ctx, p, Role).await,
        "DeleteUserPolicy" => policies::delete_inline(ctx, p, User).await,
        "DeleteGroupPolicy" => policies::delete_inline(ctx, p, Group).await,
        "DeleteRolePolicy" => policies::delete_inline(ctx, p, Role).await,
        "ListUserPolicies" => policies::list_inline(ctx, p, User).await,
        "ListGroupPolicies" => policies::list_inline(ctx, p, Group).await,
        "ListRolePolicies" => policies::list_inline(ctx, p, Role).await,
        // Why: the evaluator, asked.
        "SimulatePrincipalPolicy" => simulate::principal(ctx, p).await,
        "SimulateCustomPolicy" => simulate::custom(ctx, p).await,
        // Instance profiles.
        "CreateInstanceProfile" => instance_profiles::create(ctx, p).await,
        "GetInstanceProfile" => instance_profiles::get(ctx, p).await,
        "ListInstanceProfiles" => instance_profiles::list(ctx, p).await,
        "ListInstanceProfilesForRole" => instance_profiles::list_for_role(ctx, p).await,
        "AddRoleToInstanceProfile" => instance_profiles::add_role(ctx, p).await,
        "RemoveRoleFromInstanceProfile" => instance_profiles::remove_role(ctx, p).await,
        "DeleteInstanceProfile" => instance_profiles::delete(ctx, p).await,
        other => {
            return Err(IamError::InvalidAction(format!(
                "Could not find operation {other} for version 2010-05-08"
            )))
        }
    }?;
    p.finish(ctx.action)?;
    Ok(answer)
}

/// Commits `txn` once (no retry: the caller decides what a conflict means).
pub async fn commit(
    ctx: &IamCtx<'_>,
    txn: berth_store::Txn,
) -> Result<berth_store::TxnOutcome, IamError> {
    ctx.store()
        .txn(txn)
        .await
        .map_err(|e| berth_store::records::RecordError::from(e).into())
}

/// A fresh id of IAM's shape (`AIDA…`, `AROA…`, …).
pub fn new_id(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 17];
    rand::thread_rng().fill_bytes(&mut bytes);
    berth_model::iam::unique_id(prefix, bytes.into_iter())
}

/// A `Marker` / `MaxItems` page of `items` (IAM lists are small; the marker is the
/// offset of the next item).
pub fn page<T>(p: &Params, items: Vec<T>) -> Result<(Vec<T>, Option<String>), IamError> {
    let max = p.int_in("MaxItems", 1, 1000)?.unwrap_or(100) as usize;
    let start = match p.string("Marker") {
        None => 0,
        Some(m) => m.parse::<usize>().map_err(|_| {
            IamError::InvalidInput(format!("Marker '{m}' is not one this API gave."))
        })?,
    };
    let total = items.len();
    let taken: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + taken.len() < total).then(|| (start + taken.len()).to_string());
    Ok((taken, next))
}

/// Writes `IsTruncated` and, when there is more, `Marker`.
pub fn write_marker(x: &mut berth_query::xml::Xml, next: Option<String>) {
    x.text("IsTruncated", next.is_some());
    x.opt("Marker", next);
}

/// The `Path` member, `/` when absent, checked.
pub fn path_param(p: &Params, member: &str) -> Result<String, IamError> {
    let path = p.string(member).unwrap_or_else(|| "/".into());
    berth_model::iam::check_path(&berth_query::error::lower_first(member), &path)
        .map_err(IamError::Validation)?;
    Ok(path)
}

/// The `PathPrefix` member, `/` when absent.
pub fn path_prefix(p: &Params) -> String {
    p.string("PathPrefix").unwrap_or_else(|| "/".into())
}

/// A required name member, checked against IAM's name pattern of at most `max`
/// characters.
pub fn name_param(p: &Params, member: &str, max: usize) -> Result<String, IamError> {
    let name = p.required(member)?;
    berth_model::iam::check_name(&berth_query::error::lower_first(member), &name, max)
        .map_err(IamError::Validation)?;
    Ok(name)
}

/// The `Tags.member.N.Key/Value` members.
pub fn tags_param(p: &Params) -> Result<berth_model::tags::Tags, IamError> {
    let mut tags = berth_model::tags::Tags::new();
    for t in p.structs("Tags")?.unwrap_or_default() {
        let (key, value) = (t.required("Key")?, t.string("Value").unwrap_or_default());
        berth_model::tags::validate_tag(&key, &value)
            .map_err(|e| IamError::InvalidInput(e.to_string()))?;
        tags.insert(key, value);
    }
    if tags.len() > berth_model::tags::MAX_TAGS {
        return Err(IamError::LimitExceeded(format!(
            "The number of tags has reached the maximum limit of {}.",
            berth_model::tags::MAX_TAGS
        )));
    }
    Ok(tags)
}

/// Checks that `text` is a policy document of `kind` within `quota`, and returns it
/// parsed.
pub fn checked_document(
    text: &str,
    kind: berth_iam::PolicyKind,
    quota: berth_iam::SizeQuota,
) -> Result<berth_iam::Policy, IamError> {
    let policy = berth_iam::Policy::parse(text, kind)?;
    berth_iam::check_size(berth_iam::policy_size(text), quota)
        .map_err(|e| IamError::LimitExceeded(e.to_string()))?;
    Ok(policy)
}
