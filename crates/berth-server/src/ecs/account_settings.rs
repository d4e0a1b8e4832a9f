//! PutAccountSetting, PutAccountSettingDefault, ListAccountSettings and
//! DeleteAccountSetting, per region as on AWS. A principal's settings are one record;
//! the root's are the account defaults (see `berth_model::account_settings` for the
//! rules and how the effective value is found).
//!
//! Where AWS leaves it open, Berth chooses: setting or deleting another principal's
//! settings needs the root (AccessDeniedException otherwise); a principal must be the
//! account's root or one of its users or roles; deleting a setting nobody set answers
//! with the value now in effect.

use berth_api::ecs::{
    DeleteAccountSettingRequest, DeleteAccountSettingResponse, ListAccountSettingsRequest,
    ListAccountSettingsResponse, PutAccountSettingDefaultRequest, PutAccountSettingDefaultResponse,
    PutAccountSettingRequest, PutAccountSettingResponse, SettingName,
};
use berth_api::error::ApiError;
use berth_model::account_settings::{self as rules, AccountSettingsRecord};
use berth_store::{Compare, Txn};

use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::records::{self, put, Step};

/// The account root's ARN.
fn root_arn(ctx: &Ctx) -> String {
    format!("arn:aws:iam::{}:root", ctx.caller.account)
}

/// The principal a call is about: `given`, else the caller. Only the root may name
/// another principal, which must be the root or a user or role of the account.
fn principal(ctx: &Ctx, given: Option<&str>) -> Result<String, ApiError> {
    let caller = &ctx.caller.principal_arn;
    let Some(given) = given.filter(|g| *g != caller.as_str()) else {
        return Ok(caller.clone());
    };
    let prefix = format!("arn:aws:iam::{}:", ctx.caller.account);
    let ours = given.strip_prefix(&prefix).is_some_and(|resource| {
        resource == "root"
            || ["user/", "role/"]
                .iter()
                .any(|kind| resource.strip_prefix(kind).is_some_and(|n| !n.is_empty()))
    });
    if !ours {
        return Err(ApiError::InvalidParameter(format!(
            "principalArn '{given}' is not the root, a user or a role of account {}.",
            ctx.caller.account
        )));
    }
    if !ctx.caller.principal.is_root() {
        return Err(ApiError::AccessDenied(format!(
            "Only the root user may change or list the account settings of another \
             principal ({given})."
        )));
    }
    Ok(given.to_string())
}

async fn load(
    ctx: &Ctx,
    principal_arn: &str,
) -> Result<records::Record<AccountSettingsRecord>, ApiError> {
    let key = ctx.scope().account_settings(principal_arn);
    Ok(records::get::<AccountSettingsRecord>(ctx.store(), &key)
        .await?
        .unwrap_or_else(|| records::Record {
            key,
            value: AccountSettingsRecord {
                principal_arn: principal_arn.to_string(),
                values: Default::default(),
            },
            revision: 0,
        }))
}

/// Sets (`Some`) or removes (`None`) `name` for `principal_arn`; returns the value it
/// had.
async fn change(
    ctx: &Ctx,
    principal_arn: &str,
    name: SettingName,
    value: Option<&str>,
) -> Result<Option<String>, ApiError> {
    records::update(ctx.store(), "The account settings", || async move {
        let r = load(ctx, principal_arn).await?;
        let mut record = r.value;
        let before = match value {
            Some(v) => record.values.insert(name.as_str().into(), v.to_string()),
            None => record.values.remove(name.as_str()),
        };
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &record));
        Ok(Step::Commit(txn, before))
    })
    .await
}

/// PutAccountSetting: for the caller, or (the root only) for the principal named.
pub async fn put_setting(
    ctx: &Ctx,
    req: PutAccountSettingRequest,
) -> Result<PutAccountSettingResponse, ApiError> {
    let principal_arn = principal(ctx, req.principal_arn.as_deref())?;
    rules::check_put(req.name, &req.value, principal_arn == root_arn(ctx))?;
    change(ctx, &principal_arn, req.name, Some(&req.value)).await?;
    Ok(PutAccountSettingResponse {
        setting: Some(rules::setting(req.name, &req.value, &principal_arn)),
    })
}

