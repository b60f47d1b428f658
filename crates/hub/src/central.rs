//! The hub's link to the central return store: the device token (a secret, kept in the
//! keyring), the background sync worker (`returnhub-sync`, its own thread and store
//! connection, so the bench never waits on it), and the status line the window shows. With no
//! `[central] url` in `hub.toml` the hub works standalone and says so.

use returnhub_core::auth::Role;
use returnhub_sync::{SyncConfig, SyncWorker};
use serde::Serialize;
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// The keyring name of this hub's device token.
pub(crate) const TOKEN_SECRET: &str = "central-device-token";

/// What the header and the station screen show about sync.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SyncView {
    /// The central store's URL, if `hub.toml` names one.
    pub central_url: Option<String>,
    /// Plain http to it off this machine was allowed (`[central] insecure`): shown in red.
    pub central_insecure: bool,
    /// The worker runs (a URL and a device token are set).
    pub running: bool,
    pub online: bool,
    #[ts(type = "number")]
    pub queue_depth: u64,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    /// Events from stations on a newer Returnhub that this one cannot apply until it is
    /// updated, and events that need them (kept; applied by the first sync after the update).
    #[ts(type = "number")]
    pub needs_update: u64,
    /// Events whose payload is not what their kind says: kept, never applied.
    #[ts(type = "number")]
    pub malformed: u64,
    /// This station's own events the central store refused (another hub's return, a retailer
    /// this hub does not serve): kept there, not applied. Supervisors see them on F3.
    #[ts(type = "number")]
    pub refused: u64,
}

/// A pulled event held back (F3, for supervisors).
#[derive(Debug, Clone, Serialize, TS)]
pub struct HeldEventView {
    pub event_id: String,
    pub kind: String,
    pub version: u32,
    /// The device that recorded it, and where and when.
    pub device_id: String,
    pub station: Option<String>,
    pub recorded_at: String,
    /// `needs_update`, `unapplied` (it needs one of the others), `malformed`, or `refused`
    /// (one of this station's own, refused by the central store).
    pub state: String,
    pub reason: String,
}

/// The central-link domain's own state: the sync worker, while this station syncs.
#[derive(Default)]
pub(crate) struct CentralLink {
    worker: std::sync::Mutex<Option<SyncWorker>>,
}

