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

    let result = builder::<tauri::Wry>(AppState { hub }).run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the window failed");
            eprintln!("returnhub: the window failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The app with its state and commands, independent of the runtime so the mock runtime can
/// test the same wiring.
pub fn builder<R: tauri::Runtime>(state: AppState) -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::lookup_connote,
            commands::demo_connotes,
        ])
}
