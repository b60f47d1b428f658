//! Retailers' Shopify shops: connecting one (credentials verified with a cheap query, the
//! token kept in the keyring), importing its orders, and sending the return actions that fall
//! due. Two background threads, each with its own store connection and its own tokio runtime,
//! so the bench never waits on Shopify:
//!
//! - the import worker brings in the last 30 days of orders when a shop is connected (by a
//!   bulk operation for a large shop, page by page for a small one), then what changed since,
//!   every few minutes; progress is kept for the admin screen;
//! - the dispatcher works the `action` outbox of the connected retailers — only on a
//!   standalone hub: with a central store configured, the central store is the one that
//!   dispatches (so two hubs can never both refund), and this hub sends nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use returnhub_connectors::dispatch::{DispatchOptions, Dispatcher};
use returnhub_connectors::graphql::{documents, ClientOptions, Repeat, ShopifyClient};
use returnhub_connectors::import::{ImportOptions, ImportProgress, Importer, BULK_STREAM};
use returnhub_connectors::{PartnerTarget, Router};
use returnhub_connectors::{ShopCredentials, ShopifySettings, ShopifyTarget, SystemClock};
use returnhub_core::auth::Role;
use returnhub_core::trigger::{IdempotencyKey, ShopifyPolicy};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{ActionRow, EventInput, OutboxState, Store};
use serde::Serialize;
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// The keyring name of this device's key for gift card codes.
const GIFT_CARD_SECRET: &str = "gift-card-codes";

/// An incremental import (what changed since the last one) runs this often.
const INCREMENTAL_EVERY: Duration = Duration::from_secs(5 * 60);
/// A first import larger than this goes through a bulk operation.
const BULK_ABOVE: u64 = 2_500;

fn secret_name(retailer_id: &str) -> String {
    format!("shopify-{retailer_id}")
}

