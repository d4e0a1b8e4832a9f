//! Users, groups and roles: create, read, list, update, delete, group membership and
//! tags. What the three have in common (a name, a path, attached and inline policies)
//! is [`EntityRecord`]; the policies themselves are [`super::policies`]'.

use berth_model::iam::{
    self, Entity, EntityKind, GroupRecord, RoleRecord, UserRecord, MAX_GROUPS_PER_USER,
};
use berth_query::Params;
use berth_store::records::Stored;
use berth_store::{Compare, Txn};

use super::{render, store_keys, IamCtx, IamError};
use crate::records::{self, Record, Step};

/// A stored user, group or role.
pub trait EntityRecord: Stored + Clone + PartialEq + Send + Sync + 'static {
    /// Which of the three it is.
    const KIND: EntityKind;
    /// Its common part.
    fn entity(&self) -> &Entity;
    /// Its common part, to change.
    fn entity_mut(&mut self) -> &mut Entity;
}

macro_rules! entity_record {
    ($record:ty, $kind:expr) => {
        impl EntityRecord for $record {
            const KIND: EntityKind = $kind;
            fn entity(&self) -> &Entity {
                &self.entity
            }
            fn entity_mut(&mut self) -> &mut Entity {
                &mut self.entity
            }
        }
    };
}
entity_record!(UserRecord, EntityKind::User);
entity_record!(GroupRecord, EntityKind::Group);
entity_record!(RoleRecord, EntityKind::Role);

/// The entity of kind `T` named `name`, or `NoSuchEntity` in AWS's words.
pub async fn load<T: EntityRecord>(ctx: &IamCtx<'_>, name: &str) -> Result<Record<T>, IamError> {
    let key = store_keys::entity(ctx.account(), T::KIND, name);
    records::get::<T>(ctx.store(), &key)
        .await?
        .ok_or_else(|| IamError::no_such(T::KIND.resource_type(), name))
}

/// Every entity of kind `T`, ordered by name.
pub async fn all<T: EntityRecord>(ctx: &IamCtx<'_>) -> Result<Vec<T>, IamError> {
    let prefix = store_keys::entities(ctx.account(), T::KIND);
    Ok(records::list::<T>(ctx.store(), &prefix)
        .await?
        .into_iter()
        .map(|r| r.value)
        .collect())
}

/// Changes the entity of kind `T` named `name` with `change`, committed only if it is
/// unchanged since read; returns it as committed.
pub async fn modify<T: EntityRecord>(
    ctx: &IamCtx<'_>,
    name: &str,
    change: impl FnMut(&mut T) -> Result<(), IamError>,
) -> Result<T, IamError> {
    let key = store_keys::entity(ctx.account(), T::KIND, name);
    records::modify(
        ctx.store(),
        &key,
        &format!("{} {name}", T::KIND.resource_type()),
        || IamError::no_such(T::KIND.resource_type(), name),
        change,
    )
    .await
}

/// Stores a new entity, refused with `EntityAlreadyExists` when one of that name (in
/// any case) exists.
async fn create<T: EntityRecord>(ctx: &IamCtx<'_>, record: &T) -> Result<(), IamError> {
    let e = record.entity();
    let key = store_keys::entity(ctx.account(), T::KIND, &e.name);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(records::put(&key, record));
    if super::commit(ctx, txn).await?.is_committed() {
        return Ok(());
    }
    Err(IamError::EntityAlreadyExists(format!(
        "{} with name {} already exists.",
        T::KIND.word(),
        e.name
    )))
}

/// A fresh entity of `kind` named `name` at `path`.
fn new_entity(
    ctx: &IamCtx<'_>,
    kind: EntityKind,
    name: String,
    path: String,
    tags: berth_model::tags::Tags,
) -> Entity {
    Entity {
        arn: iam::arn(ctx.account(), kind.resource_type(), &path, &name),
        id: super::new_id(kind.id_prefix()),
        kind,
        name,
        path,
        created_at: ctx.now(),
        attached: Default::default(),
        inline: Default::default(),
        tags,
    }
}

