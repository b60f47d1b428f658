//! The Tauri shell: parses the command line, sets up logging, opens the hub, and registers the
//! typed commands the webview may call. It holds no domain logic: every command validates its
//! input and delegates to [`returnhub_hub::Hub`], which the tests drive without a window.

mod command_names;
#[cfg(test)]
mod command_types;
mod commands;
mod init;
mod logging;

use std::process::ExitCode;
use std::sync::Arc;

use returnhub_hub::{Hub, HubOptions};

pub use commands::AppState;

/// The command line. Without a command the window opens.
#[derive(clap::Parser)]
#[command(
    name = "returnhub",
    version,
    about = "Opens the Returnhub bench. A data dir with no hub.toml opens the setup screen (or \
             set it up with `returnhub init`).",
    after_help = "Environment:
  RETURNHUB_DATA_DIR   where the store, photos and logs live
                       (default: the platform data dir, e.g. ~/.local/share/returnhub)
  RETURNHUB_DEMO=1     a data dir with no hub.toml opens the embedded demo hub instead
  RUST_LOG             log filter, e.g. info or returnhub_hub=debug"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Set up this station from a script, as the setup screen does: a new hub, or (--join)
    /// another station of a hub.
    Init(init::InitArgs),
}

pub fn run() -> ExitCode {
    // Usage errors, --help and --version exit here.
    let cli = <Cli as clap::Parser>::parse();
    if let Some(Command::Init(args)) = cli.command {
        return init::run(args);
    }

    let options = match HubOptions::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("returnhub: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _log_guard = match logging::init(&options.data_dir) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!(
                "returnhub: cannot write logs under {}: {e}",
                options.data_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let hub = match Hub::open(options) {
        Ok(hub) => Arc::new(hub),
        Err(e) => {
            tracing::error!(error = %e, "cannot open the hub");
            eprintln!("returnhub: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting the bench window"
    );

    let workers = hub.clone();
    let result = with_commands(tauri::Builder::default(), AppState { hub })
        .setup(move |app| {
            start_workers(&workers, app.handle().clone());
            Ok(())
        })
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the window failed");
            eprintln!("returnhub: the window failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The background work of a running bench: the print queue, and the station's serial
/// scanner, whose scans go to the window as `scanner` events (the window treats them like a
/// keyboard-wedge scan). A scanner that cannot start is logged and shown on the settings
/// screen; the bench works without it.
fn start_workers(hub: &Arc<Hub>, app: tauri::AppHandle) {
    use tauri::Emitter;
    Hub::start_print_worker(hub.clone());
    Hub::start_shop_workers(hub.clone());
    Hub::start_webhook_worker(hub.clone());
    match hub.start_sync_if_configured() {
        Ok(true) => {}
        Ok(false) => tracing::info!("no central store configured or no device token: standalone"),
        Err(e) => tracing::error!(error = %e, "sync not started"),
    }
    let sink: returnhub_hub::ScannerSink = Arc::new(move |event| {
        if let Err(e) = app.emit_to("main", "scanner", &event) {
            tracing::warn!(error = %e, "cannot pass a scanner event to the window");
        }
    });
    if let Err(e) = hub.start_serial_scanner(sink) {
        tracing::error!(error = %e, "serial scanner not started");
    }
}

/// Adds the state and the commands to a builder; the tests pass Tauri's mock builder so they
/// exercise the same wiring as the window.
pub fn with_commands<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    state: AppState,
) -> tauri::Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::lookup_connote,
            commands::demo_connotes,
            commands::sign_in,
            commands::sign_out,
            commands::session,
            commands::list_retailers,
            commands::retailer_rules,
            commands::check_rules,
            commands::dry_run_rules,
            commands::save_rules,
            commands::bench_scan,
            commands::bench_state,
            commands::open_return,
            commands::inspect_item,
            commands::scan_item,
            commands::undo_last,
            commands::process_return,
            commands::add_photo,
            commands::photo_data_url,
            commands::find_orders,
            commands::link_orphan,
            commands::returns_prime_connected,
            commands::find_at_returns_prime,
            commands::link_returns_prime,
            commands::park_orphan,
            commands::list_exceptions,
            commands::held_events,
            commands::resend_refused_events,
            commands::resolve_exception,
            commands::override_decision,
            commands::close_return,
            commands::reprint_labels,
            commands::audit_trail,
            commands::search_returns,
            commands::return_timeline,
            commands::cancel_return,
            commands::hand_over_targets,
            commands::hand_over_return,
            commands::export_returns_csv,
            commands::reports,
            commands::export_report_csv,
            commands::shift_summary_pdf,
            commands::station_view,
            commands::save_station,
            commands::printer_queue,
            commands::sync_status,
            commands::set_central_token,
            commands::shops_view,
            commands::connect_shop,
            commands::disconnect_shop,
            commands::start_import,
            commands::retry_action,
            commands::save_shopify_policy,
            commands::tracking_webhooks,
            commands::save_tracking_webhooks,
            commands::save_receipt_notice,
            commands::test_tracking_webhook,
            commands::retry_tracking_webhooks,
            commands::partner_connections,
            commands::connect_partner,
            commands::test_partner,
            commands::disconnect_partner,
            commands::partner_routes,
            commands::save_partner_routes,
            commands::setup_state,
            commands::set_up,
            commands::join_hub,
            commands::change_own_pin,
            commands::people,
            commands::enrol_person,
            commands::set_person_role,
            commands::set_person_active,
            commands::reset_pin,
            commands::unlock_person,
            commands::print_badge,
            commands::person_history,
            commands::import_staff,
            commands::retailer_form,
            commands::save_retailer,
            commands::retailer_history,
        ])
}

#[cfg(test)]
mod tests {
    //! The command wiring and the ACL, on Tauri's mock runtime with the real generated context
    //! (the same capabilities the window gets).

    use super::*;
    use returnhub_hub::{Hub, HubOptions};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindowBuilder;

    fn request(cmd: &str, body: serde_json::Value) -> InvokeRequest {
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        }
    }

    #[test]
    fn every_listed_command_is_granted_and_nothing_else() {
        let data = tempfile::tempdir().unwrap();
        let hub = Arc::new(Hub::open(HubOptions::demo(data.path())).unwrap());
        let app = with_commands(mock_builder(), AppState { hub })
            .build(tauri::generate_context!())
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();

        // Every listed command passes the ACL. Some answer with an error of their own (nobody
        // signed in yet), which is not the ACL's "not allowed".
        for cmd in command_names::ALL {
            let body = match *cmd {
                "lookup_connote" => serde_json::json!({"raw": "LZ482131160NZ"}),
                "sign_in" => serde_json::json!({"badge": "OP-1001", "pin": "0000"}),
                "retailer_rules" => serde_json::json!({"retailerId": "kowhai"}),
                "check_rules" | "dry_run_rules" | "save_rules" => {
                    serde_json::json!({"retailerId": "kowhai", "draft": "{}"})
                }
                "bench_state" | "open_return" | "undo_last" | "process_return"
                | "reprint_labels" | "audit_trail" | "return_timeline" => {
                    serde_json::json!({"returnId": "r"})
                }
                "scan_item" => serde_json::json!({"returnId": "r", "raw": "x"}),
                "bench_scan" => serde_json::json!({"raw": "x", "openReturn": null}),
                "inspect_item" => serde_json::json!({"request": {
                    "return_id": "r", "item_id": "i", "presence": "found", "qc": null,
                    "qc_reason": null, "grade": null, "disposition": null, "note": null,
                    "photos": []}}),
                "photo_data_url" => serde_json::json!({"hash": "0"}),
                "find_orders" => serde_json::json!({"query": "1001"}),
                "link_orphan" => serde_json::json!({"connote": "c", "orderId": "o"}),
                "find_at_returns_prime" => serde_json::json!({"query": "AWB7000001"}),
                "link_returns_prime" => serde_json::json!({"connote": "c",
                    "retailerId": "kowhai", "requestId": "9001", "orderId": null}),
                "park_orphan" => serde_json::json!({"connote": "c", "note": "n", "photos": []}),
                "list_exceptions" => serde_json::json!({"includeResolved": false}),
                "resolve_exception" => serde_json::json!({"id": "x", "resolution": "r"}),
                "override_decision" => serde_json::json!({"returnId": "r", "itemId": "i",
                    "outcome": {"kind": "refund"}, "reason": "r"}),
                "set_central_token" => serde_json::json!({"token": "x"}),
                "connect_shop" => serde_json::json!({"retailerId": "kowhai",
                    "shopDomain": "kowhai", "accessToken": "x"}),
                "disconnect_shop" | "start_import" => serde_json::json!({"retailerId": "kowhai"}),
                "retry_action" => serde_json::json!({"key": "rh1-x"}),
                "save_shopify_policy" => serde_json::json!({"retailerId": "kowhai",
                    "policy": {"exchange": "release_hold"}}),
                "close_return" => serde_json::json!({"returnId": "r", "note": ""}),
                "search_returns" | "export_returns_csv" => {
                    serde_json::json!({"search": {"key": "x"}})
                }
                "cancel_return" => serde_json::json!({"returnId": "r", "reason": "kept"}),
                "hand_over_targets" => serde_json::json!({"returnId": "r"}),
                "hand_over_return" => {
                    serde_json::json!({"returnId": "r", "toHub": "AKL", "reason": "sent on"})
                }
                "reports" | "shift_summary_pdf" => serde_json::json!({"filter": {}}),
                "export_report_csv" => serde_json::json!({"filter": {}, "table": "qc"}),
                "set_up" => serde_json::json!({"input": {"hub_id": "X", "hub_name": "X",
                    "station": null, "admin_badge": "B", "admin_name": "N", "pin": "1234",
                    "pin_again": "1234", "central_url": null, "device_token": null}}),
                "join_hub" => serde_json::json!({"input": {"central_url": "x",
                    "device_token": "x", "station": null}}),
                "change_own_pin" => serde_json::json!({"currentPin": "1", "newPin": "2",
                    "newPinAgain": "2"}),
                "enrol_person" => serde_json::json!({"person": {"badge": "B", "name": "N",
                    "role": "operator"}}),
                "set_person_role" => serde_json::json!({"userId": "u", "role": "admin"}),
                "set_person_active" => serde_json::json!({"userId": "u", "active": false}),
                "reset_pin" | "unlock_person" | "print_badge" | "person_history" => {
                    serde_json::json!({"userId": "u"})
                }
                "import_staff" => serde_json::json!({"csv": "badge,name,role\n"}),
                "retailer_form" => serde_json::json!({"retailerId": null}),
                "retailer_history" => serde_json::json!({"retailerId": "kowhai"}),
                "save_retailer" => serde_json::json!({"create": true, "form": {
                    "id": "x", "name": "x", "currency": "NZD", "country": "NZ",
                    "trigger": "processing", "customers_choose": true,
                    "rules_override_customer_choice": true, "exchange_enabled": false,
                    "credit_note_expiry_days": null, "default_outcome": {"kind": "refund"},
                    "qc_fail": "no_action", "reasons": [], "qc_reasons": []}}),
                "save_station" => serde_json::json!({"config": {"station": "s",
                    "wedge": {"max_gap_ms": 35, "min_length": 6, "suffix": "enter"},
                    "serial_scanner": null, "printer": {"kind": "none"}}}),
                _ => serde_json::json!({}),
            };
            let response = get_ipc_response(&window, request(cmd, body));
            if let Err(e) = &response {
                assert!(
                    !e.to_string().contains("not allowed"),
                    "{cmd} must be granted: {e}"
                );
            }
        }
        let refused = get_ipc_response(
            &window,
            request(
                "lookup_connote",
                serde_json::json!({"raw": "LZ482131160NZ"}),
            ),
        );
        assert!(
            format!("{refused:?}").contains("not_signed_in"),
            "{refused:?}"
        );
        let session = get_ipc_response(
            &window,
            request(
                "sign_in",
                serde_json::json!({"badge": "OP-1001", "pin": "1111"}),
            ),
        )
        .unwrap()
        .deserialize::<serde_json::Value>()
        .unwrap();
        assert_eq!(session["role"], "operator");
        let scanned = get_ipc_response(
            &window,
            request(
                "lookup_connote",
                serde_json::json!({"raw": "LZ482131160NZ"}),
            ),
        )
        .unwrap()
        .deserialize::<serde_json::Value>()
        .unwrap();
        assert_eq!(scanned["verdict"], "expected");
        // An operator asking for an admin command is refused by the hub, whatever the UI shows.
        let forbidden = get_ipc_response(
            &window,
            request(
                "save_rules",
                serde_json::json!({"retailerId": "kowhai", "draft": "{\"rules\": []}"}),
            ),
        );
        assert!(
            format!("{forbidden:?}").contains("forbidden"),
            "{forbidden:?}"
        );

        // Input is validated before it reaches the hub.
        let too_long = "9".repeat(300);
        let refused = get_ipc_response(
            &window,
            request("lookup_connote", serde_json::json!({"raw": too_long})),
        );
        assert!(
            format!("{refused:?}").contains("at most 256"),
            "{refused:?}"
        );

        // The demo hub is set up: a raw IPC call to setup is refused by the hub, and the
        // state says so.
        let setup = get_ipc_response(
            &window,
            request(
                "set_up",
                serde_json::json!({"input": {"hub_id": "EVIL", "hub_name": "Evil",
                    "station": null, "admin_badge": "EV-1", "admin_name": "Eve",
                    "pin": "1234", "pin_again": "1234", "central_url": null,
                    "device_token": null}}),
            ),
        );
        assert!(setup.is_err(), "{setup:?}");
        let state = get_ipc_response(&window, request("setup_state", serde_json::json!({})))
            .unwrap()
            .deserialize::<serde_json::Value>()
            .unwrap();
        assert_eq!(state["needed"], false);

        // Core plugin commands are not granted to the bench window (listening to the
        // scanner's events is the one exception).
        for cmd in [
            "plugin:window|close",
            "plugin:event|emit",
            "plugin:webview|print",
            "plugin:fs|read_file",
        ] {
            let response = get_ipc_response(&window, request(cmd, serde_json::json!({})));
            assert!(response.is_err(), "{cmd} must be refused");
        }
    }

    #[test]
    fn setup_over_ipc_works_once_on_an_empty_store_and_is_refused_after() {
        let data = tempfile::tempdir().unwrap();
        let hub = Arc::new(Hub::open(HubOptions::in_dir(data.path()).unwrap()).unwrap());
        let app = with_commands(mock_builder(), AppState { hub: hub.clone() })
            .build(tauri::generate_context!())
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        let ask = |badge: &str| {
            get_ipc_response(
                &window,
                request(
                    "set_up",
                    serde_json::json!({"input": {"hub_id": "NEW", "hub_name": "New hub",
                        "station": null, "admin_badge": badge, "admin_name": "First Admin",
                        "pin": "135791", "pin_again": "135791", "central_url": null,
                        "device_token": null}}),
                ),
            )
        };
        let state = get_ipc_response(&window, request("setup_state", serde_json::json!({})))
            .unwrap()
            .deserialize::<serde_json::Value>()
            .unwrap();
        assert_eq!(state["needed"], true);
        let session = ask("AD-1")
            .unwrap()
            .deserialize::<serde_json::Value>()
            .unwrap();
        assert_eq!(session["role"], "admin");
        let again = ask("AD-2");
        assert!(
            format!("{again:?}").contains("forbidden")
                && format!("{again:?}").contains("set up already"),
            "{again:?}"
        );
        assert_eq!(hub.options().hub_id, "NEW");
        assert!(data.path().join("hub.toml").is_file());
    }
}

