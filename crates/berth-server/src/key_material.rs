//! AWS-shaped key material for the keys Berth issues: access key ids (`AKIA` for an IAM
//! user's long-term key, `ASIA` for a session, then 16 characters of base32's
//! alphabet), 40-character secret access keys and session tokens, all from the thread's
//! cryptographically secure generator.

use rand::Rng;

const KEY_ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A long-term access key id: `AKIA…`.
pub fn long_term_key_id() -> String {
    format!("AKIA{}", random(KEY_ID, 16))
}

/// A session's access key id: `ASIA…`.
pub fn session_key_id() -> String {
    format!("ASIA{}", random(KEY_ID, 16))
}

/// A secret access key.
pub fn secret_access_key() -> String {
    random(SECRET, 40)
}

/// A session token of `len` characters.
pub fn session_token(len: usize) -> String {
    random(SECRET, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_has_aws_shapes() {
        let (long, session) = (long_term_key_id(), session_key_id());
        assert!(long.starts_with("AKIA") && session.starts_with("ASIA"));
        for id in [&long, &session] {
            assert_eq!(id.len(), 20);
            assert!(id.bytes().all(|b| KEY_ID.contains(&b)));
        }
        assert_ne!(long_term_key_id(), long, "fresh each time");
        assert_eq!(secret_access_key().len(), 40);
        assert!(session_token(160).bytes().all(|b| SECRET.contains(&b)));
    }
}
