//! Device tokens and partner API keys: `<prefix>_<id>_<secret>`. Only SHA-256(secret) is
//! stored; the secret is compared in constant time (`subtle`), and an unknown id costs the
//! same comparison as a known one. Tokens are never logged.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::storage::{CentralError, Result};

pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| CentralError::Storage(format!("no randomness for a token: {e}")))?;
    Ok(hex(&bytes))
}

/// A new (id, secret, token) with 256 bits of secret.
pub fn mint(prefix: &str) -> Result<(String, String, String)> {
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let token = format!("{prefix}_{id}_{secret}");
    Ok((id, secret, token))
}

/// (id, secret) of a token with `prefix`; empty strings for anything malformed (which then
/// fails verification like a wrong secret).
pub fn split<'a>(prefix: &str, token: &'a str) -> (&'a str, &'a str) {
    token
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|rest| rest.split_once('_'))
        .unwrap_or(("", ""))
}

/// Whether SHA-256(`secret`) equals `stored`, in constant time.
pub fn verify(secret: &str, stored: Option<&[u8]>) -> bool {
    let given = digest(secret);
    let (expected, known) = match stored {
        Some(s) if s.len() == 32 => (s, true),
        _ => (&[0u8; 32][..], false),
    };
    let equal: bool = given.ct_eq(expected).into();
    equal && known && !secret.is_empty()
}

/// Constant-time equality of two texts (e.g. the retailer name a key is for).
pub fn same_text(a: &str, b: &str) -> bool {
    digest(a).ct_eq(&digest(b)).into()
}

/// A name as compared: Unicode NFC ("ō" typed as one character or as "o" + a macron is the
/// same name) and trimmed. Case and inner spaces still count: the contract says "exactly".
pub fn normalise_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.trim().nfc().collect()
}

/// Whether two retailer names are the same once normalised, in constant time.
pub fn same_name(a: &str, b: &str) -> bool {
    same_text(&normalise_name(a), &normalise_name(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_after_unicode_normalisation() {
        let composed = "K\u{14D}whai Apparel";
        let decomposed = "Ko\u{304}whai Apparel";
        assert_ne!(composed, decomposed);
        assert!(same_name(composed, decomposed));
        assert!(same_name(composed, " K\u{14D}whai Apparel "));
        assert!(!same_name(composed, "Kowhai Apparel"));
        assert!(
            !same_name(composed, "k\u{14D}whai apparel"),
            "case still counts"
        );
    }

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let (id, secret, token) = mint("rhd").unwrap();
        assert_eq!(split("rhd", &token), (id.as_str(), secret.as_str()));
        let stored = digest(&secret);
        assert!(verify(secret.as_str(), Some(&stored)));
        assert!(!verify("nope", Some(&stored)));
        assert!(!verify(&secret, None));
        assert_eq!(split("rhk", &token), ("", ""));
        assert!(!verify("", Some(&digest(""))));
    }
}
