//! Password verification as OpenSim's authentication service does it.

use md5::{Digest, Md5};

use crate::directory::Account;

/// Lowercase hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The stored hash for a plaintext password and salt:
/// `md5hex(md5hex(password) + ":" + salt)`.
pub fn stored_hash(password: &str, salt: &str) -> String {
    md5_hex(format!("{}:{}", md5_hex(password.as_bytes()), salt).as_bytes())
}

/// Check a client's `HashedPasswd` (lowercase hex MD5 of the password) against
/// the account. A leading `$1$` (the Perl client's viewer-login convention) is
/// stripped and the digest lowercased, as the spec's fix Q16 recommends.
pub fn verify(hashed_passwd: &str, account: &Account) -> bool {
    let digest = hashed_passwd.strip_prefix("$1$").unwrap_or(hashed_passwd).to_ascii_lowercase();
    if digest.is_empty() {
        return false;
    }
    let candidate = md5_hex(format!("{}:{}", digest, account.password_salt).as_bytes());
    constant_time_eq(candidate.as_bytes(), account.password_hash.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(password: &str) -> Account {
        Account {
            id: uuid::Uuid::nil(),
            first_name: "A".into(),
            last_name: "B".into(),
            email: String::new(),
            level: 0,
            password_hash: stored_hash(password, "salt"),
            password_salt: "salt".into(),
        }
    }

    #[test]
    fn spec_example_digest() {
        assert_eq!(md5_hex(b"password"), "5f4dcc3b5aa765d61d8327deb882cf99");
    }

    #[test]
    fn accepts_plain_prefixed_and_uppercase_digests() {
        let a = account("password");
        assert!(verify("5f4dcc3b5aa765d61d8327deb882cf99", &a));
        assert!(verify("$1$5f4dcc3b5aa765d61d8327deb882cf99", &a));
        assert!(verify("5F4DCC3B5AA765D61D8327DEB882CF99", &a));
        assert!(!verify("password", &a));
        assert!(!verify("", &a));
    }
}
