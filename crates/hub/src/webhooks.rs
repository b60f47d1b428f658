//! The tracking webhook out: the hub provider's tracking events (a JSON array, optional
//! `Username` / `Password` headers, a 200 required) sent to every URL a retailer configured,
//! e.g. Loop's `/hook/v1/seko/update` (without it Loop issues no credits).
//!
//! - A first bench scan (received: RC) and a processing (RP) queue one batch per URL in the
//!   same transaction as the status change, one event per line item; an item found missing is
//!   left out of RP. A scan the operator saw acknowledged has its events on disk.
//! - A worker thread (its own store connection and runtime) posts what is due; a failure is
//!   retried with backoff ([`RetrySchedule`]); after the retry budget the row is flagged and
//!   the supervisor's F5 shows the alert, and it is still retried at the longest interval —
//!   a webhook is never silently disabled and no event is dropped. Every hub runs it (with or
//!   without a central store): each batch is queued once, by the device that recorded it.
//! - Admins set the URLs, usernames and passwords (in the keyring) on F5 and test each URL
//!   with an empty array.

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::tracking_out::{
    deliver_body, item_events, Delivery, Endpoint, ItemFacts, RetrySchedule, ReturnFacts,
    TrackingEventOut,
};
use returnhub_core::auth::Role;
use returnhub_core::model::ReturnStatus;
use returnhub_core::model::ReturnView;
use returnhub_core::partner::{ReceiptNotice, TrackingWebhook};
use returnhub_core::record::RetailerRecord;
use returnhub_core::rules::Outcome;
use returnhub_core::time::{parse_rfc3339, rfc3339, UnixMillis};
use returnhub_protocol::wire::TrackingRecord;
use returnhub_secrets::SecretError;
use returnhub_store::{Attempt, DeliveryRow, Store, TrackingForward, WriteTx};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// Rows posted per pass.
const BATCH: usize = 200;

/// The keyring name of the password for `url` of `retailer_id` (hashed: a URL has characters
/// a file-store fallback cannot name).
fn password_secret(retailer_id: &str, url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("tracking-webhook-{retailer_id}-{hex}")
}

/// A URL as an admin submits it on F5.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct TrackingWebhookInput {
    pub url: String,
    pub username: Option<String>,
    /// A new password; `None` keeps the stored one (or none).
    pub password: Option<String>,
    /// Forget the stored password.
    #[serde(default)]
    pub clear_password: bool,
    /// Allow plain http to this URL off this machine (shown in red).
    #[serde(default)]
    pub insecure: bool,
}

/// One URL of one retailer, with its queue, as F5 shows it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TrackingWebhookView {
    pub retailer_id: String,
    pub retailer_name: String,
    pub url: String,
    pub username: Option<String>,
    pub has_password: bool,
    /// Plain http allowed to this URL off this machine.
    pub insecure: bool,
    #[ts(type = "number")]
    pub pending: u64,
    /// Batches past the retry budget: the alert.
    #[ts(type = "number")]
    pub alerted: u64,
    #[ts(type = "number")]
    pub delivered: u64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    /// Rows queued for a URL the retailer no longer lists (still delivered: they were due
    /// when they were made).
    pub removed: bool,
    /// When the retailer's receipt notice (RC) goes.
    pub receipt_notice: ReceiptNotice,
}

/// The RC or RP batch of `ret` as `(code, body)`, or `None` when the retailer has no URL.
/// `items`: (item id, outcome) for RP; `missing`: items found missing (left out of RP).
pub(crate) fn tracking_batch(
    retailer: &RetailerRecord,
    ret: &ReturnView,
    hub_name: &str,
    code: &str,
    at: UnixMillis,
    outcomes: &[(String, Outcome)],
    missing: &[String],
) -> Option<String> {
    let status = match code {
        "RC" => "Received at the returns hub",
        "RP" => "Processed at the returns hub",
        _ => code,
    };
    batch_with_status(retailer, ret, hub_name, code, status, at, outcomes, missing)
}