/// Refuses to delete an entity that still has policies.
fn no_policies_left(e: &Entity) -> Result<(), IamError> {
    if !e.attached.is_empty() {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must detach all policies first.".into(),
        ));
    }
    if !e.inline.is_empty() {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must delete policies first.".into(),
        ));
    }
    Ok(())
}

/// Deletes the entity of kind `T` named `name` if `may_delete` allows it as read; the
/// delete compares the record, so a change meanwhile is read and judged again.
async fn delete<T: EntityRecord>(
    ctx: &IamCtx<'_>,
    name: &str,
    may_delete: impl Fn(&T) -> Result<(), IamError>,
) -> Result<(), IamError> {
    let key = store_keys::entity(ctx.account(), T::KIND, name);
    let (key, may_delete) = (&key, &may_delete);
    berth_store::records::update(ctx.store(), "the entity", || async move {
        let r = records::get::<T>(ctx.store(), key)
            .await?
            .ok_or_else(|| IamError::no_such(T::KIND.resource_type(), name))?;
        may_delete(&r.value)?;
        let txn = Txn::new()
            .when(Compare::unchanged(key, r.revision))
            .then(berth_store::Op::delete(key));
        Ok(Step::Commit(txn, ()))
    })
    .await
}

fn done(ctx: &IamCtx<'_>) -> String {
    ctx.respond(|_| {})
}

// ---------------------------------------------------------------------------- users

/// CreateUser.
pub async fn create_user(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = super::name_param(p, "UserName", 64)?;
    let path = super::path_param(p, "Path")?;
    let tags = super::tags_param(p)?;
    if p.string("PermissionsBoundary").is_some() {
        return Err(IamError::InvalidInput(
            "Berth does not support permissions boundaries.".into(),
        ));
    }
    let user = UserRecord {
        entity: new_entity(ctx, EntityKind::User, name, path, tags),
        groups: Default::default(),
        login_profile: None,
    };
    create(ctx, &user).await?;
    Ok(ctx.respond(|x| x.elem("User", |x| render::user(x, &user))))
}

/// GetUser: the user named, or the caller's own user when none is named.
pub async fn get_user(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = match p.string("UserName") {
        Some(name) => name,
        None => match ctx.caller.principal.user_name() {
            Some(own) => own.to_string(),
            None if ctx.caller.principal.is_root() => {
                // The root user, as AWS answers it.
                let account = ctx.account().to_string();
                return Ok(ctx.respond(|x| {
                    x.elem("User", |x| {
                        x.text("UserId", &account);
                        x.text("Arn", format!("arn:aws:iam::{account}:root"));
                        x.text("CreateDate", "2012-10-17T00:00:00Z");
                    })
                }));
            }
            None => {
                return Err(IamError::Validation(
                    "Must specify userName when calling with non-User credentials".into(),
                ))
            }
        },
    };
    let user = load::<UserRecord>(ctx, &name).await?.value;
    Ok(ctx.respond(|x| x.elem("User", |x| render::user(x, &user))))
}

/// ListUsers.
pub async fn list_users(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let prefix = super::path_prefix(p);
    let users: Vec<UserRecord> = all::<UserRecord>(ctx)
        .await?
        .into_iter()
        .filter(|u| u.entity.path.starts_with(&prefix))
        .collect();
    let (users, next) = super::page(p, users)?;
    Ok(ctx.respond(|x| {
        x.list("Users", &users, render::user);
        super::write_marker(x, next);
    }))
}

