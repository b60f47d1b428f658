//! Retailers as admins set them up: the retailer form (create, or edit everything but the
//! rules, Shopify and partner settings, which have screens of their own) and each retailer's
//! history of changes. A saved form is one `RetailerConfigured` event with the whole record,
//! so it syncs to the central store and every other hub like any configuration change.

use returnhub_core::auth::Role;
use returnhub_core::retailer::{self, FieldIssue, RetailerForm};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::EventInput;
use serde::Serialize;
use ts_rs::TS;

use crate::supervisor::{audit_entry, AuditEntry};
use crate::{Hub, HubError, Result};

/// The answer to saving the retailer form: saved, or every field's problem (nothing saved).
#[derive(Debug, Clone, Serialize, TS)]
pub struct RetailerSaved {
    pub saved: bool,
    pub retailer_id: String,
    pub issues: Vec<FieldIssue>,
}

impl Hub {
    /// The form for a retailer as it is now, or a blank one for a new retailer (admins).
    pub fn retailer_form(&self, retailer_id: Option<&str>) -> Result<RetailerForm> {
        self.authorize(Role::Admin)?;
        match retailer_id {
            None => Ok(RetailerForm::blank()),
            Some(id) => self
                .store()
                .retailer_record(id)?
                .map(|r| RetailerForm::from_record(&r))
                .ok_or_else(|| HubError::UnknownRetailer(id.to_string())),
        }
    }

    /// Creates (`create`) or edits a retailer from the form (admins). Every problem is
    /// answered at once, each naming its field; nothing is recorded while any remains.
    pub fn save_retailer(&self, form: &RetailerForm, create: bool) -> Result<RetailerSaved> {
        let actor = self.authorize(Role::Admin)?;
        let station = self.options().station.clone();
        // Held from the read of every retailer to the write: two admins cannot both take a
        // display name.
        let mut store = self.store();
        let all = store.retailer_records()?;
        let id = form.id.trim();
        let existing = all.iter().find(|r| r.id == id);
        if !create && existing.is_none() {
            return Err(HubError::UnknownRetailer(id.to_string()));
        }
        let existing = if create { None } else { existing };
        let others: Vec<_> = all
            .iter()
            .filter(|r| r.id != id || create)
            .cloned()
            .collect();
        let record = match retailer::build_record(form, existing, &others) {
            Ok(record) => record,
            Err(issues) => {
                return Ok(RetailerSaved {
                    saved: false,
                    retailer_id: id.to_string(),
                    issues,
                })
            }
        };
        if existing == Some(&record) {
            return Ok(RetailerSaved {
                saved: true,
                retailer_id: record.id,
                issues: Vec::new(),
            });
        }
        let retailer_id = record.id.clone();
        store.write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(record),
                actor: actor.user_id.clone(),
                station: Some(station.clone()),
            })?;
            Ok(())
        })?;
        tracing::info!(actor = %actor.user_id, retailer = %retailer_id, create, "saved a retailer");
        Ok(RetailerSaved {
            saved: true,
            retailer_id,
            issues: Vec::new(),
        })
    }

    /// Every recorded change to a retailer's configuration, before → after (admins).
    pub fn retailer_history(&self, retailer_id: &str) -> Result<Vec<AuditEntry>> {
        self.authorize(Role::Admin)?;
        let store = self.store();
        let mut previous = None;
        let mut out = Vec::new();
        for row in store.events_for(retailer_id)? {
            // The retailer's other events (imports, shop connections) are not settings.
            if row.kind != "retailer_configured" {
                continue;
            }
            let DomainEvent::RetailerConfigured(after) = serde_json::from_str(&row.payload)
                .map_err(|e| {
                    HubError::Corrupt(format!("event {} cannot be read: {e}", row.event_id))
                })?
            else {
                continue;
            };
            let what = retailer::describe_change(previous.as_ref(), &after);
            previous = Some(after);
            out.push(audit_entry(&store, row, what)?);
        }
        Ok(out)
    }
}
