//! What the hub's tests share.

use returnhub_core::bench::Presence;
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_hub::InspectRequest;

/// An item found and passed, grade A, with nothing else recorded.
pub fn passed(return_id: &str, item_id: &str) -> InspectRequest {
    InspectRequest {
        return_id: return_id.into(),
        item_id: item_id.into(),
        presence: Presence::Found,
        qc: Some(QcStatus::Pass),
        qc_reason: None,
        grade: Some(Grade::A),
        disposition: None,
        note: None,
        photos: vec![],
    }
}
