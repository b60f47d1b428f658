//! The returns hub's domain, pure: no Tauri, no SQLite, no network, no clock. Time and
//! randomness are passed in by the caller so every decision is reproducible in a test.

pub mod event;
pub mod hlc;
pub mod model;
pub mod money;
pub mod time;

pub use event::DomainEvent;
pub use hlc::{HlcClock, HlcStamp};
pub use money::{Currency, Money, MoneyError};
