//! Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, Put/
//! DeleteRetentionPolicy, and their tags (TagResource/UntagResource/ListTagsForResource
//! on the group's ARN, and the older TagLogGroup/UntagLogGroup/ListTagsLogGroup).

use std::collections::BTreeMap;

use berth_api::error::ApiError;
use berth_api::logs::{
    CreateLogGroupRequest, CreateLogGroupResponse, DeleteLogGroupRequest, DeleteLogGroupResponse,
    DeleteRetentionPolicyRequest, DeleteRetentionPolicyResponse, DescribeLogGroupsRequest,
    DescribeLogGroupsResponse, ListTagsForResourceRequest, ListTagsForResourceResponse,
    ListTagsLogGroupRequest, ListTagsLogGroupResponse, LogGroup, LogGroupClass,
    PutRetentionPolicyRequest, PutRetentionPolicyResponse, TagLogGroupRequest, TagLogGroupResponse,
    TagResourceRequest, TagResourceResponse, UntagLogGroupRequest, UntagLogGroupResponse,
    UntagResourceRequest, UntagResourceResponse,
};
use berth_logs::catalog::{now_millis, CatalogError, GroupRecord};
use berth_model::tags;

use super::Call;
use super::{catalog_error, check_group_name, group_arn, group_named, group_of_arn, scope};
use crate::pagination;

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Groups per DescribeLogGroups page, at most and by default.
const MAX_GROUPS_PAGE: i32 = 50;

fn checked_tags(
    given: BTreeMap<String, String>,
    existing: &tags::Tags,
) -> Result<tags::Tags, ApiError> {
    for (k, v) in &given {
        tags::validate_tag(k, v)?;
    }
    let mut merged = existing.clone();
    tags::merge(&mut merged, given).map_err(|e| ApiError::TooManyTags(e.message().to_string()))?;
    Ok(merged)
}

pub async fn create(
    ctx: &Call<'_>,
    req: CreateLogGroupRequest,
) -> Result<CreateLogGroupResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    if req
        .log_group_class
        .is_some_and(|c| c != LogGroupClass::Standard)
    {
        return Err(ApiError::InvalidParameter(
            "Berth has only the STANDARD log group class".into(),
        ));
    }
    let record = GroupRecord {
        name: req.log_group_name,
        created_at: now_millis(),
        retention_days: None,
        tags: checked_tags(req.tags.unwrap_or_default(), &Default::default())?,
        kms_key_id: req.kms_key_id,
        deleting: false,
    };
    ctx.logs
        .catalog
        .create_group(&scope(ctx), record)
        .await
        .map_err(catalog_error)?;
    Ok(CreateLogGroupResponse {})
}

pub async fn delete(
    ctx: &Call<'_>,
    req: DeleteLogGroupRequest,
) -> Result<DeleteLogGroupResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    let streams = ctx
        .logs
        .catalog
        .delete_group(&scope(ctx), &req.log_group_name)
        .await
        .map_err(catalog_error)?;
    for stream in streams {
        // The catalog no longer names them; a failure here leaves files the retention
        // loop's sweep removes later.
        if let Err(e) = ctx.logs.events.delete_stream(&stream.storage_id).await {
            tracing::warn!(error = %e, stream = %stream.name, "could not delete a stream's events");
        }
    }
    Ok(DeleteLogGroupResponse {})
}

async fn wire(ctx: &Call<'_>, record: &GroupRecord) -> Result<LogGroup, ApiError> {
    let stored_bytes = super::streams::stored_bytes(ctx, &record.name).await?;
    let arn = group_arn(ctx, &record.name);
    Ok(LogGroup {
        log_group_name: Some(record.name.clone()),
        creation_time: Some(record.created_at),
        retention_in_days: record.retention_days,
        metric_filter_count: Some(0),
        arn: Some(format!("{arn}:*")),
        log_group_arn: Some(arn),
        stored_bytes: Some(stored_bytes as i64),
        kms_key_id: record.kms_key_id.clone(),
        log_group_class: Some(LogGroupClass::Standard),
        ..Default::default()
    })
}

pub async fn describe(
    ctx: &Call<'_>,
    req: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, ApiError> {
    let limit = match req.limit {
        None => MAX_GROUPS_PAGE,
        Some(n @ 1..=MAX_GROUPS_PAGE) => n,
        Some(n) => {
            return Err(ApiError::InvalidParameter(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                 constraint: Member must have value between 1 and {MAX_GROUPS_PAGE}"
            )))
        }
    };
    if req.log_group_name_pattern.is_some() && req.log_group_name_prefix.is_some() {
        return Err(ApiError::InvalidParameter(
            "logGroupNamePattern and logGroupNamePrefix are mutually exclusive".into(),
        ));
    }
    let mut after = pagination::decode_token(req.next_token.as_deref(), "")?;
    let prefix = req.log_group_name_prefix.as_deref().unwrap_or("");
    let pattern = req.log_group_name_pattern.as_deref();
    let (catalog, scope, limit) = (&ctx.logs.catalog, scope(ctx), limit as usize);
    let mut groups = Vec::new();
    // A pattern filters the listing, so a page may take several reads; the token is the
    // last group looked at, matching or not.
    let more = 'read: loop {
        let page = catalog
            .list_groups(&scope, prefix, after.as_deref(), limit)
            .await
            .map_err(catalog_error)?;
        for g in page.items {
            if groups.len() == limit {
                break 'read true;
            }
            after = Some(g.name.clone());
            if pattern.is_none_or(|p| g.name.contains(p)) {
                groups.push(g);
            }
        }
        if !page.more {
            break false;
        }
    };
    let next_token = after.filter(|_| more).map(|a| pagination::encode_token(&a));
    let mut log_groups = Vec::with_capacity(groups.len());
    for g in &groups {
        log_groups.push(wire(ctx, g).await?);
    }
    Ok(DescribeLogGroupsResponse {
        log_groups: Some(log_groups),
        next_token,
    })
}

