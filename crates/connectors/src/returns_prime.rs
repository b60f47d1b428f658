//! Returns Prime: a lookup source (which request a parcel belongs to) and a dispatch
//! [`Target`] (the hub's QC verdict per item, after which Returns Prime carries out the
//! refund, store credit or exchange itself).
//!
//! # What is documented, and what is assumed
//!
//! Documented: the `x-rp-token` header; `GET /return-exchange/v2` with the filters `page`,
//! `awb`, `request_number` (answer `data.list`, `data.hasNextPage`); `GET
//! /return-exchange/v2/{id}`; the request object (`request_number`, `status`,
//! `received.status`, `rejected.status`, `line_items[{id, original_product.sku,
//! shop_price.return_quantity, shipping[{awb}], refund.status}]`).
//!
//! Assumed, because Returns Prime's processing-update (QC) endpoint is *not found* in what we
//! have: it takes the body of Increff's Returns Processing Update,
//! `{returnOrderCode, orderItems[{itemCode, channelSkuCode, qcStatus: PASS|FAIL, qcReason,
//! imageUrls}]}`, POSTed to [`ReturnsPrimeConfig::qc_path`] (default
//! [`DEFAULT_QC_PATH`]). The path and the names of the two id fields are settings, so the
//! adapter is corrected by configuration, not by a release, once Returns Prime confirms them.
//! A 404 on that path fails the action with a sentence naming the `qc_path` setting.
//!
//! Also assumed, for reconciliation: after an update Returns Prime's request shows
//! `received.status = true` and, per line item, `qc.status` (PASS | FAIL) as it was sent.
//! Reconciliation answers from that record only. Were Returns Prime not to show `qc.status`,
//! reconciliation would find nothing and an update whose answer was lost would be sent
//! again; that repeat sets the same verdict on the same items.
//!
//! Also assumed, to find the request's order at the hub: the request object carries the shop
//! order's name as `order_name` (or `order.name`). The request object documents no order
//! reference, but the list takes an `order_name` filter, so the field is taken to exist;
//! [`RpRequest::order_name`] is `None` when it does not, and the parse never fails for it.
//!
//! Where a getter of a request answers with an envelope (`{status, data: {...}}`) the
//! request is `data`; a bare request object is taken as it is.
//!
//! # Webhooks: none; we poll
//!
//! Returns Prime's `request/received` webhook is reportedly unsigned: anyone who can reach
//! the hub could post a request that never existed and have the hub expect (or process)
//! it. So there is no receiver here. The hub looks requests up itself when a parcel is
//! scanned ([`ReturnsPrimeClient::find_by_awb`]), over an authenticated connection it opened.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use returnhub_core::model::ReturnStatus;
use returnhub_core::record::{OrderRecord, ReturnItemRecord, ReturnRecord};
use returnhub_core::trigger::{ActionDue, ActionKind};
use returnhub_protocol::action::{ActionContext, ActionLine};
use serde_json::{json, Value};

use crate::clock::{Backoff, Clock};
use crate::dispatch::{Confirmation, Target, TargetError};

/// The QC path used until Returns Prime confirms the real one; `{id}` is the request id.
pub const DEFAULT_QC_PATH: &str = "/return-exchange/v2/{id}/qc";
/// The list of requests (documented).
pub const LIST_PATH: &str = "/return-exchange/v2";
/// The source name of returns that came from Returns Prime.
pub const SOURCE: &str = "returns_prime";
/// The reason code of an item whose line item carries no reason.
pub const NO_REASON: &str = "NOT_GIVEN";
/// Pages of a filtered list followed at most: an AWB or request number matches a handful of
/// requests, so more means the filter was ignored, and reading every request is not a lookup.
pub const MAX_PAGES: u32 = 50;

/// How the hub reaches one retailer's Returns Prime account. The token is a secret (kept in
/// the keyring by whoever configures it): `Debug` never prints it, and it is only ever sent
/// in the `x-rp-token` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ReturnsPrimeConfig {
    /// `https://…` (plain `http://` only to this machine, for a simulator).
    pub base_url: String,
    pub token: String,
    /// Where the processing update is POSTed; `{id}` is replaced by the request id. An
    /// adapter setting because the endpoint is not documented (see the module doc).
    pub qc_path: String,
    /// The body's field naming the request (Increff's `returnOrderCode`).
    pub qc_return_field: String,
    /// Each item's field naming the line item (Increff's `itemCode`).
    pub qc_item_field: String,
    /// Per HTTP exchange.
    pub timeout: Duration,
    /// Retries of a read that failed short of a refusal (a read changes nothing).
    pub read_retries: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl std::fmt::Debug for ReturnsPrimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReturnsPrimeConfig")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("qc_path", &self.qc_path)
            .field("qc_return_field", &self.qc_return_field)
            .field("qc_item_field", &self.qc_item_field)
            .field("timeout", &self.timeout)
            .field("read_retries", &self.read_retries)
            .finish()
    }
}

