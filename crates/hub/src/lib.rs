//! The hub's application service: the one place the bench, the supervisor screens, the Tauri
//! commands and the tests all go through. It owns the store and the clock; it turns a request
//! into domain events, appends them through the store's one write path, and answers only once
//! they are durable.

mod auth;
mod bench;
mod central;
mod demo;
mod hand_over;
mod options;
mod orphan;
mod partners;
mod people;
mod photos;
mod reports;
mod retailer_admin;
mod returns_prime;
mod rules_admin;
mod search;
mod setup;
mod shops;
mod station;
mod supervisor;
mod webhooks;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use returnhub_core::auth::Role;
use returnhub_core::model::{ReturnStatus, ScanResult, ScanVerdict, Transition};
use returnhub_core::time::UnixMillis;
use returnhub_devices::classify::{Classification, ConnoteRules};
use returnhub_devices::scan::normalise_wedge;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store, StoreError};
use serde::Serialize;
use ts_rs::TS;

pub use auth::{hash_pin, Actor, SessionView};
pub use bench::{BenchScan, InspectRequest, ItemScan, ProcessResult};
pub use central::{HeldEventView, SyncView};
pub use demo::{seed_demo, DEMO_HUB_ID, DEMO_USERS};
pub use hand_over::HubChoiceView;
pub use options::{DispatchSchedule, HubOptions, OptionsError};
pub use orphan::{OrderMatch, OrderMatchLine};
pub use partners::{PartnerConnectionInput, PartnerConnectionView, RouteView};
pub use people::{
    IssuedPin, PersonInput, PersonView, StaffImport, StaffRowError, MAX_STAFF_CSV_BYTES,
};
pub use photos::{PhotoRef, PhotoStore, MAX_PHOTO_BYTES};
pub use reports::{
    human_millis, Cell, ChartSpec, ColumnKind, ReportColumn, ReportFilter, ReportSet, ReportTable,
    REPORT_NAMES,
};
pub use retailer_admin::RetailerSaved;
pub use returns_prime::{
    PartnerReturnItem, PartnerReturnMatch, ReturnsPrimeLookup, LOOKUP_TIMEOUT,
};
pub use rules_admin::RulesCheck;
pub use search::{
    ExportedFile, ReturnHitView, ReturnSearch, SearchPage, TimelineEntry, SEARCH_CSV_HEADER,
    SEARCH_PAGE,
};
pub use setup::{JoinInput, SetupInput, SetupState};
pub use shops::{
    ActionCounts, ActionView, DispatchMode, DispatchView, ImportState, ImportView,
    RetailerShopView, ShopConnectionView, ShopsView,
};
pub use station::{render as render_label, PrintRound, PrinterQueueView, ScannerSink, StationView};
pub use supervisor::{AuditEntry, ExceptionView, SupervisorResult};
pub use webhooks::{TrackingWebhookInput, TrackingWebhookView};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("nobody is signed in at this station: scan your badge")]
    NotSignedIn,
    #[error("this needs {} (you are signed in as {})", with_article(.needed.as_str()), with_article(.have.as_str()))]
    Forbidden {
        needed: returnhub_core::auth::Role,
        have: returnhub_core::auth::Role,
    },
    #[error("{0}")]
    SignIn(String),
    /// Nobody may do this now, whatever their role (say, setup once the hub is set up).
    #[error("{0}")]
    NotAllowed(String),
    /// The signed-in person holds a one-time PIN: they choose their own before anything else.
    #[error("choose your own PIN first: you signed in with a one-time PIN")]
    MustChangePin,
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what is recorded (a badge already someone's).
    #[error("{0}")]
    Conflict(String),
    /// Another machine did not answer, or answered no (the central store while joining).
    #[error("{0}")]
    Network(String),
    /// The request cannot be done as asked; the sentence says why and what to do.
    #[error("{0}")]
    Invalid(String),
    /// A scanner, printer or label at this station did not work; the sentence says which.
    #[error("{0}")]
    Device(String),
    /// Something on this machine failed (the keyring, a file, the runtime): not the
    /// operator's doing. Logged with its cause.
    #[error("{0}")]
    Failed(String),
    #[error("no retailer '{0}' on this hub")]
    UnknownRetailer(String),
    #[error("the rules have problems: {}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Rules(Vec<returnhub_core::rules::RuleIssue>),
    #[error("the store holds something this build cannot read: {0}")]
    Corrupt(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// What the window can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Show the sign-in screen.
    NotSignedIn,
    /// The signed-in role may not do this.
    Forbidden,
    /// Sign-in refused: badge, PIN or lockout.
    SignIn,
    /// The input was wrong; the message says how.
    Invalid,
    /// The signed-in person must choose their own PIN first: show the PIN form.
    ChangePin,
    /// What was asked for is not here.
    NotFound,
    /// It clashes with what is recorded; the message says with what.
    Conflict,
    /// Another machine did not answer as needed; try again when it is reachable.
    Network,
    /// A scanner, printer or label at this station did not work: check the device.
    Device,
    /// Something failed on this machine (store, disk): tell a supervisor.
    Failed,
}

/// An error as the window receives it: a code to act on and one sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ErrorView {
    pub code: ErrorCode,
    pub message: String,
}

