//! Increff's notifications in: the shipment notifications `RETURN_PICKED_UP` and `RTO` that the
//! hub records as tracking events of the return's AWB and forwards to the retailer's tracking
//! webhook URLs, and the return order events (`RETURN_ORDER_CREATE | UPDATE | CANCEL |
//! PARTIAL_CANCEL | COMPLETE`), which are acknowledged and not used.
//!
//! Increff's documentation names the events but not how they are signed or shaped, so both
//! are assumptions, to confirm with Increff (see the README): the body is one JSON object
//! `{eventType, returnOrderCode, awbNumber, courierName?, eventTime?}` (`event` and `awb` are
//! read too), and it is signed like Loop's and Shopify's webhooks: [`SIGNATURE_HEADER`] is the
//! base64 HMAC-SHA256 of the raw body with a secret the retailer shares with Increff. The
//! signature is checked in constant time before the body is parsed; an unsigned, tampered or
//! wrongly signed body is refused.

use serde_json::Value;

/// The header carrying the body's signature (assumed; see the module doc).
pub const SIGNATURE_HEADER: &str = "x-increff-signature";

/// What a notification asks of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncreffEvent {
    /// A shipment notification, recorded as the tracking event `code` of `awb`.
    Shipment {
        /// `RETURN_PICKED_UP` or `RTO`, as Increff names it.
        event: String,
        /// The tracking code it is recorded and forwarded under (see [`tracking_code`]).
        code: &'static str,
        status: &'static str,
        awb: String,
        courier: Option<String>,
        /// RFC 3339, when Increff gives it.
        at: Option<String>,
    },
    /// A return order event the hub does not use (named).
    NotUsed(String),
}

/// A verified notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncreffNotification {
    pub return_order_code: Option<String>,
    pub event: IncreffEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncreffNotifyError {
    #[error(
        "Increff notification refused: no secret is configured, so no signature can be checked"
    )]
    NoSecret,
    #[error("Increff notification refused: the {SIGNATURE_HEADER} header is missing")]
    MissingSignature,
    #[error("Increff notification refused: the signature does not match the body and the secret")]
    BadSignature,
    #[error("Increff notification: the body is not a JSON object ({0})")]
    NotJson(String),
    #[error("Increff notification: {0}")]
    Invalid(String),
}

impl IncreffNotifyError {
    /// A refusal of the sender (401), not of the body's content (400/422).
    pub fn is_unauthorised(&self) -> bool {
        matches!(
            self,
            IncreffNotifyError::NoSecret
                | IncreffNotifyError::MissingSignature
                | IncreffNotifyError::BadSignature
        )
    }
}

/// The tracking code and status a shipment notification becomes: `RETURN_PICKED_UP` is the
/// provider's RT (the return is in transit: a carrier picked it up), `RTO` keeps its own name
/// (the provider's list has no code for a return sent back to its origin).
pub fn tracking_code(event: &str) -> Option<(&'static str, &'static str)> {
    match event {
        "RETURN_PICKED_UP" => Some(("RT", "Return picked up (Increff)")),
        "RTO" => Some(("RTO", "Return to origin (Increff)")),
        _ => None,
    }
}

const RETURN_ORDER_EVENTS: [&str; 5] = [
    "RETURN_ORDER_CREATE",
    "RETURN_ORDER_UPDATE",
    "RETURN_ORDER_CANCEL",
    "RETURN_ORDER_PARTIAL_CANCEL",
    "RETURN_ORDER_COMPLETE",
];

/// The signature Increff is assumed to send for `body` (for simulators and tests).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    crate::webhook::sign(secret, body)
}

/// Checks the signature (constant time, before parsing), then reads the notification. A
/// refusal is logged without the secret, the signature or the body.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    signature: Option<&str>,
) -> Result<IncreffNotification, IncreffNotifyError> {
    use crate::webhook::{check_signed, SignatureRefusal};
    check_signed("increff", secret, body, signature).map_err(|refusal| match refusal {
        SignatureRefusal::NoSecret => IncreffNotifyError::NoSecret,
        SignatureRefusal::Missing => IncreffNotifyError::MissingSignature,
        SignatureRefusal::Bad => IncreffNotifyError::BadSignature,
    })?;
    parse(body)
}