impl ReturnsPrimeConfig {
    /// A configuration with the default QC path and field names and the real API's timings.
    pub fn new(base_url: &str, token: &str) -> ReturnsPrimeConfig {
        ReturnsPrimeConfig {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            qc_path: DEFAULT_QC_PATH.into(),
            qc_return_field: "returnOrderCode".into(),
            qc_item_field: "itemCode".into(),
            timeout: Duration::from_secs(30),
            read_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(10),
        }
    }

    /// The problems an admin must fix before these settings can be used.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(rest) = self.base_url.strip_prefix("http://") {
            let host = rest.split([':', '/']).next().unwrap_or_default();
            if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                problems.push(format!(
                    "{} is not encrypted: use https:// (plain http only to this machine)",
                    self.base_url
                ));
            }
        } else if !self.base_url.starts_with("https://") || self.base_url.len() <= 8 {
            problems.push(format!(
                "{:?} is not a Returns Prime API address: it must start with https://",
                self.base_url
            ));
        }
        if self.token.is_empty() || self.token.chars().any(|c| c.is_whitespace()) {
            problems.push("the Returns Prime token is empty or contains spaces".into());
        }
        if !self.qc_path.starts_with('/') {
            problems.push(format!(
                "the qc_path setting {:?} must start with /",
                self.qc_path
            ));
        }
        for (name, value) in [
            ("qc_return_field", &self.qc_return_field),
            ("qc_item_field", &self.qc_item_field),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("the {name} setting is empty"));
            }
        }
        problems
    }
}

/// Why a lookup failed, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpError {
    #[error("the Returns Prime settings cannot be used: {0}")]
    Config(String),
    /// Not reached, timed out, throttled, or a server error, after the retries (the
    /// sentence says which).
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "Returns Prime refused the token (x-rp-token): copy it again from Returns Prime's API settings"
    )]
    TokenRefused,
    /// A 404: Returns Prime has no such thing (named in the sentence).
    #[error("Returns Prime has no {0}")]
    NotFound(String),
    #[error("Returns Prime refused the request: {0}")]
    Refused(String),
    /// The answer is not shaped as documented.
    #[error("Returns Prime's answer is not as documented: {0}")]
    Malformed(String),
    #[error(
        "Returns Prime request {request} returns SKU {sku} (line item {line_item}), which is not on order {order}"
    )]
    UnknownSku {
        request: String,
        line_item: String,
        sku: String,
        order: String,
    },
}

/// A Returns Prime request, as much of it as the hub uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpRequest {
    pub id: String,
    pub request_number: String,
    pub status: String,
    /// `received.status`.
    pub received: bool,
    /// `rejected.status`.
    pub rejected: bool,
    /// `created_at` when Returns Prime gives it.
    pub created_at: Option<String>,
    /// The shop order the request returns (its name, as the shop shows it: "#1042"), from
    /// `order_name` or `order.name`. Assumed: the request object documents no order
    /// reference, but the list takes an `order_name` filter, so the request is taken to
    /// carry it. `None` when neither field is there (or is not text): the operator then
    /// picks the order by hand.
    pub order_name: Option<String>,
    pub line_items: Vec<RpLineItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpLineItem {
    pub id: String,
    /// `original_product.sku`.
    pub sku: String,
    /// `shop_price.return_quantity`.
    pub return_quantity: u32,
    /// `shipping[].awb`.
    pub awbs: Vec<String>,
    /// `refund.status`.
    pub refund_status: Option<String>,
    /// `reason` when Returns Prime gives one (undocumented; used as the item's reason code).
    pub reason: Option<String>,
    /// `qc.status` (PASS | FAIL): the verdict Returns Prime holds for the item (assumed; see
    /// the module doc).
    pub qc_status: Option<String>,
}

