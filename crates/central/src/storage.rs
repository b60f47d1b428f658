//! The storage port of the central store. The HTTP layer only ever talks to
//! [`CentralStorage`]; [`crate::sqlite::SqliteStorage`] is the embedded default, and a
//! PostgreSQL backend implements the same trait (every method is one transaction).

use returnhub_core::record::{OrderRecord, RetailerRecord};
use returnhub_core::time::UnixMillis;
use returnhub_core::trigger::ActionDue;
use returnhub_protocol::action::ActionContext;
pub use returnhub_protocol::action::ActionLine;
use returnhub_protocol::wire::RemoteEvent;
use returnhub_protocol::wire::{
    ClaimState, Conflict, PullRequest, PullResponse, PushResponse, TrackingIn, TrackingResponse,
    UploadResponse, UploadRow,
};

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request's body is over its route's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Invalid(String),
    /// What was asked breaks a rule the stored data keeps (a unique name, say): the request,
    /// not the store, is at fault.
    #[error("{0}")]
    Conflict(String),
    #[error("central store: {0}")]
    Storage(String),
}

impl CentralError {
    /// The request's content is at fault (it would fail the same way every time), not the
    /// store: a pushed event failing so is held, never retried as a whole push.
    pub fn is_about_the_request(&self) -> bool {
        matches!(
            self,
            CentralError::BadRequest(_) | CentralError::Invalid(_) | CentralError::Conflict(_)
        )
    }
}

impl From<rusqlite::Error> for CentralError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            CentralError::Conflict(e.to_string())
        } else {
            CentralError::Storage(e.to_string())
        }
    }
}

impl From<serde_json::Error> for CentralError {
    fn from(e: serde_json::Error) -> Self {
        CentralError::Storage(format!("bad JSON: {e}"))
    }
}

pub type Result<T, E = CentralError> = std::result::Result<T, E>;

/// A row the Upload API refused, as kept (`returnhub-central upload-refusals` lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRefusal {
    /// When it came (RFC 3339).
    pub received_at: String,
    pub retailer_id: String,
    /// The uploading key's id and its source.
    pub key_id: String,
    pub source: String,
    /// Zero-based index in its upload.
    pub row: i64,
    pub consignment_no: String,
    pub order_number: String,
    pub hub_id: String,
    /// What the uploader was told, field by field.
    pub errors: Vec<returnhub_protocol::wire::FieldError>,
}

/// A device token as the central CLI lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The token's id: `rhd_<id>_<secret>`.
    pub id: String,
    pub hub_id: String,
    pub name: String,
    /// The hub store's device id, bound on the token's first push.
    pub bound_device_id: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The hub device a bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The token's id (not secret).
    pub token_id: String,
    pub hub_id: String,
    /// The hub store's device id, bound on the token's first push.
    pub bound_device_id: Option<String>,
}

/// The retailer an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerIdentity {
    pub key_id: String,
    pub retailer_name: String,
    /// The source of the returns this key uploads (one of [`UPLOAD_SOURCES`]).
    pub source: String,
}

/// What an Upload API key's returns may be marked as coming from: a portal or carrier whose
/// returns the retailer's routes action, or Loop, which credits its own
/// ([`returnhub_core::partner::LOOP_UPLOAD`]).
pub const UPLOAD_SOURCES: [&str; 2] = ["partner_upload", returnhub_core::partner::LOOP_UPLOAD];

/// A crash point for the fault-injection tests: the push dies before its commit (nothing
/// stored) or after it (stored, but the answer is lost). Only the `failpoints` build lets a
/// request ask for one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Failpoint {
    #[default]
    None,
    BeforeCommit,
    AfterCommit,
}

/// An action the central store claimed, as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionClaim {
    pub key: String,
    pub return_id: String,
    pub hub_id: Option<String>,
    /// The device whose event claimed the key ("central" for first-scan actions).
    pub device_id: String,
    pub event_id: String,
    pub action: ActionDue,
    pub state: ClaimState,
    pub attempts: u32,
    /// Reconciliations that still left the outcome unknown.
    pub checks: u32,
    pub last_error: Option<String>,
}

/// A pushed event the central store keeps without applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    pub id: String,
    pub device_id: String,
    pub hub_id: String,
    pub kind: String,
    pub version: u32,
    /// `needs_update` (relayed; projected after this store's update), `malformed`, `refused`
    /// (the pushing device may not do it) or `unapplied` (it broke a rule of the stored data);
    /// the last three are kept here only.
    pub state: String,
    pub reason: String,
    pub held_at: String,
}

/// What became of a held event tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRetry {
    pub id: String,
    pub kind: String,
    /// Taken: applied and relayed like a fresh push.
    pub taken: bool,
    /// Still held: why (it may have changed).
    pub reason: Option<String>,
}

/// What `/healthz` reports: the database answered with its schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// The migrations applied to the database.
    pub schema: u32,
    /// The migrations this build has: the process serves only when they are all applied.
    pub expected: u32,
}

