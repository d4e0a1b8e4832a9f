//! STS: who am I (GetCallerIdentity), a session of a role (AssumeRole, as its trust
//! policy and the caller's own policies allow) and a user's own session
//! (GetSessionToken). Sessions are `ASIA…` keys with a session token, stored under
//! `/iam/ACCOUNT/sessions/` so every replica accepts them, and refused once expired.

use std::sync::Arc;

use berth_iam::{RequestContext, TrustVerdict};
use berth_model::iam::{SessionOf, SessionRecord};
use berth_query::Params;
use berth_store::Txn;

use crate::context::Principal;
use crate::iam::directory::Directory;
use crate::iam::{render, store_keys, IamCtx, IamError};
use crate::records;

/// STS's XML namespace.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The shortest session STS issues, in seconds.
const MIN_SECONDS: i64 = 900;
/// A role session chained from another role session lasts at most an hour.
const CHAINED_MAX_SECONDS: i64 = 3_600;
/// GetSessionToken's longest session for a user (36 hours) and for the root (1 hour).
const USER_SESSION_MAX_SECONDS: i64 = 129_600;
const ROOT_SESSION_MAX_SECONDS: i64 = 3_600;

/// Answers one STS call.
pub async fn dispatch(
    ctx: &IamCtx<'_>,
    directory: &Arc<Directory>,
    p: &Params,
) -> Result<String, IamError> {
    let answer = match ctx.action {
        "GetCallerIdentity" => get_caller_identity(ctx),
        "AssumeRole" => assume_role(ctx, directory, p).await,
        "GetSessionToken" => get_session_token(ctx, p).await,
        other => {
            return Err(IamError::InvalidAction(format!(
                "Could not find operation {other} for version 2011-06-15"
            )))
        }
    }?;
    p.finish(ctx.action)?;
    Ok(answer)
}

fn respond(ctx: &IamCtx<'_>, result: impl FnOnce(&mut berth_query::xml::Xml)) -> String {
    berth_query::xml::response(NAMESPACE, ctx.action, ctx.request_id, result)
}

fn get_caller_identity(ctx: &IamCtx<'_>) -> Result<String, IamError> {
    let account = ctx.account().to_string();
    let principal = &ctx.caller.principal;
    Ok(respond(ctx, |x| {
        x.text("UserId", principal.user_id(&account));
        x.text("Account", &account);
        x.text("Arn", principal.arn(&account));
    }))
}

/// Stores a new session of `of` lasting `seconds`.
async fn issue(ctx: &IamCtx<'_>, of: SessionOf, seconds: i64) -> Result<SessionRecord, IamError> {
    let expires = ctx.now().as_secs_f64() + seconds as f64;
    let session = SessionRecord {
        access_key_id: crate::key_material::session_key_id(),
        secret_access_key: crate::key_material::secret_access_key(),
        session_token: crate::key_material::session_token(200),
        of,
        expires_at: berth_api::ecs::Timestamp::try_from_secs_f64(expires)
            .unwrap_or(berth_api::ecs::Timestamp::UNIX_EPOCH),
    };
    let key = store_keys::session(ctx.account(), &session.access_key_id);
    crate::iam::commit(ctx, Txn::new().then(records::put(&key, &session))).await?;
    Ok(session)
}

fn write_credentials(x: &mut berth_query::xml::Xml, s: &SessionRecord) {
    x.elem("Credentials", |x| {
        x.text("AccessKeyId", &s.access_key_id);
        x.text("SecretAccessKey", &s.secret_access_key);
        x.text("SessionToken", &s.session_token);
        x.text("Expiration", render::iso8601(s.expires_at));
    });
}

