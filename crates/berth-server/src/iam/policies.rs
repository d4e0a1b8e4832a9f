//! Managed policies (the account's own, with up to five versions, and AWS's, built in
//! from `berth_iam::managed`), attaching them to users, groups and roles, and inline
//! policies. Every document is parsed before it is stored.

use berth_iam::managed::{self, ManagedPolicy};
use berth_iam::{PolicyKind, SizeQuota};
use berth_model::iam::{
    self, EntityKind, GroupRecord, ManagedPolicyRecord, PolicyVersionRecord, RoleRecord,
    UserRecord, MAX_ATTACHED_POLICIES, MAX_POLICY_VERSIONS,
};
use berth_query::Params;
use berth_store::{Compare, Txn};

use super::entities::{self, EntityRecord};
use super::{render, store_keys, IamCtx, IamError};
use crate::records::{self, Record, Step};

/// A managed policy: the account's own or AWS's.
pub enum Managed {
    Customer(Box<Record<ManagedPolicyRecord>>),
    Aws(&'static ManagedPolicy),
}

/// The customer managed policy at `arn` in this account, if `arn` names one.
fn customer_name<'a>(ctx: &IamCtx<'_>, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{}:policy/", ctx.account()))?;
    Some(rest.rsplit('/').next().unwrap_or(rest))
}

/// The managed policy at `arn`, or `NoSuchEntity` as AWS words it.
pub async fn load(ctx: &IamCtx<'_>, arn: &str) -> Result<Managed, IamError> {
    let missing =
        || IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."));
    if let Some(aws) = managed::by_arn(arn) {
        return Ok(Managed::Aws(aws));
    }
    let name = customer_name(ctx, arn).ok_or_else(missing)?;
    let r =
        records::get::<ManagedPolicyRecord>(ctx.store(), &store_keys::policy(ctx.account(), name))
            .await?
            .ok_or_else(missing)?;
    if r.value.arn != arn {
        return Err(missing());
    }
    Ok(Managed::Customer(Box::new(r)))
}

/// Refuses any change to an AWS managed policy.
fn customer(
    ctx: &IamCtx<'_>,
    m: Managed,
    arn: &str,
) -> Result<Record<ManagedPolicyRecord>, IamError> {
    let _ = ctx;
    match m {
        Managed::Customer(r) => Ok(*r),
        Managed::Aws(_) => Err(IamError::Unmodifiable(format!(
            "Cannot modify AWS managed policy {arn}."
        ))),
    }
}

/// Every entity's attachments, to count or list who a policy is attached to.
struct Attachments {
    users: Vec<UserRecord>,
    groups: Vec<GroupRecord>,
    roles: Vec<RoleRecord>,
}

impl Attachments {
    async fn read(ctx: &IamCtx<'_>) -> Result<Attachments, IamError> {
        Ok(Attachments {
            users: entities::all(ctx).await?,
            groups: entities::all(ctx).await?,
            roles: entities::all(ctx).await?,
        })
    }

    fn count(&self, arn: &str) -> usize {
        self.users
            .iter()
            .filter(|u| u.entity.attached.contains(arn))
            .count()
            + self
                .groups
                .iter()
                .filter(|g| g.entity.attached.contains(arn))
                .count()
            + self
                .roles
                .iter()
                .filter(|r| r.entity.attached.contains(arn))
                .count()
    }
}

// ---------------------------------------------------------------------------- policies

/// CreatePolicy.
pub async fn create(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = super::name_param(p, "PolicyName", 128)?;
    let path = super::path_param(p, "Path")?;
    let document = p.required("PolicyDocument")?;
    let parsed =
        super::checked_document(&document, PolicyKind::Identity, SizeQuota::ManagedPolicy)?;
    parsed.require_current_version()?;
    let description = p.string("Description");
    let tags = super::tags_param(p)?;
    let now = ctx.now();
    let record = ManagedPolicyRecord {
        arn: iam::arn(ctx.account(), "policy", &path, &name),
        id: super::new_id("ANPA"),
        name,
        path,
        description,
        created_at: now,
        updated_at: now,
        default_version: "v1".into(),
        versions: vec![PolicyVersionRecord {
            id: "v1".into(),
            document,
            created_at: now,
        }],
        next_version: 2,
        tags,
    };
    let key = store_keys::policy(ctx.account(), &record.name);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(records::put(&key, &record));
    if !super::commit(ctx, txn).await?.is_committed() {
        return Err(IamError::EntityAlreadyExists(format!(
            "A policy called {} already exists. Duplicate names are not allowed.",
            record.name
        )));
    }
    Ok(ctx.respond(|x| x.elem("Policy", |x| render::policy(x, &record, 0, false))))
}

