//! Typed commands for the webview. Each one validates what it is given and delegates to the
//! hub, which checks the signed-in user's role; errors reach the UI as a code it can act on
//! and one clear sentence. Every name here is also in `command_names.rs` (the ACL manifest)
//! and granted in `capabilities/`.

use std::sync::Arc;

use returnhub_core::auth::Role;
use returnhub_core::bench::BenchState;
use returnhub_core::dryrun::DryRunReport;
use returnhub_core::model::{RetailerSummary, ScanResult};
use returnhub_core::partner::{ActionTarget, ReceiptNotice, SourceRoute};
use returnhub_core::retailer::RetailerForm;
use returnhub_core::rules::{Outcome, RuleIssue, RuleSet};
use returnhub_core::station::StationConfig;
use returnhub_core::trigger::ShopifyPolicy;
use returnhub_hub::{
    AppInfo, AuditEntry, BenchScan, DemoConnote, ErrorView, ExceptionView, ExportedFile,
    HeldEventView, Hub, HubChoiceView, InspectRequest, IssuedPin, ItemScan, JoinInput, OrderMatch,
    PartnerConnectionInput, PartnerConnectionView, PersonInput, PersonView, PhotoRef,
    PrinterQueueView, ProcessResult, ReportFilter, ReportSet, RetailerSaved, ReturnSearch,
    ReturnsPrimeLookup, RouteView, RulesCheck, SearchPage, SessionView, SetupInput, SetupState,
    ShopsView, StaffImport, StationView, SupervisorResult, SyncView, TimelineEntry,
    TrackingWebhookInput, TrackingWebhookView, MAX_STAFF_CSV_BYTES,
};
use tauri::State;

pub struct AppState {
    pub hub: Arc<Hub>,
}

type Reply<T> = Result<T, ErrorView>;

