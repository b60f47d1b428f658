//! `orders/updated` webhooks: the HMAC of the raw body is checked (in constant time, by
//! `hmac`'s `verify_slice`) before the body is parsed; a tampered body, a wrong secret or a
//! missing signature is refused and logged without the secret or the signature.

use std::io::Write;
use std::sync::{Arc, Mutex};

use returnhub_connectors::webhook::{orders_updated, sign, verify, WebhookError};

const SECRET: &[u8] = b"whsec_app_secret_0123456789";
const BODY: &[u8] = br#"{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508","updated_at":"2026-11-24T01:00:00+13:00"}"#;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn a_signed_delivery_is_read() {
    let signature = sign(SECRET, BODY);
    let update = orders_updated(
        SECRET,
        Some("kowhai.myshopify.com"),
        Some("w-1"),
        Some(&signature),
        BODY,
    )
    .unwrap();
    assert_eq!(update.order_id, "gid://shopify/Order/820982911946154508");
    assert_eq!(update.webhook_id.as_deref(), Some("w-1"));
    assert_eq!(
        update.updated_at.as_deref(),
        Some("2026-11-24T01:00:00+13:00")
    );
}

#[test]
fn a_tampered_body_a_wrong_secret_or_no_signature_is_refused_and_logged() {
    let signature = sign(SECRET, BODY);
    let mut tampered = BODY.to_vec();
    let at = tampered.iter().position(|&b| b == b'9').unwrap();
    tampered[at] = b'8';
    let (result, log) = logged(|| {
        orders_updated(
            SECRET,
            Some("kowhai.myshopify.com"),
            Some("w-2"),
            Some(&signature),
            &tampered,
        )
    });
    assert_eq!(result.unwrap_err(), WebhookError::BadSignature);
    assert!(log.contains("bad signature refused"), "{log}");
    assert!(
        log.contains("kowhai.myshopify.com") && log.contains("w-2"),
        "{log}"
    );
    assert!(
        !log.contains(&signature),
        "the signature is not logged: {log}"
    );
    assert!(
        !log.contains("whsec_app_secret"),
        "the secret is not logged: {log}"
    );

    let wrong = sign(b"another secret", BODY);
    assert_eq!(
        orders_updated(SECRET, None, None, Some(&wrong), BODY).unwrap_err(),
        WebhookError::BadSignature
    );
    let (result, log) =
        logged(|| orders_updated(SECRET, Some("kowhai.myshopify.com"), None, None, BODY));
    assert_eq!(result.unwrap_err(), WebhookError::MissingSignature);
    assert!(log.contains("without a signature refused"), "{log}");
    // Not base64, or a truncated MAC: refused, never a panic.
    assert!(!verify(SECRET, BODY, "not base64!"));
    assert!(!verify(SECRET, BODY, &signature[..10]));
    // A signed body that is not an order update is a clear error, after the check.
    let junk = b"{\"nothing\": true}";
    assert!(matches!(
        orders_updated(SECRET, None, None, Some(&sign(SECRET, junk)), junk),
        Err(WebhookError::BadBody(_))
    ));
}