/// [`tracking_batch`] with the event's status text given.
#[allow(clippy::too_many_arguments)]
fn batch_with_status(
    retailer: &RetailerRecord,
    ret: &ReturnView,
    hub_name: &str,
    code: &str,
    status: &str,
    at: UnixMillis,
    outcomes: &[(String, Outcome)],
    missing: &[String],
) -> Option<String> {
    if retailer.policy.partners.tracking_webhooks.is_empty() {
        return None;
    }
    let facts = ReturnFacts {
        connote: ret.connotes.first().cloned().unwrap_or_default(),
        order_number: ret.order_number.clone(),
        carrier: None,
        hub: hub_name.to_owned(),
        items: ret
            .items
            .iter()
            .map(|item| ItemFacts {
                sku: item.sku.clone(),
                reason: Some(item.reason.clone()),
                action: outcomes
                    .iter()
                    .find(|(id, _)| id == &item.id)
                    .map(|(_, o)| return_action(*o).to_owned()),
                removed: missing.contains(&item.id),
            })
            .collect(),
    };
    let events = item_events(code, status, &rfc3339(at), &facts);
    if events.is_empty() {
        return None;
    }
    serde_json::to_string(&events).ok()
}

/// Whether the retailer's webhooks were told of the return's receipt (RC) already: its RC
/// goes at the first scan and the carrier's first scan brought it forward (see
/// [`forward_pulled_tracking`]). Read from what was queued, so a receipt is never skipped
/// for an RC that did not go.
pub(crate) fn receipt_told_already(store: &Store, return_id: &str) -> Result<bool> {
    Ok(store.receipt_queued(return_id)?)
}

/// The event a pulled tracking record (a carrier's or partner's, recorded by the central
/// store) becomes for the retailer's webhook: one per consignment, as the provider sends its
/// carrier events (only RC and RP are per item).
pub(crate) fn forwarded_event(
    ret: &ReturnView,
    hub_name: &str,
    row: &TrackingRecord,
) -> TrackingEventOut {
    TrackingEventOut {
        consignment_no: row.connote.clone(),
        order_no: ret.order_number.clone(),
        destination_location: Some(hub_name.to_owned()),
        code: row.code.clone(),
        status: row.status.clone(),
        carrier: Some(row.source.clone()),
        event_dt: row.event_at.clone(),
        ..TrackingEventOut::default()
    }
}

/// Queues the deliveries of the tracking events pulled from the central store (each once, in
/// the transaction that marks it forwarded). An event of a return this hub does not have, or
/// of a retailer with no URL, is marked forwarded with no delivery. Returns how many events
/// got deliveries.
pub(crate) fn forward_pulled_tracking(
    store: &mut Store,
    hub_name: &str,
    now: UnixMillis,
) -> Result<usize> {
    let mut queued = 0;
    loop {
        let rows = store.unforwarded_tracking(BATCH)?;
        if rows.is_empty() {
            return Ok(queued);
        }
        let mut forwards = Vec::with_capacity(rows.len());
        for row in &rows {
            let ret = match &row.return_id {
                Some(id) => store.return_by_id(id)?,
                None => None,
            };
            let mut forward = TrackingForward {
                tracking_id: row.id.clone(),
                code: row.code.clone(),
                ..TrackingForward::default()
            };
            if let Some(ret) = ret {
                // One event this hub cannot describe must not hold up the rest (nor the
                // deliveries after them): it is marked forwarded with none, and logged.
                let retailer = match crate::bench::retailer_of(store, &ret.retailer.id) {
                    Ok(retailer) => retailer,
                    Err(e) => {
                        tracing::warn!(tracking = %row.id, return_id = %ret.id, error = %e, "tracking event not forwarded");
                        forwards.push(forward);
                        continue;
                    }
                };
                forward.urls = retailer
                    .policy
                    .partners
                    .tracking_webhooks
                    .iter()
                    .map(|h| h.url.clone())
                    .collect();
                forward.body = serde_json::to_string(&[forwarded_event(&ret, hub_name, row)])
                    .map_err(|e| HubError::Failed(format!("tracking event: {e}")))?;
                // The carrier's first scan of a return not yet here: a retailer whose RC goes
                // at the first scan hears it now (the hub's receipt then sends none).
                if row.code == "RT"
                    && ret.status == ReturnStatus::Expected
                    && retailer.policy.partners.receipt_notice == ReceiptNotice::FirstScan
                    && !store.receipt_queued(&ret.id)?
                {
                    let at = parse_rfc3339(&row.event_at).unwrap_or(now);
                    forward.receipt = batch_with_status(
                        &retailer,
                        &ret,
                        hub_name,
                        "RC",
                        "Received by the carrier (first scan)",
                        at,
                        &[],
                        &[],
                    );
                }
                forward.retailer_id = retailer.id;
                forward.return_id = ret.id;
            }
            forwards.push(forward);
        }
        store.forward_tracking(now, &forwards)?;
        queued += forwards.iter().filter(|f| !f.urls.is_empty()).count();
    }
}

