//! The returns hub's domain, pure: no Tauri, no SQLite, no network, no clock. Time and
//! randomness are passed in by the caller so every decision is reproducible in a test.

pub mod decision;
pub mod dryrun;
pub mod money;
pub mod refund;
pub mod rules;
pub mod trigger;

pub use money::{Currency, Money, MoneyError};