/// UpdateUser: a new path. A new name is refused (Berth keeps a user's name; AWS's
/// rename carries its keys and memberships along, which Berth does not yet do).
pub async fn update_user(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    if p.string("NewUserName").is_some_and(|n| n != name) {
        return Err(IamError::InvalidInput(
            "Berth does not support renaming users; create a new user instead.".into(),
        ));
    }
    let new_path = match p.string("NewPath") {
        Some(_) => Some(super::path_param(p, "NewPath")?),
        None => None,
    };
    let account = ctx.account().to_string();
    modify::<UserRecord>(ctx, &name, |u| {
        if let Some(path) = &new_path {
            u.entity.path = path.clone();
            u.entity.arn = iam::arn(&account, "user", path, &u.entity.name);
        }
        Ok(())
    })
    .await?;
    Ok(done(ctx))
}

/// DeleteUser: refused while the user has access keys, a password, policies or groups.
pub async fn delete_user(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    let keys = super::access_keys::of_user(ctx, &name).await?;
    if !keys.is_empty() {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must delete access keys first.".into(),
        ));
    }
    delete::<UserRecord>(ctx, &name, |u| {
        if u.login_profile.is_some() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete login profile first.".into(),
            ));
        }
        if !u.groups.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must remove user from all groups first.".into(),
            ));
        }
        no_policies_left(&u.entity)
    })
    .await?;
    Ok(done(ctx))
}

// ---------------------------------------------------------------------------- groups

/// CreateGroup.
pub async fn create_group(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = super::name_param(p, "GroupName", 128)?;
    let path = super::path_param(p, "Path")?;
    let group = GroupRecord {
        entity: new_entity(ctx, EntityKind::Group, name, path, Default::default()),
    };
    create(ctx, &group).await?;
    Ok(ctx.respond(|x| x.elem("Group", |x| render::group(x, &group))))
}

/// The users in group `name`, by name.
async fn members(ctx: &IamCtx<'_>, name: &str) -> Result<Vec<UserRecord>, IamError> {
    let key = iam::name_key(name);
    Ok(all::<UserRecord>(ctx)
        .await?
        .into_iter()
        .filter(|u| u.groups.iter().any(|g| iam::name_key(g) == key))
        .collect())
}

/// GetGroup: the group and its users.
pub async fn get_group(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("GroupName")?;
    let group = load::<GroupRecord>(ctx, &name).await?.value;
    let (users, next) = super::page(p, members(ctx, &name).await?)?;
    Ok(ctx.respond(|x| {
        x.elem("Group", |x| render::group(x, &group));
        x.list("Users", &users, render::user);
        super::write_marker(x, next);
    }))
}

/// ListGroups.
pub async fn list_groups(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let prefix = super::path_prefix(p);
    let groups: Vec<GroupRecord> = all::<GroupRecord>(ctx)
        .await?
        .into_iter()
        .filter(|g| g.entity.path.starts_with(&prefix))
        .collect();
    let (groups, next) = super::page(p, groups)?;
    Ok(ctx.respond(|x| {
        x.list("Groups", &groups, render::group);
        super::write_marker(x, next);
    }))
}

/// DeleteGroup: refused while it has members or policies.
pub async fn delete_group(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("GroupName")?;
    if !members(ctx, &name).await?.is_empty() {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must remove users from group first.".into(),
        ));
    }
    delete::<GroupRecord>(ctx, &name, |g| no_policies_left(&g.entity)).await?;
    Ok(done(ctx))
}

/// AddUserToGroup.
pub async fn add_user_to_group(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let (group, user) = (p.required("GroupName")?, p.required("UserName")?);
    let group = load::<GroupRecord>(ctx, &group).await?.value.entity.name;
    modify::<UserRecord>(ctx, &user, |u| {
        if !u.groups.contains(&group) && u.groups.len() >= MAX_GROUPS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
            )));
        }
        u.groups.insert(group.clone());
        Ok(())
    })
    .await?;
    Ok(done(ctx))
}

