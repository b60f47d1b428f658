//! What Returnhub's devices and its central store say to each other, and nothing else: the
//! domain events with their versions ([`event`]), the sync and partner wire types ([`wire`]),
//! the hybrid logical clock that orders events across devices ([`hlc`]), and what a target
//! needs to carry out a return action ([`action`]). No IO.
//!
//! The hub's store, the central store and the sync worker depend on this crate; none of them
//! on another's types. View types for the window live with the hub.

pub mod action;
pub mod event;
pub mod hlc;
pub mod wire;

pub use event::{Decoded, DomainEvent, KnownEvents, EVENT_KINDS};
pub use hlc::{HlcClock, HlcStamp};
pub use wire::{RemoteEvent, SyncCursor, TrackingRecord};
