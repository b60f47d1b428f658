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
    assert!(stderr(&bad).contains("unknown argument '--frobnicate'"));
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