/// AssumeRole: the role's trust policy must allow the caller; a trust policy that names
/// only the caller's account also needs the caller's own policies to allow
/// `sts:AssumeRole` on the role (the root needs nothing more).
async fn assume_role(
    ctx: &IamCtx<'_>,
    directory: &Arc<Directory>,
    p: &Params,
) -> Result<String, IamError> {
    let role_arn = p.required("RoleArn")?;
    let session_name = p.required("RoleSessionName")?;
    let valid_name = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !valid_name {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed \
             to satisfy constraint: Member must satisfy regular expression pattern: \
             [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    if p.string("Policy").is_some() || p.structs("PolicyArns")?.is_some() {
        return Err(IamError::InvalidInput(
            "Berth does not support session policies; attach the policies to the role.".into(),
        ));
    }
    let account = ctx.account().to_string();
    let caller = &ctx.caller.principal;
    let caller_arn = caller.arn(&account);
    let denied = || {
        IamError::AccessDenied(format!(
            "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: \
             {role_arn}"
        ))
    };
    let role = directory.role_by_arn(&role_arn).ok_or_else(denied)?;
    let trust = berth_iam::Policy::parse_trust(&role.assume_role_policy).map_err(|_| denied())?;
    let as_policies = caller.for_policies(&account);
    let context = RequestContext::new();
    match berth_iam::evaluate_trust(&trust, &as_policies, "sts:AssumeRole", &context) {
        TrustVerdict::Denied | TrustVerdict::NotTrusted => return Err(denied()),
        TrustVerdict::TrustsPrincipal => {}
        TrustVerdict::TrustsAccount => {
            if !caller.is_root() {
                let policies = directory.identity_policies(caller);
                let refs: Vec<&berth_iam::Policy> = policies.iter().map(|p| &**p).collect();
                let request =
                    berth_iam::Request::new(&as_policies, "sts:AssumeRole", &role_arn, &context);
                if berth_iam::evaluate(&refs, None, &request).decision != berth_iam::Decision::Allow
                {
                    return Err(denied());
                }
            }
        }
    }
    let chained = matches!(caller, Principal::Role { .. });
    let max = if chained {
        CHAINED_MAX_SECONDS
    } else {
        i64::from(role.max_session_duration)
    };
    let seconds = p.int("DurationSeconds")?.unwrap_or(3_600);
    if seconds < MIN_SECONDS || seconds > max {
        return Err(IamError::Validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. \
             It must be between {MIN_SECONDS} and {max} seconds."
        )));
    }
    let session = issue(
        ctx,
        SessionOf::Role {
            role_name: role.entity.name.clone(),
            role_id: role.entity.id.clone(),
            role_arn: role.entity.arn.clone(),
            session_name: session_name.clone(),
        },
        seconds,
    )
    .await?;
    Ok(respond(ctx, |x| {
        write_credentials(x, &session);
        x.elem("AssumedRoleUser", |x| {
            x.text(
                "AssumedRoleId",
                format!("{}:{session_name}", role.entity.id),
            );
            x.text(
                "Arn",
                format!(
                    "arn:aws:sts::{account}:assumed-role/{}/{session_name}",
                    role.entity.name
                ),
            );
        });
    }))
}

/// GetSessionToken: a user's (or the root's) own session, with its own permissions.
async fn get_session_token(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    if p.string("SerialNumber").is_some() || p.string("TokenCode").is_some() {
        return Err(IamError::InvalidInput(
            "Berth does not support MFA devices.".into(),
        ));
    }
    let (of, max) = match &ctx.caller.principal {
        Principal::Root => (SessionOf::Root, ROOT_SESSION_MAX_SECONDS),
        Principal::User { name, .. } => (
            SessionOf::User {
                user_name: name.clone(),
            },
            USER_SESSION_MAX_SECONDS,
        ),
        Principal::Role { .. } => {
            return Err(IamError::AccessDenied(
                "Cannot call GetSessionToken with session credentials".into(),
            ))
        }
    };
    let seconds = p.int("DurationSeconds")?.unwrap_or(max.min(43_200));
    if seconds < MIN_SECONDS || seconds > max {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to \
             satisfy constraint: Member must have value between {MIN_SECONDS} and {max}"
        )));
    }
    let session = issue(ctx, of, seconds).await?;
    Ok(respond(ctx, |x| write_credentials(x, &session)))
}
