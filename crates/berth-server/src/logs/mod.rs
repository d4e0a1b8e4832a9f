//! CloudWatch Logs' API (`Logs_20140328`, SigV4 service `logs`) over [`berth_logs`]: the
//! catalog of log groups and streams in the store, their events in the log store under
//! the data directory.
//!
//! Groups and their settings are in [`groups`], streams in [`streams`], PutLogEvents,
//! GetLogEvents and FilterLogEvents in [`events`], agents' container output in
//! [`ingest`], and the retention loop in [`retention`].

use berth_api::error::ApiError;
use berth_api::logs::{Operation, TARGET_PREFIX};
use berth_logs::catalog::{CatalogError, Scope};

use crate::context::Ctx;
use crate::json::{parse, respond, unknown_operation, ApiResult};

mod events;
mod groups;
pub mod ingest;
pub mod retention;
mod streams;

/// CloudWatch Logs' state: the catalog of groups and streams (in the store), their
/// events (in the log store), and the turns agents' appends take per stream.
pub struct Logs {
    pub catalog: berth_logs::catalog::Catalog,
    pub events: berth_logs::LogStore,
    pub appends: ingest::AppendLocks,
}

/// One Logs call: the request's context and the service's state (the context's methods
/// are the call's).
pub struct Call<'a> {
    pub ctx: &'a Ctx,
    pub logs: &'a Logs,
}

impl std::ops::Deref for Call<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx
    }
}

/// Runs one Logs operation.
pub async fn dispatch(ctx: &Ctx, logs: &Logs, action: &str, body: &[u8]) -> ApiResult {
    let ctx = &Call { ctx, logs };
    let Ok(op) = action.parse::<Operation>() else {
        return Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}")));
    };
    match op {
        Operation::CreateLogGroup => respond(&groups::create(ctx, parse(body)?).await?),
        Operation::DeleteLogGroup => respond(&groups::delete(ctx, parse(body)?).await?),
        Operation::DescribeLogGroups => respond(&groups::describe(ctx, parse(body)?).await?),
        Operation::PutRetentionPolicy => respond(&groups::put_retention(ctx, parse(body)?).await?),
        Operation::DeleteRetentionPolicy => {
            respond(&groups::delete_retention(ctx, parse(body)?).await?)
        }
        Operation::TagResource => respond(&groups::tag_resource(ctx, parse(body)?).await?),
        Operation::UntagResource => respond(&groups::untag_resource(ctx, parse(body)?).await?),
        Operation::ListTagsForResource => respond(&groups::list_tags(ctx, parse(body)?).await?),
        Operation::TagLogGroup => respond(&groups::tag_group(ctx, parse(body)?).await?),
        Operation::UntagLogGroup => respond(&groups::untag_group(ctx, parse(body)?).await?),
        Operation::ListTagsLogGroup => respond(&groups::list_group_tags(ctx, parse(body)?).await?),
        Operation::CreateLogStream => respond(&streams::create(ctx, parse(body)?).await?),
        Operation::DeleteLogStream => respond(&streams::delete(ctx, parse(body)?).await?),
        Operation::DescribeLogStreams => respond(&streams::describe(ctx, parse(body)?).await?),
        Operation::PutLogEvents => respond(&events::put(ctx, parse(body)?).await?),
        Operation::GetLogEvents => respond(&events::get(ctx, parse(body)?).await?),
        Operation::FilterLogEvents => respond(&events::filter(ctx, parse(body)?).await?),
    }
}

pub(crate) fn scope(ctx: &Ctx) -> Scope {
    Scope {
        account: ctx.caller.account.clone(),
        region: ctx.caller.region.clone(),
    }
}

pub(crate) fn catalog_error(e: CatalogError) -> ApiError {
    let message = e.to_string();
    match e {
        CatalogError::GroupExists | CatalogError::StreamExists => {
            ApiError::ResourceAlreadyExists(message)
        }
        CatalogError::GroupNotFound | CatalogError::StreamNotFound => {
            ApiError::ResourceNotFound(message)
        }
        CatalogError::Contention(_) => ApiError::OperationAborted(message),
        CatalogError::Store(_) | CatalogError::Corrupt { .. } => ApiError::Server(message),
    }
}

pub(crate) fn storage_error(e: berth_logs::LogError) -> ApiError {
    ApiError::Server(format!("the log store failed: {e}"))
}

/// A log group name as CloudWatch allows it: 1 to 512 of letters, digits, `.-_/#`.
pub(crate) fn check_group_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_/#".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ \
             (and be 1 to 512 characters)"
        )))
    }
}

/// A log stream name as CloudWatch allows it: 1 to 512 characters, no `:` or `*`.
pub(crate) fn check_stream_name(name: &str) -> Result<(), ApiError> {
    if (1..=512).contains(&name.len()) && !name.contains([':', '*']) {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [^:*]* (and be 1 to \
             512 characters)"
        )))
    }
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (a name or an
/// ARN).
pub(crate) fn group_named(
    ctx: &Ctx,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Result<String, ApiError> {
    let name = match (name, identifier) {
        (Some(name), None) => name.to_string(),
        (None, Some(id)) => match id.strip_prefix("arn:") {
            Some(_) => group_of_arn(ctx, id)?,
            None => id.to_string(),
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidParameter(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::InvalidParameter(
                "Either the logGroupName or the logGroupIdentifier must be given.".into(),
            ))
        }
    };
    check_group_name(&name)?;
    Ok(name)
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`.
pub(crate) fn group_arn(ctx: &Ctx, group: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{group}",
        ctx.caller.region, ctx.caller.account
    )
}

/// The group a log group ARN names; it must be the caller's.
pub(crate) fn group_of_arn(ctx: &Ctx, arn: &str) -> Result<String, ApiError> {
    let prefix = group_arn(ctx, "");
    let name = arn
        .strip_prefix(&prefix)
        .map(|rest| rest.strip_suffix(":*").unwrap_or(rest))
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "'{arn}' is not the ARN of a log group of account {} in {}",
                ctx.caller.account, ctx.caller.region
            ))
        })?;
    Ok(name.to_string())
}
