//! HMAC-SHA256, signing-key derivation, and a small bounded cache of derived keys.
//!
//! A signing key depends only on the secret, the date, the region and the service, so a server
//! derives it once a day per access key and service instead of four HMACs per request.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut first = Vec::with_capacity(4 + secret.len());
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&first, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// How many derived keys a [`KeyCache`] holds before it starts over.
pub(crate) const KEY_CACHE_CAPACITY: usize = 1024;

struct CachedKey {
    secret: String,
    key: [u8; 32],
}

/// Derived signing keys by credential scope (`AKID/date/region/service/aws4_request`). An entry
/// also remembers the secret it was derived from, so a rotated secret is never served a stale
/// key. When full, the cache is emptied: simple, bounded, and a day's working set refills it.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<String, CachedKey>>,
}

impl KeyCache {
    /// The signing key for `scope` (whose parts are `date`, `region`, `service`) and `secret`.
    pub(crate) fn get_or_derive(
        &self,
        scope: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = entries.get(scope) {
                if cached.secret == secret {
                    return cached.key;
                }
            }
        }
        let key = signing_key(secret, date, region, service);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= KEY_CACHE_CAPACITY && !entries.contains_key(scope) {
            entries.clear();
        }
        entries.insert(
            scope.to_owned(),
            CachedKey {
                secret: secret.to_owned(),
                key,
            },
        );
        key
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn signing_key_matches_the_aws_documentation_example() {
        // "Examples of how to derive a signing key for Signature Version 4" (AWS General
        // Reference): secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
        assert_eq!(
            hex::encode(signing_key(SECRET, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_returns_the_derived_key_and_follows_secret_rotation() {
        let cache = KeyCache::default();
        let scope = "AKID/20150830/us-east-1/ecs/aws4_request";
        let a = cache.get_or_derive(scope, SECRET, "20150830", "us-east-1", "ecs");
        assert_eq!(a, signing_key(SECRET, "20150830", "us-east-1", "ecs"));
        assert_eq!(
            cache.get_or_derive(scope, SECRET, "20150830", "us-east-1", "ecs"),
            a
        );
        let b = cache.get_or_derive(scope, "rotated", "20150830", "us-east-1", "ecs");
        assert_eq!(b, signing_key("rotated", "20150830", "us-east-1", "ecs"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_is_bounded() {
        let cache = KeyCache::default();
        for i in 0..KEY_CACHE_CAPACITY + 10 {
            let scope = format!("AKID{i}/20150830/us-east-1/ecs/aws4_request");
            cache.get_or_derive(&scope, SECRET, "20150830", "us-east-1", "ecs");
            assert!(cache.len() <= KEY_CACHE_CAPACITY);
        }
    }
}
