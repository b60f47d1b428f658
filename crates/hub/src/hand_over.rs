//! Handing a return to another hub (F8, supervisors): the parcel came here but belongs
//! elsewhere, or the retailer moves it. The central store decides (it knows which hubs serve
//! the retailer and whether an action is still on its way), so this needs it online; the
//! answer comes back by sync, like everything else the central store records: this station's
//! copy becomes read-only, and the receiving hub's stations get the return by their pull.

use std::time::{Duration, Instant};

use returnhub_core::auth::Role;
use returnhub_protocol::wire::{HandOverRequest, HubChoice};
use returnhub_sync::{HttpTransport, SyncError};
use serde::Serialize;
use ts_rs::TS;

use crate::supervisor::SupervisorResult;
use crate::{Hub, HubError, Result};

/// How long the station waits for sync to push its events about the return before asking,
/// and to pull the answer after.
const SYNC_WAIT: Duration = Duration::from_secs(8);

/// A hub a return may be handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HubChoiceView {
    pub hub_id: String,
    /// Its name as its first station registered it (none before that station synced).
    pub name: Option<String>,
}

impl Hub {
    /// The hubs this return may go to: every other hub serving its retailer, as the central
    /// store knows them. Supervisors; needs the central store.
    pub fn hand_over_targets(&self, return_id: &str) -> Result<Vec<HubChoiceView>> {
        self.authorize(Role::Supervisor)?;
        self.handable(return_id)?;
        let transport = self.central_transport()?;
        let choices: Vec<HubChoice> = self.ask_central(transport.hand_over_targets(return_id))?;
        Ok(choices
            .into_iter()
            .map(|c| HubChoiceView {
                hub_id: c.hub_id,
                name: c.name,
            })
            .collect())
    }

    /// Hands `return_id` to hub `to_hub`, with the supervisor's reason. Refused unless the
    /// return is this hub's and has not been processed, closed or cancelled; the central
    /// store also refuses a hub that does not serve the retailer and a return with an action
    /// not yet confirmed. This station's events about the return are pushed first, so the
    /// central store has its whole story from here.
    pub fn hand_over_return(
        &self,
        return_id: &str,
        to_hub: &str,
        reason: &str,
    ) -> Result<SupervisorResult> {
        let actor = self.authorize(Role::Supervisor)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(HubError::Invalid(
                "say why the return goes to another hub (its supervisors read it)".into(),
            ));
        }
        let to_hub = to_hub.trim();
        if to_hub.is_empty() {
            return Err(HubError::Invalid(
                "choose the hub the return goes to".into(),
            ));
        }
        self.handable(return_id)?;
        let transport = self.central_transport()?;
        let unsynced = self.wait_for(|hub| Ok(hub.store().unsynced_about(return_id)? == 0))?;
        if !unsynced {
            let left = self.store().unsynced_about(return_id)?;
            return Err(HubError::Network(format!(
                "{left} of this station's events about the return have not reached the central \
                 store yet (is it reachable? see F4): the hand-over waits for them"
            )));
        }
        let request = HandOverRequest {
            return_id: return_id.to_owned(),
            to_hub: to_hub.to_owned(),
            by: actor.user_id.clone(),
            reason: reason.to_owned(),
            station: Some(self.options().station.clone()),
        };
        let answer = self.ask_central(transport.hand_over(&request))?;
        tracing::info!(return_id, to_hub, event = %answer.event_id, "return handed over");
        let arrived = self.wait_for(|hub| {
            Ok(hub
                .store()
                .return_by_id(return_id)?
                .is_some_and(|r| r.hub_id == to_hub))
        })?;
        let message = if arrived {
            format!(
                "Handed over to hub {to_hub}: send the parcel on. It is read-only here; hub \
                 {to_hub} gets it by sync."
            )
        } else {
            format!(
                "Handed over to hub {to_hub}: send the parcel on. This station shows it as \
                 hub {to_hub}'s at its next sync."
            )
        };
        let store = self.store();
        Ok(SupervisorResult {
            message,
            actions_queued: 0,
            state: self.state_of(&store, return_id, &actor)?,
        })
    }

    /// The return, if this station may hand it over: here, at this hub, and not finished.
    fn handable(&self, return_id: &str) -> Result<()> {
        let ret = self
            .store()
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        self.own_return(&ret)?;
        if !ret.status.may_hand_over() {
            return Err(HubError::Conflict(format!(
                "this return is {}: its parcel's journey is over, it stays here",
                ret.status.as_str()
            )));
        }
        Ok(())
    }

    fn central_transport(&self) -> Result<HttpTransport> {
        let Some(url) = self.options().central_url.clone() else {
            return Err(HubError::Invalid(
                "this hub works without a central store: a return is handed to another hub \
                 through it (add [central] url to hub.toml)"
                    .into(),
            ));
        };
        let token = self.device_token()?.ok_or_else(|| {
            HubError::Invalid(
                "this station has no device token for the central store yet (F4)".into(),
            )
        })?;
        HttpTransport::new(&url, &token, crate::setup::CENTRAL_TIMEOUT)
            .map_err(|e| HubError::Failed(format!("cannot reach the central store at {url}: {e}")))
    }

    /// Runs one request to the central store on a runtime of its own (the caller is off the
    /// window thread), turning its refusals into what the supervisor can act on.
    fn ask_central<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, SyncError>>,
    ) -> Result<T> {
        let rt = crate::shops::runtime()
            .map_err(|e| HubError::Failed(format!("cannot start a runtime: {e}")))?;
        rt.block_on(request).map_err(|e| match e {
            SyncError::Refused { status: 401, .. } => HubError::Network(
                "the central store does not know this station's device token (F4)".into(),
            ),
            SyncError::Refused {
                status: 403,
                message,
            } => HubError::NotAllowed(message),
            SyncError::Refused {
                status: 409,
                message,
            } => HubError::Conflict(message),
            SyncError::Refused {
                status: 400 | 404 | 422,
                message,
            } => HubError::Invalid(message),
            other => {
                tracing::warn!(error = %other, "hand-over: the central store did not answer");
                HubError::Network(format!("the central store did not answer: {other}"))
            }
        })
    }

    /// Wakes the sync worker and waits (up to [`SYNC_WAIT`]) for `done`; whether it came.
    fn wait_for(&self, mut done: impl FnMut(&Hub) -> Result<bool>) -> Result<bool> {
        let deadline = Instant::now() + SYNC_WAIT;
        loop {
            if done(self)? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.sync_soon();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
