//! Handing a return to another hub (a parcel sent on). The central store decides, in one
//! transaction: the sending hub's devices get the hand-over (their copy becomes read-only, a
//! received parcel goes back in transit), and the receiving hub gets everything it needs to
//! take the parcel in — the order, the return as it is now, the status change and the
//! hand-over — in the order it applies them.

use returnhub_core::auth::Role;
use returnhub_core::model::ReturnStatus;
use returnhub_core::record::{OrderRecord, ReturnRecord};
use returnhub_protocol::event::{DomainEvent, HandOver};
use returnhub_protocol::wire::{HandOverRequest, HandOverResponse, HubChoice};
use rusqlite::{params, Connection, OptionalExtension};

use super::Tx;
use crate::storage::{CentralError, Result};

/// The longest reason kept (a sentence or two for the receiving hub's supervisors).
pub const MAX_REASON_CHARS: usize = 500;

/// Every hub but `hub` that serves `retailer_id` and has a device that is not revoked, with
/// the name its first station registered.
pub(super) fn targets(conn: &Connection, hub: &str, retailer_id: &str) -> Result<Vec<HubChoice>> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT rh.hub_id FROM retailer_hubs rh
             WHERE rh.retailer_id = ?1 AND rh.hub_id != ?2
               AND EXISTS (SELECT 1 FROM devices d
                           WHERE d.hub_id = rh.hub_id AND d.revoked_at IS NULL)
             ORDER BY rh.hub_id",
        )?
        .query_map([retailer_id, hub], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter()
        .map(|hub_id| {
            Ok(HubChoice {
                name: super::hub_name(conn, &hub_id)?,
                hub_id,
            })
        })
        .collect()
}

impl Tx<'_> {
    /// See [`crate::storage::CentralStorage::hand_over`].
    pub(super) fn hand_over(
        &mut self,
        hub: &str,
        req: &HandOverRequest,
    ) -> Result<HandOverResponse> {
        let reason = req.reason.trim();
        if reason.is_empty() {
            return Err(CentralError::Invalid(
                "say why the return goes to another hub: its supervisors read it".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(CentralError::Invalid(format!(
                "the reason is longer than {MAX_REASON_CHARS} characters"
            )));
        }
        let row: Option<(String, String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT hub_id, retailer_id, status, record FROM returns WHERE id = ?1",
            )?
            .query_row([&req.return_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((owner, retailer_id, status, record)) = row else {
            return Err(CentralError::Invalid(format!(
                "return {} is not known here",
                req.return_id
            )));
        };
        if owner != hub {
            return Err(CentralError::Forbidden(format!(
                "return {} is hub {owner}'s: only its hub hands it over",
                req.return_id
            )));
        }
        match self.enrolled_role(&req.by, hub)? {
            Some(role) if role.covers(Role::Supervisor) => {}
            _ => {
                return Err(CentralError::Forbidden(format!(
                    "{} is not a supervisor of hub {hub}: only a supervisor hands a return over",
                    req.by
                )))
            }
        }
        if req.to_hub == hub {
            return Err(CentralError::Invalid(format!(
                "return {} is at hub {hub} already",
                req.return_id
            )));
        }
        let status = ReturnStatus::parse(&status)
            .ok_or_else(|| CentralError::Storage(format!("return status {status:?}")))?;
        if !status.may_hand_over() {
            return Err(CentralError::Conflict(format!(
                "return {} is {}: its parcel's journey is over, it stays at hub {hub}",
                req.return_id,
                status.as_str()
            )));
        }
        let unsettled: Option<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT key, state FROM action_claims
                 WHERE return_id = ?1 AND state != 'confirmed' ORDER BY key LIMIT 1",
            )?
            .query_row([&req.return_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((key, state)) = unsettled {
            return Err(CentralError::Conflict(format!(
                "action {key} of return {} is {state}: the return stays at hub {hub} until that \
                 action is confirmed (a failed one: Retry on F5)",
                req.return_id
            )));
        }
        if !targets(&self.tx, hub, &retailer_id)?
            .iter()
            .any(|t| t.hub_id == req.to_hub)
        {
            return Err(CentralError::Invalid(format!(
                "hub {} does not take retailer {retailer_id}'s returns (it is not on the \
                 retailer's list of hubs, or has no device): returnhub-central retailer-hubs",
                req.to_hub
            )));
        }

        let after = status.after_hand_over();
        let hand_over = HandOver {
            return_id: req.return_id.clone(),
            from_hub: hub.to_owned(),
            to_hub: req.to_hub.clone(),
            by: req.by.clone(),
            reason: reason.to_owned(),
        };
        let station = req.station.as_deref();
        let moved = (after != status).then(|| DomainEvent::ReturnStatusChanged {
            return_id: req.return_id.clone(),
            from: status,
            to: after,
        });
        // The sending hub's record: its devices make their copy read-only.
        let sent = self.append_by(
            DomainEvent::ReturnHandedOver(hand_over.clone()),
            Some(hub),
            &req.by,
            station,
        )?;
        if let Some(moved) = &moved {
            self.append_by(moved.clone(), Some(hub), &req.by, station)?;
        }
        // The receiving hub's: the order and the return first (what the hand-over is about).
        let mut ret: ReturnRecord = serde_json::from_str(&record)?;
        ret.hub_id = req.to_hub.clone();
        ret.status = after;
        let order: Option<String> = self
            .tx
            .prepare_cached("SELECT record FROM orders WHERE id = ?1")?
            .query_row([&ret.order_id], |r| r.get(0))
            .optional()?;
        let Some(order) = order else {
            return Err(CentralError::Storage(format!(
                "return {} names order {}, which is not here",
                ret.id, ret.order_id
            )));
        };
        let order: OrderRecord = serde_json::from_str(&order)?;
        let to = Some(req.to_hub.as_str());
        self.append_own(DomainEvent::OrderImported(order), to)?;
        self.append_own(DomainEvent::ReturnExpected(ret), to)?;
        if let Some(moved) = moved {
            self.append_by(moved, to, &req.by, station)?;
        }
        self.append_by(
            DomainEvent::ReturnHandedOver(hand_over),
            to,
            &req.by,
            station,
        )?;
        tracing::info!(return_id = %req.return_id, from = hub, to = %req.to_hub, "return handed over");
        Ok(HandOverResponse {
            event_id: sent.id,
            status: after,
        })
    }

    /// What a `ReturnHandedOver` changes here: the return is the receiving hub's (the same
    /// event reaches both hubs, so this is idempotent).
    pub(super) fn project_hand_over(&self, h: &HandOver) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE returns SET hub_id = ?2, record = json_set(record, '$.hub_id', ?2)
                 WHERE id = ?1",
            )?
            .execute(params![h.return_id, h.to_hub])?;
        Ok(())
    }
}
