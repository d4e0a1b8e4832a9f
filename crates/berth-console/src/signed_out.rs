//! Signing out on the server: the store keeps, for each access key or user, when its
//! console sessions were last signed out of, and a session issued before that is
//! refused. One record per principal (never one per session), so nothing piles up;
//! signing out ends every console session of that key or user, on every replica.

use berth_server::sign_in::SignedIn;
use berth_store::{Op, Store, StoreError, Txn};

/// Where the sign-out time of `who` in `account` is kept.
fn key(account: &str, who: &SignedIn) -> String {
    match who {
        SignedIn::Key { access_key_id } => {
            format!("/console/{account}/signed-out/key/{access_key_id}")
        }
        SignedIn::User { name } => format!("/console/{account}/signed-out/user/{name}"),
    }
}

/// When `who`'s sessions were last signed out of (milliseconds since the epoch), if
/// ever.
pub async fn since(
    store: &dyn Store,
    account: &str,
    who: &SignedIn,
) -> Result<Option<i64>, StoreError> {
    Ok(store
        .get(&key(account, who))
        .await?
        .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok()))
}

/// Ends `who`'s sessions issued up to `now` (milliseconds since the epoch).
pub async fn record(
    store: &dyn Store,
    account: &str,
    who: &SignedIn,
    now: i64,
) -> Result<(), StoreError> {
    store
        .txn(Txn::new().then(Op::put(key(account, who), now.to_string().into_bytes())))
        .await
        .map(|_| ())
}
