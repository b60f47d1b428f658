//! The binary's command line and its start-up errors. These fail before any window opens, so
//! they need no display: the store and the configuration are checked first.

use std::process::{Command, Output};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");

fn run(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(APP)
        .args(args)
        .env("RETURNHUB_DATA_DIR", data_dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the app with `args` on `data_dir` (demo off), `input` on its standard input.
fn run_with_stdin(args: &[&str], data_dir: &std::path::Path, input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(APP)
        .args(args)
        .env("RETURNHUB_DATA_DIR", data_dir)
        .env_remove("RETURNHUB_DEMO")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["--version"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("returnhub {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run(&["--help"], dir.path());
    assert!(String::from_utf8_lossy(&help.stdout).contains("RETURNHUB_DATA_DIR"));
    let bad = run(&["--frobnicate"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unexpected argument '--frobnicate'"),
        "{}",
        stderr(&bad)
    );
    let init_help = run(&["init", "--help"], dir.path());
    let init_help = String::from_utf8_lossy(&init_help.stdout);
    for flag in ["--hub-id", "--join", "--central-url"] {
        assert!(init_help.contains(flag), "{flag} in {init_help}");
    }
    assert!(
        !init_help.contains("--pin"),
        "the refused flag is not offered"
    );
    // Nothing was created for a --version or a usage error.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn a_store_that_cannot_be_opened_is_a_clear_message_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("returnhub.db");
    let junk = vec![b'x'; 4096];
    std::fs::write(&db, &junk).unwrap();
    let out = run(&[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("returnhub: cannot open the store at"), "{err}");
    assert!(err.contains("returnhub.db"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), junk, "the file is untouched");
}

#[test]
fn a_newer_store_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("returnhub.db");
    drop(returnhub_store::Store::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let out = run(&[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("schema version 999") && err.contains("install a newer Returnhub"),
        "{err}"
    );
}

#[test]
fn a_bad_hub_toml_names_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hub.toml"), "[hub]\nid = \"CHC\"\n").unwrap();
    let out = run(&[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("hub.toml") && err.contains("missing field `name`"),
        "{err}"
    );
}

/// `returnhub init` sets a hub up from a script: the PIN from standard input, never argv;
/// a second init is refused; the app then opens that hub (not the demo, not setup).
#[test]
fn init_sets_up_a_hub_once_with_the_pin_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let init = |pin: &str| {
        run_with_stdin(
            &[
                "init",
                "--hub-id",
                "chc",
                "--hub-name",
                "Christchurch returns",
                "--admin-badge",
                "AD-77",
                "--admin-name",
                "Tama Evans",
            ],
            dir.path(),
            &format!("{pin}\n"),
        )
    };
    let weak = init("12");
    assert_eq!(weak.status.code(), Some(1));
    assert!(
        stderr(&weak).contains("6 to 12 digits"),
        "{}",
        stderr(&weak)
    );
    assert!(!dir.path().join("hub.toml").exists());

    let out = init("864209");
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Set up hub CHC (Christchurch returns)"),
        "{said}"
    );
    let toml = std::fs::read_to_string(dir.path().join("hub.toml")).unwrap();
    assert!(
        toml.contains("id = \"CHC\"") && !toml.contains("864209"),
        "{toml}"
    );

    let again = init("864209");
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("set up"), "{}", stderr(&again));

    let pin_flag = run(&["init", "--pin", "1234"], dir.path());
    assert_eq!(pin_flag.status.code(), Some(2));

    // The store holds the admin, with the PIN hashed.
    let hub =
        returnhub_hub::Hub::open(returnhub_hub::HubOptions::in_dir(dir.path()).unwrap()).unwrap();
    let session = hub.sign_in("AD-77", "864209").unwrap();
    assert_eq!(session.name, "Tama Evans");
    assert!(!hub.app_info().unwrap().demo);
}

/// `returnhub init --join`: another station of a hub that is set up (at a real central store
/// in this process), its token from standard input; the hub's id and name come from the
/// central store.
#[test]
fn init_join_makes_a_station_of_a_hub_that_is_set_up() {
    use std::sync::Arc;

    use returnhub_central::CentralStorage;
    let tmp = tempfile::tempdir().unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let storage = Arc::new(returnhub_central::SqliteStorage::open(&tmp.path().join("c")).unwrap());
    let url = returnhub_central::serve_in_background(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        returnhub_central::AppState {
            storage: storage.clone(),
            clock: Arc::new(now),
            shop_secrets: None,
            shopify_client: Default::default(),
        },
    )
    .unwrap();
    let first_token = storage.create_device("NPE", "bench-1", now()).unwrap();
    let second_token = storage.create_device("NPE", "bench-2", now()).unwrap();
    let first = returnhub_hub::Hub::open(
        returnhub_hub::HubOptions::in_dir(&tmp.path().join("one")).unwrap(),
    )
    .unwrap();
    first
        .set_up(&returnhub_hub::SetupInput {
            hub_id: "NPE".into(),
            hub_name: "Napier returns".into(),
            station: None,
            admin_badge: "AD-1".into(),
            admin_name: "Ana".into(),
            pin: "246813".into(),
            pin_again: "246813".into(),
            central_url: Some(url.clone()),
            central_insecure: false,
            device_token: Some(first_token),
        })
        .unwrap();
    assert!(first.start_sync_if_configured().unwrap());
    first.sign_in("AD-1", "246813").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while first.sync_view().unwrap().queue_depth > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first station never synced"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let two = tmp.path().join("two");
    let out = run_with_stdin(
        &[
            "init",
            "--join",
            "--central-url",
            &url,
            "--station",
            "bench-2",
        ],
        &two,
        &format!("{second_token}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("joined hub NPE (Napier returns)"), "{said}");
    let toml = std::fs::read_to_string(two.join("hub.toml")).unwrap();
    assert!(
        toml.contains("id = \"NPE\"") && toml.contains(&url),
        "{toml}"
    );
}