/// The admin screen's view of every retailer's shop.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ShopsView {
    pub retailers: Vec<RetailerShopView>,
    pub dispatch: DispatchView,
    /// Failed actions and actions whose outcome is still unknown, newest first.
    pub troubled: Vec<ActionView>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct RetailerShopView {
    pub retailer_id: String,
    pub retailer_name: String,
    pub connection: Option<ShopConnectionView>,
    /// How the retailer's actions are carried out on Shopify.
    pub shopify: ShopifyPolicy,
    /// Its partner connections (Loop, Increff, Returns Prime; secrets are never here).
    pub partners: Vec<returnhub_core::partner::PartnerConnection>,
    pub import: ImportView,
    pub actions: ActionCounts,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ShopConnectionView {
    pub shop_domain: String,
    pub shop_name: String,
    pub connected_at: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Nothing imported by this process yet (a finished earlier run shows in `last_import_at`).
    #[default]
    Idle,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct ImportView {
    pub state: ImportState,
    /// `bulk` or `pages`.
    pub method: Option<String>,
    #[ts(type = "number")]
    pub done: u64,
    /// Orders the shop changed, brought up to date.
    #[ts(type = "number")]
    pub updated: u64,
    #[ts(type = "number")]
    pub skipped: u64,
    #[ts(type = "number | null")]
    pub estimated_total: Option<u64>,
    /// Orders per second.
    pub rate: u32,
    pub eta_seconds: Option<u32>,
    pub last_error: Option<String>,
    /// When the last import of this retailer finished (stored; survives restarts).
    pub last_import_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct ActionCounts {
    #[ts(type = "number")]
    pub pending: u64,
    #[ts(type = "number")]
    pub sent: u64,
    #[ts(type = "number")]
    pub unknown: u64,
    #[ts(type = "number")]
    pub confirmed: u64,
    #[ts(type = "number")]
    pub failed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DispatchMode {
    /// No retailer is connected: nothing to send.
    Idle,
    /// This hub sends its actions itself.
    Here,
    /// A central store is configured: it claims and sends the actions, this hub does not.
    Central,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct DispatchView {
    pub mode: DispatchMode,
    pub last_pass_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ActionView {
    pub key: String,
    pub retailer_id: String,
    pub return_id: String,
    /// refund, credit_note, exchange.
    pub kind: String,
    /// e.g. "NZD 59.00".
    pub amount: Option<String>,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// What the two workers share with the commands.
#[derive(Default)]
pub(crate) struct ShopWorkers {
    started: Mutex<bool>,
    imports: Mutex<HashMap<String, ImportView>>,
    /// Retailers whose import an admin asked for (or that were just connected).
    import_requests: Mutex<HashSet<String>>,
    import_wake: Wake,
    dispatch_wake: Wake,
    dispatch: Mutex<(Option<String>, Option<String>)>,
    pub(crate) webhook_started: Mutex<bool>,
    pub(crate) webhook_wake: Wake,
    /// Each (retailer, URL)'s tracking webhook password in the keyring (none: it has none),
    /// as last read (F5 asks every second, the worker on each pass); see
    /// `Hub::webhook_password`.
    pub(crate) webhook_passwords: Mutex<HashMap<(String, String), Option<String>>>,
    /// This device's key for gift card codes, once read (it never changes once made): the
    /// dispatcher and the bench ask for it often.
    gift_card_secret: Mutex<Option<String>>,
}

#[derive(Default)]
pub(crate) struct Wake {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    pub(crate) fn notify(&self) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    pub(crate) fn wait(&self, timeout: Duration) {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let (mut pending, _) = self
            .cv
            .wait_timeout_while(pending, timeout, |p| !*p)
            .unwrap_or_else(|p| p.into_inner());
        *pending = false;
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    fn dispatch_mode(&self, connected: bool) -> DispatchMode {
        if self.options().central_url.is_some() {
            DispatchMode::Central
        } else if connected {
            DispatchMode::Here
        } else {
            DispatchMode::Idle
        }
    }

    /// Every retailer's shop, import and actions (supervisors: they retry failed actions).
    pub fn shops_view(&self) -> Result<ShopsView> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        let connections: HashMap<String, _> = store
            .shop_connections()?
            .into_iter()
            .map(|c| (c.retailer_id.clone(), c))
            .collect();
        let mut counts: HashMap<String, ActionCounts> = HashMap::new();
        for (retailer, state, n) in store.action_counts_by_retailer()? {
            let c = counts.entry(retailer).or_default();
            match state {
                OutboxState::Pending => c.pending = n,
                OutboxState::Sent => c.sent = n,
                OutboxState::Unknown => c.unknown = n,
                OutboxState::Confirmed => c.confirmed = n,
                OutboxState::Failed => c.failed = n,
            }
        }
        let imports = lock(&self.shops.imports).clone();
        let mut retailers = Vec::new();
        let mut any_partner = false;
        for r in store.retailer_summaries()? {
            let (shopify, partners) = store
                .retailer_record(&r.id)?
                .map(|record| (record.policy.shopify, record.policy.partners.connections))
                .unwrap_or_default();
            any_partner |= !partners.is_empty();
            let mut import = imports.get(&r.id).cloned().unwrap_or_default();
            import.last_import_at = [
                store.import_cursor(&r.id, returnhub_connectors::import::PAGED_STREAM)?,
                store.import_cursor(&r.id, BULK_STREAM)?,
            ]
            .into_iter()
            .flatten()
            .filter(|c| c.cursor.is_none() && c.updated_since.is_some())
            .map(|c| c.updated_at)
            .max();
            retailers.push(RetailerShopView {
                connection: connections.get(&r.id).map(|c| ShopConnectionView {
                    shop_domain: c.shop_domain.clone(),
                    shop_name: c.shop_name.clone(),
                    connected_at: c.connected_at.clone(),
                }),
                shopify,
                partners,
                actions: counts.remove(&r.id).unwrap_or_default(),
                retailer_id: r.id,
                retailer_name: r.name,
                import,
            });
        }
        let troubled = store
            .troubled_actions(100)?
            .into_iter()
            .map(action_view)
            .collect();
        let (last_pass_at, last_error) = lock(&self.shops.dispatch).clone();
        Ok(ShopsView {
            dispatch: DispatchView {
                mode: self.dispatch_mode(!connections.is_empty() || any_partner),
                last_pass_at,
                last_error,
            },
            retailers,
            troubled,
        })
    }

    /// Connects a retailer to its shop with a custom app's static token (admins): checks the
    /// domain and token with a cheap query (`shop { name }`) and that the app has the access
    /// scopes the retailer's settings need, keeps the token in the keyring, records the
    /// connection and starts the first import. Nothing is stored when a check fails.
    pub fn connect_shop(
        &self,
        retailer_id: &str,
        shop_domain: &str,
        access_token: &str,
    ) -> Result<ShopsView> {
        let actor = self.authorize(Role::Admin)?;
        let credentials =
            ShopCredentials::new(shop_domain, access_token).map_err(HubError::Invalid)?;
        self.connect_shop_with(&actor, retailer_id, credentials)
    }

    /// Connects a retailer to its shop with a Dev Dashboard app's client ID and secret
    /// (admins): the app asks Shopify for its tokens (24 hours each) with them. Otherwise as
    /// [`Hub::connect_shop`].
    pub fn connect_shop_app(
        &self,
        retailer_id: &str,
        shop_domain: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ShopsView> {
        let actor = self.authorize(Role::Admin)?;
        let credentials = ShopCredentials::for_app(shop_domain, client_id, client_secret)
            .map_err(HubError::Invalid)?;
        self.connect_shop_with(&actor, retailer_id, credentials)
    }

    /// Checks the credentials (and the scopes the retailer's settings need) with the shop,
    /// keeps them in the keyring, records the connection and starts the first import.
    fn connect_shop_with(
        &self,
        actor: &crate::Actor,
        retailer_id: &str,
        credentials: ShopCredentials,
    ) -> Result<ShopsView> {
        let Some(retailer) = self
            .store()
            .retailer_records()?
            .into_iter()
            .find(|r| r.id == retailer_id)
        else {
            return Err(HubError::UnknownRetailer(retailer_id.to_owned()));
        };
        let shop_name = verify(&credentials, &retailer.policy.shopify)?;
        let secret = serde_json::to_string(&credentials)
            .map_err(|e| HubError::Failed(format!("cannot keep the credentials: {e}")))?;
        self.secrets
            .save(&secret_name(retailer_id), &secret)
            .map_err(|e| HubError::Failed(format!("cannot keep the credentials: {e}")))?;
        self.store().write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::ShopConnected {
                    retailer_id: retailer_id.to_owned(),
                    shop_domain: credentials.shop_domain.clone(),
                    shop_name: shop_name.clone(),
                },
                actor: actor.user_id.clone(),
                station: Some(self.options().station.clone()),
            })
        })?;
        tracing::info!(retailer = retailer_id, shop = %credentials.shop_domain, "shop connected");
        lock(&self.shops.import_requests).insert(retailer_id.to_owned());
        self.shops.import_wake.notify();
        self.shops.dispatch_wake.notify();
        self.shops_view()
    }

    /// Disconnects a retailer from its shop (admins): the token is forgotten; nothing more is
    /// imported or sent for it. Its actions stay queued until it is connected again.
    pub fn disconnect_shop(&self, retailer_id: &str) -> Result<ShopsView> {
        let actor = self.authorize(Role::Admin)?;
        self.store().write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::ShopDisconnected {
                    retailer_id: retailer_id.to_owned(),
                },
                actor: actor.user_id.clone(),
                station: Some(self.options().station.clone()),
            })
        })?;
        self.secrets
            .delete(&secret_name(retailer_id))
            .map_err(|e| HubError::Invalid(e.to_string()))?;
        self.shops_view()
    }

    /// Saves how a retailer's actions are carried out on Shopify (admins). The whole retailer
    /// configuration is recorded as one event, so it reaches the central store (which sends
    /// the actions where there is one) and every hub. Settings with problems are refused with
    /// every problem; actions already sent are not touched, those still queued follow the new
    /// settings.
    pub fn save_shopify_policy(
        &self,
        retailer_id: &str,
        policy: ShopifyPolicy,
    ) -> Result<ShopsView> {
        let actor = self.authorize(Role::Admin)?;
        let problems = policy.problems();
        if !problems.is_empty() {
            return Err(HubError::Invalid(problems.join("; ")));
        }
        if self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            record.policy.shopify = policy
        })? {
            tracing::info!(retailer = retailer_id, actor = %actor.user_id, "saved the retailer's Shopify settings");
            self.shops.dispatch_wake.notify();
        }
        self.shops_view()
    }

    /// Imports what changed now rather than at the next round (admins).
    pub fn start_import(&self, retailer_id: &str) -> Result<ShopsView> {
        self.authorize(Role::Admin)?;
        let connected = self
            .store()
            .shop_connections()?
            .iter()
            .any(|c| c.retailer_id == retailer_id);
        if !connected {
            return Err(HubError::NotFound(format!(
                "retailer {retailer_id} is not connected to a shop: connect it first"
            )));
        }
        lock(&self.shops.import_requests).insert(retailer_id.to_owned());
        self.shops.import_wake.notify();
        self.shops_view()
    }

    /// A supervisor's retry of a failed action. It goes back through reconciliation: the
    /// dispatcher first asks the target whether the effect exists and sends only if not.
    pub fn retry_action(&self, key: &str) -> Result<ShopsView> {
        let actor = self.authorize(Role::Supervisor)?;
        let key = IdempotencyKey::parse(key)
            .ok_or_else(|| HubError::Invalid(format!("{key:?} is not an action key")))?;
        {
            let mut store = self.store();
            let row = store.action(&key)?.ok_or_else(|| {
                HubError::NotFound(format!("no action {key} in this hub's outbox"))
            })?;
            if row.state != OutboxState::Failed {
                return Err(HubError::Conflict(format!(
                    "action {key} is {}, not failed: there is nothing to retry",
                    row.state.as_str()
                )));
            }
            // A cancelled return's actions stay stopped.
            if store
                .return_by_id(&row.action.return_id)?
                .is_some_and(|r| r.status == returnhub_core::model::ReturnStatus::Cancelled)
            {
                return Err(HubError::Conflict(format!(
                    "action {key} belongs to a cancelled return: it is not sent"
                )));
            }
            store.write((self.clock)(), |tx| {
                tx.append(EventInput {
                    event: DomainEvent::ActionRetried {
                        key: key.clone(),
                        return_id: row.action.return_id.clone(),
                    },
                    actor: actor.user_id.clone(),
                    station: Some(self.options().station.clone()),
                })
            })?;
        }
        self.shops.dispatch_wake.notify();
        self.shops_view()
    }

    /// Wakes the dispatcher (after processing queued actions).
    pub(crate) fn actions_queued(&self) {
        self.shops.dispatch_wake.notify();
    }

    /// This device's key for gift card codes (made the first time): the code of a credit note
    /// it issues cannot be worked out from the action's key alone.
    pub(crate) fn gift_card_secret(&self) -> std::result::Result<String, String> {
        let mut known = lock(&self.shops.gift_card_secret);
        if let Some(secret) = known.as_ref() {
            return Ok(secret.clone());
        }
        let secret = self
            .secrets
            .load_or_create(GIFT_CARD_SECRET)
            .map_err(|e| format!("cannot keep the key for gift card codes: {e}"))?;
        *known = Some(secret.clone());
        Ok(secret)
    }

    fn shop_credentials(&self, retailer_id: &str) -> std::result::Result<ShopCredentials, String> {
        let secret = self
            .secrets
            .load(&secret_name(retailer_id))
            .map_err(|e| format!("{e}: connect the shop again"))?;
        serde_json::from_str(&secret)
            .map_err(|e| format!("the stored credentials cannot be read ({e}): connect again"))
    }

    /// Starts the import worker and (on a standalone hub) the dispatcher, once.
    pub fn start_shop_workers(hub: Arc<Hub>) {
        {
            let mut started = lock(&hub.shops.started);
            if *started {
                return;
            }
            *started = true;
        }
        let importer = hub.clone();
        std::thread::Builder::new()
            .name("shop-import".into())
            .spawn(move || run_worker(&importer, "import", import_round))
            .expect("spawning the shop import thread");
        if hub.options().central_url.is_none() {
            std::thread::Builder::new()
                .name("action-dispatch".into())
                .spawn(move || run_worker(&hub, "dispatch", dispatch_round))
                .expect("spawning the dispatcher thread");
        } else {
            tracing::info!(
                "a central store is configured: it sends the actions, this hub does not"
            );
        }
    }
}