/// The commands' names as a TypeScript type: the window's one IPC wrapper takes only these, so
/// `tsc` refuses a call to a command the app does not register (and the ACL would refuse).
#[cfg(test)]
mod command_names_ts {
    const PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ui/src/generated/CommandName.ts"
    );

    fn render() -> String {
        let mut out = String::from(
            "// Generated from src-tauri/src/command_names.rs by the app's tests \
             (RETURNHUB_BLESS=1 cargo test -p returnhub --lib). Do not edit.\n\n\
             /** A command the window may call. */\nexport type CommandName =\n",
        );
        for name in super::command_names::ALL {
            out.push_str(&format!("  | \"{name}\"\n"));
        }
        out.pop();
        out.push_str(";\n");
        out
    }

    /// The window's CSP stays strict: the only remote origin it names is Shopify's CDN, for
    /// product images only.
    #[test]
    fn the_csp_allows_one_remote_origin_for_images_only() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let csp = conf["app"]["security"]["csp"].as_object().unwrap();
        for (directive, sources) in csp {
            let sources = sources.as_str().unwrap();
            let remote: Vec<&str> = sources
                .split_whitespace()
                .filter(|s| s.contains("://") || s.starts_with("https:") || *s == "*")
                .filter(|s| !s.starts_with("http://ipc.localhost"))
                .collect();
            if directive == "img-src" {
                assert_eq!(remote, ["https://cdn.shopify.com"], "{sources}");
            } else {
                assert!(remote.is_empty(), "{directive}: {sources}");
            }
        }
        assert_eq!(csp["script-src"], "'self'");
    }

    #[test]
    fn the_typescript_command_names_are_current() {
        let want = render();
        if std::env::var_os("RETURNHUB_BLESS").is_some() {
            std::fs::write(PATH, &want).unwrap();
        }
        let have = std::fs::read_to_string(PATH).unwrap_or_default();
        assert_eq!(
            have, want,
            "ui/src/generated/CommandName.ts is stale; regenerate with RETURNHUB_BLESS=1"
        );
    }
}