/// The longest input we accept as a scan: real connotes are under 40 characters, GS1 strings
/// under 100. Anything longer is a stuck key or a paste, not a parcel.
const MAX_SCAN_LEN: usize = 256;
const MAX_BADGE_LEN: usize = 64;
const MAX_PIN_LEN: usize = 32;
/// A rule set is a few kilobytes; a megabyte is a paste gone wrong.
const MAX_RULES_LEN: usize = 1 << 20;

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn app_info(state: State<'_, AppState>) -> Reply<AppInfo> {
    Ok(state.hub.app_info()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn lookup_connote(state: State<'_, AppState>, raw: String) -> Reply<ScanResult> {
    if raw.len() > MAX_SCAN_LEN {
        return Err(ErrorView::invalid(format!(
            "That scan is {} characters long; a connote is at most {MAX_SCAN_LEN}. Scan again.",
            raw.len()
        )));
    }
    Ok(state.hub.scan(&raw)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn demo_connotes(state: State<'_, AppState>) -> Reply<Vec<DemoConnote>> {
    Ok(state.hub.demo_connotes()?)
}

/// The PIN is skipped by `instrument`: it must never reach a log.
#[tauri::command]
#[tracing::instrument(skip(state, pin))]
pub fn sign_in(state: State<'_, AppState>, badge: String, pin: String) -> Reply<SessionView> {
    if badge.trim().is_empty() || badge.len() > MAX_BADGE_LEN {
        return Err(ErrorView::invalid("Scan your badge (or type its code)."));
    }
    if pin.is_empty() || pin.len() > MAX_PIN_LEN {
        return Err(ErrorView::invalid("Type your PIN."));
    }
    Ok(state.hub.sign_in(&badge, &pin)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn sign_out(state: State<'_, AppState>) -> Reply<()> {
    Ok(state.hub.sign_out()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn session(state: State<'_, AppState>) -> Reply<Option<SessionView>> {
    Ok(state.hub.session()?)
}

fn rules_input(draft: &str) -> Reply<()> {
    if draft.len() > MAX_RULES_LEN {
        return Err(ErrorView::invalid(format!(
            "The rule set is {} bytes; the most accepted is {MAX_RULES_LEN}.",
            draft.len()
        )));
    }
    Ok(())
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn list_retailers(state: State<'_, AppState>) -> Reply<Vec<RetailerSummary>> {
    Ok(state.hub.retailers()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn retailer_rules(state: State<'_, AppState>, retailer_id: String) -> Reply<RuleSet> {
    Ok(state.hub.retailer_rules(&retailer_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state, draft))]
pub fn check_rules(
    state: State<'_, AppState>,
    retailer_id: String,
    draft: String,
) -> Reply<Vec<RuleIssue>> {
    rules_input(&draft)?;
    Ok(state.hub.check_rules(&retailer_id, &draft)?)
}

#[tauri::command]
#[tracing::instrument(skip(state, draft))]
pub fn dry_run_rules(
    state: State<'_, AppState>,
    retailer_id: String,
    draft: String,
) -> Reply<DryRunReport> {
    rules_input(&draft)?;
    Ok(state.hub.dry_run_rules(&retailer_id, &draft)?)
}

#[tauri::command]
#[tracing::instrument(skip(state, draft))]
pub fn save_rules(
    state: State<'_, AppState>,
    retailer_id: String,
    draft: String,
) -> Reply<RulesCheck> {
    rules_input(&draft)?;
    Ok(state.hub.save_rules(&retailer_id, &draft)?)
}

// --- The bench after the scan ------------------------------------------------------------

/// Ids, codes and notes are short; anything longer is a paste gone wrong.
const MAX_ID_LEN: usize = 128;
const MAX_NOTE_LEN: usize = 2000;

fn short_input(what: &str, value: &str, max: usize) -> Reply<()> {
    if value.len() > max {
        return Err(ErrorView::invalid(format!(
            "The {what} is {} characters long; the most accepted is {max}.",
            value.len()
        )));
    }
    Ok(())
}

/// A scan at the bench with a return open or not; see `Hub::bench_scan`.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn bench_scan(
    state: State<'_, AppState>,
    raw: String,
    open_return: Option<String>,
) -> Reply<BenchScan> {
    short_input("scan", &raw, MAX_SCAN_LEN)?;
    Ok(state.hub.bench_scan(&raw, open_return.as_deref())?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn open_return(state: State<'_, AppState>, return_id: String) -> Reply<ScanResult> {
    short_input("return id", &return_id, MAX_ID_LEN)?;
    Ok(state.hub.open_return(&return_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn bench_state(state: State<'_, AppState>, return_id: String) -> Reply<BenchState> {
    short_input("return id", &return_id, MAX_ID_LEN)?;
    Ok(state.hub.bench_state(&return_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn inspect_item(state: State<'_, AppState>, request: InspectRequest) -> Reply<BenchState> {
    short_input("note", request.note.as_deref().unwrap_or(""), MAX_NOTE_LEN)?;
    Ok(state.hub.inspect_item(request)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn scan_item(state: State<'_, AppState>, return_id: String, raw: String) -> Reply<ItemScan> {
    short_input("scan", &raw, MAX_SCAN_LEN)?;
    Ok(state.hub.scan_item(&return_id, &raw)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn undo_last(state: State<'_, AppState>, return_id: String) -> Reply<BenchState> {
    Ok(state.hub.undo_last(&return_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn process_return(state: State<'_, AppState>, return_id: String) -> Reply<ProcessResult> {
    Ok(state.hub.process_return(&return_id)?)
}

/// The photo's bytes arrive as the raw request body (no JSON number arrays for megabytes).
#[tauri::command]
#[tracing::instrument(skip(state, request))]
pub fn add_photo(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Reply<PhotoRef> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(ErrorView::invalid("Send the photo's bytes, not JSON."));
    };
    Ok(state.hub.add_photo(bytes)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn photo_data_url(state: State<'_, AppState>, hash: String) -> Reply<String> {
    short_input("photo id", &hash, 64)?;
    // Off the window's thread: it reads the photo from disk.
    let hub = state.hub.clone();
    off_the_window(move || hub.photo_data_url(&hash)).await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn find_orders(state: State<'_, AppState>, query: String) -> Reply<Vec<OrderMatch>> {
    short_input("search", &query, MAX_SCAN_LEN)?;
    Ok(state.hub.find_orders(&query)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn link_orphan(
    state: State<'_, AppState>,
    connote: String,
    order_id: String,
) -> Reply<ScanResult> {
    short_input("connote", &connote, MAX_SCAN_LEN)?;
    Ok(state.hub.link_orphan(&connote, &order_id)?)
}

/// Whether any retailer is connected to Returns Prime: the orphan intake then offers the lookup.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn returns_prime_connected(state: State<'_, AppState>) -> Reply<bool> {
    Ok(state.hub.returns_prime_connected()?)
}

/// Runs a hub call that waits on another machine (a partner's API, Shopify, the central
/// store, a webhook URL) or on slow hashing off the window's thread: a sync Tauri command runs
/// on the window's thread, which would freeze for as long as the answer takes.
async fn off_the_window<T: Send + 'static>(
    work: impl FnOnce() -> returnhub_hub::Result<T> + Send + 'static,
) -> Reply<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| ErrorView::invalid(format!("the request stopped: {e}")))?
        .map_err(ErrorView::from)
}

/// The parcel's AWB or a request number, looked up at Returns Prime.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn find_at_returns_prime(
    state: State<'_, AppState>,
    query: String,
) -> Reply<ReturnsPrimeLookup> {
    short_input("search", &query, MAX_SCAN_LEN)?;
    let hub = state.hub.clone();
    off_the_window(move || hub.find_at_returns_prime(&query)).await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn link_returns_prime(
    state: State<'_, AppState>,
    connote: String,
    retailer_id: String,
    request_id: String,
    order_id: Option<String>,
) -> Reply<ScanResult> {
    short_input("connote", &connote, MAX_SCAN_LEN)?;
    short_input("retailer", &retailer_id, 128)?;
    short_input("request id", &request_id, 128)?;
    if let Some(order_id) = &order_id {
        short_input("order id", order_id, 256)?;
    }
    let hub = state.hub.clone();
    off_the_window(move || {
        hub.link_returns_prime(&connote, &retailer_id, &request_id, order_id.as_deref())
    })
    .await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn park_orphan(
    state: State<'_, AppState>,
    connote: String,
    note: String,
    photos: Vec<String>,
) -> Reply<String> {
    short_input("connote", &connote, MAX_SCAN_LEN)?;
    short_input("note", &note, MAX_NOTE_LEN)?;
    Ok(state.hub.park_orphan(&connote, &note, photos)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn list_exceptions(
    state: State<'_, AppState>,
    include_resolved: bool,
) -> Reply<Vec<ExceptionView>> {
    Ok(state.hub.exceptions(include_resolved)?)
}

/// Events from other stations this one holds back (F3): a newer Returnhub's, or malformed.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn held_events(state: State<'_, AppState>) -> Reply<Vec<HeldEventView>> {
    Ok(state.hub.held_events()?)
}

/// Sends this station's refused events to the central store again (F3), after a fix there.
/// The network call happens on the sync worker's thread; this only asks for it.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn resend_refused_events(state: State<'_, AppState>) -> Reply<SyncView> {
    Ok(state.hub.resend_refused()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn resolve_exception(
    state: State<'_, AppState>,
    id: String,
    resolution: String,
) -> Reply<Vec<ExceptionView>> {
    short_input("resolution", &resolution, MAX_NOTE_LEN)?;
    Ok(state.hub.resolve_exception(&id, &resolution)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn override_decision(
    state: State<'_, AppState>,
    return_id: String,
    item_id: String,
    outcome: Outcome,
    reason: String,
) -> Reply<SupervisorResult> {
    short_input("reason", &reason, MAX_NOTE_LEN)?;
    Ok(state
        .hub
        .override_decision(&return_id, &item_id, outcome, &reason)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn close_return(
    state: State<'_, AppState>,
    return_id: String,
    note: String,
) -> Reply<SupervisorResult> {
    short_input("note", &note, MAX_NOTE_LEN)?;
    Ok(state.hub.close_return(&return_id, &note)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn reprint_labels(state: State<'_, AppState>, return_id: String) -> Reply<BenchState> {
    Ok(state.hub.reprint_labels(&return_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn audit_trail(state: State<'_, AppState>, return_id: String) -> Reply<Vec<AuditEntry>> {
    Ok(state.hub.audit_trail(&return_id)?)
}

/// A supervisor's search for past returns (F8).
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn search_returns(state: State<'_, AppState>, search: ReturnSearch) -> Reply<SearchPage> {
    Ok(state.hub.search_returns(search)?)
}

/// A supervisor cancels a return that has not reached the hub, with the reason.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn cancel_return(
    state: State<'_, AppState>,
    return_id: String,
    reason: String,
) -> Reply<SupervisorResult> {
    Ok(state.hub.cancel_return(&return_id, &reason)?)
}

/// Off the window's thread (it asks the central store): the hubs a return may be handed to.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn hand_over_targets(
    state: State<'_, AppState>,
    return_id: String,
) -> Reply<Vec<HubChoiceView>> {
    let hub = state.hub.clone();
    off_the_window(move || hub.hand_over_targets(&return_id)).await
}

/// Off the window's thread (it asks the central store, then waits for sync): a supervisor
/// hands a return to another hub, with the reason.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn hand_over_return(
    state: State<'_, AppState>,
    return_id: String,
    to_hub: String,
    reason: String,
) -> Reply<SupervisorResult> {
    let hub = state.hub.clone();
    off_the_window(move || hub.hand_over_return(&return_id, &to_hub, &reason)).await
}

/// Off the window's thread: it writes every return the search finds to a CSV file.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn export_returns_csv(
    state: State<'_, AppState>,
    search: ReturnSearch,
) -> Reply<ExportedFile> {
    let hub = state.hub.clone();
    off_the_window(move || hub.export_returns_csv(search)).await
}

/// Off the window's thread: the supervisors' reports for a period (F9); over a big store
/// they take a moment.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn reports(state: State<'_, AppState>, filter: ReportFilter) -> Reply<ReportSet> {
    let hub = state.hub.clone();
    off_the_window(move || hub.reports(filter)).await
}

/// Off the window's thread: one report as a CSV file.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn export_report_csv(
    state: State<'_, AppState>,
    filter: ReportFilter,
    table: String,
) -> Reply<ExportedFile> {
    let hub = state.hub.clone();
    off_the_window(move || hub.export_report_csv(filter, &table)).await
}

/// Off the window's thread: the end-of-shift summary as a PDF file.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn shift_summary_pdf(
    state: State<'_, AppState>,
    filter: ReportFilter,
) -> Reply<ExportedFile> {
    let hub = state.hub.clone();
    off_the_window(move || hub.shift_summary_pdf(filter)).await
}

/// A return's timeline, from its upload or intake to its actions' outcomes.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn return_timeline(state: State<'_, AppState>, return_id: String) -> Reply<Vec<TimelineEntry>> {
    Ok(state.hub.return_timeline(&return_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn station_view(state: State<'_, AppState>) -> Reply<StationView> {
    Ok(state.hub.station_view()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn save_station(state: State<'_, AppState>, config: StationConfig) -> Reply<StationView> {
    Ok(state.hub.save_station(config)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn printer_queue(state: State<'_, AppState>) -> Reply<PrinterQueueView> {
    Ok(state.hub.printer_queue()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn sync_status(state: State<'_, AppState>) -> Reply<SyncView> {
    Ok(state.hub.sync_view()?)
}

/// The token is skipped by `instrument`: it must never reach a log. Off the window's thread:
/// the central store is asked which hub the token is for.
#[tauri::command]
#[tracing::instrument(skip(state, token))]
pub async fn set_central_token(state: State<'_, AppState>, token: String) -> Reply<SyncView> {
    short_input("token", &token, 512)?;
    let hub = state.hub.clone();
    off_the_window(move || hub.set_central_token(&token)).await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn shops_view(state: State<'_, AppState>) -> Reply<ShopsView> {
    Ok(state.hub.shops_view()?)
}

/// Checking the credentials asks Shopify (up to 15 s), so this runs off the window's thread.
/// The token (or, with a client ID, the app's client secret) is skipped by `instrument`: it
/// must never reach a log.
#[tauri::command]
#[tracing::instrument(skip(state, access_token))]
pub async fn connect_shop(
    state: State<'_, AppState>,
    retailer_id: String,
    shop_domain: String,
    access_token: String,
    client_id: Option<String>,
) -> Reply<ShopsView> {
    short_input("retailer", &retailer_id, 128)?;
    short_input("shop domain", &shop_domain, 256)?;
    short_input("access token", &access_token, 512)?;
    let client_id = client_id.filter(|id| !id.trim().is_empty());
    if let Some(id) = &client_id {
        short_input("client ID", id, 256)?;
    }
    let hub = state.hub.clone();
    off_the_window(move || match client_id {
        Some(id) => hub.connect_shop_app(&retailer_id, &shop_domain, &id, &access_token),
        None => hub.connect_shop(&retailer_id, &shop_domain, &access_token),
    })
    .await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn disconnect_shop(state: State<'_, AppState>, retailer_id: String) -> Reply<ShopsView> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.disconnect_shop(&retailer_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn save_shopify_policy(
    state: State<'_, AppState>,
    retailer_id: String,
    policy: ShopifyPolicy,
) -> Reply<ShopsView> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.save_shopify_policy(&retailer_id, policy)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn start_import(state: State<'_, AppState>, retailer_id: String) -> Reply<ShopsView> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.start_import(&retailer_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn retry_action(state: State<'_, AppState>, key: String) -> Reply<ShopsView> {
    short_input("action key", &key, 128)?;
    Ok(state.hub.retry_action(&key)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn tracking_webhooks(state: State<'_, AppState>) -> Reply<Vec<TrackingWebhookView>> {
    Ok(state.hub.tracking_webhooks()?)
}

/// The passwords in `hooks` are secrets: not traced.
#[tauri::command]
#[tracing::instrument(skip(state, hooks))]
pub fn save_tracking_webhooks(
    state: State<'_, AppState>,
    retailer_id: String,
    hooks: Vec<TrackingWebhookInput>,
) -> Reply<Vec<TrackingWebhookView>> {
    short_input("retailer", &retailer_id, 128)?;
    for hook in &hooks {
        short_input("webhook URL", &hook.url, 2000)?;
    }
    Ok(state.hub.save_tracking_webhooks(&retailer_id, hooks)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn save_receipt_notice(
    state: State<'_, AppState>,
    retailer_id: String,
    notice: ReceiptNotice,
) -> Reply<Vec<TrackingWebhookView>> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.save_receipt_notice(&retailer_id, notice)?)
}

/// Off the window's thread: it posts to the URL and waits for its answer.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn test_tracking_webhook(
    state: State<'_, AppState>,
    retailer_id: String,
    url: String,
) -> Reply<String> {
    short_input("retailer", &retailer_id, 128)?;
    short_input("webhook URL", &url, 2000)?;
    let hub = state.hub.clone();
    off_the_window(move || hub.test_tracking_webhook(&retailer_id, &url)).await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn retry_tracking_webhooks(
    state: State<'_, AppState>,
    retailer_id: String,
    url: Option<String>,
) -> Reply<Vec<TrackingWebhookView>> {
    short_input("retailer", &retailer_id, 128)?;
    if let Some(url) = &url {
        short_input("webhook URL", url, 2000)?;
    }
    Ok(state
        .hub
        .retry_tracking_webhooks(&retailer_id, url.as_deref())?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn partner_connections(state: State<'_, AppState>) -> Reply<Vec<PartnerConnectionView>> {
    Ok(state.hub.partner_connections()?)
}

/// `input.secret` is a key, password or token: not traced. Off the window's thread: the
/// connection is tested with the partner before it is kept.
#[tauri::command]
#[tracing::instrument(skip(state, input))]
pub async fn connect_partner(
    state: State<'_, AppState>,
    retailer_id: String,
    input: PartnerConnectionInput,
) -> Reply<Vec<PartnerConnectionView>> {
    short_input("retailer", &retailer_id, 128)?;
    short_input("API address", &input.base_url, 2000)?;
    let hub = state.hub.clone();
    off_the_window(move || hub.connect_partner(&retailer_id, input)).await
}

/// Off the window's thread: it waits for the partner's answer.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub async fn test_partner(
    state: State<'_, AppState>,
    retailer_id: String,
    target: ActionTarget,
) -> Reply<String> {
    short_input("retailer", &retailer_id, 128)?;
    let hub = state.hub.clone();
    off_the_window(move || hub.test_partner(&retailer_id, target)).await
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn disconnect_partner(
    state: State<'_, AppState>,
    retailer_id: String,
    target: ActionTarget,
) -> Reply<Vec<PartnerConnectionView>> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.disconnect_partner(&retailer_id, target)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn partner_routes(state: State<'_, AppState>) -> Reply<Vec<RouteView>> {
    Ok(state.hub.partner_routes()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn save_partner_routes(
    state: State<'_, AppState>,
    retailer_id: String,
    routes: Vec<SourceRoute>,
) -> Reply<Vec<RouteView>> {
    short_input("retailer", &retailer_id, 128)?;
    if routes.len() > 50 {
        return Err(ErrorView::invalid(
            "at most 50 source bindings per retailer",
        ));
    }
    for route in &routes {
        short_input("source", &route.source, 100)?;
    }
    Ok(state.hub.save_partner_routes(&retailer_id, routes)?)
}

// --- Going live: setup, people, retailers -----------------------------------------------

/// Whether the setup screen shows (nobody enrolled, demo off), with what is known already.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn setup_state(state: State<'_, AppState>) -> Reply<SetupState> {
    Ok(state.hub.setup_state()?)
}

/// First-start setup. Refused by the hub once anyone is enrolled, whoever calls it. The PINs
/// and the device token are skipped by `instrument`: they must never reach a log. Runs off
/// the window's thread: it hashes a PIN and writes hub.toml.
#[tauri::command]
#[tracing::instrument(skip(state, input))]
pub async fn set_up(state: State<'_, AppState>, input: SetupInput) -> Reply<SessionView> {
    for (what, value, max) in [
        ("hub id", input.hub_id.as_str(), 16),
        ("hub name", &input.hub_name, 100),
        ("badge", &input.admin_badge, MAX_BADGE_LEN),
        ("name", &input.admin_name, 100),
        ("PIN", &input.pin, MAX_PIN_LEN),
        ("PIN", &input.pin_again, MAX_PIN_LEN),
    ] {
        short_input(what, value, max)?;
    }
    let hub = state.hub.clone();
    off_the_window(move || {
        hub.set_up(&input)?;
        if let Err(e) = hub.start_sync_if_configured() {
            tracing::error!(error = %e, "sync not started after setup");
        }
        hub.sign_in(&input.admin_badge, &input.pin)
    })
    .await
}

/// Makes this station another station of the hub its device token is for (see
/// `Hub::join_hub`). Off the window's thread: it asks the central store first.
#[tauri::command]
#[tracing::instrument(skip(state, input))]
pub async fn join_hub(state: State<'_, AppState>, input: JoinInput) -> Reply<SetupState> {
    short_input("central store URL", &input.central_url, 512)?;
    short_input("device token", &input.device_token, 512)?;
    let hub = state.hub.clone();
    off_the_window(move || {
        hub.join_hub(&input)?;
        hub.setup_state()
    })
    .await
}

/// The signed-in person chooses their own PIN (after a one-time PIN, or any time).
#[tauri::command]
#[tracing::instrument(skip(state, current_pin, new_pin, new_pin_again))]
pub fn change_own_pin(
    state: State<'_, AppState>,
    current_pin: String,
    new_pin: String,
    new_pin_again: String,
) -> Reply<SessionView> {
    for pin in [&current_pin, &new_pin, &new_pin_again] {
        short_input("PIN", pin, MAX_PIN_LEN)?;
    }
    state
        .hub
        .change_own_pin(&current_pin, &new_pin, &new_pin_again)?;
    state
        .hub
        .session()?
        .ok_or_else(|| ErrorView::from(returnhub_hub::HubError::NotSignedIn))
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn people(state: State<'_, AppState>) -> Reply<Vec<PersonView>> {
    Ok(state.hub.people()?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn enrol_person(state: State<'_, AppState>, person: PersonInput) -> Reply<IssuedPin> {
    short_input("badge", &person.badge, MAX_BADGE_LEN)?;
    short_input("name", &person.name, 100)?;
    Ok(state.hub.enrol_person(&person)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn set_person_role(
    state: State<'_, AppState>,
    user_id: String,
    role: Role,
) -> Reply<PersonView> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.set_role(&user_id, role)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn set_person_active(
    state: State<'_, AppState>,
    user_id: String,
    active: bool,
) -> Reply<PersonView> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.set_active(&user_id, active)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn reset_pin(state: State<'_, AppState>, user_id: String) -> Reply<IssuedPin> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.reset_pin(&user_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn unlock_person(state: State<'_, AppState>, user_id: String) -> Reply<PersonView> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.unlock_person(&user_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn print_badge(state: State<'_, AppState>, user_id: String) -> Reply<()> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.print_badge(&user_id)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn person_history(state: State<'_, AppState>, user_id: String) -> Reply<Vec<AuditEntry>> {
    short_input("person", &user_id, 128)?;
    Ok(state.hub.person_history(&user_id)?)
}

/// A staff CSV file's text. Off the window's thread: each person's one-time PIN is hashed
/// with Argon2id, which takes a while for a few hundred people.
#[tauri::command]
#[tracing::instrument(skip(state, csv))]
pub async fn import_staff(state: State<'_, AppState>, csv: String) -> Reply<StaffImport> {
    if csv.len() > MAX_STAFF_CSV_BYTES {
        return Err(ErrorView::invalid(format!(
            "The file is {} bytes; a staff file of at most {MAX_STAFF_CSV_BYTES} is accepted.",
            csv.len()
        )));
    }
    let hub = state.hub.clone();
    off_the_window(move || hub.import_staff(&csv)).await
}

/// The retailer form for `retailer_id`, or a blank one for a new retailer.
#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn retailer_form(
    state: State<'_, AppState>,
    retailer_id: Option<String>,
) -> Reply<RetailerForm> {
    if let Some(id) = &retailer_id {
        short_input("retailer", id, 128)?;
    }
    Ok(state.hub.retailer_form(retailer_id.as_deref())?)
}

#[tauri::command]
#[tracing::instrument(skip(state, form))]
pub fn save_retailer(
    state: State<'_, AppState>,
    form: RetailerForm,
    create: bool,
) -> Reply<RetailerSaved> {
    if form.reasons.len() + form.qc_reasons.len() > 500 {
        return Err(ErrorView::invalid("At most 500 reasons per retailer."));
    }
    Ok(state.hub.save_retailer(&form, create)?)
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn retailer_history(state: State<'_, AppState>, retailer_id: String) -> Reply<Vec<AuditEntry>> {
    short_input("retailer", &retailer_id, 128)?;
    Ok(state.hub.retailer_history(&retailer_id)?)
}
