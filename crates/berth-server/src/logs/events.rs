//! Log events: PutLogEvents (CloudWatch's batch rules, rejected events reported, sequence
//! tokens accepted and not required), GetLogEvents (both tokens, with AWS's semantics:
//! the latest events first unless `startFromHead`, and the same forward token back at
//! the end of a stream) and FilterLogEvents (several streams interleaved by time, filter
//! patterns, paged).
//!
//! GetLogEvents' tokens are `f/TIMESTAMP/SEQ` (read on after that event) and
//! `b/TIMESTAMP/SEQ` (read back before it); clients treat them as opaque.

use berth_api::error::ApiError;
use berth_api::logs::{
    FilterLogEventsRequest, FilterLogEventsResponse, FilteredLogEvent, GetLogEventsRequest,
    GetLogEventsResponse, OutputLogEvent, PutLogEventsRequest, PutLogEventsResponse,
    RejectedLogEventsInfo,
};
use berth_logs::catalog::now_millis;
use berth_logs::filter::FilterPattern;
use berth_logs::search::{self, Key, Search, Searched};
use berth_logs::{Cursor, Direction, NewEvent, Position, ReadQuery};

use super::Call;
use super::{
    catalog_error, check_group_name, check_stream_name, group_named, scope, storage_error,
};

/// Most events one GetLogEvents or FilterLogEvents call returns, and the default.
const MAX_EVENTS_PAGE: i32 = 10_000;

fn page_limit(limit: Option<i32>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(MAX_EVENTS_PAGE as usize),
        Some(n @ 1..=MAX_EVENTS_PAGE) => Ok(n as usize),
        Some(n) => Err(ApiError::InvalidParameter(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
             Member must have value between 1 and {MAX_EVENTS_PAGE}"
        ))),
    }
}

pub async fn put(
    ctx: &Call<'_>,
    req: PutLogEventsRequest,
) -> Result<PutLogEventsResponse, ApiError> {
    check_group_name(&req.log_group_name)?;
    check_stream_name(&req.log_stream_name)?;
    let catalog = &ctx.logs.catalog;
    let scope = scope(ctx);
    let group = catalog
        .group(&scope, &req.log_group_name)
        .await
        .map_err(catalog_error)?;
    let stream = catalog
        .stream(&scope, &req.log_group_name, &req.log_stream_name)
        .await
        .map_err(catalog_error)?;
    let now = now_millis();
    let verdict = berth_logs::batch::check(
        req.log_events
            .iter()
            .map(|e| (e.timestamp, e.message.as_str())),
        now,
        group.retention_days,
    )
    .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    let accepted: Vec<NewEvent> = req
        .log_events
        .into_iter()
        .skip(verdict.accepted.start)
        .take(verdict.accepted.len())
        .map(|e| NewEvent {
            timestamp: e.timestamp,
            message: e.message,
        })
        .collect();
    if !accepted.is_empty() {
        ctx.logs
            .events
            .append(&stream.storage_id, accepted, now)
            .await
            .map_err(storage_error)?;
    }
    let next_seq = ctx
        .logs
        .events
        .summary(&stream.storage_id)
        .await
        .map_err(storage_error)?
        .map_or(1, |s| s.next_seq);
    let rejected = [
        verdict.too_new_start,
        verdict.too_old_end,
        verdict.expired_end,
    ]
    .iter()
    .any(Option::is_some)
    .then(|| RejectedLogEventsInfo {
        too_new_log_event_start_index: verdict.too_new_start.map(|i| i as i32),
        too_old_log_event_end_index: verdict.too_old_end.map(|i| i as i32),
        expired_log_event_end_index: verdict.expired_end.map(|i| i as i32),
    });
    Ok(PutLogEventsResponse {
        next_sequence_token: Some(next_seq.to_string()),
        rejected_log_events_info: rejected,
        rejected_entity_info: None,
    })
}

fn token(direction: Direction, p: Position) -> String {
    let d = match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{d}/{}/{}", p.timestamp, p.seq)
}

