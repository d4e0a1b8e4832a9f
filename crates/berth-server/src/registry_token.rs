//! The registry's login tokens: what ECR's GetAuthorizationToken hands out and what
//! `docker login --username AWS --password-stdin` sends back as a password.
//!
//! A token names its account, region, expiry and the principal that asked for it, and
//! carries an HMAC-SHA256 of them under a key kept in the store (`/registry/token-key`,
//! made on first use), so every replica verifies any replica's tokens and a restart
//! invalidates none. Tokens are `v2.ACCOUNT.REGION.EXPIRES.PRINCIPAL.MAC` with the
//! principal as JSON and it and the MAC in unpadded base64url; they last [`LIFETIME`],
//! as ECR's do. Each registry request is then authorized as that principal.
//!
//! The same key signs the download grants in GetDownloadUrlForLayer's URLs (Berth's
//! counterpart of ECR's pre-signed S3 URLs): one layer of one repository, for
//! [`DOWNLOAD_LIFETIME`], as `d1.PAYLOAD.MAC` with the payload (account, region,
//! repository, digest, expiry) in unpadded base64url JSON.

use std::time::Duration;

use base64::Engine;
use berth_api::error::ApiError;
use berth_store::{Compare, Store, Txn};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::context::Principal;
use crate::records::{self, store_error, Step};

/// How long a token is good for.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long a layer download URL is good for.
pub const DOWNLOAD_LIFETIME: Duration = Duration::from_secs(3600);

const KEY: &str = "/registry/token-key";

/// What a download grant allows: fetching one layer of one repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DownloadGrant {
    pub account: String,
    pub region: String,
    pub repository: String,
    pub digest: String,
    /// Seconds since the Unix epoch.
    pub expires: i64,
}

/// The signing key.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a Berth registry token")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token expired; get a new one with `aws ecr get-login-password`")]
    Expired,
}

/// The account, region and principal a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    pub account: String,
    pub region: String,
    pub principal: Principal,
}

