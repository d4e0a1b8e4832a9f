//! Secrets: AWS Secrets Manager (`secretsmanager`, JSON 1.1) in [`manager`], SSM
//! Parameter Store (`AmazonSSM`, JSON 1.1, SigV4 service `ssm`) in [`parameters`], the
//! key that seals their values at rest in [`cipher`], and what a task's execution role
//! reads for its containers (`secrets`, `repositoryCredentials`) in [`for_tasks`].
//!
//! Secrets and parameters are records of the caller's account and region
//! ([`crate::keys::SecretKeys`]); their values are sealed before they are written and
//! opened only to answer a caller IAM allowed (GetSecretValue, GetParameter with
//! decryption) or an agent starting a task whose execution role may read them. Values
//! are never logged and never part of a task's record.

use std::sync::Arc;

use berth_api::error::ApiError;

use crate::context::Ctx;

pub mod cipher;
pub mod for_tasks;
pub mod manager;
pub mod parameters;

/// The state both services share: the key values are sealed with.
pub struct Secrets {
    pub key: Arc<cipher::SecretsKey>,
}

/// One call of either service: the request's context and the services' state.
pub struct Call<'a> {
    pub ctx: &'a Ctx,
    pub secrets: &'a Secrets,
}

impl std::ops::Deref for Call<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx
    }
}

/// The error for a value that does not open (the key changed, or the store was
/// altered): the request cannot be served, and says why.
pub(crate) fn unreadable(what: &str, e: cipher::OpenError) -> ApiError {
    ApiError::DecryptionFailure(format!("{what} cannot be decrypted: {e}."))
}

/// Tags from the wire's `Key`/`Value` pairs onto `tags`: a key already there takes the
/// new value in place; new keys are appended.
pub(crate) fn merge_tags(tags: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (k, v) in new {
        match tags.iter_mut().find(|(have, _)| *have == k) {
            Some(slot) => slot.1 = v,
            None => tags.push((k, v)),
        }
    }
}