impl RpRequest {
    /// Every AWB of the request, first seen first, without repeats.
    pub fn awbs(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.line_items
            .iter()
            .flat_map(|l| &l.awbs)
            .filter(|awb| seen.insert(awb.as_str()))
            .cloned()
            .collect()
    }

    /// Parses one request object.
    pub fn parse(v: &Value) -> Result<RpRequest, RpError> {
        let object = v.as_object().ok_or_else(|| {
            RpError::Malformed(format!("a request is {}, not an object", kind_of(v)))
        })?;
        let id = id_text(object.get("id"))
            .ok_or_else(|| RpError::Malformed("a request has no id".into()))?;
        let bad = |what: String| RpError::Malformed(format!("request {id}: {what}"));
        let request_number = id_text(object.get("request_number"))
            .ok_or_else(|| bad("it has no request_number".into()))?;
        let status = match object.get("status") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(bad(format!("its status is {}", kind_of(other)))),
        };
        let flag = |field: &str| -> Result<bool, RpError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Object(o)) => truthy(o.get("status"))
                    .ok_or_else(|| bad(format!("{field}.status is not true or false"))),
                Some(other) => Err(bad(format!("{field} is {}, not an object", kind_of(other)))),
            }
        };
        let received = flag("received")?;
        let rejected = flag("rejected")?;
        let items = object
            .get("line_items")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("it has no line_items list".into()))?;
        let mut line_items = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            line_items.push(
                RpLineItem::parse(item)
                    .map_err(|what| bad(format!("line item {} ({what})", n + 1)))?,
            );
        }
        Ok(RpRequest {
            id,
            request_number,
            status,
            received,
            rejected,
            created_at: object
                .get("created_at")
                .and_then(Value::as_str)
                .map(str::to_owned),
            order_name: order_name(object),
            line_items,
        })
    }
}

impl RpLineItem {
    fn parse(v: &Value) -> Result<RpLineItem, String> {
        if !v.is_object() {
            return Err(format!("it is {}, not an object", kind_of(v)));
        }
        let id = id_text(v.get("id")).ok_or("it has no id")?;
        let sku = v
            .pointer("/original_product/sku")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{id} has no original_product.sku"))?
            .to_owned();
        let return_quantity = match v.pointer("/shop_price/return_quantity") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
        .ok_or_else(|| format!("{id} has no positive shop_price.return_quantity"))?;
        let awbs = match v.get("shipping") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|s| id_text(s.get("awb")))
                .filter(|awb| !awb.is_empty())
                .collect(),
            Some(other) => return Err(format!("{id}'s shipping is {}", kind_of(other))),
        };
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(RpLineItem {
            id,
            sku,
            return_quantity,
            awbs,
            refund_status: text("/refund/status"),
            reason: text("/reason"),
            qc_status: text("/qc/status").map(|s| s.to_ascii_uppercase()),
        })
    }
}

/// `order_name`, else `order.name`: text or a number, trimmed; anything else is no name (the
/// field is assumed, so an odd one must not make the whole request unreadable).
fn order_name(object: &serde_json::Map<String, Value>) -> Option<String> {
    id_text(object.get("order_name")).or_else(|| {
        object
            .get("order")
            .and_then(Value::as_object)
            .and_then(|order| id_text(order.get("name")))
    })
}

/// An id Returns Prime may send as a number or a string.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> Option<bool> {
    match v {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The hub's side of a return it is to expect: its ids, and where and when.
#[derive(Debug, Clone, Copy)]
pub struct ExpectAt<'a> {
    /// The hub's id for the new return; its items are `{return_id}-i1`, `-i2`, ….
    pub return_id: &'a str,
    pub retailer_id: &'a str,
    pub hub_id: &'a str,
    /// RFC 3339: when the hub learned of it (Returns Prime's own time format is not
    /// documented, so it is not used).
    pub created_at: &'a str,
}