impl TokenKey {
    /// Reads the key from the store, creating it if no replica has yet.
    pub async fn load_or_create(store: &dyn Store) -> Result<TokenKey, ApiError> {
        records::update(store, "The registry's token key", || async move {
            if let Some(kv) = store.get(KEY).await.map_err(store_error)? {
                return Ok(Step::Done(TokenKey(kv.value.to_vec())));
            }
            let mut key = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            let txn = Txn::new()
                .when(Compare::absent(KEY))
                .then(berth_store::Op::put(KEY, key.clone()));
            Ok(Step::Commit(txn, TokenKey(key)))
        })
        .await
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `principal` of `account` in `region`, good until `expires` (seconds
    /// since the epoch).
    pub fn mint(&self, account: &str, region: &str, expires: i64, principal: &Principal) -> String {
        let who = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(principal).expect("a principal serializes"));
        let payload = format!("v2.{account}.{region}.{expires}.{who}");
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{mac}")
    }

    /// Signs a download grant into the token its URL carries.
    pub fn sign_download(&self, grant: &DownloadGrant) -> String {
        let json = serde_json::to_vec(grant).unwrap_or_default();
        let payload = format!(
            "d1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        );
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{mac}")
    }

    /// Checks a download token at `now` (seconds since the epoch).
    pub fn verify_download(&self, token: &str, now: i64) -> Result<DownloadGrant, TokenError> {
        let (payload, mac) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let encoded = payload.strip_prefix("d1.").ok_or(TokenError::Malformed)?;
        self.check_mac(payload, mac)?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| TokenError::Malformed)?;
        let grant: DownloadGrant =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if now >= grant.expires {
            return Err(TokenError::Expired);
        }
        Ok(grant)
    }

    fn check_mac(&self, payload: &str, mac: &str) -> Result<(), TokenError> {
        let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        check.update(payload.as_bytes());
        check
            .verify_slice(&given)
            .map_err(|_| TokenError::BadSignature)
    }

    /// Checks `token` at `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<TokenScope, TokenError> {
        let (payload, mac) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [version, account, region, expires, who] = parts.as_slice() else {
            return Err(TokenError::Malformed);
        };
        if *version != "v2" {
            return Err(TokenError::Malformed);
        }
        self.check_mac(payload, mac)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        if now >= expires {
            return Err(TokenError::Expired);
        }
        let principal = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(who)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        Ok(TokenScope {
            account: account.to_string(),
            region: region.to_string(),
            principal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> TokenKey {
        TokenKey(vec![byte; 32])
    }

    fn ana() -> Principal {
        Principal::User {
            name: "ana".into(),
            id: "AIDAEXAMPLE".into(),
            arn: "arn:aws:iam::000000000000:user/ana".into(),
        }
    }

    #[test]
    fn a_token_speaks_for_its_account_region_and_principal_until_it_expires() {
        let k = key(1);
        let token = k.mint("000000000000", "us-east-1", 1_000, &ana());
        assert_eq!(
            k.verify(&token, 999),
            Ok(TokenScope {
                account: "000000000000".into(),
                region: "us-east-1".into(),
                principal: ana(),
            })
        );
        assert_eq!(k.verify(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn download_grants_name_one_layer_until_they_expire() {
        let grant = DownloadGrant {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            repository: "team/app.v2".into(),
            digest: "sha256:00".into(),
            expires: 1_000,
        };
        let token = key(1).sign_download(&grant);
        assert_eq!(key(1).verify_download(&token, 999), Ok(grant.clone()));
        assert_eq!(
            key(1).verify_download(&token, 1_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            key(2).verify_download(&token, 0),
            Err(TokenError::BadSignature)
        );
        // A login token is not a download grant, nor the other way round.
        let login = key(1).mint("000000000000", "us-east-1", 1_000, &Principal::Root);
        assert_eq!(
            key(1).verify_download(&login, 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(key(1).verify(&token, 0), Err(TokenError::Malformed));
        let (payload, mac) = token.rsplit_once('.').unwrap();
        let other = DownloadGrant {
            repository: "team/other".into(),
            ..grant
        };
        let forged = format!(
            "d1.{}.{mac}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&other).unwrap())
        );
        assert_ne!(forged.rsplit_once('.').unwrap().0, payload);
        assert_eq!(
            key(1).verify_download(&forged, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_foreign_and_garbled_tokens_are_refused() {
        let token = key(1).mint("000000000000", "us-east-1", 1_000, &ana());
        assert_eq!(key(2).verify(&token, 0), Err(TokenError::BadSignature));
        let other_account = token.replacen("000000000000", "111111111111", 1);
        assert_eq!(
            key(1).verify(&other_account, 0),
            Err(TokenError::BadSignature)
        );
        let later = token.replacen(".1000.", ".9999.", 1);
        assert_eq!(key(1).verify(&later, 0), Err(TokenError::BadSignature));
        // Someone else's principal under the same MAC.
        let root = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&Principal::Root).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let as_root = format!(
            "v2.{}.{}.{}.{root}.{}",
            parts[1], parts[2], parts[3], parts[5]
        );
        assert_eq!(key(1).verify(&as_root, 0), Err(TokenError::BadSignature));
        for bad in [
            "",
            "v1",
            "v1.a.b.1.AAAA",
            "v2.a.b.1.AAAA",
            "v2.a.b.c.d.e.f",
            "v2.a.b.1.x.!!",
        ] {
            assert_eq!(key(1).verify(bad, 0), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[tokio::test]
    async fn every_replica_reads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = berth_store::embedded::EmbeddedStore::open(dir.path()).unwrap();
        let first = TokenKey::load_or_create(&store).await.unwrap();
        let second = TokenKey::load_or_create(&store).await.unwrap();
        let token = first.mint("0", "r", 10, &Principal::Root);
        assert!(second.verify(&token, 0).is_ok());
    }
}
