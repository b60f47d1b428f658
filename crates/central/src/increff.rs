//! Increff's notifications in, at `POST /v1/increff/webhook/{retailer}`: the signature is
//! checked with the retailer's Increff webhook secret before the body is read
//! (`returnhub_connectors::increff_notify`), then a shipment notification (RETURN_PICKED_UP,
//! RTO) is recorded as a tracking event of its AWB, exactly like a carrier's event at
//! `/v1/tracking` (once per event; a pick-up makes first-scan actions due). The hub that owns
//! the return pulls the event with its feed and forwards it to the retailer's tracking webhook
//! URLs from its durable queue (alerting its supervisor if a URL keeps failing). Return order
//! events are acknowledged and not used.

use std::sync::Arc;

use returnhub_connectors::increff_notify::{self, IncreffEvent};
use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_protocol::wire::TrackingIn;
use returnhub_secrets::SecretVault;
use serde::Serialize;

use crate::storage::{CentralError, CentralStorage, PartnerIdentity};

fn secret_name(retailer_id: &str) -> String {
    format!("increff-webhook-{retailer_id}")
}

/// Keeps the secret a retailer's Increff notifications are signed with.
pub fn set_webhook_secret(
    vault: &SecretVault,
    retailer_id: &str,
    secret: &str,
) -> Result<(), CentralError> {
    crate::shopify::keep_webhook_secret(
        vault,
        &secret_name(retailer_id),
        secret,
        "a secret shared with Increff",
    )
}

/// What a verified notification did.
#[derive(Debug, Clone, Serialize)]
pub struct IncreffAnswer {
    pub event: String,
    /// The tracking event was stored now (false: a repeat, or an event the hub does not use).
    pub recorded: bool,
    pub duplicate: bool,
    /// The return the AWB belongs to, if the central store knows it (its hub forwards it).
    pub return_id: Option<String>,
    pub note: Option<String>,
}

pub async fn notification(
    storage: Arc<dyn CentralStorage>,
    vault: Arc<SecretVault>,
    retailer_id: &str,
    signature: Option<&str>,
    body: &[u8],
    now: UnixMillis,
) -> Result<IncreffAnswer, CentralError> {
    let secret = crate::shopify::load_webhook_secret(
        vault,
        secret_name(retailer_id),
        &format!("Increff webhook secret for retailer {retailer_id}"),
    )
    .await?;
    let notification = increff_notify::verify(secret.as_bytes(), body, signature).map_err(|e| {
        if e.is_unauthorised() {
            CentralError::Unauthorized(e.to_string())
        } else if matches!(e, increff_notify::IncreffNotifyError::NotJson(_)) {
            CentralError::BadRequest(e.to_string())
        } else {
            CentralError::Invalid(e.to_string())
        }
    })?;
    let (event, code, status, awb, courier, at) = match notification.event {
        IncreffEvent::NotUsed(name) => {
            tracing::info!(retailer = retailer_id, event = %name, "Increff notification not used");
            return Ok(IncreffAnswer {
                event: name,
                recorded: false,
                duplicate: false,
                return_id: None,
                note: Some("return order events are not used by the hub".into()),
            });
        }
        IncreffEvent::Shipment {
            event,
            code,
            status,
            awb,
            courier,
            at,
        } => (event, code, status, awb, courier, at),
    };
    let retailer = retailer_id.to_owned();
    let carrier = courier.map_or_else(|| "increff".to_owned(), |c| format!("increff/{c}"));
    let event_dt = match at {
        Some(at) => at,
        // Without a time of its own, a redelivered notification would look new each time
        // (tracking events are told apart by time): it takes its first delivery's time.
        None => {
            let storage = storage.clone();
            let (connote, code, source) =
                (awb.trim().to_uppercase(), code.to_owned(), carrier.clone());
            tokio::task::spawn_blocking(move || storage.tracking_event_at(&connote, &code, &source))
                .await
                .map_err(|e| CentralError::Storage(e.to_string()))??
                .unwrap_or_else(|| rfc3339(now))
        }
    };
    let tracking = TrackingIn {
        consignment_no: awb,
        code: code.to_owned(),
        status: status.to_owned(),
        event_dt,
        carrier: Some(carrier),
        item_no: None,
    };
    let answer = tokio::task::spawn_blocking(move || {
        let record = storage.retailer(&retailer)?.ok_or_else(|| {
            CentralError::Invalid(format!(
                "no retailer '{retailer}' here yet (a hub syncs it)"
            ))
        })?;
        let partner = PartnerIdentity {
            key_id: "increff".into(),
            retailer_name: record.name,
            source: "increff".into(),
        };
        storage.record_tracking(&partner, &[tracking], now)
    })
    .await
    .map_err(|e| CentralError::Storage(e.to_string()))??;
    let row = answer.rows.first();
    if let Some(errors) = row.filter(|r| !r.errors.is_empty()).map(|r| &r.errors) {
        let said: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect();
        return Err(CentralError::Invalid(format!(
            "{event}: {}",
            said.join("; ")
        )));
    }
    let return_id = row.and_then(|r| r.return_id.clone());
    tracing::info!(retailer = retailer_id, event = %event, return_id = ?return_id, recorded = answer.recorded, "Increff notification verified");
    Ok(IncreffAnswer {
        event,
        recorded: answer.recorded > 0,
        duplicate: answer.duplicates > 0,
        note: return_id
            .is_none()
            .then(|| "no return here has this AWB yet: recorded, not forwarded".to_owned()),
        return_id,
    })
}