/// The return the hub expects for `request`: source `returns_prime`, the request id as its
/// external id, one item per line item (with the line item id as its external id) on the
/// order line that `line_for_sku` names, and the request's AWBs as its connotes. A SKU the
/// order does not have is an error naming it: an item on no order line cannot be refunded.
pub fn expected_return(
    request: &RpRequest,
    at: ExpectAt<'_>,
    order_id: &str,
    line_for_sku: impl Fn(&str) -> Option<String>,
) -> Result<ReturnRecord, RpError> {
    if request.line_items.is_empty() {
        return Err(RpError::Malformed(format!(
            "request {} has no line items, so there is nothing to expect",
            request.id
        )));
    }
    let mut items = Vec::with_capacity(request.line_items.len());
    for (n, line) in request.line_items.iter().enumerate() {
        let order_line_id = line_for_sku(&line.sku).ok_or_else(|| RpError::UnknownSku {
            request: request.request_number.clone(),
            line_item: line.id.clone(),
            sku: line.sku.clone(),
            order: order_id.to_owned(),
        })?;
        items.push(ReturnItemRecord {
            id: format!("{}-i{}", at.return_id, n + 1),
            external_id: Some(line.id.clone()),
            order_line_id,
            quantity: line.return_quantity,
            reason_code: line.reason.clone().unwrap_or_else(|| NO_REASON.into()),
            sub_reason_code: None,
            comment: None,
            chosen_option: None,
        });
    }
    Ok(ReturnRecord {
        id: at.return_id.to_owned(),
        retailer_id: at.retailer_id.to_owned(),
        hub_id: at.hub_id.to_owned(),
        order_id: order_id.to_owned(),
        source: SOURCE.into(),
        external_id: Some(request.id.clone()),
        status: ReturnStatus::Expected,
        created_at: at.created_at.to_owned(),
        connotes: request.awbs(),
        items,
    })
}

/// [`expected_return`] against an imported order: each SKU on the order's first line with
/// that SKU.
pub fn expected_return_for_order(
    request: &RpRequest,
    at: ExpectAt<'_>,
    order: &OrderRecord,
) -> Result<ReturnRecord, RpError> {
    expected_return(request, at, &order.id, |sku| {
        order
            .lines
            .iter()
            .find(|l| l.sku == sku)
            .map(|l| l.id.clone())
    })
}

/// The verdict Returns Prime is told for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemVerdict {
    /// Returns Prime's line item id.
    pub line_item_id: String,
    pub sku: String,
    /// PASS or FAIL.
    pub qc_status: &'static str,
    pub qc_reason: Option<String>,
}

/// Each item's verdict for Returns Prime.
///
/// Returns Prime acts on `qcStatus` (PASS: the refund, credit or exchange goes ahead; FAIL:
/// it is refused), so it carries what the hub *decided*: PASS when the item's outcome gives
/// the customer something (refund, credit note, exchange), FAIL for No Action. The
/// inspection is told in `qcReason`: the bench's QC reason when one was recorded;
/// otherwise `ITEM_MISSING` for an item not in the parcel, `NOT_INSPECTED` for an item
/// nobody inspected, and `NO_ACTION` for a FAIL with none of these. So a missing item is
/// FAIL unless a supervisor chose to give something for it, and an item decided without an
/// inspection follows that decision.
///
/// Errors (nothing is sent): an item with no decision, or with no Returns Prime line item
/// id (the return was not created from a Returns Prime request).
pub fn verdicts(action: &ActionDue, context: &ActionContext) -> Result<Vec<ItemVerdict>, String> {
    context
        .lines
        .iter()
        .map(|line| verdict(action, line))
        .collect()
}

fn verdict(action: &ActionDue, line: &ActionLine) -> Result<ItemVerdict, String> {
    let line_item_id = line.external_id.clone().ok_or_else(|| {
        format!(
            "item {} (SKU {}) of return {} has no Returns Prime line item id: the return was not \
             created from a Returns Prime request, so bind its source to another target",
            line.return_item_id, line.sku, action.return_id
        )
    })?;
    let pass = match line.outcome.as_deref() {
        Some("refund" | "credit_note" | "exchange") => true,
        Some("no_action") => false,
        Some(other) => {
            return Err(format!(
                "item {} of return {} is decided {other}, which Returns Prime cannot be told",
                line.return_item_id, action.return_id
            ))
        }
        None => {
            return Err(format!(
                "item {} of return {} has no decision, so there is no verdict to send",
                line.return_item_id, action.return_id
            ))
        }
    };
    let qc_reason = match &line.qc {
        Some(qc) if qc.qc_reason.is_some() => qc.qc_reason.clone(),
        Some(qc) if qc.presence == "missing" => Some("ITEM_MISSING".into()),
        None => Some("NOT_INSPECTED".into()),
        Some(_) if !pass => Some("NO_ACTION".into()),
        Some(_) => None,
    };
    Ok(ItemVerdict {
        line_item_id,
        sku: line.sku.clone(),
        qc_status: if pass { "PASS" } else { "FAIL" },
        qc_reason,
    })
}