fn cursor_of(token: &str) -> Result<Cursor, ApiError> {
    let invalid = || ApiError::InvalidParameter("The specified nextToken is invalid.".into());
    let mut parts = token.splitn(3, '/');
    let (Some(d), Some(t), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let position = Position {
        timestamp: t.parse().map_err(|_| invalid())?,
        seq: s.parse().map_err(|_| invalid())?,
    };
    match d {
        "f" => Ok(Cursor::After(position)),
        "b" => Ok(Cursor::Before(position)),
        _ => Err(invalid()),
    }
}

pub async fn get(
    ctx: &Call<'_>,
    req: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, ApiError> {
    let group = group_named(
        ctx,
        req.log_group_name.as_deref(),
        req.log_group_identifier.as_deref(),
    )?;
    check_stream_name(&req.log_stream_name)?;
    let limit = page_limit(req.limit)?;
    let stream = ctx
        .logs
        .catalog
        .stream(&scope(ctx), &group, &req.log_stream_name)
        .await
        .map_err(catalog_error)?;
    let from = match &req.next_token {
        Some(t) => cursor_of(t)?,
        None if req.start_from_head == Some(true) => Cursor::Oldest,
        None => Cursor::Newest,
    };
    let page = ctx
        .logs
        .events
        .read(
            &stream.storage_id,
            ReadQuery {
                start_time: req.start_time,
                end_time: req.end_time,
                from,
                limit,
            },
        )
        .await
        .map_err(storage_error)?;
    let mut events = page.events;
    if from.direction() == Direction::Backward {
        events.reverse();
    }
    // The walk's own continuation, and the other direction's from the page's far end;
    // an empty page keeps the cursor it was read from.
    let (forward, backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (
            Cursor::After(last.position()),
            Cursor::Before(first.position()),
        ),
        _ => match from {
            Cursor::After(p) => (Cursor::After(p), Cursor::Before(p)),
            Cursor::Before(p) => (Cursor::After(p), Cursor::Before(p)),
            Cursor::Oldest | Cursor::Newest => {
                (Cursor::After(Position::MIN), Cursor::Before(Position::MIN))
            }
        },
    };
    let as_token = |c: Cursor| match c {
        Cursor::After(p) => token(Direction::Forward, p),
        Cursor::Before(p) => token(Direction::Backward, p),
        Cursor::Oldest => token(Direction::Forward, Position::MIN),
        Cursor::Newest => token(Direction::Backward, Position::MAX),
    };
    Ok(GetLogEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|e| OutputLogEvent {
                    timestamp: Some(e.timestamp),
                    message: Some(e.message),
                    ingestion_time: Some(e.ingestion_time),
                })
                .collect(),
        ),
        next_forward_token: Some(as_token(forward)),
        next_backward_token: Some(as_token(backward)),
    })
}

pub async fn filter(
    ctx: &Call<'_>,
    req: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, ApiError> {
    let group = group_named(
        ctx,
        req.log_group_name.as_deref(),
        req.log_group_identifier.as_deref(),
    )?;
    let limit = page_limit(req.limit)?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::InvalidParameter(
            "logStreamNames and logStreamNamePrefix are mutually exclusive".into(),
        ));
    }
    let pattern = FilterPattern::parse(req.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    let after = match &req.next_token {
        Some(t) => Some(Key::from_token(t).ok_or_else(|| {
            ApiError::InvalidParameter("The specified nextToken is invalid.".into())
        })?),
        None => None,
    };
    let prefix = req.log_stream_name_prefix.as_deref().unwrap_or("");
    let listed = ctx
        .logs
        .catalog
        .list_streams(&scope(ctx), &group, prefix, None, 0)
        .await
        .map_err(catalog_error)?;
    let streams: Vec<Searched> = listed
        .items
        .into_iter()
        .filter(|s| {
            req.log_stream_names
                .as_ref()
                .is_none_or(|names| names.contains(&s.name))
        })
        .map(|s| Searched {
            name: s.name,
            storage_id: s.storage_id,
        })
        .collect();
    let page = search::search(
        &ctx.logs.events,
        &streams,
        Search {
            pattern: &pattern,
            start_time: req.start_time,
            end_time: req.end_time,
            after,
            limit,
            scan_budget: search::SCAN_BUDGET,
        },
    )
    .await
    .map_err(storage_error)?;
    Ok(FilterLogEventsResponse {
        events: Some(
            page.events
                .into_iter()
                .map(|f| FilteredLogEvent {
                    event_id: Some(format!("{}-{}", f.storage_id, f.event.seq)),
                    log_stream_name: Some(f.stream),
                    timestamp: Some(f.event.timestamp),
                    message: Some(f.event.message),
                    ingestion_time: Some(f.event.ingestion_time),
                })
                .collect(),
        ),
        searched_log_streams: None,
        next_token: page.next.map(|k| k.token()),
    })
}
