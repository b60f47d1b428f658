//! First start: a hub with nobody enrolled is set up once, from the setup screen or from
//! `returnhub init`. Setup names the hub (written to `hub.toml`), enrols the first admin and,
//! optionally, points the hub at its central store with this device's token. After that the
//! setup command is refused in the core, whoever calls it: from then on people are enrolled
//! by an admin who signed in.
//!
//! Another station of a hub that is set up already does not set up again (a second first
//! admin, perhaps with the same badge, would clash with the people the hub already has): it
//! *joins*. Its device token tells the central store which hub it is for; the station writes
//! that hub's `hub.toml`, starts syncing, and its people, retailers and returns arrive by pull.
//! A token given at setup is checked the same way: it must be for the hub being set up, and
//! that hub must not be set up already.

use returnhub_core::auth::Role;
use returnhub_core::people;
use returnhub_core::record::UserRecord;
use returnhub_protocol::event::DomainEvent;
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
    /// Allow plain http to a central store off this machine.
    #[serde(default)]
    pub central_insecure: bool,
    /// This device's token from `returnhub-central add-device` (kept in the keyring).
    pub device_token: Option<String>,
}

/// What the "another station of a hub" form asks.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    pub central_url: String,
    /// Allow plain http to a central store off this machine.
    #[serde(default)]
    pub central_insecure: bool,
    /// This station's own token from `returnhub-central add-device --hub HUB`.
    pub device_token: String,
    /// This machine's station name (default bench-1).
    pub station: Option<String>,
}

/// How long one request to the central store may take (joining, a hand-over).
pub(crate) const CENTRAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What the window needs to know before anyone signs in.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SetupState {
    /// Nobody is enrolled and the demo is off: the setup screen shows.
    pub needed: bool,
    /// This station joined its hub and is pulling its people: sign-in follows when they are
    /// here.
    pub joining: bool,
    /// Why the last pull failed, while joining.
    pub sync_error: Option<String>,
    /// Values already known (a `hub.toml` written by an installer), to prefill the form.
    pub hub_id: String,
    pub hub_name: String,
    pub station: String,
    pub central_url: Option<String>,
}