fn action_view(row: ActionRow) -> ActionView {
    ActionView {
        key: row.action.key.as_str().to_owned(),
        retailer_id: row.action.retailer_id,
        return_id: row.action.return_id,
        kind: row.action.kind.name().to_owned(),
        amount: row.action.amount.map(|m| m.to_string()),
        state: row.state.as_str().to_owned(),
        attempts: row.attempts,
        last_error: row.last_error,
    }
}

/// One runtime per worker thread: the futures hold a `&mut Store`, so they stay on it.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn verify(credentials: &ShopCredentials, policy: &ShopifyPolicy) -> Result<String> {
    let rt = runtime().map_err(|e| HubError::Failed(format!("cannot check the shop: {e}")))?;
    let options = ClientOptions {
        timeout: Duration::from_secs(15),
        max_retries: 1,
        ..ClientOptions::default()
    };
    let needed = returnhub_connectors::scopes_needed(policy);
    rt.block_on(returnhub_connectors::verify_credentials(
        credentials,
        Arc::new(SystemClock),
        options,
        &needed,
    ))
    .map_err(|e| {
        HubError::Network(format!(
            "{} did not accept these credentials: {}",
            credentials.shop_domain,
            e.message()
        ))
    })
}

type Round =
    fn(&Hub, &mut Store, &tokio::runtime::Runtime) -> std::result::Result<Duration, String>;