/// PutAccountSettingDefault: the root's setting, the default of every principal that
/// set none.
pub async fn put_default(
    ctx: &Ctx,
    req: PutAccountSettingDefaultRequest,
) -> Result<PutAccountSettingDefaultResponse, ApiError> {
    let root = root_arn(ctx);
    rules::check_put(req.name, &req.value, true)?;
    change(ctx, &root, req.name, Some(&req.value)).await?;
    Ok(PutAccountSettingDefaultResponse {
        setting: Some(rules::setting(req.name, &req.value, &root)),
    })
}

/// DeleteAccountSetting: the principal then has the account default.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteAccountSettingRequest,
) -> Result<DeleteAccountSettingResponse, ApiError> {
    let principal_arn = principal(ctx, req.principal_arn.as_deref())?;
    if rules::rule(req.name).aws_managed {
        return Err(ApiError::InvalidParameter(format!(
            "{} is an AWS managed account setting and cannot be changed.",
            req.name.as_str()
        )));
    }
    let before = change(ctx, &principal_arn, req.name, None).await?;
    let value = match before {
        Some(v) => v,
        None => effective(ctx, &principal_arn, req.name).await?,
    };
    Ok(DeleteAccountSettingResponse {
        setting: Some(rules::setting(req.name, &value, &principal_arn)),
    })
}

/// The value of `name` in effect for `principal_arn`.
pub async fn effective(
    ctx: &Ctx,
    principal_arn: &str,
    name: SettingName,
) -> Result<String, ApiError> {
    let own = load(ctx, principal_arn).await?.value;
    let account = load(ctx, &root_arn(ctx)).await?.value;
    Ok(rules::effective(name, &own, &account).0.to_string())
}

/// Most settings a page holds (AWS's limit, and its default).
const MAX_RESULTS: i32 = 10;

/// ListAccountSettings: the principal's own settings, or with `effectiveSettings` every
/// setting's value in effect; filtered by name (and value, which needs a name).
pub async fn list(
    ctx: &Ctx,
    req: ListAccountSettingsRequest,
) -> Result<ListAccountSettingsResponse, ApiError> {
    if req.value.is_some() && req.name.is_none() {
        return Err(ApiError::InvalidParameter(
            "The value parameter can only be used together with the name parameter.".into(),
        ));
    }
    let max = req.max_results.unwrap_or(MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(ApiError::InvalidParameter(format!(
            "maxResults must be between 1 and {MAX_RESULTS}."
        )));
    }
    let start: usize = match &req.next_token {
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::InvalidParameter("Invalid nextToken.".into()))?,
        None => 0,
    };
    let principal_arn = principal(ctx, req.principal_arn.as_deref())?;
    let own = load(ctx, &principal_arn).await?.value;
    let account = load(ctx, &root_arn(ctx)).await?.value;
    let names = rules::RULES
        .iter()
        .map(|r| r.name)
        .filter(|n| req.name.is_none_or(|wanted| wanted == *n));
    let all: Vec<_> = names
        .filter_map(|name| {
            let (value, from) = if req.effective_settings == Some(true) {
                rules::effective(name, &own, &account)
            } else {
                (
                    own.values.get(name.as_str())?.as_str(),
                    own.principal_arn.as_str(),
                )
            };
            req.value
                .as_deref()
                .is_none_or(|wanted| wanted == value)
                .then(|| rules::setting(name, value, from))
        })
        .collect();
    let end = (start + max as usize).min(all.len());
    Ok(ListAccountSettingsResponse {
        settings: Some(all.get(start..end).unwrap_or_default().to_vec()),
        next_token: (end < all.len()).then(|| end.to_string()),
    })
}
