//! The hub's local store: one SQLite file per hub device.
//!
//! Invariants this crate protects:
//! - The file is ours (`application_id`) and its schema is one this binary knows: an older one
//!   is upgraded in place, a newer one is refused untouched.
//! - WAL with `synchronous=FULL`: a write that returned is on disk, so the operator is told
//!   only what survives a power cut.
//! - One write path ([`Store::write`]): events are appended and their effects (read models,
//!   outbox rows) applied in the same IMMEDIATE transaction, all or nothing.

mod bench;
#[cfg(feature = "bench-data")]
pub mod bulk;
mod config;
mod deliveries;
mod migrate;
mod outbox;
mod read;
mod reports;
mod search;
mod sync;
mod write;

use std::path::{Path, PathBuf};

use returnhub_protocol::event::KnownEvents;
use returnhub_protocol::hlc::{HlcClock, HlcStamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use bench::{
    AuditRow, ExceptionRow, InspectionRow, LabelRow, OrderSummaryRow, TrackingInRow, TrackingOutRow,
};
pub use config::{HistoryRow, OrderLineRow, UserRow};
pub use deliveries::{
    receipt_event_id, Attempt, DeliveryRow, DeliverySummary, TrackingForward, DELIVERY_SUMMARIES,
    RECEIPT_QUEUED,
};
pub use migrate::{MIGRATIONS, SCHEMA_VERSION};
pub use outbox::{ActionRow, ImportCursor, OutboxState, ShopConnectionRow, RETRIES_SQL};
pub use read::DemoConnote;
pub use reports::{
    AwaitedRow, ExceptionAgeRow, GradeRow, MoneyRow, QcRow, ReasonRow, RefusedRow, ReportQuery,
    SpanRow, ThroughputRow, TroubledActionRow, UploadRow, REFUSED_LIMIT, TROUBLED_LIMIT,
};
pub use search::{ReturnHit, ReturnQuery, SearchResult, COMMON_KEY};
pub use sync::{ApplyOutcome, HeldCounts, HeldEvent, HeldState, PendingSync};
pub use write::{AppendedEvent, EventInput, WriteTx};

/// "RHUB" in ASCII: marks the SQLite file as a Returnhub hub store.
pub const APPLICATION_ID: i32 = 0x5248_5542;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a Returnhub store (application_id {found:#x}); refusing to touch it")]
    NotOurs { path: PathBuf, found: i32 },
    #[error(
        "{path} has schema version {found}, newer than this Returnhub understands ({supported}); \
         install a newer Returnhub. The file was not changed."
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("a write changed the store without recording an event; it was rolled back")]
    NoEvent,
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Connection,
    device_id: String,
    clock: HlcClock,
    /// The event kinds and versions this store applies; others pulled are held.
    known: KnownEvents,
    /// Held events were retried since this store was opened (they can only become readable
    /// when a newer build opens the file).
    held_retried: bool,
}

/// Prepared statements kept per connection (the store has about 200 distinct ones).
const STATEMENT_CACHE: usize = 512;

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = Self::open_checked(path)?;
        migrate::apply(&mut conn, SCHEMA_VERSION)?;
        Self::with_connection(conn)
    }

    /// Creates or upgrades the file at `path` only up to schema `version`, and closes it. The
    /// tests use it to build every earlier schema and upgrade it.
    pub fn migrate_file_to(path: &Path, version: u32) -> Result<()> {
        let mut conn = Self::open_checked(path)?;
        migrate::apply(&mut conn, version.min(SCHEMA_VERSION))
    }

    /// Opens the file and refuses it if it is not ours or is newer than we understand; then
    /// sets the pragmas every connection needs.
    fn open_checked(path: &Path) -> Result<Connection> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        // Room for every statement the store prepares: a scan alone runs some fifty, and
        // with rusqlite's default of 16 the cache turned over on each scan, so that parsing
        // SQL took two fifths of it.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Fails here, not later, when the file is not a database at all.
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(open_err)?;
        let found_version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        let has_tables: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table')",
                [],
                |r| r.get(0),
            )
            .map_err(open_err)?;
        if app_id != APPLICATION_ID && (app_id != 0 || has_tables) {
            return Err(StoreError::NotOurs {
                path: path.to_path_buf(),
                found: app_id,
            });
        }
        if found_version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: found_version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(open_err)?;
        if app_id == 0 {
            conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                .map_err(open_err)?;
        }
        Ok(conn)
    }

    fn with_connection(conn: Connection) -> Result<Store> {
        let device_id = match conn
            .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::now_v7().simple().to_string();
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('device_id', ?1)",
                    [&id],
                )?;
                id
            }
        };
        let last: Option<String> = conn
            .query_row(
                "SELECT hlc FROM events WHERE device_id = ?1 ORDER BY seq DESC LIMIT 1",
                [&device_id],
                |r| r.get(0),
            )
            .optional()?;
        let last = last.and_then(|s| s.parse::<HlcStamp>().ok());
        let clock = HlcClock::resume(device_id.clone(), last.as_ref());
        Ok(Store {
            conn,
            device_id,
            clock,
            known: KnownEvents::this_build(),
            held_retried: false,
        })
    }

    /// Applies only the event kinds and versions in `known`: this build playing an older one,
    /// for the mixed-version tests.
    pub fn with_known_events(mut self, known: KnownEvents) -> Store {
        self.known = known;
        self.held_retried = false;
        self
    }

    /// This device's stable id, minted when the store was created.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn schema_version(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` is "ok".
    pub fn integrity_ok(&self) -> Result<bool> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(verdict == "ok")
    }

    /// A page cache of `mb` megabytes for this connection (SQLite's default is 2 MB). A bulk
    /// writer (the order import) keeps a whole batch's dirty pages in memory with it, instead
    /// of spilling and rewriting them mid-transaction.
    pub fn set_cache_mb(&self, mb: u32) -> Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{}", u64::from(mb) * 1024))?;
        Ok(())
    }

    /// The directory the store's file is in (the system's temporary directory for a store
    /// in memory): where scratch files of large jobs go, on the same disk as the store.
    pub fn directory(&self) -> PathBuf {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir)
    }

    /// Direct read access for reports and tests. Writes must go through [`Store::write`].
    pub fn reader(&self) -> &Connection {
        &self.conn
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
}