/// The provider's ReturnAction words.
fn return_action(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Refund => "REFUND",
        Outcome::CreditNote { .. } => "CREDIT NOTE",
        Outcome::Exchange => "EXCHANGE",
        Outcome::NoAction => "NO ACTION",
        Outcome::HoldForReview => "HOLD",
    }
}

/// Queues `body` for every URL of the retailer, tied to `event_id` (appended in `tx`).
pub(crate) fn queue_batch(
    tx: &mut WriteTx<'_>,
    retailer: &RetailerRecord,
    event_id: &str,
    return_id: &str,
    code: &str,
    body: &str,
) -> returnhub_store::Result<()> {
    for hook in &retailer.policy.partners.tracking_webhooks {
        tx.queue_delivery(event_id, &retailer.id, return_id, code, &hook.url, body)?;
    }
    Ok(())
}

impl Hub {
    /// Every retailer's tracking webhook URLs with their queues (supervisors see the alert).
    pub fn tracking_webhooks(&self) -> Result<Vec<TrackingWebhookView>> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        let summaries = store.delivery_summaries()?;
        let mut views = Vec::new();
        for record in store.retailer_records()? {
            for hook in &record.policy.partners.tracking_webhooks {
                let queue = summaries
                    .iter()
                    .find(|s| s.retailer_id == record.id && s.url == hook.url);
                views.push(TrackingWebhookView {
                    retailer_id: record.id.clone(),
                    retailer_name: record.name.clone(),
                    url: hook.url.clone(),
                    username: hook.username.clone(),
                    has_password: self.has_webhook_password(&record.id, &hook.url),
                    insecure: hook.insecure,
                    pending: queue.map_or(0, |q| q.pending),
                    alerted: queue.map_or(0, |q| q.alerted),
                    delivered: queue.map_or(0, |q| q.delivered),
                    last_error: queue.and_then(|q| q.last_error.clone()),
                    next_attempt_at: queue.and_then(|q| q.next_attempt_at.clone()),
                    removed: false,
                    receipt_notice: record.policy.partners.receipt_notice,
                });
            }
            for queue in summaries.iter().filter(|s| {
                s.retailer_id == record.id
                    && s.pending > 0
                    && !record
                        .policy
                        .partners
                        .tracking_webhooks
                        .iter()
                        .any(|h| h.url == s.url)
            }) {
                views.push(TrackingWebhookView {
                    retailer_id: record.id.clone(),
                    retailer_name: record.name.clone(),
                    url: queue.url.clone(),
                    username: None,
                    has_password: false,
                    insecure: false,
                    pending: queue.pending,
                    alerted: queue.alerted,
                    delivered: queue.delivered,
                    last_error: queue.last_error.clone(),
                    next_attempt_at: queue.next_attempt_at.clone(),
                    removed: true,
                    receipt_notice: record.policy.partners.receipt_notice,
                });
            }
        }
        Ok(views)
    }

    /// Saves a retailer's tracking webhook URLs (admins): the URLs and usernames go into the
    /// retailer's configuration (an event: it syncs), passwords into the keyring. Every
    /// problem is named; nothing is kept unless all are fixed.
    pub fn save_tracking_webhooks(
        &self,
        retailer_id: &str,
        hooks: Vec<TrackingWebhookInput>,
    ) -> Result<Vec<TrackingWebhookView>> {
        let actor = self.authorize(Role::Admin)?;
        let mut list = Vec::with_capacity(hooks.len());
        let mut problems = Vec::new();
        for (i, hook) in hooks.iter().enumerate() {
            if let Some(password) = &hook.password {
                if password.is_empty() || password.len() > 500 {
                    problems.push(format!(
                        "webhook {}: the password must be 1 to 500 characters",
                        i + 1
                    ));
                }
                if hook.username.as_deref().unwrap_or("").trim().is_empty() {
                    problems.push(format!(
                        "webhook {}: a password needs a username (both are sent as headers)",
                        i + 1
                    ));
                }
            }
            list.push(TrackingWebhook {
                url: hook.url.trim().to_owned(),
                username: hook
                    .username
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
                insecure: hook.insecure,
            });
        }
        // The same checks as any configuration that arrives (URLs, duplicates, count).
        let mut all = returnhub_core::partner::PartnerPolicy {
            tracking_webhooks: list.clone(),
            ..Default::default()
        }
        .problems();
        all.extend(problems);
        if !all.is_empty() {
            return Err(HubError::Invalid(all.join("; ")));
        }
        // Passwords first: a saved URL never waits for a password that was not kept.
        for hook in &hooks {
            if hook.password.is_none() && !hook.clear_password {
                continue;
            }
            let url = hook.url.trim();
            let name = password_secret(retailer_id, url);
            // The cached password is forgotten under its lock, with the keyring changed, so a
            // view or a pass running meanwhile cannot cache what was there before.
            let mut known = crate::shops::lock(&self.shops.webhook_passwords);
            known.remove(&(retailer_id.to_owned(), url.to_owned()));
            if let Some(password) = &hook.password {
                self.secrets
                    .save(&name, password)
                    .map_err(|e| HubError::Failed(format!("cannot keep the password: {e}")))?;
            } else {
                let _ = self.secrets.delete(&name);
            }
        }
        if self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            record.policy.partners.tracking_webhooks = list
        })? {
            tracing::info!(retailer = retailer_id, actor = %actor.user_id, "saved the retailer's tracking webhooks");
        }
        self.shops.webhook_wake.notify();
        self.tracking_webhooks()
    }

    /// Sets when a retailer's tracking webhooks hear that a return was received (admins): at
    /// the hub's receipt, or at the first scan (the carrier's, when it comes first). Part of
    /// the retailer's configuration (an event: it syncs).
    pub fn save_receipt_notice(
        &self,
        retailer_id: &str,
        notice: ReceiptNotice,
    ) -> Result<Vec<TrackingWebhookView>> {
        let actor = self.authorize(Role::Admin)?;
        if self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            record.policy.partners.receipt_notice = notice
        })? {
            tracing::info!(retailer = retailer_id, actor = %actor.user_id, ?notice, "saved when the retailer's receipt notice goes");
        }
        self.tracking_webhooks()
    }

    /// Whether `url` of `retailer_id` has a password in the keyring (see
    /// [`Hub::webhook_password`]).
    fn has_webhook_password(&self, retailer_id: &str, url: &str) -> bool {
        self.webhook_password(retailer_id, url).is_some()
    }

    /// The password of `url` of `retailer_id`, from the keyring. F5 asks for every URL every
    /// second and the worker for each URL on each pass (over D-Bus on a desktop, a round
    /// trip each), so the answer is kept until [`Hub::save_tracking_webhooks`] saves or
    /// clears that password (nothing else writes it); a keyring that cannot answer is asked
    /// again next time.
    fn webhook_password(&self, retailer_id: &str, url: &str) -> Option<String> {
        let mut known = crate::shops::lock(&self.shops.webhook_passwords);
        let key = (retailer_id.to_owned(), url.to_owned());
        if let Some(password) = known.get(&key) {
            return password.clone();
        }
        let password = match self.secrets.load(&password_secret(retailer_id, url)) {
            Ok(password) => Some(password),
            Err(SecretError::Missing(_)) => None,
            Err(_) => return None,
        };
        known.insert(key, password.clone());
        password
    }

    /// Posts an empty array to one of the retailer's URLs with its headers (admins): the
    /// answer in one sentence.
    pub fn test_tracking_webhook(&self, retailer_id: &str, url: &str) -> Result<String> {
        self.authorize(Role::Admin)?;
        let endpoint = {
            let store = self.store();
            self.endpoint(&store, retailer_id, url)?
        };
        let rt = crate::shops::runtime()
            .map_err(|e| HubError::Failed(format!("cannot test the webhook: {e}")))?;
        let client = http_client()?;
        match rt.block_on(deliver_body(&client, &endpoint, b"[]".to_vec())) {
            Delivery::Delivered => Ok(format!("{url} answered 200: it accepts tracking events.")),
            Delivery::Retry(why) => Err(HubError::Network(format!("the test failed: {why}"))),
        }
    }

    /// "Send now": the retailer's waiting batches (to `url`, or to every URL) are due at
    /// once (supervisors, after fixing what the alert named).
    pub fn retry_tracking_webhooks(
        &self,
        retailer_id: &str,
        url: Option<&str>,
    ) -> Result<Vec<TrackingWebhookView>> {
        let actor = self.authorize(Role::Supervisor)?;
        let n = self
            .store()
            .retry_deliveries_now(retailer_id, url, (self.clock)())?;
        tracing::info!(retailer = retailer_id, url = ?url, batches = n, actor = %actor.user_id, "tracking webhook: send now");
        self.shops.webhook_wake.notify();
        self.tracking_webhooks()
    }

    fn endpoint(&self, store: &Store, retailer_id: &str, url: &str) -> Result<Endpoint> {
        let record = store
            .retailer_record(retailer_id)?
            .ok_or_else(|| HubError::UnknownRetailer(retailer_id.to_owned()))?;
        let hook = record
            .policy
            .partners
            .tracking_webhooks
            .iter()
            .find(|h| h.url == url);
        Ok(Endpoint {
            url: url.to_owned(),
            username: hook.and_then(|h| h.username.clone()),
            password: hook.and_then(|_| self.webhook_password(retailer_id, url)),
        })
    }

    /// Wakes the webhook worker (after a scan or a processing queued batches).
    pub(crate) fn webhooks_queued(&self) {
        self.shops.webhook_wake.notify();
    }

    /// Starts the tracking webhook worker, once.
    pub fn start_webhook_worker(hub: Arc<Hub>) {
        {
            let mut started = crate::shops::lock(&hub.shops.webhook_started);
            if *started {
                return;
            }
            *started = true;
        }
        std::thread::Builder::new()
            .name("tracking-webhook".into())
            .spawn(move || run(&hub))
            .expect("spawning the tracking webhook thread");
    }
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| HubError::Failed(format!("cannot make an HTTP client: {e}")))
}

