//! Opening and upgrading real SQLite files: every earlier schema version upgrades to the same
//! schema a fresh store gets, data survives the upgrade, and files we must not touch (newer
//! schema, another application's database, not a database) are refused unchanged.

use std::path::Path;

use returnhub_store::{Store, StoreError, APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use rusqlite::Connection;

fn schema_of(path: &Path) -> Vec<(String, String, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn pragma_i64(path: &Path, pragma: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_fresh_store_has_the_latest_schema_and_our_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.integrity_ok().unwrap());
    let conn = store.reader();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (journal.as_str(), sync, fk),
        ("wal", 2, 1),
        "WAL, synchronous=FULL, FKs on"
    );
    drop(store);
    assert_eq!(
        pragma_i64(&path, "application_id"),
        i64::from(APPLICATION_ID)
    );
    // The device id is minted once and kept.
    let a = Store::open(&path).unwrap().device_id().to_string();
    let b = Store::open(&path).unwrap().device_id().to_string();
    assert_eq!(a, b);
    assert_eq!(a.len(), 32);
}

#[test]
fn every_earlier_version_upgrades_to_the_fresh_schema() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh).unwrap());
    let expected = schema_of(&fresh);
    assert!(expected.iter().any(|(_, name, _)| name == "events"));

    for version in 0..SCHEMA_VERSION {
        let path = dir.path().join(format!("v{version}.db"));
        Store::migrate_file_to(&path, version).unwrap();
        assert_eq!(pragma_i64(&path, "user_version"), i64::from(version));
        // A row written under the old schema survives the upgrade.
        if version >= 1 {
            Connection::open(&path)
                .unwrap()
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('marker', 'kept')",
                    [],
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        if version >= 1 {
            assert_eq!(store.meta("marker").unwrap().as_deref(), Some("kept"));
        }
        drop(store);
        assert_eq!(schema_of(&path), expected, "upgrade from v{version}");
    }
    assert_eq!(MIGRATIONS.len() as u32, SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    drop(Store::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path)
        .err()
        .expect("a newer schema must be refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported, .. } if found == newer && supported == SCHEMA_VERSION)
    );
    let message = err.to_string();
    assert!(
        message.contains("newer") && message.contains("not changed"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file must not change"
    );
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
        .unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::NotOurs { .. }), "{err}");
    assert!(err.to_string().contains("not a Returnhub store"));

    let tagged = dir.path().join("tagged.db");
    Connection::open(&tagged)
        .unwrap()
        .execute_batch("PRAGMA application_id = 1234;")
        .unwrap();
    assert!(matches!(
        Store::open(&tagged),
        Err(StoreError::NotOurs { found: 1234, .. })
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, b"this is not an sqlite file, just text that is long enough to matter...............................................").unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).err().expect("refused");
    let message = err.to_string();
    assert!(message.contains("cannot open the store at"), "{message}");
    assert!(message.contains("garbage.db"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_directory_that_cannot_be_written_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("hub.db");
    let err = Store::open(&path).err().expect("refused");
    assert!(
        err.to_string().contains("cannot open the store at"),
        "{err}"
    );
}