/// Runs `round` again and again on its own store connection; a round says how long to wait
/// before the next one unless woken.
fn run_worker(hub: &Hub, name: &str, round: Round) {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = name, error = %e, "cannot start");
            return;
        }
    };
    let mut store = match Store::open(&hub.options().store_path()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(worker = name, error = %e, "cannot open the store");
            return;
        }
    };
    if name == "import" {
        if let Err(e) = store.set_cache_mb(returnhub_connectors::import::IMPORT_CACHE_MB) {
            tracing::warn!(error = %e, "import: default page cache");
        }
    }
    loop {
        let wait = match round(hub, &mut store, &rt) {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(worker = name, error = %e, "round failed");
                Duration::from_secs(30)
            }
        };
        let wake = if name == "import" {
            &hub.shops.import_wake
        } else {
            &hub.shops.dispatch_wake
        };
        wake.wait(wait);
    }
}

fn import_round(
    hub: &Hub,
    store: &mut Store,
    rt: &tokio::runtime::Runtime,
) -> std::result::Result<Duration, String> {
    let connections = store.shop_connections().map_err(|e| e.to_string())?;
    let now = (hub.clock)();
    for connection in connections {
        let retailer = connection.retailer_id.clone();
        let requested = lock(&hub.shops.import_requests).remove(&retailer);
        let last = [
            store.import_cursor(&retailer, returnhub_connectors::import::PAGED_STREAM),
            store.import_cursor(&retailer, BULK_STREAM),
        ];
        let mut finished_at = None;
        // The bulk stream has a row: this shop is imported in bulk.
        let mut bulk_started = false;
        let mut unfinished = false;
        for (i, cursor) in last.into_iter().enumerate() {
            if let Some(c) = cursor.map_err(|e| e.to_string())? {
                if c.cursor.is_some() {
                    unfinished = true;
                }
                if i == 1 {
                    bulk_started = true;
                }
                if c.cursor.is_none() && c.updated_since.is_some() {
                    finished_at =
                        finished_at.max(returnhub_core::time::parse_rfc3339(&c.updated_at));
                }
            }
        }
        let due = requested
            || unfinished
            || finished_at.is_none_or(|at| now - at >= INCREMENTAL_EVERY.as_millis() as i64);
        if !due {
            continue;
        }
        let credentials = match hub.shop_credentials(&retailer) {
            Ok(c) => c,
            Err(e) => {
                lock(&hub.shops.imports)
                    .entry(retailer.clone())
                    .or_default()
                    .last_error = Some(e);
                continue;
            }
        };
        let result = rt.block_on(import_one(
            hub,
            store,
            &retailer,
            &credentials,
            bulk_started,
            finished_at.is_none(),
        ));
        let mut imports = lock(&hub.shops.imports);
        let view = imports.entry(retailer.clone()).or_default();
        match result {
            Ok(()) => {
                view.state = ImportState::Done;
                view.last_error = None;
                view.eta_seconds = Some(0);
            }
            Err(e) => {
                tracing::warn!(retailer = %retailer, error = %e, "order import stopped; it resumes from its cursor");
                view.state = ImportState::Failed;
                view.last_error = Some(e);
            }
        }
    }
    Ok(INCREMENTAL_EVERY)
}