impl From<HubError> for ErrorView {
    fn from(e: HubError) -> Self {
        let code = match &e {
            HubError::NotSignedIn => ErrorCode::NotSignedIn,
            HubError::Forbidden { .. } | HubError::NotAllowed(_) => ErrorCode::Forbidden,
            HubError::SignIn(_) => ErrorCode::SignIn,
            HubError::MustChangePin => ErrorCode::ChangePin,
            HubError::NotFound(_) => ErrorCode::NotFound,
            HubError::Conflict(_) => ErrorCode::Conflict,
            HubError::Network(_) => ErrorCode::Network,
            HubError::Device(_) => ErrorCode::Device,
            HubError::UnknownRetailer(_) | HubError::Rules(_) | HubError::Invalid(_) => {
                ErrorCode::Invalid
            }
            HubError::Store(_)
            | HubError::DataDir { .. }
            | HubError::Corrupt(_)
            | HubError::Failed(_) => ErrorCode::Failed,
        };
        // What the operator did not cause is logged with its cause; the rest is an answer.
        match code {
            ErrorCode::Failed => tracing::error!(error = %e, "command failed"),
            ErrorCode::Device | ErrorCode::Network => {
                tracing::warn!(error = %e, kind = ?code, "command could not reach what it needs")
            }
            _ => {}
        }
        ErrorView {
            code,
            message: e.to_string(),
        }
    }
}

/// "an admin", "a supervisor", "an operator".
fn with_article(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {word}")
}

impl ErrorView {
    pub fn invalid(message: impl Into<String>) -> Self {
        ErrorView {
            code: ErrorCode::Invalid,
            message: message.into(),
        }
    }
}

/// What the window shows in its header and the settings screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub hub_id: String,
    pub hub_name: String,
    pub station: String,
    pub device_id: String,
    pub data_dir: String,
    pub schema_version: u32,
    pub demo: bool,
}

/// A connote to try on the demo hub, with what scanning it will show.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DemoConnote {
    pub connote: String,
    pub verdict: ScanVerdict,
    pub retailer: String,
    pub items: u32,
}

/// A wall clock in Unix milliseconds; tests pass a fixed or stepping one.
pub type Clock = Box<dyn Fn() -> UnixMillis + Send + Sync>;

pub fn system_clock() -> Clock {
    Box::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as UnixMillis)
            .unwrap_or(0)
    })
}

/// The application service. What every domain shares is here (the store, the station's
/// options, the clock, the keyring, the photos, who is signed in); each domain's own state is
/// a type of its module that only that module reads or changes (`station::StationDevices`,
/// `central::CentralLink`, `shops::ShopWorkers`). The bench's undo steps are read from the
/// store, not kept here, so they outlive a restart.
pub struct Hub {
    store: Mutex<Store>,
    /// Which scans are connotes, and which are misreads (check digits); retailer patterns later.
    connote_rules: ConnoteRules,
    sessions: Mutex<auth::Sessions>,
    /// Replaced once, when first-start setup names the hub; read through [`Hub::options`].
    options: RwLock<Arc<HubOptions>>,
    clock: Clock,
    photos: PhotoStore,
    /// The station's printer and scanners.
    devices: station::StationDevices,
    /// Device tokens and API keys: the keyring, or 0600 files under the data dir.
    secrets: returnhub_secrets::SecretVault,
    /// The sync worker, when a central store is configured and a token is stored.
    central: central::CentralLink,
    /// The shop import and action dispatch workers' shared state.
    shops: shops::ShopWorkers,
}

impl Hub {
    /// Opens the hub's store under the data dir; seeds the demo hub when asked to and the
    /// store is empty.
    pub fn open(options: HubOptions) -> Result<Hub> {
        Self::open_with_clock(options, system_clock())
    }

