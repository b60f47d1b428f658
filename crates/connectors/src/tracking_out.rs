//! The hub tracking webhook, out: tracking events in the hub provider's format — a JSON array
//! of events, optional `Username` / `Password` headers, and only a 200 counts as delivered —
//! posted to every URL a retailer configured (Loop's `/hook/v1/seko/update`, say: without it
//! Loop issues no credits). RC and RP are one event per line item; an item removed during
//! processing is left out of RP.
//!
//! Here: the format, the events of a return at a stage, one delivery with the verdict a
//! retry needs, and the retry schedule (backoff, then an alert — never a silently disabled
//! webhook). The durable per-URL queue is the hub store's `webhook_deliveries`, drained by
//! the hub's webhook worker (`returnhub_hub::webhooks`), which also forwards the carrier and
//! partner tracking events the central store recorded (Increff's RETURN_PICKED_UP / RTO).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One event of the tracking webhook, field for field as the provider sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrackingEventOut {
    pub consignment_no: String,
    #[serde(rename = "OmniRPSTrackingNo")]
    pub omni_rps_tracking_no: Option<String>,
    pub order_no: String,
    #[serde(rename = "MAWB")]
    pub mawb: Option<String>,
    pub exported_consignment_no: Option<String>,
    pub ship_date: Option<String>,
    pub delivery_date: Option<String>,
    pub source_location: Option<String>,
    pub destination_location: Option<String>,
    /// RC, RT, RDTPF, DS, RP, RE, RDBTC, RR (RT: in transit; RP: processed at the hub).
    pub code: String,
    pub status: String,
    pub carrier: Option<String>,
    /// When it happened, RFC 3339.
    #[serde(rename = "EventDT")]
    pub event_dt: String,
    /// The line item's SKU, for the per-item codes (RC, RP).
    pub item_no: Option<String>,
    pub return_reason: Option<String>,
    /// REFUND, CREDIT NOTE, EXCHANGE, NO ACTION, ...
    pub return_action: Option<String>,
}

/// A return as the tracking events describe it.
#[derive(Debug, Clone)]
pub struct ReturnFacts {
    pub connote: String,
    pub order_number: String,
    pub carrier: Option<String>,
    /// The hub's location name.
    pub hub: String,
    pub items: Vec<ItemFacts>,
}

#[derive(Debug, Clone)]
pub struct ItemFacts {
    pub sku: String,
    pub reason: Option<String>,
    pub action: Option<String>,
    /// Taken out of the return while it was processed (missing, not the retailer's item).
    pub removed: bool,
}

/// The per-item events of a return at `code` (RC: received at the hub; RP: processed): one per
/// line item, and for RP none for an item that was removed.
pub fn item_events(
    code: &str,
    status: &str,
    at: &str,
    facts: &ReturnFacts,
) -> Vec<TrackingEventOut> {
    facts
        .items
        .iter()
        .filter(|item| !(code == "RP" && item.removed))
        .map(|item| TrackingEventOut {
            consignment_no: facts.connote.clone(),
            order_no: facts.order_number.clone(),
            destination_location: Some(facts.hub.clone()),
            code: code.to_owned(),
            status: status.to_owned(),
            carrier: facts.carrier.clone(),
            event_dt: at.to_owned(),
            item_no: Some(item.sku.clone()),
            return_reason: item.reason.clone(),
            return_action: item.action.clone(),
            ..TrackingEventOut::default()
        })
        .collect()
}

/// Where a retailer's tracking events go. The password is a secret (kept in the keyring by
/// whoever configures it) and is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// The verdict on one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Answered 200.
    Delivered,
    /// Anything else (another status, a timeout, a refused or dropped connection): the same
    /// events go again later. A receiver de-duplicates by consignment, code, item and time,
    /// so a repeat after a lost 200 is harmless.
    Retry(String),
}

/// Posts `events` as one JSON array to `endpoint`.
pub async fn deliver(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    events: &[TrackingEventOut],
) -> Delivery {
    let body = match serde_json::to_vec(events) {
        Ok(body) => body,
        Err(e) => return Delivery::Retry(format!("cannot encode the events: {e}")),
    };
    deliver_body(client, endpoint, body).await
}

/// [`deliver`] with the array already encoded (a fan-out encodes it once for every URL).
pub async fn deliver_body(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    body: Vec<u8>,
) -> Delivery {
    let mut request = client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(username) = &endpoint.username {
        request = request.header("Username", username);
    }
    if let Some(password) = &endpoint.password {
        request = request.header("Password", password);
    }
    match request.send().await {
        Ok(answer) if answer.status() == reqwest::StatusCode::OK => {
            // Read the body so the connection goes back to the pool.
            let _ = answer.bytes().await;
            Delivery::Delivered
        }
        Ok(answer) => {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            Delivery::Retry(format!("{} answered {status}: {text}", endpoint.url))
        }
        Err(e) => Delivery::Retry(format!("{}: {}", endpoint.url, without_url(&e))),
    }
}