/// RemoveUserFromGroup.
pub async fn remove_user_from_group(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let (group, user) = (p.required("GroupName")?, p.required("UserName")?);
    let group = load::<GroupRecord>(ctx, &group).await?.value.entity.name;
    modify::<UserRecord>(ctx, &user, |u| {
        if !u.groups.remove(&group) {
            return Err(IamError::NoSuchEntity(format!(
                "The user with name {user} is not in group {group}."
            )));
        }
        Ok(())
    })
    .await?;
    Ok(done(ctx))
}

/// ListGroupsForUser.
pub async fn list_groups_for_user(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let user = load::<UserRecord>(ctx, &p.required("UserName")?)
        .await?
        .value;
    let mut groups = Vec::new();
    for g in &user.groups {
        if let Ok(r) = load::<GroupRecord>(ctx, g).await {
            groups.push(r.value);
        }
    }
    let (groups, next) = super::page(p, groups)?;
    Ok(ctx.respond(|x| {
        x.list("Groups", &groups, render::group);
        super::write_marker(x, next);
    }))
}

// ---------------------------------------------------------------------------- roles

/// The longest and shortest session a role may allow, in seconds.
const SESSION_SECONDS: (i64, i64) = (3_600, 43_200);

/// CreateRole.
pub async fn create_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = super::name_param(p, "RoleName", 64)?;
    let path = super::path_param(p, "Path")?;
    let trust = p.required("AssumeRolePolicyDocument")?;
    super::checked_document(
        &trust,
        berth_iam::PolicyKind::Trust,
        berth_iam::SizeQuota::RoleTrustPolicy,
    )?;
    let description = p.string("Description");
    check_description(description.as_deref())?;
    let max_session_duration = p
        .int_in("MaxSessionDuration", SESSION_SECONDS.0, SESSION_SECONDS.1)?
        .unwrap_or(SESSION_SECONDS.0) as u32;
    let tags = super::tags_param(p)?;
    if p.string("PermissionsBoundary").is_some() {
        return Err(IamError::InvalidInput(
            "Berth does not support permissions boundaries.".into(),
        ));
    }
    let role = RoleRecord {
        entity: new_entity(ctx, EntityKind::Role, name, path, tags),
        assume_role_policy: trust,
        description,
        max_session_duration,
    };
    create(ctx, &role).await?;
    Ok(ctx.respond(|x| x.elem("Role", |x| render::role(x, &role))))
}

fn check_description(description: Option<&str>) -> Result<(), IamError> {
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(IamError::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy \
             constraint: Member must have length less than or equal to 1000"
                .into(),
        ));
    }
    Ok(())
}

/// GetRole.
pub async fn get_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let role = load::<RoleRecord>(ctx, &p.required("RoleName")?)
        .await?
        .value;
    Ok(ctx.respond(|x| x.elem("Role", |x| render::role(x, &role))))
}

/// ListRoles.
pub async fn list_roles(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let prefix = super::path_prefix(p);
    let roles: Vec<RoleRecord> = all::<RoleRecord>(ctx)
        .await?
        .into_iter()
        .filter(|r| r.entity.path.starts_with(&prefix))
        .collect();
    let (roles, next) = super::page(p, roles)?;
    Ok(ctx.respond(|x| {
        x.list("Roles", &roles, render::role);
        super::write_marker(x, next);
    }))
}

/// UpdateRole: description and maximum session duration.
pub async fn update_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("RoleName")?;
    let description = p.string("Description");
    check_description(description.as_deref())?;
    let max = p.int_in("MaxSessionDuration", SESSION_SECONDS.0, SESSION_SECONDS.1)?;
    modify::<RoleRecord>(ctx, &name, |r| {
        if let Some(d) = &description {
            r.description = Some(d.clone());
        }
        if let Some(m) = max {
            r.max_session_duration = m as u32;
        }
        Ok(())
    })
    .await?;
    Ok(done(ctx))
}

/// UpdateRoleDescription: answers the role.
pub async fn update_role_description(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("RoleName")?;
    let description = p.required("Description")?;
    check_description(Some(&description))?;
    let role = modify::<RoleRecord>(ctx, &name, |r| {
        r.description = Some(description.clone());
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|x| x.elem("Role", |x| render::role(x, &role))))
}

