//! Users' console passwords (login profiles): kept as salted PBKDF2-HMAC-SHA256 digests,
//! never as given. The password policy is AWS's default: at least 8 characters, and
//! three of upper case, lower case, digits and symbols.

use berth_model::iam::{LoginProfile, UserRecord};
use berth_query::Params;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::entities::{load, modify};
use super::{render, IamCtx, IamError};

/// PBKDF2 iterations for new passwords (OWASP's figure for PBKDF2-HMAC-SHA256).
const ITERATIONS: u32 = 600_000;

/// PBKDF2-HMAC-SHA256 (RFC 8018) of `password` with `salt`, one 32-byte block.
fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
    let mut first = prf.clone();
    first.update(salt);
    first.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = first.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut next = prf.clone();
        next.update(&u);
        u = next.finalize().into_bytes().into();
        for (o, b) in out.iter_mut().zip(u.iter()) {
            *o ^= b;
        }
    }
    out
}

/// Whether `password` is the one `profile` was made with.
pub fn password_matches(profile: &LoginProfile, password: &str) -> bool {
    let (Ok(salt), Ok(digest)) = (hex::decode(&profile.salt), hex::decode(&profile.digest)) else {
        return false;
    };
    let computed = pbkdf2(password.as_bytes(), &salt, profile.iterations);
    // Constant time: every byte is compared whatever the first difference.
    computed.len() == digest.len()
        && computed
            .iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Checks `password` against the default password policy.
fn check_policy(password: &str) -> Result<(), IamError> {
    let kinds = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if password.chars().count() < 8 || kinds.iter().filter(|k| **k).count() < 3 {
        return Err(IamError::PasswordPolicyViolation(
            "Password does not conform to the account password policy: at least 8 \
             characters, with three of upper case letters, lower case letters, numbers and \
             symbols."
                .into(),
        ));
    }
    Ok(())
}

/// A profile for `password`, hashed on a blocking thread (it takes a while on purpose).
async fn new_profile(
    ctx: &IamCtx<'_>,
    password: &str,
    reset_required: bool,
) -> Result<LoginProfile, IamError> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let password = password.to_string();
    let digest =
        tokio::task::spawn_blocking(move || pbkdf2(password.as_bytes(), &salt, ITERATIONS))
            .await
            .map_err(|e| IamError::ServiceFailure(format!("hashing the password failed: {e}")))?;
    Ok(LoginProfile {
        created_at: ctx.now(),
        password_reset_required: reset_required,
        salt: hex::encode(salt),
        digest: hex::encode(digest),
        iterations: ITERATIONS,
    })
}

fn respond(ctx: &IamCtx<'_>, user: &str, profile: &LoginProfile) -> String {
    ctx.respond(|x| {
        x.elem("LoginProfile", |x| {
            x.text("UserName", user);
            x.text("CreateDate", render::iso8601(profile.created_at));
            x.text("PasswordResetRequired", profile.password_reset_required);
        })
    })
}

/// CreateLoginProfile.
pub async fn create(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    let password = p.required("Password")?;
    check_policy(&password)?;
    let reset = p.bool("PasswordResetRequired")?.unwrap_or(false);
    // Hashing takes a while: done once, outside the update loop.
    let profile = new_profile(ctx, &password, reset).await?;
    let user = modify::<UserRecord>(ctx, &name, |u| {
        if u.login_profile.is_some() {
            return Err(IamError::EntityAlreadyExists(format!(
                "Login Profile for user {name} already exists."
            )));
        }
        u.login_profile = Some(profile.clone());
        Ok(())
    })
    .await?;
    Ok(respond(ctx, &user.entity.name, &profile))
}

fn no_profile(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("Login Profile for User {name} cannot be found."))
}

/// GetLoginProfile.
pub async fn get(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    let user = load::<UserRecord>(ctx, &name).await?.value;
    let profile = user.login_profile.ok_or_else(|| no_profile(&name))?;
    Ok(respond(ctx, &user.entity.name, &profile))
}

/// UpdateLoginProfile: a new password, or only whether a reset is required.
pub async fn update(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    let password = p.string("Password");
    if let Some(pw) = &password {
        check_policy(pw)?;
    }
    let reset = p.bool("PasswordResetRequired")?;
    let fresh = match password.as_deref() {
        Some(pw) => Some(new_profile(ctx, pw, false).await?),
        None => None,
    };
    modify::<UserRecord>(ctx, &name, |u| {
        let current = u.login_profile.as_mut().ok_or_else(|| no_profile(&name))?;
        if let Some(fresh) = &fresh {
            current.salt = fresh.salt.clone();
            current.digest = fresh.digest.clone();
            current.iterations = fresh.iterations;
        }
        if let Some(reset) = reset {
            current.password_reset_required = reset;
        }
        Ok(())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// DeleteLoginProfile.
pub async fn delete(ctx: &IamCtx<'_>, p: &Params) -> Result<String, IamError> {
    let name = p.required("UserName")?;
    modify::<UserRecord>(ctx, &name, |u| {
        u.login_profile
            .take()
            .map(drop)
            .ok_or_else(|| no_profile(&name))
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_rfc_6070_style_vector_for_sha256() {
        // PBKDF2-HMAC-SHA256("password", "salt", 1) and (…, 2), first 32 bytes: the
        // widely published vectors (RFC 7914 §11 lists the SHA-256 construction).
        assert_eq!(
            hex::encode(pbkdf2(b"password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hex::encode(pbkdf2(b"password", b"salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
    }

    #[test]
    fn the_password_policy_is_awss_default() {
        assert!(check_policy("Sup3r-secret").is_ok());
        assert!(check_policy("short1A").is_err(), "under 8");
        assert!(check_policy("alllowercase").is_err(), "one kind");
        assert!(check_policy("lower-and-symbols").is_err(), "two kinds");
        assert!(check_policy("lower-symbols-1").is_ok(), "three kinds");
    }

    #[test]
    fn a_password_matches_only_itself() {
        let salt = [7u8; 16];
        let profile = LoginProfile {
            created_at: berth_api::ecs::Timestamp::UNIX_EPOCH,
            password_reset_required: false,
            salt: hex::encode(salt),
            digest: hex::encode(pbkdf2(b"Sup3r-secret", &salt, 10)),
            iterations: 10,
        };
        assert!(password_matches(&profile, "Sup3r-secret"));
        assert!(!password_matches(&profile, "Sup3r-secreT"));
        assert!(!password_matches(&profile, ""));
    }
}