/// The processing update's path (the `qc_path` setting with the request id) and body.
pub fn processing_update(
    config: &ReturnsPrimeConfig,
    request_id: &str,
    verdicts: &[ItemVerdict],
) -> (String, Value) {
    let path = config.qc_path.replace("{id}", &encode_segment(request_id));
    let items: Vec<Value> = verdicts
        .iter()
        .map(|v| {
            let mut item = json!({
                "channelSkuCode": v.sku,
                "qcStatus": v.qc_status,
                "qcReason": v.qc_reason,
                // The hub keeps photos by content hash, with no address Returns Prime could
                // fetch: none are sent.
                "imageUrls": [],
            });
            item[config.qc_item_field.as_str()] = json!(v.line_item_id);
            item
        })
        .collect();
    let mut body = json!({ "orderItems": items });
    body[config.qc_return_field.as_str()] = json!(request_id);
    (path, body)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (an id in a path).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP exchange that did not end in a 2xx with a body.
#[derive(Debug)]
enum Failure {
    /// Certainly not applied: the connection was refused, or Returns Prime throttled it.
    NotSent(String),
    /// It may have been applied: timeout, dropped connection, 5xx.
    Unknown(String),
    /// Returns Prime answered 4xx.
    Refused { status: u16, message: String },
}

impl Failure {
    fn into_rp(self, what: &str) -> RpError {
        match self {
            Failure::NotSent(m) | Failure::Unknown(m) => RpError::Unavailable(m),
            Failure::Refused {
                status: 401 | 403, ..
            } => RpError::TokenRefused,
            Failure::Refused { status: 404, .. } => RpError::NotFound(what.to_owned()),
            Failure::Refused { message, .. } => RpError::Refused(message),
        }
    }
}

/// Reads and writes one Returns Prime account.
pub struct ReturnsPrimeClient {
    config: ReturnsPrimeConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
}

impl std::fmt::Debug for ReturnsPrimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReturnsPrimeClient")
            .field("config", &self.config)
            .finish()
    }
}

