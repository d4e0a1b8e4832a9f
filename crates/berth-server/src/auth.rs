//! Who is calling: every API request is verified with SigV4 against the access keys
//! Berth knows, and the credential scope decides the account and region it acts in.

use std::collections::HashMap;
use std::sync::RwLock;

use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_sigv4::{AuthError, Identity as KeyIdentity, Request};
use http::request::Parts;

use crate::context::{Caller, Core};
use crate::identity::Identity;

/// The keys Berth accepts, and a SigV4 verifier that caches derived signing keys.
pub struct Verifier {
    sigv4: berth_sigv4::Verifier,
    keys: RwLock<HashMap<String, KeyIdentity>>,
    /// Task role sessions seen so far, with when they expire
    /// (task role credentials).
    sessions: RwLock<HashMap<String, (KeyIdentity, Timestamp)>>,
}

impl Verifier {
    /// Accepts the account's long-term key.
    pub fn new(identity: &Identity) -> Verifier {
        let mut keys = HashMap::new();
        keys.insert(
            identity.access_key_id.clone(),
            KeyIdentity {
                secret_access_key: identity.secret_access_key.clone(),
                account_id: identity.account_id.clone(),
                session_token: None,
            },
        );
        Verifier {
            sigv4: berth_sigv4::Verifier::new(),
            keys: RwLock::new(keys),
            sessions: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the session `id` is loaded and unexpired at `now`.
    pub fn has_session(&self, id: &str, now: Timestamp) -> bool {
        let sessions = self.sessions.read().expect("session table lock");
        sessions.get(id).is_some_and(|(_, expires)| *expires > now)
    }

    /// Accepts the temporary key `id` until `expires`; sessions expired at `now` are
    /// dropped.
    pub fn add_session(
        &self,
        id: String,
        identity: KeyIdentity,
        expires: Timestamp,
        now: Timestamp,
    ) {
        let mut sessions = self.sessions.write().expect("session table lock");
        sessions.retain(|_, (_, e)| *e > now);
        sessions.insert(id, (identity, expires));
    }
}

/// Verifies a request's signature; `service` is the signing name it must be scoped to.
pub fn authenticate(
    core: &Core,
    verifier: &Verifier,
    parts: &Parts,
    body: &[u8],
    service: Option<&str>,
) -> Result<Caller, ApiError> {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(
        (core.clock.now().as_secs_f64() * 1e9) as i128,
    )
    .map_err(|e| ApiError::Server(format!("clock out of range: {e}")))?;
    let keys = verifier.keys.read().expect("key table lock");
    let sessions = verifier.sessions.read().expect("session table lock");
    let now_ts = core.clock.now();
    let lookup = |id: &str| {
        keys.get(id).cloned().or_else(|| {
            sessions
                .get(id)
                .filter(|(_, expires)| *expires > now_ts)
                .map(|(identity, _)| identity.clone())
        })
    };
    let verified = verifier
        .sigv4
        .verify(&Request::from_parts(parts, body), &lookup, now, service)
        .map_err(auth_error)?;
    Ok(Caller {
        principal_arn: format!("arn:aws:iam::{}:root", verified.account_id),
        account: verified.account_id,
        region: verified.region,
        access_key_id: verified.access_key_id,
    })
}

/// The API error for a failed authentication.
pub fn auth_error(e: AuthError) -> ApiError {
    if let AuthError::InvalidSignature {
        mismatch: Some(m), ..
    } = &e
    {
        tracing::debug!(canonical_request = %m.canonical_request, "signature mismatch");
    }
    let message = e.message();
    match e {
        AuthError::MissingAuthenticationToken => ApiError::MissingAuthenticationToken(message),
        AuthError::IncompleteSignature(_) => ApiError::IncompleteSignature(message),
        AuthError::InvalidSignature { .. } => ApiError::InvalidSignature(message),
        AuthError::UnrecognizedClient(_) => ApiError::UnrecognizedClient(message),
    }
}