impl CentralLink {
    fn worker(&self) -> std::sync::MutexGuard<'_, Option<SyncWorker>> {
        self.worker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Hub {
    /// Starts the sync worker if `hub.toml` names a central store and a device token is
    /// stored. Called once at start-up; a missing token is not an error (an admin enters it).
    pub fn start_sync_if_configured(&self) -> Result<bool> {
        let Some(url) = self.options().central_url.clone() else {
            return Ok(false);
        };
        let Some(token) = self.device_token()? else {
            return Ok(false);
        };
        self.start_sync(&url, &token)?;
        Ok(true)
    }

    /// This station's device token for the central store, if one is stored.
    pub(crate) fn device_token(&self) -> Result<Option<String>> {
        match self.secrets.load(TOKEN_SECRET) {
            Ok(token) => Ok(Some(token)),
            Err(returnhub_secrets::SecretError::Missing(_)) => Ok(None),
            Err(e) => Err(HubError::Failed(format!(
                "cannot read the device token: {e}"
            ))),
        }
    }

    pub(crate) fn start_sync(&self, url: &str, token: &str) -> Result<()> {
        let mut slot = self.central.worker();
        if let Some(old) = slot.take() {
            old.stop();
        }
        let worker =
            SyncWorker::start(&self.options().store_path(), SyncConfig::new(url, token))
                .map_err(|e| HubError::Failed(format!("cannot start syncing with {url}: {e}")))?;
        *slot = Some(worker);
        tracing::info!(central = url, "sync worker started");
        Ok(())
    }

    /// Stores this hub's device token (admins) and (re)starts syncing with it.
    pub fn set_central_token(&self, token: &str) -> Result<SyncView> {
        self.authorize(Role::Admin)?;
        let Some(url) = self.options().central_url.clone() else {
            return Err(HubError::Invalid(
                "this hub has no central store: add [central] url to hub.toml first".into(),
            ));
        };
        let token = check_token(token)?;
        // A token for another hub would sync this station's events into that hub. Checked
        // when the central store answers; offline, the token is kept and sync reports later.
        match crate::setup::device_info(&url, token) {
            Ok(device) if device.hub_id != self.options().hub_id => {
                return Err(HubError::Conflict(format!(
                    "that device token is for hub {}, and this is hub {}",
                    device.hub_id,
                    self.options().hub_id
                )))
            }
            Ok(_) | Err(HubError::Network(_)) => {}
            Err(e) => return Err(e),
        }
        self.secrets
            .save(TOKEN_SECRET, token)
            .map_err(|e| HubError::Failed(format!("cannot keep the device token: {e}")))?;
        self.start_sync(&url, token)?;
        self.sync_view()
    }

    /// Starts a sync round now, if this station syncs (after something the central store
    /// should hear of, or whose answer it should pull, soon).
    pub(crate) fn sync_soon(&self) {
        let slot = self.central.worker();
        if let Some(worker) = slot.as_ref() {
            worker.sync_now();
        }
    }

    /// The sync worker's status, if this station syncs.
    pub(crate) fn sync_status(&self) -> Option<returnhub_sync::SyncStatus> {
        self.central.worker().as_ref().map(|w| w.status())
    }

    /// Sync's state for the window.
    pub fn sync_view(&self) -> Result<SyncView> {
        self.authorize(Role::Operator)?;
        // The worker's lock is let go before the store's is taken.
        let status = self.sync_status();
        let held = self.store().held_counts()?;
        Ok(SyncView {
            central_url: self.options().central_url.clone(),
            central_insecure: self.options().central_insecure,
            running: status.is_some(),
            online: status.as_ref().is_some_and(|s| s.online),
            queue_depth: match &status {
                Some(s) => s.queue_depth,
                None => self.store().sync_queue_depth()?,
            },
            last_success_at: status.as_ref().and_then(|s| s.last_success_at.clone()),
            last_error: status.and_then(|s| s.last_error),
            needs_update: held.needs_update,
            malformed: held.malformed,
            refused: held.refused,
        })
    }

    /// Sends this station's events the central store refused to it again, now, on the sync
    /// worker's thread (after a fix there: this hub added to a retailer's list, say). Those it
    /// takes leave the held list. Supervisors; only while syncing.
    pub fn resend_refused(&self) -> Result<SyncView> {
        self.authorize(Role::Supervisor)?;
        {
            let slot = self.central.worker();
            let Some(worker) = slot.as_ref() else {
                return Err(HubError::Invalid(
                    "this station is not syncing with a central store".into(),
                ));
            };
            worker.resend_refused();
        }
        self.sync_view()
    }

    /// The events pulled from other devices that this station holds back, newest first:
    /// from a newer Returnhub (this station needs an update) or malformed. Supervisors.
    pub fn held_events(&self) -> Result<Vec<HeldEventView>> {
        self.authorize(Role::Supervisor)?;
        Ok(self
            .store()
            .held_events(500)?
            .into_iter()
            .map(|h| HeldEventView {
                event_id: h.event.id,
                kind: h.event.kind,
                version: h.event.version,
                device_id: h.event.device_id,
                station: h.event.station,
                recorded_at: h.event.recorded_at,
                state: h.state.as_str().into(),
                reason: h.reason,
            })
            .collect())
    }
}

/// A device token as pasted: trimmed; long, with no spaces inside.
pub(crate) fn check_token(token: &str) -> Result<&str> {
    let token = token.trim();
    if token.len() < 16 || token.chars().any(char::is_whitespace) {
        return Err(HubError::Invalid(
            "that is not a device token (returnhub-central add-device prints one)".into(),
        ));
    }
    Ok(token)
}