/// reqwest's message without the URL it repeats (the caller names the endpoint).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// The same events to every endpoint, at once; the verdict per endpoint, in order.
pub async fn fan_out(
    client: &reqwest::Client,
    endpoints: &[Endpoint],
    events: &[TrackingEventOut],
) -> Vec<Delivery> {
    let body = match serde_json::to_vec(events) {
        Ok(body) => body,
        Err(e) => {
            let why = format!("cannot encode the events: {e}");
            return endpoints
                .iter()
                .map(|_| Delivery::Retry(why.clone()))
                .collect();
        }
    };
    futures_util::future::join_all(
        endpoints
            .iter()
            .map(|endpoint| deliver_body(client, endpoint, body.clone())),
    )
    .await
}

/// When an undelivered batch goes again: exponential backoff from `base` up to `max`; after
/// `budget` attempts the endpoint is reported for an alert (and still retried at `max`: the
/// events are kept and the webhook is never silently disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub base: Duration,
    pub max: Duration,
    pub budget: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            base: Duration::from_secs(30),
            max: Duration::from_secs(60 * 60),
            budget: 12,
        }
    }
}

/// What to do after the `attempts`-th failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTry {
    pub after: Duration,
    /// The retry budget is spent: raise the alert on the supervisor's screen.
    pub alert: bool,
}

impl RetrySchedule {
    pub fn after_failure(&self, attempts: u32) -> NextTry {
        let exponent = attempts.saturating_sub(1).min(20);
        let after = self.base.saturating_mul(1u32 << exponent).min(self.max);
        NextTry {
            after,
            alert: attempts >= self.budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ReturnFacts {
        ReturnFacts {
            connote: "LZ482131160NZ".into(),
            order_number: "#1001".into(),
            carrier: Some("NZ Post".into()),
            hub: "AKL".into(),
            items: vec![
                ItemFacts {
                    sku: "TEE-M".into(),
                    reason: Some("TOO_SMALL".into()),
                    action: Some("REFUND".into()),
                    removed: false,
                },
                ItemFacts {
                    sku: "SOCK-L".into(),
                    reason: Some("CHANGED_MIND".into()),
                    action: Some("CREDIT NOTE".into()),
                    removed: true,
                },
            ],
        }
    }

    #[test]
    fn received_is_one_event_per_item_and_processed_leaves_out_removed_items() {
        let rc = item_events("RC", "Received at hub", "2026-12-02T09:00:00Z", &facts());
        assert_eq!(rc.len(), 2);
        assert_eq!(rc[1].item_no.as_deref(), Some("SOCK-L"));
        let rp = item_events("RP", "Processed", "2026-12-02T09:05:00Z", &facts());
        assert_eq!(rp.len(), 1);
        assert_eq!(rp[0].item_no.as_deref(), Some("TEE-M"));
        assert_eq!(rp[0].return_action.as_deref(), Some("REFUND"));
    }

    #[test]
    fn events_are_written_in_the_providers_field_names() {
        let rp = item_events("RP", "Processed", "2026-12-02T09:05:00Z", &facts());
        let json = serde_json::to_value(&rp).unwrap();
        let event = &json[0];
        for field in [
            "ConsignmentNo",
            "OmniRPSTrackingNo",
            "OrderNo",
            "MAWB",
            "ExportedConsignmentNo",
            "ShipDate",
            "DeliveryDate",
            "SourceLocation",
            "DestinationLocation",
            "Code",
            "Status",
            "Carrier",
            "EventDT",
            "ItemNo",
            "ReturnReason",
            "ReturnAction",
        ] {
            assert!(event.get(field).is_some(), "{field} missing: {event}");
        }
        assert!(json.is_array(), "a JSON array, even of one event");
        assert_eq!(event["Code"], "RP");
        assert_eq!(event["ConsignmentNo"], "LZ482131160NZ");
    }

    #[test]
    fn retries_back_off_to_the_cap_and_alert_after_the_budget() {
        let s = RetrySchedule {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            budget: 4,
        };
        let delays: Vec<u64> = (1..=9)
            .map(|n| s.after_failure(n).after.as_secs())
            .collect();
        assert_eq!(delays, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert!(!s.after_failure(3).alert);
        assert!(s.after_failure(4).alert);
        assert!(s.after_failure(40).alert, "still retried, still alerting");
        assert_eq!(s.after_failure(40).after.as_secs(), 3600);
    }

    #[test]
    fn the_password_never_prints() {
        let e = Endpoint {
            url: "https://api.loopreturns.com/hook/v1/seko/update".into(),
            username: Some("hub".into()),
            password: Some("hunter2-very-secret".into()),
        };
        let shown = format!("{e:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<secret>"));
    }
}