pub trait CentralStorage: Send + Sync + 'static {
    /// Registers a hub device; returns its bearer token (shown once, stored hashed).
    fn create_device(&self, hub_id: &str, name: &str, now: UnixMillis) -> Result<String>;
    /// Creates a partner API key for `retailer_name` (exact) whose uploads are returns from
    /// `source` (`partner_upload`, or `loop_upload` for Loop, which credits them itself);
    /// returns it (stored hashed).
    fn create_api_key_for(
        &self,
        retailer_name: &str,
        source: &str,
        now: UnixMillis,
    ) -> Result<String>;
    /// A partner API key whose uploads are plain `partner_upload` returns.
    fn create_api_key(&self, retailer_name: &str, now: UnixMillis) -> Result<String> {
        self.create_api_key_for(retailer_name, UPLOAD_SOURCES[0], now)
    }
    fn authenticate_device(&self, token: &str) -> Result<Option<DeviceIdentity>>;
    /// Every device token, revoked ones too.
    fn devices(&self) -> Result<Vec<DeviceRow>>;
    /// The rows the Upload API refused, newest first: since `since` (RFC 3339), at most
    /// `limit`.
    fn upload_refusals(&self, since: Option<&str>, limit: u32) -> Result<Vec<UploadRefusal>>;
    /// Stops a device token authenticating, for good.
    fn revoke_device(&self, id: &str, now: UnixMillis) -> Result<()>;
    /// A new secret for a device token (the old one stops working); same id and binding.
    fn rotate_device(&self, id: &str) -> Result<String>;
    /// Whether the database answers, and its schema against the migrations this build has
    /// (`/healthz`).
    fn health(&self) -> Result<Health>;
    /// The device's hub as the central store knows it: its id, the token's name, and the
    /// hub's name from the latest `HubRegistered` a station of that hub pushed (none yet: no
    /// station of it has been set up).
    fn device_info(&self, device: &DeviceIdentity) -> Result<returnhub_protocol::wire::DeviceInfo>;
    fn authenticate_partner(&self, key: &str) -> Result<Option<PartnerIdentity>>;
    /// The hubs that may receive `return_id`, a return of the device's hub: every other hub
    /// serving its retailer that has a device, with its registered name.
    fn hand_over_targets(
        &self,
        device: &DeviceIdentity,
        return_id: &str,
    ) -> Result<Vec<returnhub_protocol::wire::HubChoice>>;
    /// Hands a return of the device's hub to another hub, if it may go (see
    /// [`returnhub_protocol::wire::HandOverRequest`]): in one transaction, the sending hub gets
    /// a `ReturnHandedOver` (its copy becomes read-only) and a received parcel goes back in
    /// transit; the receiving hub gets the order, the return and the hand-over by its next
    /// pull. Refused: the return not the device's hub's (403), the asker not one of its
    /// supervisors (403), a hub that does not serve the retailer (422), a return processed
    /// or with an action not yet confirmed (409).
    fn hand_over(
        &self,
        device: &DeviceIdentity,
        req: &returnhub_protocol::wire::HandOverRequest,
        now: UnixMillis,
    ) -> Result<returnhub_protocol::wire::HandOverResponse>;

    /// Stores a batch of a device's events (idempotent by event id) and applies their effects
    /// (read models, action claims, conflicts) in one transaction; answers after the commit.
    fn push(
        &self,
        device: &DeviceIdentity,
        events: &[RemoteEvent],
        now: UnixMillis,
        failpoint: Failpoint,
    ) -> Result<PushResponse>;
    /// What changed for the device's hub since the cursor.
    fn pull(&self, device: &DeviceIdentity, req: &PullRequest) -> Result<PullResponse>;
    /// Pushed events this build does not apply (from a newer build, or malformed), newest
    /// first.
    fn held_events(&self) -> Result<Vec<HeldRow>>;
    /// Judges the refused and unapplied held events again (after a fix: a hub added to a
    /// retailer's list, a clashing record changed) and takes those that now may and do apply,
    /// oldest first, each on its own. Returns each one's outcome.
    fn retry_held(&self, now: UnixMillis) -> Result<Vec<HeldRetry>>;

    fn upload_returns(
        &self,
        partner: &PartnerIdentity,
        rows: &[UploadRow],
        now: UnixMillis,
    ) -> Result<UploadResponse>;
    fn record_tracking(
        &self,
        partner: &PartnerIdentity,
        events: &[TrackingIn],
        now: UnixMillis,
    ) -> Result<TrackingResponse>;
    /// When the first tracking event with this parcel, code and source happened (a partner
    /// notification without a time of its own takes it, so its redelivery is one event).
    fn tracking_event_at(&self, connote: &str, code: &str, source: &str) -> Result<Option<String>>;

    /// Conflicts for the supervisor; of one hub, or all.
    fn conflicts(&self, hub_id: Option<&str>) -> Result<Vec<Conflict>>;
    /// Claims in `state`, oldest first; only `retailers`' when given.
    fn claims_in_state(
        &self,
        state: ClaimState,
        retailers: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<ActionClaim>>;
    /// Claims in `state` that are due (their next check is not later than `now`), oldest
    /// first.
    fn claims_due(
        &self,
        state: ClaimState,
        retailers: Option<&[String]>,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<ActionClaim>>;
    /// An unknown claim checked once more without an answer: checked again at `next_check`.
    fn defer_claim(&self, key: &str, checks: u32, next_check: UnixMillis) -> Result<()>;
    /// Moves a claim from `from` to `to` (compare-and-set); false if it was not in `from`.
    fn set_claim_state(
        &self,
        key: &str,
        from: ClaimState,
        to: ClaimState,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<bool>;
    /// Ends a claim (compare-and-set from `from`) and records the end as an `ActionConfirmed` /
    /// `ActionFailed` event for the return's hub, in one transaction; false if it was not in
    /// `from`.
    fn finish_claim(
        &self,
        claim: &ActionClaim,
        from: ClaimState,
        end: &ClaimEnd,
        now: UnixMillis,
    ) -> Result<bool>;
    /// (return id, status) of a hub's returns, by id: the read model the digests compare.
    fn return_statuses(&self, hub_id: &str) -> Result<Vec<(String, String)>>;
    /// Records that a retailer's actions go to its Shopify shop (the token is kept apart).
    fn connect_shop(&self, connection: &ShopConnection) -> Result<()>;
    fn shop_connections(&self) -> Result<Vec<ShopConnection>>;
    /// Keeps an install of the Shopify app under way (by its state's hash) for the callback
    /// to take once; refused for a retailer the store does not know.
    fn begin_shop_install(&self, install: &ShopInstall) -> Result<()>;
    /// Takes the install whose state hashes to `state_sha256`, if it is unused and not
    /// expired at `now`, and marks it used; `None` otherwise (a replayed or old callback).
    fn take_shop_install(&self, state_sha256: &str, now: UnixMillis)
        -> Result<Option<ShopInstall>>;
    /// The newest install under way for `shop_domain` (unused, unexpired at `now`).
    fn pending_shop_install(
        &self,
        shop_domain: &str,
        now: UnixMillis,
    ) -> Result<Option<ShopInstall>>;
    /// The order and lines an action is about, with each item's latest disposition.
    fn action_context(&self, claim: &ActionClaim) -> Result<ActionContext>;
    /// A retailer's configuration as last pushed by a hub; `None` before any.
    fn retailer(&self, retailer_id: &str) -> Result<Option<RetailerRecord>>;
    /// Every retailer configured (by the hubs' `RetailerConfigured` events).
    fn retailer_ids(&self) -> Result<Vec<String>>;
    /// Every retailer's whole configuration, by id.
    fn retailers(&self) -> Result<Vec<RetailerRecord>>;
    /// The hubs that serve a retailer: only an admin of one of them may change it.
    fn retailer_hubs(&self, retailer_id: &str) -> Result<Vec<String>>;
    /// Sets the hubs that serve a known retailer (the central CLI).
    fn set_retailer_hubs(&self, retailer_id: &str, hubs: &[String]) -> Result<()>;
    /// Records a retailer's whole configuration made here (the central CLI's `retailer`
    /// commands) as a `RetailerConfigured` event for every hub, as if a hub had pushed it.
    fn configure_retailer(&self, record: &RetailerRecord, now: UnixMillis) -> Result<()>;
    /// The retailer's returns that came from a partner under the partner's id `external_id`.
    fn returns_by_external_id(&self, retailer_id: &str, external_id: &str) -> Result<Vec<String>>;
    /// The shop's order as it is now (after its `orders/updated` webhook): recorded as an
    /// `OrderUpdated` event for the hub that holds the order when anything the hubs keep
    /// changed. An order no hub holds is left to the hubs' own imports.
    fn update_shop_order(&self, order: &OrderRecord, now: UnixMillis) -> Result<OrderUpdate>;
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimEnd {
    Confirmed {
        target: String,
        reference: String,
        /// What the customer got back in the currency they paid, when not the action's.
        paid: Option<returnhub_core::money::Money>,
    },
    Failed {
        target: String,
        reason: String,
    },
}

/// What [`CentralStorage::update_shop_order`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderUpdate {
    /// Recorded, for the hub that holds the order.
    Updated,
    /// Nothing the hubs keep changed.
    Unchanged,
    /// No hub holds this order: its hub imports it itself.
    NotHeld,
}

/// An install of the Shopify app on a retailer's shop, waiting for the merchant's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopInstall {
    /// Hex SHA-256 of the `state` sent to Shopify (the state itself is not kept).
    pub state_sha256: String,
    pub retailer_id: String,
    /// The shop as the admin named it (`name.myshopify.com`).
    pub shop_domain: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// A retailer connected to its Shopify shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConnection {
    pub retailer_id: String,
    pub shop_domain: String,
    pub shop_name: String,
    pub connected_at: String,
}