/// GetPolicy.
pub async fn get(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let policy = load(ctx, &arn).await?;
    let count = Attachments::read(ctx).await?.count(&arn);
    Ok(ctx.respond(|x| {
        x.elem("Policy", |x| match &policy {
            Managed::Customer(r) => render::policy(x, &r.value, count, true),
            Managed::Aws(m) => render::aws_policy(x, m, count, true),
        })
    }))
}

/// ListPolicies: `Scope` All (default), AWS or Local; `OnlyAttached`; `PathPrefix`.
pub async fn list(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let scope = p.string("Scope").unwrap_or_else(|| "All".into());
    if !["All", "AWS", "Local"].contains(&scope.as_str()) {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy \
             constraint: Member must satisfy enum value set: [All, AWS, Local]"
        )));
    }
    let only_attached = p.bool("OnlyAttached")?.unwrap_or(false);
    let prefix = super::path_prefix(p);
    if let Some(usage) = p.string("PolicyUsageFilter") {
        if usage != "PermissionsPolicy" {
            return Err(IamError::InvalidInput(
                "Berth does not support permissions boundaries.".into(),
            ));
        }
    }
    let attachments = Attachments::read(ctx).await?;
    let mut listed: Vec<(Managed, usize)> = Vec::new();
    if scope != "Local" {
        for m in managed::MANAGED_POLICIES {
            listed.push((Managed::Aws(m), attachments.count(m.arn)));
        }
    }
    if scope != "AWS" {
        for r in
            records::list::<ManagedPolicyRecord>(ctx.store(), &store_keys::policies(ctx.account()))
                .await?
        {
            let count = attachments.count(&r.value.arn);
            listed.push((Managed::Customer(Box::new(r)), count));
        }
    }
    listed.retain(|(m, count)| {
        let path = match m {
            Managed::Customer(r) => r.value.path.as_str(),
            Managed::Aws(a) => a.path,
        };
        path.starts_with(&prefix) && (!only_attached || *count > 0)
    });
    let (listed, next) = super::page(p, listed)?;
    Ok(ctx.respond(|x| {
        x.list("Policies", &listed, |x, (m, count)| match m {
            Managed::Customer(r) => render::policy(x, &r.value, *count, false),
            Managed::Aws(a) => render::aws_policy(x, a, *count, false),
        });
        super::write_marker(x, next);
    }))
}

/// DeletePolicy: refused while attached or while it has versions besides the default.
pub async fn delete(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let r = customer(ctx, load(ctx, &arn).await?, &arn)?;
    if Attachments::read(ctx).await?.count(&arn) > 0 {
        return Err(IamError::DeleteConflict(
            "Cannot delete a policy attached to entities.".into(),
        ));
    }
    if r.value.versions.len() > 1 {
        return Err(IamError::DeleteConflict(
            "This policy has more than one version. Before you delete a policy, you must \
             delete the policy's versions. The default version is deleted with the policy."
                .into(),
        ));
    }
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(berth_store::Op::delete(&r.key));
    if !super::commit(ctx, txn).await?.is_committed() {
        return Err(IamError::Throttling(
            "The policy changed meanwhile; retry the request.".into(),
        ));
    }
    Ok(ctx.respond(|_| {}))
}