impl ReturnsPrimeClient {
    pub fn new(
        config: ReturnsPrimeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<ReturnsPrimeClient, RpError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(RpError::Config(problems.join("; ")));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| RpError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ReturnsPrimeClient {
            backoff: Backoff::new(config.retry_base, config.retry_max, 0x52_50),
            http,
            clock,
            config,
        })
    }

    pub fn config(&self) -> &ReturnsPrimeConfig {
        &self.config
    }

    /// Proves the address and token work with the cheapest documented read, the first page
    /// of requests. `Err` is one sentence for the admin.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self.list_page(&[], 1).await {
            Ok(_) => Ok(()),
            Err(RpError::NotFound(_)) => Err(format!(
                "{} has no Returns Prime request list at {LIST_PATH}: check the API address",
                self.config.base_url
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The requests whose line items were shipped under `awb`, following every page. The
    /// filter's answers are checked: a request that does not carry the AWB is left out.
    pub async fn find_by_awb(&self, awb: &str) -> Result<Vec<RpRequest>, RpError> {
        let awb = awb.trim();
        let all = self.list_all(&[("awb", awb)]).await?;
        Ok(all
            .into_iter()
            .filter(|r| r.line_items.iter().any(|l| l.awbs.iter().any(|a| a == awb)))
            .collect())
    }

    /// The request numbered `number` (as customers and Returns Prime's screens show it).
    pub async fn find_by_request_number(&self, number: &str) -> Result<Option<RpRequest>, RpError> {
        let number = number.trim();
        let all = self.list_all(&[("request_number", number)]).await?;
        Ok(all.into_iter().find(|r| r.request_number == number))
    }

    /// The request by its id.
    pub async fn get(&self, id: &str) -> Result<RpRequest, RpError> {
        let path = format!("{LIST_PATH}/{}", encode_segment(id));
        let body = self.read(&path, &[], &format!("request {id}")).await?;
        let request = match body.get("data") {
            Some(data) if data.is_object() => data,
            Some(Value::Null) | None if body.get("line_items").is_some() => &body,
            _ => {
                return Err(RpError::Malformed(format!(
                    "the answer for request {id} has no request object"
                )))
            }
        };
        let parsed = RpRequest::parse(request)?;
        if parsed.id != id {
            return Err(RpError::Malformed(format!(
                "asked for request {id}, Returns Prime answered with request {}",
                parsed.id
            )));
        }
        Ok(parsed)
    }

    async fn list_all(&self, filters: &[(&str, &str)]) -> Result<Vec<RpRequest>, RpError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let (list, more) = self.list_page(filters, page).await?;
            all.extend(list);
            if !more {
                return Ok(all);
            }
        }
        Err(RpError::Malformed(format!(
            "the list filtered by {} still has more after {MAX_PAGES} pages: the filter seems ignored",
            filters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    async fn list_page(
        &self,
        filters: &[(&str, &str)],
        page: u32,
    ) -> Result<(Vec<RpRequest>, bool), RpError> {
        let page_text = page.to_string();
        let mut query: Vec<(&str, &str)> = filters.to_vec();
        query.push(("page", &page_text));
        let body = self
            .read(
                LIST_PATH,
                &query,
                &format!("request list at {LIST_PATH} (page {page})"),
            )
            .await?;
        let list = body
            .pointer("/data/list")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                RpError::Malformed(format!("page {page} of the request list has no data.list"))
            })?;
        let more = truthy(body.pointer("/data/hasNextPage")).ok_or_else(|| {
            RpError::Malformed(format!(
                "page {page} of the request list has a data.hasNextPage that is not true or false"
            ))
        })?;
        let list = list
            .iter()
            .map(RpRequest::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((list, more))
    }

    /// A GET, retried on anything short of a refusal (a read changes nothing). `what` names
    /// the thing read, for a 404.
    async fn read(&self, path: &str, query: &[(&str, &str)], what: &str) -> Result<Value, RpError> {
        let mut attempt = 0u32;
        loop {
            let request = self
                .http
                .get(format!("{}{path}", self.config.base_url))
                .query(query);
            match self.exchange(request).await {
                Ok(bytes) => {
                    return serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                        RpError::Malformed(format!("the answer for {what} is not JSON ({e})"))
                    })
                }
                Err(f @ Failure::Refused { .. }) => return Err(f.into_rp(what)),
                Err(f) if attempt >= self.config.read_retries => return Err(f.into_rp(what)),
                Err(f) => {
                    let delay = self.backoff.delay(attempt);
                    attempt += 1;
                    tracing::debug!(path, retry = attempt, error = ?f, "retrying a Returns Prime read");
                    self.clock.sleep(delay).await;
                }
            }
        }
    }

    /// Sends one request; a 2xx answer's body, or how it failed.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, Failure> {
        let answer = request
            .header("x-rp-token", &self.config.token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) if e.is_connect() => return Err(Failure::NotSent(transport(&e))),
            Err(e) => return Err(Failure::Unknown(transport(&e))),
        };
        let status = answer.status();
        let bytes = match answer.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if status.is_success() => return Err(Failure::Unknown(transport(&e))),
            Err(_) => Vec::new(),
        };
        if status.is_success() {
            return Ok(bytes);
        }
        if status.as_u16() == 429 {
            return Err(Failure::NotSent(
                "Returns Prime is throttling requests (HTTP 429)".into(),
            ));
        }
        if status.is_server_error() {
            return Err(Failure::Unknown(format!(
                "Returns Prime answered HTTP {status}"
            )));
        }
        Err(Failure::Refused {
            status: status.as_u16(),
            message: format!("HTTP {}: {}", status.as_u16(), message_of(&bytes)),
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Vec<u8>, Failure> {
        let bytes = serde_json::to_vec(body).map_err(|e| Failure::Refused {
            status: 0,
            message: format!("cannot encode the update: {e}"),
        })?;
        let request = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        self.exchange(request).await
    }
}

/// Returns Prime's own words from an error body: `message`, `error` or `errors`, else the
/// text itself, cut short.
fn message_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let from_json = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| {
        ["message", "error", "errors"]
            .iter()
            .find_map(|k| match v.get(*k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other @ (Value::Array(_) | Value::Object(_))) => Some(other.to_string()),
                _ => None,
            })
    });
    let message = from_json.unwrap_or_else(|| text.trim().to_owned());
    let message: String = message.chars().take(300).collect();
    if message.is_empty() {
        "no message".into()
    } else {
        message
    }
}

