//! The records that events carry and that both the hub and the central store keep: an order,
//! a return, a retailer's configuration, a user. The events themselves, with their versions,
//! are `returnhub_protocol::event`.

use serde::{Deserialize, Serialize};

use crate::decision::{RetailerPolicy, ReturnOption};
use crate::model::ReturnStatus;
use crate::money::Money;
use crate::rules::RuleSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: String,
    pub retailer_id: String,
    pub order_number: String,
    pub customer_name: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub tags: Vec<String>,
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
    pub lines: Vec<OrderLineRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineRecord {
    pub id: String,
    pub sku: String,
    pub ean: Option<String>,
    pub title: String,
    pub image: Option<String>,
    pub quantity: u32,
    pub unit_price: Money,
    /// This line's own discount for the whole quantity.
    pub discount: Money,
    pub product_tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecord {
    pub id: String,
    pub retailer_id: String,
    pub hub_id: String,
    pub order_id: String,
    /// portal, partner_upload, manual, loop, returns_prime, increff …
    pub source: String,
    /// The return's id at the partner it came from (Loop's return id, Increff's return order
    /// code, Returns Prime's request number); `None` for the hub's own returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: ReturnStatus,
    pub created_at: String,
    pub connotes: Vec<String>,
    pub items: Vec<ReturnItemRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnItemRecord {
    pub id: String,
    /// The item's line id at the partner the return came from (Loop's line item id,
    /// Increff's item code, Returns Prime's line item id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub order_line_id: String,
    pub quantity: u32,
    pub reason_code: String,
    pub sub_reason_code: Option<String>,
    pub comment: Option<String>,
    pub chosen_option: Option<ReturnOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetailerRecord {
    pub id: String,
    pub name: String,
    pub currency: crate::money::Currency,
    /// The retailer's home country (ISO 3166 alpha-2), as an admin set it; absent in
    /// configurations made before it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Trigger, customer choice, exchange, default outcome, QC-fail policy, credit expiry.
    pub policy: RetailerPolicy,
    /// The automated return rules (validated by the rules engine before they are stored).
    pub rules: RuleSet,
    pub reasons: Vec<ReasonRecord>,
    /// QC failure reasons added to the standard list.
    pub qc_reasons: Vec<QcReasonRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReasonRecord {
    pub code: String,
    pub label: String,
    /// The customer (or the operator) must supply a photo.
    pub requires_evidence: bool,
    pub sub_reasons: Vec<SubReasonRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SubReasonRecord {
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct QcReasonRecord {
    pub code: String,
    pub label: String,
    pub requires_photo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    /// What the user's badge scans as; unique.
    pub badge: String,
    /// An Argon2id PHC string; the PIN itself is never stored or logged.
    pub pin_hash: String,
    pub role: crate::auth::Role,
    pub active: bool,
    /// The PIN was set by an admin (enrolment or reset): the person must choose their own at
    /// their next sign-in before they can do anything else.
    #[serde(default)]
    pub must_change_pin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignOutReason {
    Manual,
    Inactivity,
}
