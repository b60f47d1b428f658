//! Typed commands for the webview. Each one validates what it is given and delegates to the
//! hub; errors reach the UI as one clear sentence. Every name here is also in
//! `command_names.rs` (the ACL manifest) and granted in `capabilities/`.

use std::sync::Arc;

use returnhub_core::model::ScanResult;
use returnhub_hub::{AppInfo, DemoConnote, Hub};
use tauri::State;

pub struct AppState {
    pub hub: Arc<Hub>,
}

/// The longest input we accept as a scan: real connotes are under 40 characters, GS1 strings
/// under 100. Anything longer is a stuck key or a paste, not a parcel.
const MAX_SCAN_LEN: usize = 256;

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn app_info(state: State<'_, AppState>) -> Result<AppInfo, String> {
    state.hub.app_info().map_err(|e| e.to_string())
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn lookup_connote(state: State<'_, AppState>, raw: String) -> Result<ScanResult, String> {
    if raw.len() > MAX_SCAN_LEN {
        return Err(format!(
            "That scan is {} characters long; a connote is at most {MAX_SCAN_LEN}. Scan again.",
            raw.len()
        ));
    }
    state.hub.scan(&raw).map_err(|e| e.to_string())
}

#[tauri::command]
#[tracing::instrument(skip(state))]
pub fn demo_connotes(state: State<'_, AppState>) -> Result<Vec<DemoConnote>, String> {
    state.hub.demo_connotes().map_err(|e| e.to_string())
}
