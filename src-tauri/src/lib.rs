//! The Tauri shell: parses the command line, sets up logging, opens the hub, and registers the
//! typed commands the webview may call. It holds no domain logic: every command validates its
//! input and delegates to [`returnhub_hub::Hub`], which the tests drive without a window.

mod command_names;
mod commands;
mod logging;

use std::process::ExitCode;
use std::sync::Arc;

use returnhub_hub::{Hub, HubOptions};

pub use commands::AppState;

const USAGE: &str = "\
Usage: returnhub [--version] [--help]

Opens the Returnhub bench. On first start with no configuration it opens a demo hub.

Environment:
  RETURNHUB_DATA_DIR   where the store, photos and logs live
                       (default: the platform data dir, e.g. ~/.local/share/returnhub)
  RUST_LOG             log filter, e.g. info or returnhub_hub=debug";

pub fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            println!("returnhub {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("returnhub: unknown argument '{other}'\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {}
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

    let result =
        with_commands(tauri::Builder::default(), AppState { hub }).run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the window failed");
            eprintln!("returnhub: the window failed: {e}");
            ExitCode::FAILURE
        }
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

        // Core plugin commands are not granted to the bench window.
        for cmd in [
            "plugin:window|close",
            "plugin:event|listen",
            "plugin:webview|print",
        ] {
            let response = get_ipc_response(&window, request(cmd, serde_json::json!({})));
            assert!(response.is_err(), "{cmd} must be refused");
        }
    }
}
