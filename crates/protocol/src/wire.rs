//! The wire protocol between hub devices, partners and the central store (JSON over HTTP).
//! Add fields with `#[serde(default)]`; never change the meaning of an existing one.
//!
//! | Route                     | Auth                                   | Body → answer                   |
//! |---------------------------|----------------------------------------|---------------------------------|
//! | `POST /v1/sync/push`      | `Authorization: Bearer <device token>` | [`PushRequest`] → [`PushResponse`] |
//! | `POST /v1/sync/pull`      | `Authorization: Bearer <device token>` | [`PullRequest`] → [`PullResponse`] |
//! | `GET  /v1/conflicts`      | `Authorization: Bearer <device token>` | → `Vec<`[`Conflict`]`>` (its hub's) |
//! | `POST /v1/returns/upload` | `X-Api-Key` + `X-Retailer-Name`        | `Vec<`[`UploadRow`]`>` → [`UploadResponse`] |
//! | `POST /v1/tracking`       | `X-Api-Key` + `X-Retailer-Name`        | `Vec<`[`TrackingIn`]`>` → [`TrackingResponse`] |
//! | `GET  /v1/hand-overs/targets?return_id=` | `Authorization: Bearer <device token>` | → `Vec<`[`HubChoice`]`>` |
//! | `POST /v1/hand-overs`     | `Authorization: Bearer <device token>` | [`HandOverRequest`] → [`HandOverResponse`] |
//!
//! Errors are [`ErrorBody`] with a 4xx/5xx status: 401 a missing or wrong token/key, 403 a key
//! that does not belong to the retailer named, 400/422 a malformed or invalid request.

use serde::{Deserialize, Serialize};

use crate::event::DomainEvent;
use crate::hlc::HlcStamp;

/// The device id the central store writes its own events under (no device token binds to it).
pub const CENTRAL_DEVICE: &str = "central";

pub const PUSH_PATH: &str = "/v1/sync/push";
pub const PULL_PATH: &str = "/v1/sync/pull";
pub const CONFLICTS_PATH: &str = "/v1/conflicts";
pub const UPLOAD_PATH: &str = "/v1/returns/upload";
pub const TRACKING_PATH: &str = "/v1/tracking";
/// Which hub a device token belongs to (a station joining its hub asks before anything else).
pub const DEVICE_PATH: &str = "/v1/device";
/// The hubs a return of the device's hub may be handed to (they serve its retailer).
pub const HAND_OVER_TARGETS_PATH: &str = "/v1/hand-overs/targets";
/// A supervisor of the device's hub hands one of its returns to another hub.
pub const HAND_OVER_PATH: &str = "/v1/hand-overs";
pub const API_KEY_HEADER: &str = "x-api-key";
pub const RETAILER_HEADER: &str = "x-retailer-name";

/// The answer to `GET /v1/device`: the hub the token is for, as the central store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub hub_id: String,
    /// The token's name (`add-device --name`).
    pub device_name: String,
    /// The hub's name as its first station's setup registered it; none while no station of
    /// the hub has been set up (and synced).
    pub hub_name: Option<String>,
}

/// A hub a return may be handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubChoice {
    pub hub_id: String,
    /// As its first station registered it; none before that station synced.
    pub name: Option<String>,
}

/// The query of `GET /v1/hand-overs/targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOverTargetsQuery {
    pub return_id: String,
}

/// A supervisor of the asking device's hub hands `return_id` to `to_hub`. The central store
/// decides: the return must be that hub's, not processed, with no action still on its way,
/// and `to_hub` must serve its retailer; `by` must be a supervisor or admin of the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOverRequest {
    pub return_id: String,
    pub to_hub: String,
    pub by: String,
    pub reason: String,
    /// The station that asked.
    #[serde(default)]
    pub station: Option<String>,
}

/// The hand-over done: the event recorded for the sending hub (its devices pull it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOverResponse {
    pub event_id: String,
    /// The return's status from now on (a received parcel is in transit again).
    pub status: returnhub_core::model::ReturnStatus,
}

/// A batch of this device's events, oldest first, each exactly as it is in the hub's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub events: Vec<RemoteEvent>,
}

/// Sent only after the central store committed the batch. Every id in `acknowledged` is
/// durably stored at the central store exactly once (a resent event counts as a duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    pub acknowledged: Vec<String>,
    pub new: u32,
    pub duplicates: u32,
    /// One per `ActionDue` in the batch: who holds the claim on its key and in what state.
    #[serde(default)]
    pub claims: Vec<ClaimOutcome>,
    /// Events acknowledged but not applied: their payload is not what their kind says. They
    /// are kept at the central store (`returnhub-central held-events`), never relayed.
    #[serde(default)]
    pub held: Vec<HeldAnswer>,
}

/// An acknowledged event the central store keeps but does not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAnswer {
    pub id: String,
    pub reason: String,
}

/// The central store's answer to an `ActionDue`: the claim on its key. A second device's
/// claim for the same key gets the first claim's owner and state (`first == false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimOutcome {
    pub key: String,
    pub owner_device: String,
    pub state: ClaimState,
    /// Whether the pushing device's event is the one that claimed the key.
    pub first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Claimed; not sent yet.
    Claimed,
    /// Handed to the target; the outcome is not known yet.
    Sent,
    Confirmed,
    /// The send may or may not have happened: reconcile against the target before a retry.
    Unknown,
    Failed,
}