/// UpdateAssumeRolePolicy.
pub async fn update_assume_role_policy(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("RoleName")?;
    let trust = p.required("PolicyDocument")?;
    super::checked_document(
        &trust,
        berth_iam::PolicyKind::Trust,
        berth_iam::SizeQuota::RoleTrustPolicy,
    )?;
    modify::<RoleRecord>(ctx, &name, |r| {
        r.assume_role_policy = trust.clone();
        Ok(())
    })
    .await?;
    Ok(done(ctx))
}

/// DeleteRole: refused while it has policies or is in an instance profile.
pub async fn delete_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("RoleName")?;
    if !super::instance_profiles::holding(ctx, &name)
        .await?
        .is_empty()
    {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must remove roles from instance profile first.".into(),
        ));
    }
    delete::<RoleRecord>(ctx, &name, |r| no_policies_left(&r.entity)).await?;
    Ok(done(ctx))
}

// ---------------------------------------------------------------------------- tags

fn entity_name_member(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "UserName",
        EntityKind::Group => "GroupName",
        EntityKind::Role => "RoleName",
    }
}

/// Tag{Role,User}.
pub async fn tag(ctx: &IamCtx<'_>, p: &Params, kind: EntityKind) -> Result<String, IamError> {
    let name = p.required(entity_name_member(kind))?;
    let tags = super::tags_param(p)?;
    let merge = |e: &mut Entity| {
        berth_model::tags::merge(&mut e.tags, tags.clone())
            .map_err(|e| IamError::LimitExceeded(e.to_string()))
    };
    match kind {
        EntityKind::User => modify::<UserRecord>(ctx, &name, |u| merge(&mut u.entity))
            .await
            .map(drop)?,
        EntityKind::Role => modify::<RoleRecord>(ctx, &name, |r| merge(&mut r.entity))
            .await
            .map(drop)?,
        EntityKind::Group => {
            return Err(IamError::InvalidAction("Groups cannot be tagged.".into()))
        }
    }
    Ok(done(ctx))
}

/// Untag{Role,User}.
pub async fn untag(ctx: &IamCtx<'_>, p: &Params, kind: EntityKind) -> Result<String, IamError> {
    let name = p.required(entity_name_member(kind))?;
    let keys = p.strings("TagKeys")?.unwrap_or_default();
    let drop_keys = |e: &mut Entity| {
        for k in &keys {
            e.tags.remove(k);
        }
        Ok(())
    };
    match kind {
        EntityKind::User => modify::<UserRecord>(ctx, &name, |u| drop_keys(&mut u.entity))
            .await
            .map(drop)?,
        EntityKind::Role => modify::<RoleRecord>(ctx, &name, |r| drop_keys(&mut r.entity))
            .await
            .map(drop)?,
        EntityKind::Group => {
            return Err(IamError::InvalidAction("Groups cannot be tagged.".into()))
        }
    }
    Ok(done(ctx))
}

/// List{Role,User}Tags.
pub async fn list_tags(ctx: &IamCtx<'_>, p: &Params, kind: EntityKind) -> Result<String, IamError> {
    let name = p.required(entity_name_member(kind))?;
    let tags = match kind {
        EntityKind::User => load::<UserRecord>(ctx, &name).await?.value.entity.tags,
        EntityKind::Role => load::<RoleRecord>(ctx, &name).await?.value.entity.tags,
        EntityKind::Group => {
            return Err(IamError::InvalidAction("Groups cannot be tagged.".into()))
        }
    };
    let pairs: Vec<(String, String)> = tags.into_iter().collect();
    let (pairs, next) = super::page(p, pairs)?;
    Ok(ctx.respond(|x| {
        x.list("Tags", &pairs, |x, (k, v)| {
            x.text("Key", k);
            x.text("Value", v);
        });
        super::write_marker(x, next);
    }))
}