fn run(hub: &Hub) {
    let rt = match crate::shops::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "tracking webhook: cannot start");
            return;
        }
    };
    let mut store = match Store::open(&hub.options().store_path()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "tracking webhook: cannot open the store");
            return;
        }
    };
    let client = match http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "tracking webhook: cannot start");
            return;
        }
    };
    let schedule = hub.options().webhook_schedule;
    loop {
        let wait = match rt.block_on(pass(hub, &mut store, &client, schedule)) {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(error = %e, "tracking webhook pass failed");
                Duration::from_secs(30)
            }
        };
        hub.shops.webhook_wake.wait(wait);
    }
}

/// Posts every due batch once (each URL's in order, the URLs concurrently); returns how long to
/// sleep until the next is due (at most a minute: new batches wake the worker).
pub(crate) async fn pass(
    hub: &Hub,
    store: &mut Store,
    client: &reqwest::Client,
    schedule: RetrySchedule,
) -> Result<Duration> {
    // A failure here is logged, not returned: the deliveries already queued still go.
    match forward_pulled_tracking(store, &hub.options().hub_name, (hub.clock)()) {
        Ok(0) => {}
        Ok(forwarded) => tracing::info!(
            events = forwarded,
            "tracking events from the central store queued for the retailers' webhooks"
        ),
        Err(e) => {
            tracing::error!(error = %e, "tracking events from the central store not forwarded yet")
        }
    }
    loop {
        let now = (hub.clock)();
        let due = store.due_deliveries(now, BATCH)?;
        if due.is_empty() {
            break;
        }
        let mut endpoints = std::collections::HashMap::new();
        for row in &due {
            let key = (row.retailer_id.clone(), row.url.clone());
            if !endpoints.contains_key(&key) {
                endpoints.insert(
                    key.clone(),
                    hub.endpoint(store, &row.retailer_id, &row.url)?,
                );
            }
        }
        // Each URL's batches one after another, oldest first (its receiver sees them in the
        // order they were queued, over one kept-alive connection); the URLs concurrently.
        // After a failure, the URL's remaining batches of the pass are not posted: they fail
        // with the same error and back off with it, as they would have (the URL is down),
        // instead of each waiting out a timeout of its own.
        let mut by_url: Vec<(&(String, String), Vec<&DeliveryRow>)> = Vec::new();
        for row in &due {
            let key = endpoints
                .get_key_value(&(row.retailer_id.clone(), row.url.clone()))
                .map(|(k, _)| k)
                .expect("every due row's endpoint was read above");
            match by_url.iter_mut().find(|(k, _)| *k == key) {
                Some((_, rows)) => rows.push(row),
                None => by_url.push((key, vec![row])),
            }
        }
        let per_url = futures_util::future::join_all(by_url.iter().map(|(key, rows)| {
            let endpoint = &endpoints[*key];
            async move {
                let mut results = Vec::with_capacity(rows.len());
                let mut down: Option<String> = None;
                for row in rows {
                    let result = match &down {
                        Some(why) => Delivery::Retry(format!("not sent after a failure: {why}")),
                        None => deliver_body(client, endpoint, row.body.clone().into_bytes()).await,
                    };
                    if let (Delivery::Retry(why), None) = (&result, &down) {
                        down = Some(why.clone());
                    }
                    results.push((*row, result));
                }
                results
            }
        }))
        .await;
        let now = (hub.clock)();
        let attempts: Vec<Attempt> = per_url
            .into_iter()
            .flatten()
            .map(|(row, result)| attempt(row, result, now, schedule))
            .collect();
        store.record_attempts(now, &attempts)?;
    }
    let wait = match store.next_delivery_at()? {
        None => 60_000,
        Some(at) => (parse_rfc3339(&at).unwrap_or(0) - (hub.clock)()).clamp(0, 60_000),
    };
    Ok(Duration::from_millis(wait as u64))
}

fn attempt(
    row: &DeliveryRow,
    result: Delivery,
    now: UnixMillis,
    schedule: RetrySchedule,
) -> Attempt {
    match result {
        Delivery::Delivered => {
            if row.alerted_at.is_some() {
                tracing::info!(url = %row.url, retailer = %row.retailer_id, "tracking webhook delivered again after an alert");
            }
            Attempt::Delivered { id: row.id }
        }
        Delivery::Retry(why) => {
            let next = schedule.after_failure(row.attempts + 1);
            if next.alert && row.alerted_at.is_none() {
                tracing::error!(url = %row.url, retailer = %row.retailer_id, attempts = row.attempts + 1, error = %why, "tracking webhook: retry budget spent; alerting the supervisor (still retrying)");
            } else {
                tracing::warn!(url = %row.url, retailer = %row.retailer_id, error = %why, "tracking webhook: will retry");
            }
            Attempt::Failed {
                id: row.id,
                next_at: now + next.after.as_millis() as UnixMillis,
                error: why,
                alert: next.alert,
            }
        }
    }
}