/// Changes the customer policy at `arn` with `change`, committed only if unchanged
/// since read.
async fn modify_policy<T>(
    ctx: &IamCtx<'_>,
    arn: &str,
    change: impl Fn(&mut ManagedPolicyRecord) -> Result<T, IamError>,
) -> Result<(T, ManagedPolicyRecord), IamError> {
    let change = &change;
    berth_store::records::update(ctx.store(), "the policy", || async move {
        let mut r = customer(ctx, load(ctx, arn).await?, arn)?;
        let answer = change(&mut r.value)?;
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(records::put(&r.key, &r.value));
        Ok(Step::Commit(txn, (answer, r.value)))
    })
    .await
}

/// CreatePolicyVersion: at most five versions (`LimitExceeded`).
pub async fn create_version(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let document = p.required("PolicyDocument")?;
    let parsed =
        super::checked_document(&document, PolicyKind::Identity, SizeQuota::ManagedPolicy)?;
    parsed.require_current_version()?;
    let set_default = p.bool("SetAsDefault")?.unwrap_or(false);
    let now = ctx.now();
    let (version, _) = modify_policy(ctx, &arn, |policy| {
        if policy.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(IamError::LimitExceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you \
                 create a new version, you must delete an existing version."
            )));
        }
        let version = PolicyVersionRecord {
            id: format!("v{}", policy.next_version),
            document: document.clone(),
            created_at: now,
        };
        policy.next_version += 1;
        policy.versions.push(version.clone());
        policy.updated_at = now;
        if set_default {
            policy.default_version = version.id.clone();
        }
        Ok(version)
    })
    .await?;
    Ok(ctx.respond(|x| {
        x.elem("PolicyVersion", |x| {
            render::policy_version(x, &version, set_default, false)
        })
    }))
}

/// GetPolicyVersion: the document URL-encoded, as IAM answers it.
pub async fn get_version(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let id = p.required("VersionId")?;
    let missing = || {
        IamError::NoSuchEntity(format!(
            "Policy {arn} version {id} does not exist or is not attachable."
        ))
    };
    let (version, is_default) = match load(ctx, &arn).await? {
        Managed::Customer(r) => {
            let v = r
                .value
                .versions
                .iter()
                .find(|v| v.id == id)
                .cloned()
                .ok_or_else(missing)?;
            let is_default = r.value.default_version == id;
            (v, is_default)
        }
        Managed::Aws(m) if m.default_version_id == id => (
            PolicyVersionRecord {
                id: id.clone(),
                document: m.document.to_string(),
                created_at: berth_api::ecs::Timestamp::UNIX_EPOCH,
            },
            true,
        ),
        Managed::Aws(_) => return Err(missing()),
    };
    Ok(ctx.respond(|x| {
        x.elem("PolicyVersion", |x| {
            render::policy_version(x, &version, is_default, true)
        })
    }))
}

/// ListPolicyVersions.
pub async fn list_versions(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let (versions, default) = match load(ctx, &arn).await? {
        Managed::Customer(r) => {
            let mut v = r.value.versions.clone();
            v.reverse();
            (v, r.value.default_version)
        }
        Managed::Aws(m) => (
            vec![PolicyVersionRecord {
                id: m.default_version_id.into(),
                document: m.document.into(),
                created_at: berth_api::ecs::Timestamp::UNIX_EPOCH,
            }],
            m.default_version_id.to_string(),
        ),
    };
    let (versions, next) = super::page(p, versions)?;
    Ok(ctx.respond(|x| {
        x.list("Versions", &versions, |x, v| {
            render::policy_version(x, v, v.id == default, false)
        });
        super::write_marker(x, next);
    }))
}

