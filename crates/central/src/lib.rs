//! The central return store: every hub device's events (each stored once), the returns the
//! hubs expect, the retailers' configuration, tracking events, and the claim on every action
//! (it is the one dispatcher when it is configured). HTTP (axum on tokio) over a storage
//! trait; embedded SQLite by default. Links no WebKit.
//!
//! - [`storage::CentralStorage`]: the port; [`sqlite::SqliteStorage`]: the default backend.
//! - [`api`]: the routes (see `returnhub_protocol::wire` for the protocol).
//! - [`dispatch`]: the seam for the action dispatcher; [`shopify`]: Shopify behind it.
//! - [`increff`]: Increff's signed notifications in (recorded as tracking events).

pub mod api;
pub mod auth;
pub mod dispatch;
pub mod increff;
pub mod shopify;
pub mod sqlite;
pub mod storage;
pub mod upload;

pub use api::{router, serve, serve_in_background, AppState};
pub use sqlite::SqliteStorage;
pub use storage::{CentralError, CentralStorage, HeldRetry, HeldRow};