fn parse(body: &[u8]) -> Result<IncreffNotification, IncreffNotifyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IncreffNotifyError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(IncreffNotifyError::NotJson("it is not an object".into()));
    }
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match value.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let name = text(&["eventType", "event"])
        .ok_or_else(|| IncreffNotifyError::Invalid("it names no eventType".into()))?
        .to_ascii_uppercase();
    let return_order_code = text(&["returnOrderCode"]);
    let event = if let Some((code, status)) = tracking_code(&name) {
        let awb = text(&["awbNumber", "awb"]).ok_or_else(|| {
            IncreffNotifyError::Invalid(format!("{name} names no awbNumber, so no parcel"))
        })?;
        if awb.chars().count() > 64 || awb.chars().any(char::is_control) {
            return Err(IncreffNotifyError::Invalid(format!(
                "{name}: awbNumber is not a consignment number"
            )));
        }
        let at = text(&["eventTime", "eventDate"]);
        if let Some(at) = &at {
            if returnhub_core::time::parse_rfc3339(at).is_none() {
                return Err(IncreffNotifyError::Invalid(format!(
                    "{name}: eventTime {at:?} is not an RFC 3339 time"
                )));
            }
        }
        IncreffEvent::Shipment {
            event: name,
            code,
            status,
            awb,
            courier: text(&["courierName", "courier"]),
            at,
        }
    } else if RETURN_ORDER_EVENTS.contains(&name.as_str()) {
        IncreffEvent::NotUsed(name)
    } else {
        return Err(IncreffNotifyError::Invalid(format!(
            "unknown eventType {name:?}: RETURN_PICKED_UP, RTO or a RETURN_ORDER_ event"
        )));
    };
    Ok(IncreffNotification {
        return_order_code,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"increff-webhook-secret-0123";

    fn signed(body: &str) -> Result<IncreffNotification, IncreffNotifyError> {
        verify(
            SECRET,
            body.as_bytes(),
            Some(&sign(SECRET, body.as_bytes())),
        )
    }

    #[test]
    fn a_pickup_becomes_the_awb_s_rt() {
        let n = signed(
            r#"{"eventType":"RETURN_PICKED_UP","returnOrderCode":"CP-1","awbNumber":"AWB77",
               "courierName":"Delhivery","eventTime":"2026-11-30T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(n.return_order_code.as_deref(), Some("CP-1"));
        assert_eq!(
            n.event,
            IncreffEvent::Shipment {
                event: "RETURN_PICKED_UP".into(),
                code: "RT",
                status: "Return picked up (Increff)",
                awb: "AWB77".into(),
                courier: Some("Delhivery".into()),
                at: Some("2026-11-30T10:00:00Z".into()),
            }
        );
        let rto = signed(r#"{"event":"rto","awb":"AWB78"}"#).unwrap();
        assert!(matches!(
            rto.event,
            IncreffEvent::Shipment {
                code: "RTO",
                at: None,
                ..
            }
        ));
    }

    #[test]
    fn return_order_events_are_acknowledged_and_not_used() {
        let n = signed(r#"{"eventType":"RETURN_ORDER_CREATE","returnOrderCode":"CP-2"}"#).unwrap();
        assert_eq!(n.event, IncreffEvent::NotUsed("RETURN_ORDER_CREATE".into()));
    }

    #[test]
    fn tampered_unsigned_and_wrongly_signed_bodies_are_refused_before_parsing() {
        let body = r#"{"eventType":"RTO","awbNumber":"AWB1"}"#;
        let signature = sign(SECRET, body.as_bytes());
        let tampered = body.replace("AWB1", "AWB2");
        assert_eq!(
            verify(SECRET, tampered.as_bytes(), Some(&signature)),
            Err(IncreffNotifyError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, body.as_bytes(), None),
            Err(IncreffNotifyError::MissingSignature)
        );
        assert_eq!(
            verify(b"another-secret-456789", body.as_bytes(), Some(&signature)),
            Err(IncreffNotifyError::BadSignature)
        );
        assert_eq!(
            verify(b"", body.as_bytes(), Some(&signature)),
            Err(IncreffNotifyError::NoSecret)
        );
        // Not JSON, but a bad signature is what is reported: nothing is parsed first.
        assert_eq!(
            verify(SECRET, b"not json", Some(&signature)),
            Err(IncreffNotifyError::BadSignature)
        );
        assert!(IncreffNotifyError::BadSignature.is_unauthorised());
    }

    #[test]
    fn bad_content_gets_a_clear_error() {
        for (body, says) in [
            ("[1]", "not an object"),
            (r#"{"awbNumber":"A"}"#, "eventType"),
            (r#"{"eventType":"RTO"}"#, "awbNumber"),
            (
                r#"{"eventType":"SHIPPED","awbNumber":"A"}"#,
                "unknown eventType",
            ),
            (
                r#"{"eventType":"RTO","awbNumber":"A","eventTime":"yesterday"}"#,
                "RFC 3339",
            ),
        ] {
            let e = signed(body).unwrap_err();
            assert!(!e.is_unauthorised());
            assert!(e.to_string().contains(says), "{body}: {e}");
        }
    }
}