async fn import_one(
    hub: &Hub,
    store: &mut Store,
    retailer: &str,
    credentials: &ShopCredentials,
    bulk_started: bool,
    first: bool,
) -> std::result::Result<(), String> {
    let client = ShopifyClient::new(credentials, Arc::new(SystemClock), ClientOptions::default())
        .map_err(|e| e.to_string())?;
    // A large first import goes through a bulk operation (one query, a streamed file), and so
    // do that shop's later catch-ups (its high-water mark is on the bulk stream); a small
    // shop is imported page by page throughout.
    let use_bulk = bulk_started
        || (first && {
            let days = ImportOptions::new(retailer).days;
            let since = returnhub_core::time::rfc3339(
                (hub.clock)() - i64::from(days) * returnhub_core::time::MS_PER_DAY,
            );
            let count = client
                .execute(
                    &documents::ORDERS_COUNT,
                    serde_json::json!({ "query": format!("created_at:>='{}Z'", &since[..19]) }),
                    Repeat::Safe,
                )
                .await
                .ok()
                .and_then(|d| {
                    d.pointer("/ordersCount/count")
                        .and_then(serde_json::Value::as_u64)
                });
            count.is_some_and(|n| n > BULK_ABOVE)
        });
    {
        let mut imports = lock(&hub.shops.imports);
        let view = imports.entry(retailer.to_owned()).or_default();
        *view = ImportView {
            state: ImportState::Running,
            method: Some(if use_bulk { "bulk" } else { "pages" }.into()),
            ..ImportView::default()
        };
    }
    let report = |p: &ImportProgress| {
        let mut imports = lock(&hub.shops.imports);
        let view = imports.entry(retailer.to_owned()).or_default();
        view.done = p.done;
        view.updated = p.updated;
        view.skipped = p.skipped;
        view.estimated_total = p.estimated_total;
        view.rate = p.rate_per_s.round() as u32;
        view.eta_seconds = p.eta_s.map(|s| s.round() as u32);
    };
    let importer = Importer::new(&client, ImportOptions::new(retailer));
    let result = if use_bulk {
        importer.import_bulk(store, report).await
    } else {
        importer.import_paginated(store, report).await
    };
    result.map(|_| ()).map_err(|e| e.to_string())
}

