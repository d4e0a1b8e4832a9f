//! `nextToken` / `maxResults` as ECS does them. A token is the opaque (base64url) key of
//! the last item returned; the next page starts strictly after it. A token that was not
//! minted for this listing is an `InvalidParameterException`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_api::error::ApiError;
use berth_store::Store;

use berth_store::records::Stored;

use crate::records::{decode, store_error, Record};

/// The page size when `maxResults` is absent, and its upper bound, for ECS's lists.
pub const DEFAULT_MAX_RESULTS: usize = 100;

/// Validates `maxResults` (1..=`max`), defaulting to `max`.
pub fn max_results(given: Option<i32>, max: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(max),
        Some(n) if n >= 1 && (n as usize) <= max => Ok(n as usize),
        Some(n) => Err(ApiError::InvalidParameter(format!(
            "maxResults must be between 1 and {max}; got {n}."
        ))),
    }
}

/// Mints the token that continues after `last_key`.
pub fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

/// Reads a token back into the key to continue after; it must lie under `prefix`.
pub fn decode_token(token: Option<&str>, prefix: &str) -> Result<Option<String>, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = || ApiError::InvalidParameter("Invalid nextToken specified.".into());
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let key = String::from_utf8(bytes).map_err(|_| invalid())?;
    if !key.starts_with(prefix) {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// One page of the records under `prefix` that pass `keep`, in key order, and the token
/// for the next page when more may follow.
pub async fn filtered_page<T, F>(
    store: &dyn Store,
    prefix: &str,
    token: Option<&str>,
    max: usize,
    mut keep: F,
) -> Result<(Vec<Record<T>>, Option<String>), ApiError>
where
    T: Stored,
    F: FnMut(&Record<T>) -> bool,
{
    let mut after = decode_token(token, prefix)?;
    let mut out = Vec::new();
    let chunk = (max * 2).clamp(64, 1024);
    loop {
        let page = store
            .page(prefix, after.as_deref(), chunk)
            .await
            .map_err(store_error)?;
        let n = page.kvs.len();
        for kv in page.kvs {
            let key = kv.key.clone();
            let record = decode::<T>(kv)?;
            if keep(&record) {
                out.push(record);
                if out.len() == max {
                    return Ok((out, Some(encode_token(&key))));
                }
            }
            after = Some(key);
        }
        if !page.more || n == 0 {
            return Ok((out, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_in_their_listing() {
        let t = encode_token("/ecs/a/r/clusters/x");
        assert_eq!(
            decode_token(Some(&t), "/ecs/a/r/clusters/")
                .unwrap()
                .unwrap(),
            "/ecs/a/r/clusters/x"
        );
        assert!(decode_token(Some(&t), "/ecs/a/r/tasks/").is_err());
        assert!(decode_token(Some("!!not-base64"), "/").is_err());
        assert_eq!(decode_token(None, "/").unwrap(), None);
    }

    #[test]
    fn max_results_bounds() {
        assert_eq!(max_results(None, 100).unwrap(), 100);
        assert_eq!(max_results(Some(1), 100).unwrap(), 1);
        assert!(max_results(Some(0), 100).is_err());
        assert!(max_results(Some(101), 100).is_err());
    }
}