/// A transport error as a sentence, without the URL (which names the account's address).
fn transport(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    if e.is_timeout() {
        "Returns Prime did not answer in time".into()
    } else if e.is_connect() {
        format!("Returns Prime could not be reached{detail}")
    } else {
        format!("the connection to Returns Prime failed{detail}")
    }
}

/// Returns Prime as a dispatch target: the `PartnerUpdate` of a return from Returns Prime.
#[derive(Debug)]
pub struct ReturnsPrimeTarget {
    client: ReturnsPrimeClient,
}

impl ReturnsPrimeTarget {
    pub fn new(client: ReturnsPrimeClient) -> ReturnsPrimeTarget {
        ReturnsPrimeTarget { client }
    }

    pub fn client(&self) -> &ReturnsPrimeClient {
        &self.client
    }

    /// See [`ReturnsPrimeClient::test_connection`].
    pub async fn test_connection(&self) -> Result<(), String> {
        self.client.test_connection().await
    }

    fn request_id<'a>(
        &self,
        action: &ActionDue,
        context: &'a ActionContext,
    ) -> Result<&'a str, TargetError> {
        if action.kind != ActionKind::PartnerUpdate {
            return Err(TargetError::Permanent(format!(
                "action {} is a {} for Shopify, not an update for Returns Prime; bind the \
                 return's source to Shopify on F5 and retry it",
                action.key,
                action.kind.name()
            )));
        }
        context.external_id.as_deref().ok_or_else(|| {
            TargetError::Permanent(format!(
                "return {} has no Returns Prime request id (it was not created from a Returns \
                 Prime request), so Returns Prime cannot be told about it",
                action.return_id
            ))
        })
    }

    /// Whether Returns Prime's record shows these verdicts: the request received and each
    /// item's `qc.status` as sent.
    async fn shows(
        &self,
        request_id: &str,
        verdicts: &[ItemVerdict],
    ) -> Result<Option<Confirmation>, TargetError> {
        let request = match self.client.get(request_id).await {
            Ok(r) => r,
            Err(RpError::Unavailable(m)) => return Err(TargetError::Unknown(m)),
            Err(RpError::NotFound(_)) => {
                return Err(TargetError::Permanent(format!(
                    "Returns Prime has no request {request_id} any more"
                )))
            }
            Err(e) => return Err(TargetError::Permanent(e.to_string())),
        };
        let applied = request.received
            && verdicts.iter().all(|v| {
                request
                    .line_items
                    .iter()
                    .any(|l| l.id == v.line_item_id && l.qc_status.as_deref() == Some(v.qc_status))
            });
        Ok(applied.then(|| Confirmation::new(format!("returns_prime:{}", request.id))))
    }

    /// A refusal that this update's own effect would explain (an earlier try landed, then
    /// Returns Prime refused a repeat): look before calling it a failure.
    async fn unless_applied(
        &self,
        request_id: &str,
        verdicts: &[ItemVerdict],
        refusal: TargetError,
    ) -> Result<Confirmation, TargetError> {
        match self.shows(request_id, verdicts).await {
            Ok(Some(found)) => {
                tracing::info!(
                    request = request_id,
                    "the QC update exists already (an earlier try took effect)"
                );
                Ok(found)
            }
            Ok(None) => Err(refusal),
            // Could not look: the refusal stands only if it is certain; keep it unknown.
            Err(TargetError::Unknown(m)) => Err(TargetError::Unknown(format!(
                "{refusal}; and whether an earlier try took effect could not be read: {m}"
            ))),
            Err(_) => Err(refusal),
        }
    }
}

