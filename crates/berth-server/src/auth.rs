//! Who is calling: every API request is verified with SigV4 against the access keys
//! Berth knows (the account root's, IAM users' and sessions' from the IAM
//! [`Directory`], task role sessions), and the credential scope decides the account and
//! region it acts in. The key decides the [`Principal`].

use std::collections::HashMap;
use std::sync::RwLock;

use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_sigv4::{AuthError, Identity as KeyIdentity, Request};
use http::request::Parts;

use crate::context::{Caller, Core, Principal};
use crate::iam::directory::Directory;
use crate::identity::Identity;

/// A task role session: its key, when it expires, and its role.
struct TaskSession {
    key: KeyIdentity,
    expires: Timestamp,
    role_arn: String,
    task_id: String,
}

/// The keys Berth accepts, and a SigV4 verifier that caches derived signing keys.
pub struct Verifier {
    sigv4: berth_sigv4::Verifier,
    /// The account root's key.
    keys: RwLock<HashMap<String, KeyIdentity>>,
    /// Task role sessions seen so far (task role credentials).
    sessions: RwLock<HashMap<String, TaskSession>>,
    /// IAM's users' keys and STS sessions.
    pub directory: std::sync::Arc<Directory>,
}

impl Verifier {
    /// Accepts the account's long-term key, and the keys `directory` holds.
    pub fn new(identity: &Identity, directory: std::sync::Arc<Directory>) -> Verifier {
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
            directory,
        }
    }

    /// Whether the session `id` is loaded and unexpired at `now`.
    pub fn has_session(&self, id: &str, now: Timestamp) -> bool {
        let sessions = self.sessions.read().expect("session table lock");
        sessions.get(id).is_some_and(|s| s.expires > now)
    }

    /// Accepts the temporary key `id` of a session of `role_arn` for task `task_id`
    /// until `expires`; sessions expired at `now` are dropped.
    pub fn add_session(
        &self,
        id: String,
        identity: KeyIdentity,
        expires: Timestamp,
        role_arn: String,
        task_id: String,
        now: Timestamp,
    ) {
        let mut sessions = self.sessions.write().expect("session table lock");
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id,
            TaskSession {
                key: identity,
                expires,
                role_arn,
                task_id,
            },
        );
    }

    /// Whether `id` is the account root's key.
    pub fn is_root_key(&self, id: &str) -> bool {
        self.keys.read().expect("key table lock").contains_key(id)
    }

    /// The secret of long-term key `id` (the root's, or an IAM user's active key) at
    /// `now`; none for session keys and unknown or inactive keys.
    pub fn long_term_secret(&self, id: &str, now: Timestamp) -> Option<String> {
        if let Some(k) = self.keys.read().expect("key table lock").get(id) {
            return Some(k.secret_access_key.clone());
        }
        self.directory
            .credentials(id, now)
            .filter(|c| c.session_token.is_none())
            .map(|c| c.secret_access_key)
    }

    /// Who long-term key `id` acts as at `now` (see [`Verifier::long_term_secret`]).
    pub fn long_term_principal(&self, id: &str, now: Timestamp) -> Option<Principal> {
        if self.is_root_key(id) {
            return Some(Principal::Root);
        }
        self.directory
            .credentials(id, now)
            .filter(|c| c.session_token.is_none())
            .map(|c| c.principal)
    }

    /// The principal key `id` signs as, once its signature held.
    fn principal_of(&self, id: &str, now: Timestamp) -> Option<Principal> {
        if self.keys.read().expect("key table lock").contains_key(id) {
            return Some(Principal::Root);
        }
        if let Some(c) = self.directory.credentials(id, now) {
            return Some(c.principal);
        }
        let sessions = self.sessions.read().expect("session table lock");
        let s = sessions.get(id)?;
        let role = self.directory.role_by_arn(&s.role_arn);
        Some(Principal::Role {
            role_name: s
                .role_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            role_id: role.map(|r| r.entity.id.clone()).unwrap_or_default(),
            role_arn: s.role_arn.clone(),
            session_name: s.task_id.clone(),
        })
    }
}

/// Makes the key a request is signed with known before its signature is checked: a
/// task role session or an IAM key or session this replica has not seen yet (made a
/// moment ago, or through another replica).
pub async fn prepare(core: &Core, verifier: &Verifier, parts: &Parts) -> Result<(), ApiError> {
    crate::task_credentials::load_for(core, verifier, parts).await?;
    let Some(id) = crate::task_credentials::access_key_id(parts) else {
        return Ok(());
    };
    let ours = verifier
        .keys
        .read()
        .expect("key table lock")
        .contains_key(&id)
        || verifier.has_session(&id, core.clock.now());
    if !ours && !verifier.directory.knows(&id) {
        verifier
            .directory
            .fetch(&id)
            .await
            .map_err(crate::records::store_error)?;
    }
    Ok(())
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
        keys.get(id)
            .cloned()
            .or_else(|| {
                verifier
                    .directory
                    .credentials(id, now_ts)
                    .map(|c| KeyIdentity {
                        secret_access_key: c.secret_access_key,
                        account_id: core.account.clone(),
                        session_token: c.session_token,
                    })
            })
            .or_else(|| {
                sessions
                    .get(id)
                    .filter(|s| s.expires > now_ts)
                    .map(|s| s.key.clone())
            })
    };
    let verified = verifier
        .sigv4
        .verify(&Request::from_parts(parts, body), &lookup, now, service)
        .map_err(|e| {
            let expired = matches!(e, AuthError::UnrecognizedClient(_))
                && crate::task_credentials::access_key_id(parts)
                    .is_some_and(|id| verifier.directory.expired(&id, now_ts));
            if expired {
                ApiError::ExpiredToken(
                    "The security token included in the request is expired".into(),
                )
            } else {
                auth_error(e)
            }
        })?;
    drop((keys, sessions));
    let principal = verifier
        .principal_of(&verified.access_key_id, now_ts)
        .ok_or_else(|| {
            ApiError::UnrecognizedClient(
                "The security token included in the request is invalid.".into(),
            )
        })?;
    Ok(Caller {
        principal_arn: principal.arn(&verified.account_id),
        principal,
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
