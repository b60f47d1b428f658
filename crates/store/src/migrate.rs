//! Schema migrations: SQL files under `migrations/hub/`, embedded in the binary, applied in
//! order at open. The version lives in `PRAGMA user_version`; each migration and its version
//! bump commit together, so a crash mid-upgrade leaves the previous version intact.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// Every migration, in order. Never edit a shipped one: add the next.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../../migrations/hub/0001_init.sql"),
    ),
    (
        "0002_bench",
        include_str!("../../../migrations/hub/0002_bench.sql"),
    ),
    (
        "0003_connectors",
        include_str!("../../../migrations/hub/0003_connectors.sql"),
    ),
    (
        "0004_partners",
        include_str!("../../../migrations/hub/0004_partners.sql"),
    ),
    (
        "0005_tracking_in",
        include_str!("../../../migrations/hub/0005_tracking_in.sql"),
    ),
    (
        "0006_webhook_totals",
        include_str!("../../../migrations/hub/0006_webhook_totals.sql"),
    ),
    (
        "0007_go_live",
        include_str!("../../../migrations/hub/0007_go_live.sql"),
    ),
    (
        "0008_sign_in_failures",
        include_str!("../../../migrations/hub/0008_sign_in_failures.sql"),
    ),
    (
        "0009_event_versions",
        include_str!("../../../migrations/hub/0009_event_versions.sql"),
    ),
    (
        "0010_receipt_lookup",
        include_str!("../../../migrations/hub/0010_receipt_lookup.sql"),
    ),
    (
        "0011_paid_back",
        include_str!("../../../migrations/hub/0011_paid_back.sql"),
    ),
    (
        "0012_connote_order",
        include_str!("../../../migrations/hub/0012_connote_order.sql"),
    ),
    (
        "0013_return_search",
        include_str!("../../../migrations/hub/0013_return_search.sql"),
    ),
    (
        "0014_report_milestones",
        include_str!("../../../migrations/hub/0014_report_milestones.sql"),
    ),
    (
        "0015_upload_refusals",
        include_str!("../../../migrations/hub/0015_upload_refusals.sql"),
    ),
    (
        "0016_quarter_hour_counters",
        include_str!("../../../migrations/hub/0016_quarter_hour_counters.sql"),
    ),
    (
        "0017_webhook_bodies",
        include_str!("../../../migrations/hub/0017_webhook_bodies.sql"),
    ),
];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn apply(conn: &mut Connection, target: u32) -> Result<()> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as u32 + 1;
        if version <= current || version > target {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .and_then(|_| tx.execute_batch(&format!("PRAGMA user_version = {version}")))
            .map_err(|source| StoreError::Migration { name, source })?;
        tx.commit()?;
        tracing::info!(migration = name, version, "applied store migration");
    }
    Ok(())
}
