//! Random tokens (sessions, API keys, CSRF) and their stored hashes.
//! Tokens are ≥ 128 bits from the OS CSPRNG; only a SHA-256 of a token is ever stored,
//! which is enough because the token itself carries the entropy (no password to guess).

use sha2::{Digest, Sha256};

/// A freshly minted secret, shown once and then only known by its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The stored form of a secret: hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(pub String);

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// A random lowercase hex token of `BYTES` bytes (so `BYTES * 8` bits).
pub fn random_hex<const BYTES: usize>() -> String {
    hex::encode(random_bytes::<BYTES>())
}

impl Secret {
    /// A new random secret with `prefix` (e.g. `vk_` for API keys) and 192 bits of entropy.
    pub fn generate(prefix: &str) -> Self {
        Self(format!("{prefix}{}", random_hex::<24>()))
    }

    /// Wraps a secret presented by a client, for hashing and comparison.
    pub fn presented(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash(sha256_hex(&self.0))
    }

    /// The first characters, stored in clear so a person can tell keys apart in a list.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(11).collect()
    }
}

/// Hex SHA-256 of any text (stored hashes of tokens, checksums of migrations).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Constant-time comparison for short secrets such as CSRF tokens.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hash_stably() {
        let a = Secret::generate("vk_");
        let b = Secret::generate("vk_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("vk_"));
        assert_eq!(a.expose().len(), 3 + 48);
        assert_eq!(a.hash(), Secret::presented(a.expose()).hash());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