    pub fn open_with_clock(options: HubOptions, clock: Clock) -> Result<Hub> {
        std::fs::create_dir_all(&options.data_dir).map_err(|source| HubError::DataDir {
            path: options.data_dir.clone(),
            source,
        })?;
        let mut store = Store::open(&options.store_path())?;
        if !options.configured() && store.has_users()? {
            // People are enrolled, so setup ran (or the demo did) and wrote hub.toml: opening
            // this store under no hub's name would mislabel everything done here.
            return Err(HubError::Invalid(format!(
                "{} is missing, but the store in {} was set up already: put the hub's hub.toml \
                 back (or set RETURNHUB_DEMO=1 if this is the demo's data)",
                options.config_path().display(),
                options.data_dir.display()
            )));
        }
        if options.demo && !store.has_retailers()? {
            let now = clock();
            seed_demo(&mut store, now)?;
            tracing::info!("seeded the demo hub");
        }
        Ok(Hub {
            store: Mutex::new(store),
            connote_rules: ConnoteRules::new(Vec::new()).expect("no patterns, nothing to compile"),
            sessions: Mutex::new(auth::Sessions::default()),
            photos: PhotoStore::new(options.data_dir.join("photos")),
            secrets: returnhub_secrets::SecretVault::new(
                "returnhub",
                &options.data_dir.join("secrets"),
                returnhub_secrets::Backend::KeyringOrFile,
            ),
            central: central::CentralLink::default(),
            shops: shops::ShopWorkers::default(),
            options: RwLock::new(Arc::new(options)),
            clock,
            devices: station::StationDevices::default(),
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-written (the transaction
        // rolls back on drop), so a poisoned lock is safe to take over.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> MutexGuard<'_, auth::Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Who this hub is and how it runs, as of now (setup may have named it since start).
    pub fn options(&self) -> Arc<HubOptions> {
        self.options
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn replace_options(&self, options: HubOptions) {
        *self.options.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(options);
    }

    pub fn app_info(&self) -> Result<AppInfo> {
        let store = self.store();
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            hub_id: self.options().hub_id.clone(),
            hub_name: self.options().hub_name.clone(),
            station: self.options().station.clone(),
            device_id: store.device_id().to_string(),
            data_dir: self.options().data_dir.display().to_string(),
            schema_version: store.schema_version()?,
            demo: self.options().demo,
        })
    }

    /// A connote scanned (or typed) at the bench. The scan is recorded whatever it matches,
    /// and an expected parcel is marked received, before the answer is returned.
    pub fn scan(&self, raw: &str) -> Result<ScanResult> {
        let actor = self.authorize(Role::Operator)?;
        let classified = self.connote_rules.classify_scan(&normalise_wedge(raw));
        let connote = match &classified {
            Classification::Misread { text, .. } | Classification::NotAConnote { text } => {
                text.clone()
            }
            other => other.lookup_key().unwrap_or_default().to_string(),
        };
        let mut store = self.store();
        let mut found = match classified.lookup_key() {
            Some(key) => store.return_by_connote(key)?,
            None => None,
        };
        let verdict = match &found {
            _ if classified.lookup_key().is_none() => ScanVerdict::Misread,
            None => ScanVerdict::Unknown,
            Some(ret) => ScanVerdict::for_known(ret.status, &ret.hub_id, &self.options().hub_id),
        };
        let receive = found.as_ref().filter(|ret| {
            verdict == ScanVerdict::Expected
                && ret
                    .status
                    .can_move(ReturnStatus::Received, Transition::HubScan)
        });
        let mut events = vec![DomainEvent::ConnoteScanned {
            raw: raw.to_string(),
            connote: connote.clone(),
            return_id: found.as_ref().map(|r| r.id.clone()),
            station: self.options().station.clone(),
        }];
        if let Some(ret) = receive {
            events.push(DomainEvent::ReturnStatusChanged {
                return_id: ret.id.clone(),
                from: ret.status,
                to: ReturnStatus::Received,
            });
        }
        let received = events.len() == 2;
        let duplicate_open = match found.as_ref() {
            Some(ret) if verdict == ScanVerdict::AlreadyProcessed => store
                .open_exception(
                    returnhub_core::bench::ExceptionKind::DuplicateProcessing,
                    &ret.id,
                )?
                .is_some(),
            _ => false,
        };
        if let Some(ret) = found
            .as_ref()
            .filter(|_| verdict == ScanVerdict::AlreadyProcessed && !duplicate_open)
        {
            // One open duplicate per return: the supervisor sees it once, the log has each scan.
            events.push(DomainEvent::ExceptionRaised(
                returnhub_core::bench::ExceptionRecord {
                    id: bench::new_id(),
                    kind: returnhub_core::bench::ExceptionKind::DuplicateProcessing,
                    return_id: Some(ret.id.clone()),
                    connote: Some(connote.clone()),
                    note: format!(
                        "scanned again at station {} after it was processed",
                        self.options().station
                    ),
                    photos: Vec::new(),
                },
            ));
        }
        let now = (self.clock)();
        // RC for the retailer's tracking webhooks, in the same transaction as the receipt.
        let tracking = match (received, found.as_ref()) {
            (true, Some(ret)) => {
                let retailer = bench::retailer_of(&store, &ret.retailer.id)?;
                if webhooks::receipt_told_already(&store, &ret.id)? {
                    None
                } else {
                    webhooks::tracking_batch(
                        &retailer,
                        ret,
                        &self.options().hub_name,
                        "RC",
                        now,
                        &[],
                        &[],
                    )
                    .map(|body| (retailer, ret.id.clone(), body))
                }
            }
            _ => None,
        };
        let first_scan = match (received, found.as_ref()) {
            (true, Some(ret)) => self.first_scan_at_the_bench(&store, ret, now)?,
            _ => Vec::new(),
        };
        let fired = !first_scan.is_empty();
        events.extend(first_scan.into_iter().map(DomainEvent::ActionDue));
        store.write(now, |tx| {
            for (i, event) in events.into_iter().enumerate() {
                let appended = tx.append(EventInput {
                    event,
                    actor: actor.user_id.clone(),
                    station: Some(self.options().station.clone()),
                })?;
                if let (1, Some((retailer, return_id, body))) = (i, &tracking) {
                    webhooks::queue_batch(tx, retailer, &appended.id, return_id, "RC", body)?;
                }
            }
            Ok(())
        })?;
        if tracking.is_some() {
            self.webhooks_queued();
        }
        if fired {
            self.actions_queued();
        }
        if let (true, Some(ret)) = (received, found.as_mut()) {
            ret.status = ReturnStatus::Received;
        }
        let message = match &classified {
            Classification::Misread { format, .. } => {
                format!("Misread: {connote} fails the {format} check digit. Scan again.")
            }
            _ => verdict_message(verdict, &connote, found.as_ref().map(|r| r.hub_id.as_str())),
        };
        let bench = match &found {
            Some(ret) if ret.hub_id == self.options().hub_id => {
                Some(self.state_of(&store, &ret.id, &actor)?)
            }
            _ => None,
        };
        Ok(ScanResult {
            verdict,
            connote,
            raw: raw.to_string(),
            message,
            ret: found,
            bench,
        })
    }

    /// A few connotes per kind of signal, for the demo's "try these" list.
    /// Empty on a real hub: the sampling reads every connote, which is cheap on the demo's
    /// hundred and seconds of start-up on a hub with a million.
    pub fn demo_connotes(&self) -> Result<Vec<DemoConnote>> {
        if !self.options().demo {
            return Ok(Vec::new());
        }
        let samples = self.store().sample_connotes(2)?;
        Ok(samples
            .into_iter()
            .map(|s| DemoConnote {
                verdict: ScanVerdict::for_known(s.status, &s.hub_id, &self.options().hub_id),
                connote: s.connote,
                retailer: s.retailer,
                items: s.items,
            })
            .collect())
    }

    /// Stores a bench photo (JPEG or PNG, downscaled, metadata dropped); see [`PhotoStore`].
    pub fn add_photo(&self, bytes: &[u8]) -> Result<PhotoRef> {
        self.authorize(Role::Operator)?;
        self.photos.store(bytes)
    }

    /// A stored photo as a `data:` URL for the window.
    pub fn photo_data_url(&self, hash: &str) -> Result<String> {
        self.authorize(Role::Operator)?;
        self.photos.data_url(hash)
    }

    /// Runs `f` with the store; for reports and tests that read what the hub wrote.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.store())
    }
}

fn verdict_message(verdict: ScanVerdict, connote: &str, other_hub: Option<&str>) -> String {
    match verdict {
        ScanVerdict::Expected => format!("{connote}: inspect the items."),
        ScanVerdict::AlreadyProcessed => {
            format!("{connote} was already processed here. Put it aside for the supervisor.")
        }
        ScanVerdict::Closed => format!("{connote} belongs to a closed return."),
        ScanVerdict::Cancelled => format!("{connote} belongs to a cancelled return."),
        ScanVerdict::OtherHub => format!(
            "{connote} belongs to hub {}, not this one.",
            other_hub.unwrap_or("?")
        ),
        ScanVerdict::Unknown => {
            format!("Unknown connote {connote}: open an orphan intake.")
        }
        ScanVerdict::Misread => "Nothing readable was scanned. Scan again.".to_string(),
    }
}
