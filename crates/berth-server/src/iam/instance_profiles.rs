//! Instance profiles: a named holder of one role, which templates and tools create for
//! EC2 hosts. Berth stores them so those work; its agents do not present one.

use berth_model::iam::{self, InstanceProfileRecord, RoleRecord, MAX_ROLES_PER_INSTANCE_PROFILE};
use berth_query::Params;
use berth_store::{Compare, Txn};

use super::entities;
use super::{render, store_keys, IamCtx, IamError};
use crate::records::{self, Record};

async fn load(ctx: &IamCtx<'_>, name: &str) -> Result<Record<InstanceProfileRecord>, IamError> {
    records::get::<InstanceProfileRecord>(
        ctx.store(),
        &store_keys::instance_profile(ctx.account(), name),
    )
    .await?
    .ok_or_else(|| IamError::NoSuchEntity(format!("Instance Profile {name} cannot be found.")))
}

async fn all(ctx: &IamCtx<'_>) -> Result<Vec<InstanceProfileRecord>, IamError> {
    Ok(records::list::<InstanceProfileRecord>(
        ctx.store(),
        &store_keys::instance_profiles(ctx.account()),
    )
    .await?
    .into_iter()
    .map(|r| r.value)
    .collect())
}

/// The instance profiles that hold role `role`.
pub async fn holding(ctx: &IamCtx<'_>, role: &str) -> Result<Vec<InstanceProfileRecord>, IamError> {
    let key = iam::name_key(role);
    Ok(all(ctx)
        .await?
        .into_iter()
        .filter(|p| p.roles.iter().any(|r| iam::name_key(r) == key))
        .collect())
}

/// The profile's roles as stored (a role deleted meanwhile is left out).
async fn roles_of(ctx: &IamCtx<'_>, p: &InstanceProfileRecord) -> Vec<RoleRecord> {
    let mut roles = Vec::new();
    for name in &p.roles {
        if let Ok(r) = entities::load::<RoleRecord>(ctx, name).await {
            roles.push(r.value);
        }
    }
    roles
}

/// CreateInstanceProfile.
pub async fn create(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = super::name_param(p, "InstanceProfileName", 128)?;
    let path = super::path_param(p, "Path")?;
    let record = InstanceProfileRecord {
        arn: iam::arn(ctx.account(), "instance-profile", &path, &name),
        id: super::new_id("AIPA"),
        name,
        path,
        created_at: ctx.now(),
        roles: Vec::new(),
        tags: super::tags_param(p)?,
    };
    let key = store_keys::instance_profile(ctx.account(), &record.name);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(records::put(&key, &record));
    if !super::commit(ctx, txn).await?.is_committed() {
        return Err(IamError::EntityAlreadyExists(format!(
            "Instance Profile {} already exists.",
            record.name
        )));
    }
    Ok(ctx.respond(|x| {
        x.elem("InstanceProfile", |x| {
            render::instance_profile(x, &record, &[])
        })
    }))
}

/// GetInstanceProfile.
pub async fn get(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let profile = load(ctx, &p.required("InstanceProfileName")?).await?.value;
    let roles = roles_of(ctx, &profile).await;
    Ok(ctx.respond(|x| {
        x.elem("InstanceProfile", |x| {
            render::instance_profile(x, &profile, &roles)
        })
    }))
}

async fn respond_list(
    ctx: &IamCtx<'_>,
    p: &Params,
    profiles: Vec<InstanceProfileRecord>,
) -> Result<String, IamError> {
    let (profiles, next) = super::page(p, profiles)?;
    let mut with_roles = Vec::new();
    for profile in profiles {
        let roles = roles_of(ctx, &profile).await;
        with_roles.push((profile, roles));
    }
    Ok(ctx.respond(|x| {
        x.list("InstanceProfiles", &with_roles, |x, (p, roles)| {
            render::instance_profile(x, p, roles)
        });
        super::write_marker(x, next);
    }))
}

/// ListInstanceProfiles.
pub async fn list(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let prefix = super::path_prefix(p);
    let profiles = all(ctx)
        .await?
        .into_iter()
        .filter(|i| i.path.starts_with(&prefix))
        .collect();
    respond_list(ctx, p, profiles).await
}

/// ListInstanceProfilesForRole.
pub async fn list_for_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let role = p.required("RoleName")?;
    entities::load::<RoleRecord>(ctx, &role).await?;
    let profiles = holding(ctx, &role).await?;
    respond_list(ctx, p, profiles).await
}

/// Changes the profile named `name` with `change`.
async fn modify(
    ctx: &IamCtx<'_>,
    name: &str,
    change: impl FnMut(&mut InstanceProfileRecord) -> Result<(), IamError>,
) -> Result<(), IamError> {
    records::modify(
        ctx.store(),
        &store_keys::instance_profile(ctx.account(), name),
        "the instance profile",
        || IamError::NoSuchEntity(format!("Instance Profile {name} cannot be found.")),
        change,
    )
    .await
    .map(drop)
}

/// AddRoleToInstanceProfile: one role per profile, as AWS allows.
pub async fn add_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("InstanceProfileName")?;
    let role = entities::load::<RoleRecord>(ctx, &p.required("RoleName")?)
        .await?
        .value
        .entity
        .name;
    modify(ctx, &name, |profile| {
        if profile.roles.len() >= MAX_ROLES_PER_INSTANCE_PROFILE {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: \
                 {MAX_ROLES_PER_INSTANCE_PROFILE}"
            )));
        }
        profile.roles.push(role.clone());
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// RemoveRoleFromInstanceProfile.
pub async fn remove_role(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("InstanceProfileName")?;
    let role = p.required("RoleName")?;
    modify(ctx, &name, |profile| {
        let before = profile.roles.len();
        profile
            .roles
            .retain(|r| iam::name_key(r) != iam::name_key(&role));
        if profile.roles.len() == before {
            return Err(IamError::NoSuchEntity(format!(
                "The role with name {role} cannot be found."
            )));
        }
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// DeleteInstanceProfile: refused while it holds a role.
pub async fn delete(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("InstanceProfileName")?;
    let r = load(ctx, &name).await?;
    if !r.value.roles.is_empty() {
        return Err(IamError::DeleteConflict(
            "Cannot delete entity, must remove roles from instance profile first.".into(),
        ));
    }
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(berth_store::Op::delete(&r.key));
    if !super::commit(ctx, txn).await?.is_committed() {
        return Err(IamError::Throttling(
            "The instance profile changed meanwhile; retry the request.".into(),
        ));
    }
    Ok(ctx.respond(|_| {}))
}
