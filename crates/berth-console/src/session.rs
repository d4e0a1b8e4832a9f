//! Console sessions as signed cookies: who signed in (a [`SignedIn`]), the region they
//! look at, when the session ends, and a random nonce; sealed with HMAC-SHA256 under a
//! key derived from the account's root secret, so every replica reads the sessions any
//! replica made and a restart logs nobody out. A session ends when it expires, at
//! sign-out (see [`crate::signed_out`]), and at once when its key or user goes (checked
//! on every request by [`berth_server::sign_in::caller`]).
//!
//! CSRF: every form carries a token, the HMAC of the session's nonce; a POST whose token
//! is not its session's is refused. The sign-in form, before any session, is tied the
//! same way to a nonce cookie of its own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_server::sign_in::SignedIn;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie.
pub const COOKIE: &str = "berth_console";
/// The sign-in form's nonce cookie.
pub const SIGN_IN_COOKIE: &str = "berth_console_sign_in";
/// How long a session lasts, in seconds (12 hours, as AWS's console session).
pub const LIFETIME_SECS: i64 = 12 * 3600;

/// What a session cookie holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub who: SignedIn,
    pub region: String,
    /// When it was issued, in milliseconds since the Unix epoch.
    pub issued: i64,
    /// When it ends, in seconds since the Unix epoch.
    pub expires: i64,
    /// Random, hex; the CSRF token is derived from it.
    pub nonce: String,
}

/// Seals and opens cookies and CSRF tokens with one key.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl Sealer {
    /// A sealer whose key is derived from `secret` (the account root's secret key).
    pub fn from_secret(secret: &str) -> Sealer {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"berth-console-session-v1");
        Sealer {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.verify_slice(tag).is_ok()
    }

    /// The cookie value of `session`.
    pub fn seal(&self, session: &Session) -> String {
        let body = serde_json::to_vec(session).expect("sessions serialize");
        let tag = self.mac(&[b"session", &body]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The session a cookie value holds, if it is genuine and unexpired at `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let (body, tag) = value.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !self.verify(&[b"session", &body], &tag) {
            return None;
        }
        let session: Session = serde_json::from_slice(&body).ok()?;
        (session.expires > now).then_some(session)
    }

    /// The CSRF token of the session or sign-in form with `nonce`.
    pub fn csrf(&self, nonce: &str) -> String {
        hex::encode(self.mac(&[b"csrf", nonce.as_bytes()]))
    }

    /// Whether `token` is the CSRF token for `nonce`.
    pub fn csrf_matches(&self, nonce: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|tag| self.verify(&[b"csrf", nonce.as_bytes()], &tag))
    }
}

/// A fresh random nonce.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the console's paths, Secure
/// when the console is served over TLS. `max_age` 0 clears it.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires: i64) -> Session {
        Session {
            who: SignedIn::User {
                name: "alice".into(),
            },
            region: "us-east-1".into(),
            issued: 0,
            expires,
            nonce: nonce(),
        }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let sealer = Sealer::from_secret("root-secret");
        let s = session(1_000);
        let sealed = sealer.seal(&s);
        assert_eq!(sealer.open(&sealed, 999), Some(s));
        assert_eq!(sealer.open(&sealed, 1_000), None, "expired");
    }

    #[test]
    fn a_session_changed_or_sealed_by_another_key_does_not_open() {
        let sealer = Sealer::from_secret("root-secret");
        let sealed = sealer.seal(&session(1_000));
        assert_eq!(Sealer::from_secret("other").open(&sealed, 0), None);
        let (body, tag) = sealed.split_once('.').unwrap();
        let mut forged: Session =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        forged.who = SignedIn::Key {
            access_key_id: "AKIAROOT".into(),
        };
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(sealer.open(&format!("{forged_body}.{tag}"), 0), None);
        assert_eq!(sealer.open("garbage", 0), None);
        assert_eq!(sealer.open("a.b.c", 0), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_one_nonce() {
        let sealer = Sealer::from_secret("root-secret");
        let token = sealer.csrf("n1");
        assert!(sealer.csrf_matches("n1", &token));
        assert!(!sealer.csrf_matches("n2", &token));
        assert!(!sealer.csrf_matches("n1", ""));
        assert!(!sealer.csrf_matches("n1", "zz"));
    }

    #[test]
    fn cookies_carry_their_flags_and_are_found_by_name() {
        let c = set_cookie(COOKIE, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(!set_cookie(COOKIE, "v", 60, false).contains("Secure"));
        assert_eq!(cookie("a=1; berth_console=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("berth_console_sign_in=n", COOKIE), None);
    }
}