impl ClaimState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::Claimed => "claimed",
            ClaimState::Sent => "sent",
            ClaimState::Confirmed => "confirmed",
            ClaimState::Unknown => "unknown",
            ClaimState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ClaimState> {
        [
            ClaimState::Claimed,
            ClaimState::Sent,
            ClaimState::Confirmed,
            ClaimState::Unknown,
            ClaimState::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// The most event payload bytes a push or a pull page carries (at least one event goes
/// whatever its size): far below the central store's 64 MiB body limit, so a page of bulk
/// import events never gets refused for its size.
pub const MAX_PAGE_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub cursor: SyncCursor,
    pub limit: u32,
    /// Payload bytes per page, at most [`MAX_PAGE_BYTES`] (also when absent).
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// What changed for the device's hub since `cursor`: events of other devices of the hub,
/// events of the central store for the hub (uploaded returns, first scans), retailer
/// configuration, and tracking events of the hub's returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub events: Vec<RemoteEvent>,
    #[serde(default)]
    pub tracking: Vec<TrackingRecord>,
    /// Where the next pull resumes; store it with the applied events.
    pub cursor: SyncCursor,
    /// More is waiting: pull again.
    pub more: bool,
}

/// Two devices acted on the same return (or claimed the same action); for the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: i64,
    /// `duplicate_action` (a second claim of an action key) or `double_processing` (two
    /// devices moved the same return to the same status).
    pub kind: String,
    pub return_id: String,
    pub action_key: Option<String>,
    pub first_device: String,
    pub second_device: String,
    pub event_id: String,
    pub detected_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable: `unauthorized`, `forbidden`, `bad_request`, `invalid`, `internal`.
    pub code: String,
    pub error: String,
}

/// One line of the Return Upload API (the provider's field names). Lines with the same
/// `ConsignmentNo` are one return; all must name the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadRow {
    pub consignment_no: String,
    pub order_number: String,
    pub sku: String,
    #[serde(rename = "EAN", default)]
    pub ean: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub sub_reason: Option<String>,
    /// `REFUND`, `CREDIT NOTE` or `CREDIT NOTE PLUS`.
    pub return_action: String,
    /// A decimal amount in the retailer's currency, e.g. "49.95".
    pub item_value: String,
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub item_description: Option<String>,
    /// The hub the parcel goes to (its id at the central store).
    pub hub_id: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2; "ZZ" (unknown) when absent.
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The answer for one uploaded line (or tracking event): its errors, or the return it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    /// Zero-based index in the request.
    pub row: usize,
    pub consignment_no: String,
    pub return_id: Option<String>,
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub accepted_rows: usize,
    pub rejected_rows: usize,
    /// Returns created (a resent upload of a known consignment creates none).
    pub returns_created: usize,
    pub rows: Vec<RowResult>,
}

/// A tracking event in the hub tracking webhook format (the fields the store uses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrackingIn {
    pub consignment_no: String,
    /// RT = return in transit (the first scan), RP = processed at the hub, …
    pub code: String,
    #[serde(default)]
    pub status: String,
    /// RFC 3339.
    #[serde(rename = "EventDT")]
    pub event_dt: String,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub item_no: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingResponse {
    pub recorded: usize,
    pub duplicates: usize,
    /// Actions that became due (first-scan retailers) and were claimed by the central store.
    pub actions_due: usize,
    pub rows: Vec<RowResult>,
}

/// One event as it travels between devices: every column of the event log but the local
/// `seq`. `payload` is the JSON text exactly as the originating device stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEvent {
    pub id: String,
    pub device_id: String,
    pub hlc: String,
    pub actor: String,
    pub station: Option<String>,
    pub kind: String,
    pub aggregate_id: Option<String>,
    pub payload: String,
    pub recorded_at: String,
    /// The version of the kind's payload; absent (1) from builds before versions.
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

/// The event logs of the hub's store and of the central store keep these columns under these
/// names; both read an event back with this.
#[cfg(feature = "sqlite")]
impl RemoteEvent {
    /// Reads the ten columns `id, device_id, hlc, actor, station, kind, aggregate_id,
    /// payload, recorded_at, version` of an event-log row, starting at column `first`.
    pub fn from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<RemoteEvent> {
        Ok(RemoteEvent {
            id: r.get(first)?,
            device_id: r.get(first + 1)?,
            hlc: r.get(first + 2)?,
            actor: r.get(first + 3)?,
            station: r.get(first + 4)?,
            kind: r.get(first + 5)?,
            aggregate_id: r.get(first + 6)?,
            payload: r.get(first + 7)?,
            recorded_at: r.get(first + 8)?,
            version: r.get(first + 9)?,
        })
    }
}

impl RemoteEvent {
    /// An event of `device_id` ready to travel (its payload serialised once, here).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event: &DomainEvent,
        id: String,
        device_id: &str,
        hlc: &HlcStamp,
        actor: &str,
        station: Option<&str>,
        recorded_at: String,
    ) -> serde_json::Result<RemoteEvent> {
        Ok(RemoteEvent {
            id,
            device_id: device_id.to_string(),
            hlc: hlc.encode(),
            actor: actor.to_string(),
            station: station.map(str::to_string),
            kind: event.kind().to_string(),
            aggregate_id: event.aggregate_id().map(str::to_string),
            payload: serde_json::to_string(event)?,
            recorded_at,
            version: event.version(),
        })
    }
}

/// Where this device's pulls resume: the last central event sequence and tracking sequence
/// it applied. Kept in `meta` and moved in the same transaction as the events it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    pub events: i64,
    pub tracking: i64,
}

/// A carrier or partner tracking event as the central store recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingRecord {
    pub id: String,
    pub return_id: Option<String>,
    pub connote: String,
    pub code: String,
    pub status: String,
    pub event_at: String,
    pub source: String,
}
