//! Shopify webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body under
//! the app's secret, checked in constant time before the body is even parsed.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook refused: the X-Shopify-Hmac-Sha256 header is missing")]
    MissingSignature,
    #[error("webhook refused: the signature does not match the body")]
    BadSignature,
    #[error("webhook refused: {0}")]
    BadBody(String),
}

/// Whether `signature_b64` is the HMAC-SHA256 of `body` under `secret` (constant time).
pub fn verify(secret: &[u8], body: &[u8], signature_b64: &str) -> bool {
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Why a partner's signed webhook was refused before its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// No secret is configured, so nothing can be checked.
    NoSecret,
    /// The signature header is missing or empty.
    Missing,
    /// The signature is not the body's under the secret.
    Bad,
}

/// The partners' webhook check (Loop's, Increff's): a secret is configured, a signature came,
/// and it is the body's HMAC under the secret (constant time) — all before the body is
/// parsed. A refusal is logged naming `partner` and the body's size only (never the secret,
/// the signature or the body).
pub fn check_signed(
    partner: &str,
    secret: &[u8],
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureRefusal> {
    let refusal = if secret.is_empty() {
        SignatureRefusal::NoSecret
    } else {
        match signature.map(str::trim).filter(|s| !s.is_empty()) {
            None => SignatureRefusal::Missing,
            Some(signature) if verify(secret, body, signature) => return Ok(()),
            Some(_) => SignatureRefusal::Bad,
        }
    };
    tracing::warn!(partner, body_bytes = body.len(), refusal = ?refusal, "signed webhook refused");
    Err(refusal)
}

/// The signature Shopify would send for `body` (for tests and simulators).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An `orders/updated` delivery: the order to fetch again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdated {
    /// `X-Shopify-Webhook-Id`, for the caller to de-duplicate deliveries.
    pub webhook_id: Option<String>,
    /// The Order GID (`admin_graphql_api_id`).
    pub order_id: String,
    pub updated_at: Option<String>,
}

/// Checks and reads an `orders/updated` webhook. A tampered or unsigned body is refused and
/// logged (the shop and webhook id only; never the secret or the signature).
pub fn orders_updated(
    secret: &[u8],
    shop: Option<&str>,
    webhook_id: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<OrderUpdated, WebhookError> {
    let Some(signature) = signature else {
        tracing::warn!(
            shop,
            webhook_id,
            "orders/updated webhook without a signature refused"
        );
        return Err(WebhookError::MissingSignature);
    };
    if !verify(secret, body, signature) {
        tracing::warn!(
            shop,
            webhook_id,
            body_bytes = body.len(),
            "orders/updated webhook with a bad signature refused"
        );
        return Err(WebhookError::BadSignature);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::BadBody(e.to_string()))?;
    let order_id = value
        .get("admin_graphql_api_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| WebhookError::BadBody("no admin_graphql_api_id".into()))?
        .to_owned();
    Ok(OrderUpdated {
        webhook_id: webhook_id.map(str::to_owned),
        order_id,
        updated_at: value
            .get("updated_at")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}
