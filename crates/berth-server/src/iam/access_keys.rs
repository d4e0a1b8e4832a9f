//! Users' access keys: create (the secret is shown once), list, make active or
//! inactive, delete. An inactive or deleted key signs nothing from then on.

use berth_model::iam::{AccessKeyRecord, KeyStatus, UserRecord, MAX_ACCESS_KEYS_PER_USER};
use berth_query::Params;
use berth_store::{Compare, Txn};

use super::entities::load;
use super::{render, store_keys, IamCtx, IamError};
use crate::records::{self, Step};

/// The keys of user `name` (as stored, whatever the case it is named in).
pub async fn of_user(ctx: &IamCtx<'_>, name: &str) -> Result<Vec<AccessKeyRecord>, IamError> {
    let key = berth_model::iam::name_key(name);
    Ok(
        records::list::<AccessKeyRecord>(ctx.store(), &store_keys::access_keys(ctx.account()))
            .await?
            .into_iter()
            .map(|r| r.value)
            .filter(|k| berth_model::iam::name_key(&k.user_name) == key)
            .collect(),
    )
}

/// The user a call is about: `UserName`, else the caller's own user.
fn user_named(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    match p.string("UserName") {
        Some(name) => Ok(name),
        None => ctx
            .caller
            .principal
            .user_name()
            .map(str::to_string)
            .ok_or_else(|| {
                IamError::InvalidInput(
                    "Name a user (--user-name): the account root's key is the one Berth \
                     keeps in its data directory."
                        .into(),
                )
            }),
    }
}

/// CreateAccessKey.
pub async fn create(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = user_named(ctx, p)?;
    let user = load::<UserRecord>(ctx, &name).await?;
    let record = AccessKeyRecord {
        access_key_id: crate::key_material::long_term_key_id(),
        secret_access_key: crate::key_material::secret_access_key(),
        user_name: user.value.entity.name.clone(),
        status: KeyStatus::Active,
        created_at: ctx.now(),
    };
    let user_key = user.key.clone();
    let (record_ref, user_key, name) = (&record, &user_key, &name);
    berth_store::records::update(ctx.store(), "the user's access keys", || async move {
        let user = records::get::<UserRecord>(ctx.store(), user_key)
            .await?
            .ok_or_else(|| IamError::no_such("user", name))?;
        if of_user(ctx, name).await?.len() >= MAX_ACCESS_KEYS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
            )));
        }
        // Comparing the user keeps a key from outliving a user deleted meanwhile.
        let key = store_keys::access_key(ctx.account(), &record_ref.access_key_id);
        let txn = Txn::new()
            .when(Compare::unchanged(user_key, user.revision))
            .when(Compare::absent(&key))
            .then(records::put(&key, record_ref));
        Ok(Step::Commit(txn, ()))
    })
    .await?;
    Ok(ctx.respond(|x| x.elem("AccessKey", |x| render::access_key(x, &record, true))))
}

/// ListAccessKeys.
pub async fn list(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = user_named(ctx, p)?;
    load::<UserRecord>(ctx, &name).await?;
    let (keys, next) = super::page(p, of_user(ctx, &name).await?)?;
    Ok(ctx.respond(|x| {
        x.list("AccessKeyMetadata", &keys, |x, k| {
            render::access_key(x, k, false)
        });
        super::write_marker(x, next);
    }))
}

/// The key `id` of user `name`, or `NoSuchEntity` as AWS words it.
async fn owned(
    ctx: &IamCtx<'_>,
    name: &str,
    id: &str,
) -> Result<crate::records::Record<AccessKeyRecord>, IamError> {
    let missing =
        || IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found."));
    let r =
        records::get::<AccessKeyRecord>(ctx.store(), &store_keys::access_key(ctx.account(), id))
            .await?
            .ok_or_else(missing)?;
    if berth_model::iam::name_key(&r.value.user_name) != berth_model::iam::name_key(name) {
        return Err(missing());
    }
    Ok(r)
}

/// UpdateAccessKey: Active or Inactive.
pub async fn update(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = user_named(ctx, p)?;
    let id = p.required("AccessKeyId")?;
    let status_text = p.required("Status")?;
    let status = KeyStatus::parse(&status_text).ok_or_else(|| {
        IamError::Validation(format!(
            "1 validation error detected: Value '{status_text}' at 'status' failed to satisfy \
             constraint: Member must satisfy enum value set: [Active, Inactive]"
        ))
    })?;
    let key = owned(ctx, &name, &id).await?.key;
    records::modify(
        ctx.store(),
        &key,
        "the access key",
        || IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found.")),
        |k: &mut AccessKeyRecord| {
            k.status = status;
            Ok(())
        },
    )
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// DeleteAccessKey.
pub async fn delete(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = user_named(ctx, p)?;
    let id = p.required("AccessKeyId")?;
    let r = owned(ctx, &name, &id).await?;
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(berth_store::Op::delete(&r.key));
    super::commit(ctx, txn).await?;
    Ok(ctx.respond(|_| {}))
}

/// GetAccessKeyLastUsed: the key's user; Berth does not record last use (`N/A`, as
/// AWS answers for a key never used).
pub async fn last_used(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let id = p.required("AccessKeyId")?;
    let r =
        records::get::<AccessKeyRecord>(ctx.store(), &store_keys::access_key(ctx.account(), &id))
            .await?
            .ok_or_else(|| {
                IamError::AccessDenied(format!("The Access Key with id {id} cannot be found."))
            })?;
    Ok(ctx.respond(|x| {
        x.text("UserName", &r.value.user_name);
        x.elem("AccessKeyLastUsed", |x| {
            x.text("ServiceName", "N/A");
            x.text("Region", "N/A");
        });
    }))
}
