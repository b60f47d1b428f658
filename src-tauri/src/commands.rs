//! Typed commands for the webview. Each one validates what it is given and delegates to the
//! hub, which checks the signed-in user's role; errors reach the UI as a code it can act on
//! and one clear sentence. Every name here is also in `command_names.rs` (the ACL manifest)
//! and granted in `capabilities/`.

use std::sync::Arc;

use returnhub_core::dryrun::DryRunReport;
use returnhub_core::model::{RetailerSummary, ScanResult};
use returnhub_core::rules::{RuleIssue, RuleSet};
use returnhub_hub::{AppInfo, DemoConnote, ErrorView, Hub, RulesCheck, SessionView};
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
