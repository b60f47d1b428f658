//! First start: a hub with nobody enrolled is set up once, from the setup screen or from
//! `returnhub init`. Setup names the hub (written to `hub.toml`), enrols the first admin and,
//! optionally, points the hub at its central store with this device's token. After that the
//! setup command is refused in the core, whoever calls it: from then on people are enrolled
//! by an admin who signed in.

use returnhub_core::auth::Role;
use returnhub_core::event::{DomainEvent, UserRecord};
use returnhub_core::people;
use returnhub_store::EventInput;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Hub, HubError, HubOptions, Result};

/// What the setup screen asks.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SetupInput {
    /// Short code of the hub, e.g. AKL; returns and sync are scoped by it.
    pub hub_id: String,
    pub hub_name: String,
    /// This machine's station name (default bench-1).
    pub station: Option<String>,
    pub admin_badge: String,
    pub admin_name: String,
    pub pin: String,
    pub pin_again: String,
    /// The central return store's URL, when the hub syncs with one.
    pub central_url: Option<String>,
    /// This device's token from `returnhub-central add-device` (kept in the keyring).
    pub device_token: Option<String>,
}

/// What the window needs to know before anyone signs in.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SetupState {
    /// Nobody is enrolled and the demo is off: the setup screen shows.
    pub needed: bool,
    /// Values already known (a `hub.toml` written by an installer), to prefill the form.
    pub hub_id: String,
    pub hub_name: String,
    pub station: String,
    pub central_url: Option<String>,
}

/// A hub id: letters, digits and dashes, 2 to 16 (it is printed on labels and in logs).
fn check_hub_id(raw: &str) -> Result<String> {
    let id = raw.trim().to_ascii_uppercase();
    if !(2..=16).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(HubError::Invalid(format!(
            "'{}' is not a hub id: 2 to 16 letters, digits or dashes (e.g. AKL)",
            raw.trim()
        )));
    }
    Ok(id)
}

fn check_text(what: &str, raw: &str, max: usize) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(HubError::Invalid(format!(
            "the {what} must be 1 to {max} characters"
        )));
    }
    Ok(value.to_string())
}

impl Hub {
    /// Whether the setup screen shows, and what is known already.
    pub fn setup_state(&self) -> Result<SetupState> {
        let options = self.options();
        let needed = !options.demo && !self.store().has_users()?;
        Ok(SetupState {
            needed,
            hub_id: options.hub_id.clone(),
            hub_name: options.hub_name.clone(),
            station: options.station.clone(),
            central_url: options.central_url.clone(),
        })
    }

    /// Sets the hub up: writes `hub.toml`, enrols the first admin and registers the hub in one
    /// write, stores the device token. Refused once anyone is enrolled. Returns the admin's
    /// user id; the caller starts sync if a central store was named.
    pub fn set_up(&self, input: &SetupInput) -> Result<String> {
        let now = (self.clock)();
        let hub_id = check_hub_id(&input.hub_id)?;
        let hub_name = check_text("hub name", &input.hub_name, 100)?;
        let station = match input.station.as_deref().map(str::trim) {
            None | Some("") => self.options().station.clone(),
            Some(s) => check_text("station name", s, 40)?,
        };
        let badge = people::check_badge(&input.admin_badge).map_err(invalid)?;
        let name = people::check_name(&input.admin_name).map_err(invalid)?;
        people::check_pin(&input.pin).map_err(invalid)?;
        if input.pin != input.pin_again {
            return Err(HubError::Invalid(
                "the two PINs differ: type the same PIN twice".into(),
            ));
        }
        let central_url = match input.central_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(url) => {
                return Err(HubError::Invalid(format!(
                    "'{url}' is not an http(s) URL of a central store"
                )))
            }
        };
        let token = match input.device_token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(_) if central_url.is_none() => {
                return Err(HubError::Invalid(
                    "a device token needs the central store's URL beside it".into(),
                ))
            }
            Some(t) => Some(crate::central::check_token(t)?.to_string()),
        };

        let options = {
            let current = self.options();
            if current.demo {
                return Err(HubError::Invalid("the demo hub is set up already".into()));
            }
            HubOptions {
                hub_id: hub_id.clone(),
                hub_name: hub_name.clone(),
                station,
                central_url,
                configured: true,
                ..(*current).clone()
            }
        };
        let admin_id = format!("u-{}", uuid::Uuid::now_v7().simple());
        {
            // The store stays locked from the check to the write, so two setup calls cannot
            // both find the hub empty.
            let mut store = self.store();
            if store.has_users()? {
                tracing::warn!("setup refused: the hub is set up already");
                return Err(HubError::NotAllowed(
                    "this hub is set up already: sign in, and ask an admin to enrol people".into(),
                ));
            }
            // hub.toml first: if the events then fail, nobody is enrolled and setup runs again
            // (rewriting it); the other order could leave people in a store no hub.toml names.
            write_config(&options)?;
            let record = UserRecord {
                id: admin_id.clone(),
                name,
                badge,
                pin_hash: crate::auth::hash_pin(&input.pin),
                role: Role::Admin,
                active: true,
                must_change_pin: false,
            };
            store.write(now, |tx| {
                let input = |event| EventInput {
                    event,
                    actor: "system:setup".to_string(),
                    station: Some(options.station.clone()),
                };
                tx.append(input(DomainEvent::HubRegistered {
                    id: hub_id.clone(),
                    name: hub_name.clone(),
                }))?;
                tx.append(input(DomainEvent::UserEnrolled(record)))?;
                Ok(())
            })?;
        }
        if let Some(token) = token {
            self.secrets
                .save(crate::central::TOKEN_SECRET, &token)
                .map_err(|e| HubError::Invalid(e.to_string()))?;
        }
        self.replace_options(options);
        tracing::info!(hub = %hub_id, admin = %admin_id, "hub set up");
        Ok(admin_id)
    }
}

fn invalid(e: people::PeopleError) -> HubError {
    HubError::Invalid(e.to_string())
}

/// Writes `hub.toml` durably: a temporary file, synced, then renamed over the old one.
fn write_config(options: &HubOptions) -> Result<()> {
    use std::io::Write;
    let path = options.config_path();
    let tmp = path.with_extension("toml.tmp");
    let failed = |source: std::io::Error| {
        tracing::error!(path = %path.display(), error = %source, "cannot write hub.toml");
        HubError::DataDir {
            path: path.clone(),
            source,
        }
    };
    let mut file = std::fs::File::create(&tmp).map_err(failed)?;
    file.write_all(options.config_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(failed)?;
    if let Ok(dir) = std::fs::File::open(&options.data_dir) {
        let _ = dir.sync_all();
    }
    // The written file must read back as the same hub: a name that breaks TOML would
    // otherwise only show at the next start.
    let back = HubOptions::in_dir(&options.data_dir)
        .map_err(|e| HubError::Invalid(format!("hub.toml as written does not read back: {e}")))?;
    if back.hub_id != options.hub_id || back.hub_name != options.hub_name {
        return Err(HubError::Invalid(
            "hub.toml as written does not read back the same".into(),
        ));
    }
    Ok(())
}
