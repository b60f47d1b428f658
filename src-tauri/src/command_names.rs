//! The one list of commands the webview may call. build.rs turns it into the app's ACL manifest
//! (an allow-/deny- permission per command); lib.rs registers the same handlers. A command
//! missing here is refused at runtime, so the two cannot drift silently.

// Read by build.rs (which includes this file) and by the tests; the app itself registers the
// handlers by name in lib.rs.
#[cfg_attr(not(test), allow(dead_code))]
pub const ALL: &[&str] = &[
    "app_info",
    "lookup_connote",
    "demo_connotes",
    "sign_in",
    "sign_out",
    "session",
    "list_retailers",
    "retailer_rules",
    "check_rules",
    "dry_run_rules",
    "save_rules",
    "bench_scan",
    "bench_state",
    "open_return",
    "inspect_item",
    "scan_item",
    "undo_last",
    "process_return",
    "add_photo",
    "photo_data_url",
    "find_orders",
    "link_orphan",
    "park_orphan",
    "list_exceptions",
    "resolve_exception",
    "override_decision",
    "close_return",
    "reprint_labels",
    "audit_trail",
    "station_view",
    "save_station",
    "printer_queue",
    "sync_status",
    "set_central_token",
    "shops_view",
    "connect_shop",
    "disconnect_shop",
    "save_shopify_policy",
    "start_import",
    "retry_action",
];
