//! Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams (by name or by last
//! event time, either way up or down, with AWS's paging).

use berth_api::error::ApiError;
use berth_api::logs::{
    CreateLogStreamRequest, CreateLogStreamResponse, DeleteLogStreamRequest,
    DeleteLogStreamResponse, DescribeLogStreamsRequest, DescribeLogStreamsResponse, LogStream,
    OrderBy,
};
use berth_logs::catalog::{now_millis, StreamRecord};
use berth_logs::StreamSummary;

use super::Call;
use super::{
    catalog_error, check_group_name, check_stream_name, group_arn, group_named, scope,
    storage_error,
};
use crate::pagination;

/// Streams per DescribeLogStreams page, at most and by default.
const MAX_STREAMS_PAGE: i32 = 50;

pub async fn create(
    ctx: &Call<'_>,
    req: CreateLogStreamRequest,
) -> Result<CreateLogStreamResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    check_stream_name(&req.log_stream_name)?;
    let record = StreamRecord {
        name: req.log_stream_name,
        created_at: now_millis(),
        storage_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    ctx.logs
        .catalog
        .create_stream(&scope(ctx), &req.log_group_name, record)
        .await
        .map_err(catalog_error)?;
    Ok(CreateLogStreamResponse {})
}

pub async fn delete(
    ctx: &Call<'_>,
    req: DeleteLogStreamRequest,
) -> Result<DeleteLogStreamResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    check_stream_name(&req.log_stream_name)?;
    let record = ctx
        .logs
        .catalog
        .delete_stream(&scope(ctx), &req.log_group_name, &req.log_stream_name)
        .await
        .map_err(catalog_error)?;
    ctx.logs
        .events
        .delete_stream(&record.storage_id)
        .await
        .map_err(storage_error)?;
    Ok(DeleteLogStreamResponse {})
}

/// Every stream of a group with what its events look like.
async fn streams_with_summaries(
    ctx: &Call<'_>,
    group: &str,
    prefix: &str,
) -> Result<Vec<(StreamRecord, Option<StreamSummary>)>, ApiError> {
    let page = ctx
        .logs
        .catalog
        .list_streams(&scope(ctx), group, prefix, None, 0)
        .await
        .map_err(catalog_error)?;
    let mut out = Vec::with_capacity(page.items.len());
    for record in page.items {
        let summary = ctx
            .logs
            .events
            .summary(&record.storage_id)
            .await
            .map_err(storage_error)?;
        out.push((record, summary));
    }
    Ok(out)
}

/// The bytes a group's events take on disk.
pub(super) async fn stored_bytes(ctx: &Call<'_>, group: &str) -> Result<u64, ApiError> {
    Ok(streams_with_summaries(ctx, group, "")
        .await?
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.stored_bytes))
        .sum())
}

fn wire(
    ctx: &Call<'_>,
    group: &str,
    record: &StreamRecord,
    summary: Option<StreamSummary>,
) -> LogStream {
    let summary = summary.unwrap_or(StreamSummary {
        first_event_timestamp: None,
        last_event_timestamp: None,
        last_ingestion_time: None,
        stored_bytes: 0,
        next_seq: 1,
    });
    LogStream {
        log_stream_name: Some(record.name.clone()),
        creation_time: Some(record.created_at),
        first_event_timestamp: summary.first_event_timestamp,
        last_event_timestamp: summary.last_event_timestamp,
        last_ingestion_time: summary.last_ingestion_time,
        upload_sequence_token: Some(summary.next_seq.to_string()),
        arn: Some(format!(
            "{}:log-stream:{}",
            group_arn(ctx, group),
            record.name
        )),
        stored_bytes: Some(summary.stored_bytes as i64),
    }
}

pub async fn describe(
    ctx: &Call<'_>,
    req: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, ApiError> {
    let group = group_named(
        ctx,
        req.log_group_name.as_deref(),
        req.log_group_identifier.as_deref(),
    )?;
    let limit = match req.limit {
        None => MAX_STREAMS_PAGE as usize,
        Some(n @ 1..=MAX_STREAMS_PAGE) => n as usize,
        Some(n) => {
            return Err(ApiError::InvalidParameter(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                 constraint: Member must have value between 1 and {MAX_STREAMS_PAGE}"
            )))
        }
    };
    let by_time = req.order_by == Some(OrderBy::LastEventTime);
    let prefix = req.log_stream_name_prefix.unwrap_or_default();
    if by_time && !prefix.is_empty() {
        return Err(ApiError::InvalidParameter(
            "Cannot order by LastEventTime with a logStreamNamePrefix.".into(),
        ));
    }
    let start = match pagination::decode_token(req.next_token.as_deref(), "")? {
        Some(offset) => offset
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidParameter("Invalid nextToken specified.".into()))?,
        None => 0,
    };
    let mut streams = streams_with_summaries(ctx, &group, &prefix).await?;
    if by_time {
        // Streams without events sort first, as their last event time is unset.
        streams.sort_by_key(|(r, s)| (s.and_then(|s| s.last_event_timestamp), r.name.clone()));
    }
    if req.descending == Some(true) {
        streams.reverse();
    }
    let total = streams.len();
    let next_token =
        (start + limit < total).then(|| pagination::encode_token(&(start + limit).to_string()));
    Ok(DescribeLogStreamsResponse {
        log_streams: Some(
            streams
                .into_iter()
                .skip(start)
                .take(limit)
                .map(|(r, s)| wire(ctx, &group, &r, s))
                .collect(),
        ),
        next_token,
    })
}