impl Target for ReturnsPrimeTarget {
    fn name(&self) -> &str {
        SOURCE
    }

    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        let request_id = self.request_id(action, context)?;
        let verdicts = verdicts(action, context).map_err(TargetError::Permanent)?;
        let (path, body) = processing_update(&self.client.config, request_id, &verdicts);
        match self.client.post(&path, &body).await {
            Ok(answer) => {
                // A 2xx that says in words it did nothing (`success` or `status` false).
                if let Ok(v) = serde_json::from_slice::<Value>(&answer) {
                    let said_no = ["success", "status"]
                        .iter()
                        .any(|k| v.get(*k) == Some(&Value::Bool(false)));
                    if said_no {
                        let refusal = TargetError::Permanent(format!(
                            "Returns Prime refused the QC update of request {request_id}: {}",
                            message_of(&answer)
                        ));
                        return self.unless_applied(request_id, &verdicts, refusal).await;
                    }
                }
                Ok(Confirmation::new(format!("returns_prime:{request_id}")))
            }
            Err(Failure::NotSent(m)) => Err(TargetError::NotApplied(m)),
            Err(Failure::Unknown(m)) => Err(TargetError::Unknown(m)),
            Err(Failure::Refused {
                status: 401 | 403, ..
            }) => Err(TargetError::Permanent(RpError::TokenRefused.to_string())),
            Err(Failure::Refused { status: 404, .. }) => {
                // The path, or the request? A request that reads fine means the path is wrong.
                match self.client.get(request_id).await {
                    Ok(_) => Err(TargetError::Permanent(format!(
                        "the configured QC path {} was not found at Returns Prime (HTTP 404): \
                         correct the qc_path setting",
                        self.client.config.qc_path
                    ))),
                    Err(RpError::NotFound(_)) => Err(TargetError::Permanent(format!(
                        "Returns Prime has no request {request_id}"
                    ))),
                    Err(e) => Err(TargetError::NotApplied(format!(
                        "the QC path answered HTTP 404 and request {request_id} could not be read \
                         to tell why: {e}"
                    ))),
                }
            }
            Err(Failure::Refused { message, .. }) => {
                let refusal = TargetError::Permanent(format!(
                    "Returns Prime refused the QC update of request {request_id}: {message}"
                ));
                self.unless_applied(request_id, &verdicts, refusal).await
            }
        }
    }

    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        let request_id = self.request_id(action, context)?;
        let verdicts = verdicts(action, context).map_err(TargetError::Permanent)?;
        self.shows(request_id, &verdicts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let config = ReturnsPrimeConfig::new("https://rp.example", "rp_secret_token_123");
        let shown = format!("{config:?}");
        assert!(!shown.contains("rp_secret_token_123"), "{shown}");
        assert!(shown.contains("rp.example"));
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(ReturnsPrimeConfig::new("http://127.0.0.1:9", "t")
            .problems()
            .is_empty());
        let far = ReturnsPrimeConfig::new("http://rp.example", "t").problems();
        assert!(far[0].contains("not encrypted"), "{far:?}");
        let mut bad_path = ReturnsPrimeConfig::new("https://rp.example", "t");
        bad_path.qc_path = "qc".into();
        assert!(bad_path.problems()[0].contains("qc_path"));
    }

    fn request_with(extra: Value) -> Value {
        let mut v = json!({
            "id": 9001,
            "request_number": "RP-1",
            "line_items": [{
                "id": 500001,
                "original_product": { "sku": "SKU-1" },
                "shop_price": { "return_quantity": 1 },
            }],
        });
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }

    #[test]
    fn order_name_is_read_from_order_name_or_order_dot_name() {
        let parse = |extra| RpRequest::parse(&request_with(extra)).unwrap().order_name;
        assert_eq!(
            parse(json!({ "order_name": " #1042 " })),
            Some("#1042".into())
        );
        assert_eq!(
            parse(json!({ "order": { "name": "#1043" } })),
            Some("#1043".into())
        );
        assert_eq!(
            parse(json!({ "order_name": "#1042", "order": { "name": "#9" } })),
            Some("#1042".into()),
            "order_name first"
        );
        assert_eq!(parse(json!({ "order_name": 1044 })), Some("1044".into()));
    }

    #[test]
    fn a_missing_or_odd_order_name_is_none_and_the_request_still_parses() {
        let parse = |extra| RpRequest::parse(&request_with(extra)).unwrap();
        for extra in [
            json!({}),
            json!({ "order_name": null }),
            json!({ "order_name": "  " }),
            json!({ "order_name": { "x": 1 } }),
            json!({ "order": "#1042" }),
            json!({ "order": { "id": 5 } }),
            json!({ "order": null, "order_name": [] }),
        ] {
            let r = parse(extra.clone());
            assert_eq!(r.order_name, None, "{extra}");
            assert_eq!(r.request_number, "RP-1");
            assert_eq!(r.line_items.len(), 1);
        }
        // An empty order_name falls back to order.name.
        assert_eq!(
            parse(json!({ "order_name": "", "order": { "name": "#7" } })).order_name,
            Some("#7".into())
        );
    }

    #[test]
    fn ids_are_encoded_in_paths() {
        assert_eq!(encode_segment("12 3/4"), "12%203%2F4");
        assert_eq!(encode_segment("RP-1_a.b~"), "RP-1_a.b~");
    }
}