/// DeletePolicyVersion: never the default version.
pub async fn delete_version(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let id = p.required("VersionId")?;
    modify_policy(ctx, &arn, |policy| {
        if policy.default_version == id {
            return Err(IamError::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        let before = policy.versions.len();
        policy.versions.retain(|v| v.id != id);
        if policy.versions.len() == before {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} version {id} does not exist or is not attachable."
            )));
        }
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// SetDefaultPolicyVersion.
pub async fn set_default_version(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    let id = p.required("VersionId")?;
    let now = ctx.now();
    modify_policy(ctx, &arn, |policy| {
        if !policy.versions.iter().any(|v| v.id == id) {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} version {id} does not exist or is not attachable."
            )));
        }
        policy.default_version = id.clone();
        policy.updated_at = now;
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// ListEntitiesForPolicy.
pub async fn list_entities(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let arn = p.required("PolicyArn")?;
    load(ctx, &arn).await?;
    let filter = p.string("EntityFilter");
    let wants = |kind: &str| filter.as_deref().is_none_or(|f| f == kind);
    let a = Attachments::read(ctx).await?;
    let named = |e: &berth_model::iam::Entity| (e.name.clone(), e.id.clone());
    let users: Vec<_> = a
        .users
        .iter()
        .filter(|u| wants("User") && u.entity.attached.contains(&arn))
        .map(|u| named(&u.entity))
        .collect();
    let groups: Vec<_> = a
        .groups
        .iter()
        .filter(|g| wants("Group") && g.entity.attached.contains(&arn))
        .map(|g| named(&g.entity))
        .collect();
    let roles: Vec<_> = a
        .roles
        .iter()
        .filter(|r| wants("Role") && r.entity.attached.contains(&arn))
        .map(|r| named(&r.entity))
        .collect();
    Ok(ctx.respond(|x| {
        x.list("PolicyGroups", &groups, |x, (n, id)| {
            x.text("GroupName", n);
            x.text("GroupId", id);
        });
        x.list("PolicyUsers", &users, |x, (n, id)| {
            x.text("UserName", n);
            x.text("UserId", id);
        });
        x.list("PolicyRoles", &roles, |x, (n, id)| {
            x.text("RoleName", n);
            x.text("RoleId", id);
        });
        x.text("IsTruncated", false);
    }))
}

// ---------------------------------------------------------------------------- attaching

fn name_member(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "UserName",
        EntityKind::Group => "GroupName",
        EntityKind::Role => "RoleName",
    }
}

/// Applies `change` to the common part of the entity of `kind` named `name`.
async fn modify_entity(
    ctx: &IamCtx<'_>,
    kind: EntityKind,
    name: &str,
    change: impl Fn(&mut berth_model::iam::Entity) -> Result<(), IamError>,
) -> Result<(), IamError> {
    match kind {
        EntityKind::User => entities::modify::<UserRecord>(ctx, name, |u| change(&mut u.entity))
            .await
            .map(drop),
        EntityKind::Group => entities::modify::<GroupRecord>(ctx, name, |g| change(&mut g.entity))
            .await
            .map(drop),
        EntityKind::Role => entities::modify::<RoleRecord>(ctx, name, |r| change(&mut r.entity))
            .await
            .map(drop),
    }
}

/// The common part of the entity of `kind` named `name`.
async fn read_entity(
    ctx: &IamCtx<'_>,
    kind: EntityKind,
    name: &str,
) -> Result<berth_model::iam::Entity, IamError> {
    async fn one<T: EntityRecord>(
        ctx: &IamCtx<'_>,
        name: &str,
    ) -> Result<berth_model::iam::Entity, IamError> {
        Ok(entities::load::<T>(ctx, name).await?.value.entity().clone())
    }
    match kind {
        EntityKind::User => one::<UserRecord>(ctx, name).await,
        EntityKind::Group => one::<GroupRecord>(ctx, name).await,
        EntityKind::Role => one::<RoleRecord>(ctx, name).await,
    }
}