/// Applies `change` to the named group's record.
async fn update(
    ctx: &Call<'_>,
    group: &str,
    mut change: impl FnMut(&mut GroupRecord) -> Result<(), ApiError>,
) -> Result<GroupRecord, ApiError> {
    enum Refusal {
        Api(ApiError),
        Catalog(CatalogError),
    }
    impl From<CatalogError> for Refusal {
        fn from(e: CatalogError) -> Self {
            Refusal::Catalog(e)
        }
    }
    ctx.logs
        .catalog
        .update_group(&scope(ctx), group, |g| change(g).map_err(Refusal::Api))
        .await
        .map_err(|e| match e {
            Refusal::Api(e) => e,
            Refusal::Catalog(e) => catalog_error(e),
        })
}

pub async fn put_retention(
    ctx: &Call<'_>,
    req: PutRetentionPolicyRequest,
) -> Result<PutRetentionPolicyResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    let days = req.retention_in_days;
    if !RETENTION_DAYS.contains(&days) {
        return Err(ApiError::InvalidParameter(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to \
             satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
        )));
    }
    update(ctx, &req.log_group_name, |g| {
        g.retention_days = Some(days);
        Ok(())
    })
    .await?;
    Ok(PutRetentionPolicyResponse {})
}

pub async fn delete_retention(
    ctx: &Call<'_>,
    req: DeleteRetentionPolicyRequest,
) -> Result<DeleteRetentionPolicyResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    update(ctx, &req.log_group_name, |g| {
        g.retention_days = None;
        Ok(())
    })
    .await?;
    Ok(DeleteRetentionPolicyResponse {})
}

async fn add_tags(
    ctx: &Call<'_>,
    group: &str,
    given: BTreeMap<String, String>,
) -> Result<(), ApiError> {
    update(ctx, group, |g| {
        g.tags = checked_tags(given.clone(), &g.tags)?;
        Ok(())
    })
    .await
    .map(|_| ())
}

async fn remove_tags(ctx: &Call<'_>, group: &str, keys: &[String]) -> Result<(), ApiError> {
    update(ctx, group, |g| {
        for key in keys {
            g.tags.remove(key);
        }
        Ok(())
    })
    .await
    .map(|_| ())
}

async fn tags_of(ctx: &Call<'_>, group: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let record = ctx
        .logs
        .catalog
        .group(&scope(ctx), group)
        .await
        .map_err(catalog_error)?;
    Ok(record.tags)
}

pub async fn tag_resource(
    ctx: &Call<'_>,
    req: TagResourceRequest,
) -> Result<TagResourceResponse, ApiError> {
    add_tags(ctx, &group_of_arn(ctx, &req.resource_arn)?, req.tags).await?;
    Ok(TagResourceResponse {})
}

pub async fn untag_resource(
    ctx: &Call<'_>,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    remove_tags(ctx, &group_of_arn(ctx, &req.resource_arn)?, &req.tag_keys).await?;
    Ok(UntagResourceResponse {})
}

pub async fn list_tags(
    ctx: &Call<'_>,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let tags = tags_of(ctx, &group_of_arn(ctx, &req.resource_arn)?).await?;
    Ok(ListTagsForResourceResponse { tags: Some(tags) })
}

pub async fn tag_group(
    ctx: &Call<'_>,
    req: TagLogGroupRequest,
) -> Result<TagLogGroupResponse, ApiError> {
    let group = group_named(ctx, Some(&req.log_group_name), None)?;
    add_tags(ctx, &group, req.tags).await?;
    Ok(TagLogGroupResponse {})
}

pub async fn untag_group(
    ctx: &Call<'_>,
    req: UntagLogGroupRequest,
) -> Result<UntagLogGroupResponse, ApiError> {
    let group = group_named(ctx, Some(&req.log_group_name), None)?;
    remove_tags(ctx, &group, &req.tags).await?;
    Ok(UntagLogGroupResponse {})
}

pub async fn list_group_tags(
    ctx: &Call<'_>,
    req: ListTagsLogGroupRequest,
) -> Result<ListTagsLogGroupResponse, ApiError> {
    let group = group_named(ctx, Some(&req.log_group_name), None)?;
    Ok(ListTagsLogGroupResponse {
        tags: Some(tags_of(ctx, &group).await?),
    })
}
