//! Signing in without SigV4, for the web console: with an access key pair (the account
//! root's, or an IAM user's active key) or an IAM user's name and console password
//! (its login profile). A sign-in yields a [`SignedIn`], which a console session keeps;
//! each request of the session turns it back into a [`Caller`] with [`caller`], so a
//! key made inactive, a user deleted or a password removed ends the session at once.
//! Calls are then made through [`crate::protocol::call`], authorized like any other.

use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::context::{Caller, Principal};
use crate::protocol::FrontDoor;

/// Who a console session acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignedIn {
    /// Signed in with this access key (and its secret, checked once).
    Key { access_key_id: String },
    /// Signed in as this IAM user with its console password.
    User { name: String },
}

/// One refusal for every wrong sign-in, so it tells nothing about which part was wrong.
fn refused() -> ApiError {
    ApiError::AccessDenied("The sign-in details are not correct.".into())
}

/// Whether two strings are equal, compared in constant time for equal lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Signs in with an access key pair. Temporary (session) keys are refused: a console
/// session outliving them would be confusing.
pub async fn with_key(
    front: &FrontDoor,
    access_key_id: &str,
    secret: &str,
) -> Result<SignedIn, ApiError> {
    let directory = &front.verifier.directory;
    if !front.verifier.is_root_key(access_key_id) && !directory.knows(access_key_id) {
        directory
            .fetch(access_key_id)
            .await
            .map_err(crate::records::store_error)?;
    }
    let expected = front
        .verifier
        .long_term_secret(access_key_id, front.core.clock.now())
        .ok_or_else(refused)?;
    if !same(&expected, secret) {
        return Err(refused());
    }
    Ok(SignedIn::Key {
        access_key_id: access_key_id.to_string(),
    })
}

/// Signs in as an IAM user with its console password. The check takes a moment on
/// purpose (PBKDF2), on a blocking thread.
pub async fn with_password(
    front: &FrontDoor,
    user_name: &str,
    password: &str,
) -> Result<SignedIn, ApiError> {
    let user = front
        .verifier
        .directory
        .user(user_name)
        .ok_or_else(refused)?;
    let profile = user.login_profile.clone().ok_or_else(refused)?;
    let password = password.to_string();
    let matches = tokio::task::spawn_blocking(move || {
        crate::iam::login_profiles::password_matches(&profile, &password)
    })
    .await
    .map_err(|e| ApiError::Server(format!("checking the password failed: {e}")))?;
    if !matches {
        return Err(refused());
    }
    Ok(SignedIn::User {
        name: user.entity.name.clone(),
    })
}

/// The caller a session acts as now, in `region`; refused once its key or user is gone.
pub fn caller(front: &FrontDoor, who: &SignedIn, region: &str) -> Result<Caller, ApiError> {
    let account = front.core.account.clone();
    let gone = || {
        ApiError::AccessDenied(
            "The console session's sign-in is no longer valid; sign in again.".into(),
        )
    };
    let (principal, access_key_id) = match who {
        SignedIn::Key { access_key_id } => {
            let principal = front
                .verifier
                .long_term_principal(access_key_id, front.core.clock.now())
                .ok_or_else(gone)?;
            (principal, access_key_id.clone())
        }
        SignedIn::User { name } => {
            let user = front.verifier.directory.user(name).ok_or_else(gone)?;
            if user.login_profile.is_none() {
                return Err(gone());
            }
            (
                Principal::User {
                    name: user.entity.name.clone(),
                    id: user.entity.id.clone(),
                    arn: user.entity.arn.clone(),
                },
                String::new(),
            )
        }
    };
    Ok(Caller {
        principal_arn: principal.arn(&account),
        principal,
        account,
        region: region.to_string(),
        access_key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_string_is_the_same() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(same("", ""));
    }
}