/// Attach{User,Group,Role}Policy.
pub async fn attach(ctx: &IamCtx<'_>, p: &Params, kind: EntityKind) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let arn = p.required("PolicyArn")?;
    load(ctx, &arn).await?;
    modify_entity(ctx, kind, &name, |e| {
        if !e.attached.contains(&arn) && e.attached.len() >= MAX_ATTACHED_POLICIES {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED_POLICIES}",
                kind.word()
            )));
        }
        e.attached.insert(arn.clone());
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// Detach{User,Group,Role}Policy.
pub async fn detach(ctx: &IamCtx<'_>, p: &Params, kind: EntityKind) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let arn = p.required("PolicyArn")?;
    modify_entity(ctx, kind, &name, |e| {
        if !e.attached.remove(&arn) {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// ListAttached{User,Group,Role}Policies.
pub async fn list_attached(
    ctx: &IamCtx<'_>,
    p: &Params,
    kind: EntityKind,
) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let prefix = super::path_prefix(p);
    let entity = read_entity(ctx, kind, &name).await?;
    let attached: Vec<(String, String)> = entity
        .attached
        .iter()
        .filter_map(|arn| {
            let rest = arn.split_once(":policy").map(|(_, r)| r)?;
            let (path, policy_name) = rest.rsplit_once('/')?;
            let path = format!("{path}/");
            path.starts_with(&prefix)
                .then(|| (policy_name.to_string(), arn.clone()))
        })
        .collect();
    let (attached, next) = super::page(p, attached)?;
    Ok(ctx.respond(|x| {
        x.list("AttachedPolicies", &attached, |x, (n, arn)| {
            x.text("PolicyName", n);
            x.text("PolicyArn", arn);
        });
        super::write_marker(x, next);
    }))
}

// ---------------------------------------------------------------------------- inline

fn inline_quota(kind: EntityKind, name: &str) -> SizeQuota<'_> {
    match kind {
        EntityKind::User => SizeQuota::InlineUserPolicies { user: name },
        EntityKind::Group => SizeQuota::InlineGroupPolicies { group: name },
        EntityKind::Role => SizeQuota::InlineRolePolicies { role: name },
    }
}

/// Put{User,Group,Role}Policy: the entity's inline policies together stay within its
/// quota.
pub async fn put_inline(
    ctx: &IamCtx<'_>,
    p: &Params,
    kind: EntityKind,
) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let policy_name = super::name_param(p, "PolicyName", 128)?;
    let document = p.required("PolicyDocument")?;
    berth_iam::Policy::parse(&document, PolicyKind::Identity)?;
    modify_entity(ctx, kind, &name, |e| {
        let others: usize = e
            .inline
            .iter()
            .filter(|(n, _)| **n != policy_name)
            .map(|(_, d)| berth_iam::policy_size(d))
            .sum();
        berth_iam::check_size(
            others + berth_iam::policy_size(&document),
            inline_quota(kind, &e.name),
        )
        .map_err(|e| IamError::LimitExceeded(e.to_string()))?;
        e.inline.insert(policy_name.clone(), document.clone());
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// Get{User,Group,Role}Policy.
pub async fn get_inline(
    ctx: &IamCtx<'_>,
    p: &Params,
    kind: EntityKind,
) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let policy_name = p.required("PolicyName")?;
    let entity = read_entity(ctx, kind, &name).await?;
    let document = entity.inline.get(&policy_name).ok_or_else(|| {
        IamError::NoSuchEntity(format!(
            "The {} policy with name {policy_name} cannot be found.",
            kind.resource_type()
        ))
    })?;
    Ok(ctx.respond(|x| {
        x.text(name_member(kind), &entity.name);
        x.text("PolicyName", &policy_name);
        x.text("PolicyDocument", render::document(document));
    }))
}

/// Delete{User,Group,Role}Policy.
pub async fn delete_inline(
    ctx: &IamCtx<'_>,
    p: &Params,
    kind: EntityKind,
) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let policy_name = p.required("PolicyName")?;
    modify_entity(ctx, kind, &name, |e| {
        if e.inline.remove(&policy_name).is_none() {
            return Err(IamError::NoSuchEntity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                kind.resource_type()
            )));
        }
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// List{User,Group,Role}Policies: the inline policies' names.
pub async fn list_inline(
    ctx: &IamCtx<'_>,
    p: &Params,
    kind: EntityKind,
) -> Result<String, IamError> {
    let name = p.required(name_member(kind))?;
    let entity = read_entity(ctx, kind, &name).await?;
    let names: Vec<String> = entity.inline.keys().cloned().collect();
    let (names, next) = super::page(p, names)?;
    Ok(ctx.respond(|x| {
        x.strings("PolicyNames", &names);
        super::write_marker(x, next);
    }))
}