/// A central store's URL as typed: https, or plain http to this machine or when allowed.
fn central_url(raw: &str, insecure: bool) -> Result<String> {
    let url = raw.trim().trim_end_matches('/');
    returnhub_core::partner::check_endpoint(url, insecure)
        .map_err(|why| HubError::Invalid(format!("the central store's URL: {why}")))?;
    Ok(url.to_string())
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
        let status = self.sync_status();
        Ok(SetupState {
            needed,
            joining: needed && options.configured() && status.is_some(),
            sync_error: status.and_then(|s| s.last_error),
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
        // Refused first, whatever was typed: once set up, there is nothing to validate.
        if self.store().has_users()? {
            tracing::warn!("setup refused: the hub is set up already");
            return Err(set_up_already());
        }
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
            Some(url) => Some(central_url(url, input.central_insecure)?),
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
        if let (Some(url), Some(token)) = (&central_url, &token) {
            let device = device_info(url, token)?;
            if device.hub_id != hub_id {
                return Err(HubError::Conflict(format!(
                    "this device's token is for hub {}, not {hub_id}: use that hub id, or a token \
                     made for {hub_id} (returnhub-central add-device --hub {hub_id})",
                    device.hub_id
                )));
            }
            if let Some(name) = device.hub_name {
                return Err(HubError::NotAllowed(format!(
                    "hub {hub_id} ({name}) is set up already: set this station up as another \
                     station of it (Join), so its people come from the central store"
                )));
            }
        }

        let options = {
            let current = self.options();
            if current.demo {
                return Err(HubError::NotAllowed(
                    "the demo hub is set up already".into(),
                ));
            }
            HubOptions {
                hub_id: hub_id.clone(),
                hub_name: hub_name.clone(),
                station,
                central_insecure: central_url.is_some() && input.central_insecure,
                central_url,
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
                return Err(set_up_already());
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
        self.replace_options(options);
        tracing::info!(hub = %hub_id, admin = %admin_id, "hub set up");
        if let Some(token) = token {
            // The hub is set up whatever happens here; the token can be entered again on F4.
            self.secrets
                .save(crate::central::TOKEN_SECRET, &token)
                .map_err(|e| {
                    tracing::error!(error = %e, "setup could not keep the device token");
                    HubError::Failed(format!(
                        "the hub is set up, but this device's token could not be kept ({e}): \
                         sign in and enter it on the station screen (F4)"
                    ))
                })?;
        }
        Ok(admin_id)
    }
}

impl Hub {
    /// Makes this station another station of the hub its device token is for: the hub's
    /// id and name from the central store, `hub.toml` written, the token kept, sync started.
    /// The hub's people arrive with the first pull; until then nobody can sign in here (the
    /// setup screen says so). Refused once anyone is enrolled here, and for a hub no station
    /// has set up yet (that one is set up, not joined). Returns the hub's id.
    pub fn join_hub(&self, input: &JoinInput) -> Result<String> {
        let current = self.options();
        if current.demo {
            return Err(HubError::NotAllowed(
                "the demo hub is set up already".into(),
            ));
        }
        let url = central_url(&input.central_url, input.central_insecure)?;
        let token = crate::central::check_token(&input.device_token)?.to_string();
        let station = match input.station.as_deref().map(str::trim) {
            None | Some("") => current.station.clone(),
            Some(s) => check_text("station name", s, 40)?,
        };
        if self.store().has_users()? {
            return Err(HubError::NotAllowed(
                "this station is set up already: sign in".into(),
            ));
        }
        let device = device_info(&url, &token)?;
        let Some(hub_name) = device.hub_name else {
            return Err(HubError::NotAllowed(format!(
                "no station of hub {} has been set up yet: set this one up as the hub's first \
                 (New hub), with hub id {}",
                device.hub_id, device.hub_id
            )));
        };
        let options = HubOptions {
            hub_id: device.hub_id.clone(),
            hub_name,
            station,
            central_url: Some(url.clone()),
            central_insecure: input.central_insecure,
            ..(*current).clone()
        };
        {
            // Held so a setup racing this join cannot enrol someone under another hub.toml.
            let store = self.store();
            if store.has_users()? {
                return Err(HubError::NotAllowed(
                    "this station is set up already: sign in".into(),
                ));
            }
            write_config(&options)?;
        }
        self.secrets
            .save(crate::central::TOKEN_SECRET, &token)
            .map_err(|e| HubError::Failed(format!("cannot keep the device token: {e}")))?;
        self.replace_options(options);
        self.start_sync(&url, &token)?;
        tracing::info!(hub = %device.hub_id, device = %device.device_name, "joined the hub; pulling its people");
        Ok(device.hub_id)
    }
}

/// Asks the central store which hub `token` is for (bounded by [`CENTRAL_TIMEOUT`]).
pub(crate) fn device_info(url: &str, token: &str) -> Result<returnhub_protocol::wire::DeviceInfo> {
    let unreachable = |e: &dyn std::fmt::Display| {
        HubError::Network(format!("cannot ask the central store at {url}: {e}"))
    };
    let transport = returnhub_sync::HttpTransport::new(url, token, CENTRAL_TIMEOUT)
        .map_err(|e| unreachable(&e))?;
    let rt = crate::shops::runtime().map_err(|e| unreachable(&e))?;
    match rt.block_on(transport.device_info()) {
        Ok(info) => Ok(info),
        Err(returnhub_sync::SyncError::Refused { status: 401, .. }) => Err(HubError::Network(
            format!("the central store at {url} does not know that device token"),
        )),
        Err(e) => {
            tracing::warn!(central = url, error = %e, "cannot ask the central store for the device's hub");
            Err(unreachable(&e))
        }
    }
}

fn set_up_already() -> HubError {
    HubError::NotAllowed(
        "this hub is set up already: sign in, and ask an admin to enrol people".into(),
    )
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
        .map_err(|e| HubError::Failed(format!("hub.toml as written does not read back: {e}")))?;
    if back.hub_id != options.hub_id || back.hub_name != options.hub_name {
        return Err(HubError::Failed(
            "hub.toml as written does not read back the same".into(),
        ));
    }
    Ok(())
}