fn shop_target(
    hub: &Hub,
    store: &Store,
    retailer_id: &str,
) -> std::result::Result<ShopifyTarget, String> {
    let credentials = hub.shop_credentials(retailer_id)?;
    let client = ShopifyClient::new(
        &credentials,
        Arc::new(SystemClock),
        ClientOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let settings = store
        .retailer_record(retailer_id)
        .map_err(|e| e.to_string())?
        .map(|r| ShopifySettings::for_policy(&r.policy.shopify))
        .unwrap_or_default()
        .with_gift_card_secret(&hub.gift_card_secret()?);
    Ok(ShopifyTarget::new(client, settings))
}

/// Every connection this device can send through: the retailers' shops and partners. An
/// Increff connection gets the retailer's shop too (Clickpost exchanges are held there).
fn router(hub: &Hub, store: &Store) -> std::result::Result<Router, String> {
    let mut router = Router::default();
    for connection in store.shop_connections().map_err(|e| e.to_string())? {
        match shop_target(hub, store, &connection.retailer_id) {
            Ok(target) => {
                router
                    .shopify
                    .insert(connection.retailer_id.clone(), target);
            }
            Err(e) => {
                tracing::warn!(retailer = %connection.retailer_id, error = %e, "Shopify actions of this retailer wait")
            }
        }
    }
    for (retailer, target) in hub.partner_targets(store)? {
        let shop = match target {
            PartnerTarget::Increff(_) if router.shopify.contains_key(&retailer) => {
                shop_target(hub, store, &retailer).ok()
            }
            _ => None,
        };
        router.add_partner(&retailer, target, shop);
    }
    Ok(router)
}

fn dispatch_round(
    hub: &Hub,
    store: &mut Store,
    rt: &tokio::runtime::Runtime,
) -> std::result::Result<Duration, String> {
    let router = router(hub, store)?;
    if router.is_empty() {
        return Ok(Duration::from_secs(60));
    }
    let retailers = router.retailers();
    let dispatcher = Dispatcher::new(
        router,
        Arc::new(SystemClock),
        DispatchOptions {
            retailers: Some(retailers.clone()),
            ..hub.options().dispatch_schedule.options()
        },
    );
    let result = rt.block_on(dispatcher.run_once(store));
    let now = returnhub_core::time::rfc3339((hub.clock)());
    *lock(&hub.shops.dispatch) = (Some(now), result.as_ref().err().map(|e| e.to_string()));
    let report = result.map_err(|e| e.to_string())?;
    if report != Default::default() {
        tracing::info!(?report, "dispatch pass");
    }
    // Sleep until the next action is due (at most a minute; processing wakes us sooner).
    let next = store
        .next_action_at(Some(&retailers))
        .map_err(|e| e.to_string())?;
    Ok(match next {
        None => Duration::from_secs(60),
        Some(at) => {
            let at = returnhub_core::time::parse_rfc3339(&at).unwrap_or(0);
            let wait = (at - (hub.clock)()).clamp(0, 60_000);
            Duration::from_millis(wait as u64)
        }
    })
}
