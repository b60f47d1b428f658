//! Increff as a dispatch [`Target`]: the Returns Processing Update (`POST /usp/return`) that
//! tells Increff (and through Increff's RMS, Clickpost) each item's QC result, and the
//! Clickpost exchange rule on Shopify: the replacement order the returns platform holds on
//! Shopify (tagged `{exchange_tag_prefix}{return id}`) is released when the returned item
//! passes QC, and loses the failed items' lines (or is cancelled whole) when it fails.
//!
//! # The processing update
//!
//! `{returnOrderCode, orderItems: [{itemCode, channelSkuCode, qcStatus, qcReason,
//! imageUrls}]}` with the headers `authUsername`, `authPassword`, `authDomainName`; a 200 with
//! an empty body is success. The return order code is the return's id at the partner
//! (`ActionContext::external_id`: for a Clickpost return, Clickpost's return reference
//! number), the item code each item's (`ActionLine::external_id`), the SKU the order line's.
//!
//! Each item's QC status follows what the bench recorded:
//! - found and passed: `PASS`, no reason;
//! - found and failed: `FAIL` with the retailer's QC reason code as recorded (Increff accepts
//!   a brand's own reasons besides its standard ones), or none if none was recorded;
//! - missing from the parcel: `FAIL` with [`REASON_ITEM_MISSING`] — nothing came back, so the
//!   partner must not pay for it or release its exchange;
//! - decided without a QC result (no inspection, or QC not recorded): `FAIL` with
//!   [`REASON_NOT_INSPECTED`], for the same reason: a partner never releases money or a
//!   replacement on an item nobody checked.
//!
//! `imageUrls` are sent for failed items only (Increff documents them as populated only for
//! a QC fail). The hub keeps photos as content hashes; the URLs are
//! `{photo_url_base}/{hash}.jpg` when the retailer's adapter setting
//! [`IncreffConfig::photo_url_base`] names where the hub's photos are published, and empty
//! otherwise (a URL Increff could not fetch would be worse than none).
//!
//! # A return Increff does not know yet
//!
//! A return routed to Increff that did not come from Increff or Clickpost (one opened at the
//! hub for a parcel with no return, or a source an admin bound to Increff) has no return
//! order code. Before its processing update the hub creates the return order (`POST
//! /return/return-orders`, orderType `CUSTOMER_RETURN`, the first connote as `awbNumber`, one
//! item per return item) under a code of its own, [`HUB_CODE_PREFIX`] + the return's id, and
//! item codes that are the hub's item ids. Items of a known return order that Increff does not
//! list (no item code) are added to it (`PUT /return/update-return-order/item`). Increff's
//! documentation gives the two paths, `orderType` and `awbNumber` only: the rest of the body
//! and the answers are assumptions (see the README): the client chooses `returnOrderCode` and
//! `itemCode`, a create of an existing code is answered 409 (the return order exists: an
//! earlier try whose answer was lost, or an earlier update of the same return), and adding an
//! item code the order already has, with the same SKU, changes nothing. Both steps are
//! therefore "make it so", like the update itself.
//!
//! # Exactly once without a read
//!
//! Increff documents no read of a processing update, so `reconcile` cannot look the effect
//! up. It does not need to: the update *sets* each item's QC state (the same status, reason
//! and images every time), so a repeat after a lost answer changes nothing at Increff. Every
//! Shopify step of the exchange rule looks before it acts (the holds still on, whether the
//! order is cancelled, each line's current quantity) and after any refusal, and does only
//! what is missing. Sending the whole action again is therefore its reconciliation:
//! [`IncreffTarget::reconcile`] answers `Ok(None)` (resend) — which is only sound because of
//! these two properties; a target without them must read its records instead.
//!
//! # Errors
//!
//! Connection refused and 429 (Increff rate-limits its standard APIs) certainly did not run:
//! [`TargetError::NotApplied`]. A 5xx, a timeout or a connection lost after the request left:
//! [`TargetError::Unknown`]. 401/403 (the credentials) and any other 4xx: refused for good,
//! [`TargetError::Permanent`] with Increff's message.

use std::collections::BTreeMap;
use std::time::Duration;

use returnhub_core::partner::ActionTarget;
use returnhub_core::trigger::{ActionDue, ActionKind};
use returnhub_protocol::action::{ActionContext, ActionLine};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dispatch::{Confirmation, Target, TargetError};
use crate::graphql::{documents, user_errors, Repeat};
use crate::shopify::{read_error, target_error, ShopifyTarget};

/// The QC reason of an item that was not in the parcel.
pub const REASON_ITEM_MISSING: &str = "ITEM_MISSING";
/// The QC reason of an item decided without a QC result.
pub const REASON_NOT_INSPECTED: &str = "NOT_INSPECTED";
/// The path of the Returns Processing Update.
pub const PROCESSING_UPDATE_PATH: &str = "/usp/return";
/// The path that creates a return order.
pub const CREATE_RETURN_ORDER_PATH: &str = "/return/return-orders";
/// The path that adds items to a return order.
pub const ADD_ITEMS_PATH: &str = "/return/update-return-order/item";
/// The start of the return order code the hub gives a return Increff does not know.
pub const HUB_CODE_PREFIX: &str = "RH-";

/// A retailer's Increff connection. `Debug` never shows the password.
#[derive(Clone)]
pub struct IncreffConfig {
    /// E.g. `https://omni.increff.com` (or a test server's `http://127.0.0.1:port`).
    pub base_url: String,
    pub username: String,
    pub password: String,
    /// Sent as `authDomainName`.
    pub domain: String,
    /// Adapter setting: where the hub's photos can be fetched, as `{base}/{hash}.jpg`. `None`:
    /// no image URLs are sent.
    pub photo_url_base: Option<String>,
}

impl std::fmt::Debug for IncreffConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncreffConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("domain", &self.domain)
            .field("photo_url_base", &self.photo_url_base)
            .finish()
    }
}

/// PASS or FAIL, as Increff spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QcStatus {
    Pass,
    Fail,
}

/// One item of a processing update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QcItem {
    pub item_code: String,
    pub channel_sku_code: String,
    pub qc_status: QcStatus,
    pub qc_reason: Option<String>,
    pub image_urls: Vec<String>,
}

/// The body of `POST /usp/return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingUpdate {
    pub return_order_code: String,
    pub order_items: Vec<QcItem>,
}

/// An item's QC status and reason as Increff is told them (see the module doc).
pub fn qc_of(line: &ActionLine) -> (QcStatus, Option<String>) {
    match &line.qc {
        Some(qc) if qc.presence == "missing" => (QcStatus::Fail, Some(REASON_ITEM_MISSING.into())),
        Some(qc) => match qc.qc.as_deref() {
            Some("pass") => (QcStatus::Pass, None),
            Some("fail") => (QcStatus::Fail, qc.qc_reason.clone()),
            _ => (QcStatus::Fail, Some(REASON_NOT_INSPECTED.into())),
        },
        None => (QcStatus::Fail, Some(REASON_NOT_INSPECTED.into())),
    }
}

/// The code Increff knows `return_id`'s return order by: the partner's own, or the one the
/// hub gives a return Increff did not send ([`HUB_CODE_PREFIX`] + the return's id).
pub fn return_order_code(return_id: &str, context: &ActionContext) -> String {
    known_code(context.external_id.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{HUB_CODE_PREFIX}{return_id}"))
}

/// An item's code at Increff: the partner's own, or the hub's item id.
pub fn item_code(line: &ActionLine) -> &str {
    known_code(line.external_id.as_deref()).unwrap_or(&line.return_item_id)
}

fn known_code(code: Option<&str>) -> Option<&str> {
    code.map(str::trim).filter(|c| !c.is_empty())
}

/// One item of a return order, as it is created or added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnOrderItem {
    pub item_code: String,
    pub channel_sku_code: String,
    pub quantity: u32,
}

/// The body of `POST /return/return-orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReturnOrder {
    pub return_order_code: String,
    /// `CUSTOMER_RETURN`: a parcel a customer sent back.
    pub order_type: String,
    pub awb_number: Option<String>,
    pub items: Vec<ReturnOrderItem>,
}

/// The body of `PUT /return/update-return-order/item`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddItems {
    pub return_order_code: String,
    pub items: Vec<ReturnOrderItem>,
}

/// What Increff must be told before a processing update can name every item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnOrderSteps {
    /// The return has no Increff code: create its return order.
    pub create: Option<CreateReturnOrder>,
    /// Items Increff's return order does not list (or, after a create found the order
    /// already there, every item): add them.
    pub add: Option<AddItems>,
}

fn order_item(line: &ActionLine) -> ReturnOrderItem {
    ReturnOrderItem {
        item_code: item_code(line).to_owned(),
        channel_sku_code: line.sku.clone(),
        quantity: line.quantity,
    }
}

/// The steps before `return_id`'s processing update (see the module doc).
pub fn return_order_steps(return_id: &str, context: &ActionContext) -> ReturnOrderSteps {
    let code = return_order_code(return_id, context);
    if known_code(context.external_id.as_deref()).is_none() {
        return ReturnOrderSteps {
            create: Some(CreateReturnOrder {
                return_order_code: code,
                order_type: "CUSTOMER_RETURN".into(),
                awb_number: context.connotes.first().cloned(),
                items: context.lines.iter().map(order_item).collect(),
            }),
            add: None,
        };
    }
    let missing: Vec<ReturnOrderItem> = context
        .lines
        .iter()
        .filter(|l| known_code(l.external_id.as_deref()).is_none())
        .map(order_item)
        .collect();
    ReturnOrderSteps {
        create: None,
        add: (!missing.is_empty()).then_some(AddItems {
            return_order_code: code,
            items: missing,
        }),
    }
}

/// The processing update for `return_id`'s items in `context`, under the codes Increff
/// knows them by ([`return_order_code`], [`item_code`]).
pub fn processing_update(
    return_id: &str,
    context: &ActionContext,
    photo_url_base: Option<&str>,
) -> ProcessingUpdate {
    let items = context
        .lines
        .iter()
        .map(|line| {
            let (qc_status, qc_reason) = qc_of(line);
            let image_urls = match (qc_status, photo_url_base, &line.qc) {
                (QcStatus::Fail, Some(base), Some(qc)) => qc
                    .photos
                    .iter()
                    .map(|hash| format!("{}/{hash}.jpg", base.trim_end_matches('/')))
                    .collect(),
                _ => Vec::new(),
            };
            QcItem {
                item_code: item_code(line).to_owned(),
                channel_sku_code: line.sku.clone(),
                qc_status,
                qc_reason,
                image_urls,
            }
        })
        .collect();
    ProcessingUpdate {
        return_order_code: return_order_code(return_id, context),
        order_items: items,
    }
}

/// How a failed exchange item finds its line on the replacement order. Clickpost's
/// replacement orders are not documented, so this is an adapter setting: a line whose custom
/// attribute `attribute` names the returned item (its Increff item code, the hub's item id,
/// or its SKU) replaces it; failing that, a line of the returned item's own SKU (a
/// like-for-like replacement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacementLines {
    pub attribute: String,
}

impl Default for ReplacementLines {
    fn default() -> Self {
        ReplacementLines {
            attribute: "_returned_item".into(),
        }
    }
}

/// A line of the replacement order as `ExchangeOrder` reads it.
#[derive(Debug, Clone)]
struct ReplacementLine {
    id: String,
    sku: String,
    quantity: u32,
    current: u32,
    attributes: Vec<(String, String)>,
}

/// The replacement order as `ExchangeOrder` reads it.
#[derive(Debug, Clone)]
struct Replacement {
    id: String,
    cancelled: bool,
    lines: Vec<ReplacementLine>,
}

impl Replacement {
    fn parse(order: &Value) -> Replacement {
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0) as u32;
        Replacement {
            id: text(order, "id"),
            cancelled: !order["cancelledAt"].is_null(),
            lines: order
                .pointer("/lineItems/nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|l| ReplacementLine {
                    id: text(l, "id"),
                    sku: text(l, "sku"),
                    quantity: count(l, "quantity"),
                    current: count(l, "currentQuantity"),
                    attributes: l["customAttributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| (text(a, "key"), text(a, "value")))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// What the QC FAIL rule does to the replacement order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FailPlan {
    /// Nothing left to do (cancelled, or the lines are at their target already).
    Done,
    CancelOrder,
    /// Lines to set to these quantities (absolute, so repeating is the same).
    SetQuantities(BTreeMap<String, u32>),
}

/// The numeric id at the end of a GID (`gid://shopify/LineItem/42` → `42`): Shopify's
/// calculated line items carry the id of the line item they edit.
fn gid_number(gid: &str) -> &str {
    gid.rsplit('/').next().unwrap_or(gid)
}

pub struct IncreffTarget {
    http: reqwest::Client,
    config: IncreffConfig,
    shop: Option<ShopifyTarget>,
    replacement: ReplacementLines,
}

impl std::fmt::Debug for IncreffTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncreffTarget")
            .field("config", &self.config)
            .field("shop", &self.shop.as_ref().map(|s| s.client().endpoint()))
            .finish()
    }
}

/// One HTTP exchange with Increff.
enum Answer {
    Ok,
    /// (HTTP status, Increff's message).
    Refused(u16, String),
}

impl IncreffTarget {
    /// A target for one retailer's Increff account; each request gives up after `timeout`.
    pub fn new(config: IncreffConfig, timeout: Duration) -> Result<IncreffTarget, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for Increff: {e}"))?;
        Ok(IncreffTarget {
            http,
            config,
            shop: None,
            replacement: ReplacementLines::default(),
        })
    }

    /// The retailer's Shopify shop, where Clickpost exchanges are held: without it, an update
    /// with an exchange item fails before anything is sent.
    pub fn with_shop(mut self, shop: ShopifyTarget) -> IncreffTarget {
        self.shop = Some(shop);
        self
    }

    pub fn with_replacement_lines(mut self, replacement: ReplacementLines) -> IncreffTarget {
        self.replacement = replacement;
        self
    }

    pub fn config(&self) -> &IncreffConfig {
        &self.config
    }

    /// Checks the credentials. Increff documents no read endpoint for an external system, so
    /// (an assumption, to revisit with Increff) this posts a processing update that names no
    /// return order and no items: Increff checks the three auth headers before the body, so a
    /// 401/403 means the credentials are wrong, and a validation refusal (400/422) or a 200
    /// means they were accepted; an update of no items of no return can change nothing.
    pub async fn test_connection(&self) -> Result<(), String> {
        let probe = ProcessingUpdate {
            return_order_code: String::new(),
            order_items: vec![],
        };
        match self.post(&probe).await {
            Ok(Answer::Ok) | Ok(Answer::Refused(400 | 422, _)) => Ok(()),
            Ok(Answer::Refused(status @ (401 | 403), message)) => Err(format!(
                "Increff refused the credentials (HTTP {status}: {message}); check the \
                 username, password and domain"
            )),
            Ok(Answer::Refused(status, message)) => Err(format!(
                "Increff answered HTTP {status} ({message}) at {}{PROCESSING_UPDATE_PATH}; \
                 check the base URL",
                self.base()
            )),
            Err(e) => Err(match e {
                TargetError::NotApplied(m)
                | TargetError::Unknown(m)
                | TargetError::Permanent(m) => {
                    format!("Increff could not be reached: {m}")
                }
            }),
        }
    }

    fn base(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    async fn post(&self, update: &ProcessingUpdate) -> Result<Answer, TargetError> {
        self.call(reqwest::Method::POST, PROCESSING_UPDATE_PATH, update)
            .await
    }

    /// One request to Increff with the three auth headers; see the module doc for how each
    /// failure is classed.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer, TargetError> {
        let url = format!("{}{path}", self.base());
        let body = serde_json::to_vec(body).map_err(|e| {
            TargetError::Permanent(format!(
                "the body for Increff {path} cannot be encoded: {e}"
            ))
        })?;
        let response = self
            .http
            .request(method, &url)
            .header("authUsername", &self.config.username)
            .header("authPassword", &self.config.password)
            .header("authDomainName", &self.config.domain)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(TargetError::NotApplied(format!(
                    "Increff {path}: could not connect: {}",
                    without_url(&e)
                )))
            }
            Err(e) => {
                return Err(TargetError::Unknown(format!(
                    "Increff {path}: {} after the request was sent: {}",
                    if e.is_timeout() {
                        "timed out"
                    } else {
                        "the connection failed"
                    },
                    without_url(&e)
                )))
            }
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err(TargetError::Unknown(format!(
                    "Increff {path}: the answer broke off (HTTP {status}): {}",
                    without_url(&e)
                )))
            }
        };
        if status.is_success() {
            return Ok(Answer::Ok);
        }
        let message = increff_message(&body);
        if status.as_u16() == 429 {
            return Err(TargetError::NotApplied(format!(
                "Increff {path}: rate limited (HTTP 429): {message}"
            )));
        }
        if status.is_server_error() {
            return Err(TargetError::Unknown(format!(
                "Increff {path}: HTTP {status}: {message}"
            )));
        }
        Ok(Answer::Refused(status.as_u16(), message))
    }

    /// Sends the processing update once.
    async fn update(&self, update: &ProcessingUpdate) -> Result<(), TargetError> {
        match self.post(update).await? {
            Answer::Ok => Ok(()),
            Answer::Refused(status, message) => Err(refused(
                status,
                message,
                &format!(
                    "the processing update of return order {}",
                    update.return_order_code
                ),
            )),
        }
    }

    /// Creates and completes the return order Increff is to be told about (see the module
    /// doc): a create answered 409 found it there already, so every item is added instead.
    async fn prepare_return_order(&self, steps: ReturnOrderSteps) -> Result<(), TargetError> {
        let mut add = steps.add;
        if let Some(create) = steps.create {
            match self
                .call(reqwest::Method::POST, CREATE_RETURN_ORDER_PATH, &create)
                .await?
            {
                Answer::Ok => {}
                Answer::Refused(409, _) => {
                    tracing::info!(code = %create.return_order_code, "return order already at Increff (an earlier try or update created it)");
                    add = Some(AddItems {
                        return_order_code: create.return_order_code,
                        items: create.items,
                    });
                }
                Answer::Refused(status, message) => {
                    return Err(refused(
                        status,
                        message,
                        &format!("the new return order {}", create.return_order_code),
                    ))
                }
            }
        }
        if let Some(add) = add {
            match self
                .call(reqwest::Method::PUT, ADD_ITEMS_PATH, &add)
                .await?
            {
                Answer::Ok => {}
                Answer::Refused(status, message) => {
                    return Err(refused(
                        status,
                        message,
                        &format!("the items added to return order {}", add.return_order_code),
                    ))
                }
            }
        }
        Ok(())
    }

    fn shop(&self) -> Result<&ShopifyTarget, TargetError> {
        self.shop.as_ref().ok_or_else(|| {
            TargetError::Permanent(
                "the return has an exchange item, but the retailer's Shopify shop is not \
                 connected, so its held replacement order cannot be released or cancelled; \
                 nothing was sent"
                    .into(),
            )
        })
    }

    /// The replacement order of `action`'s exchange.
    async fn replacement(&self, action: &ActionDue) -> Result<Replacement, TargetError> {
        let shop = self.shop()?;
        let tag = shop.exchange_tag(&action.return_id);
        let data = shop
            .client()
            .execute(
                &documents::EXCHANGE_ORDER,
                json!({ "query": format!("tag:'{tag}'") }),
                Repeat::Safe,
            )
            .await
            .map_err(read_error)?;
        let order = data.pointer("/orders/nodes/0").ok_or_else(|| {
            TargetError::Permanent(format!(
                "no replacement order tagged {tag} on Shopify, so the exchange of return {} \
                 cannot be released or cancelled",
                action.return_id
            ))
        })?;
        for (connection, what) in [
            ("lineItems", "50 line items"),
            ("fulfillmentOrders", "20 fulfillment orders"),
        ] {
            if order[connection]["pageInfo"]["hasNextPage"] == true {
                return Err(TargetError::Permanent(format!(
                    "the replacement order {} has more than {what}, more than Returnhub reads \
                     of one: nothing was changed; take the failed items off or release it in \
                     Shopify by hand",
                    order["id"].as_str().unwrap_or_default()
                )));
            }
        }
        Ok(Replacement::parse(order))
    }

    /// The replacement line that replaces `item`.
    fn line_for<'a>(
        &self,
        order: &'a Replacement,
        item: &ActionLine,
    ) -> Option<&'a ReplacementLine> {
        let names = [
            item.external_id.as_deref(),
            Some(item.return_item_id.as_str()),
            Some(item.sku.as_str()),
        ];
        order
            .lines
            .iter()
            .find(|l| {
                l.attributes.iter().any(|(k, v)| {
                    *k == self.replacement.attribute && names.contains(&Some(v.as_str()))
                })
            })
            .or_else(|| order.lines.iter().find(|l| l.sku == item.sku))
    }

    /// What QC FAIL of `failed` does to `order`, with `keeping` other exchange items that
    /// keep it (passed, or not decided yet).
    fn fail_plan(
        &self,
        order: &Replacement,
        failed: &[&ActionLine],
        keeping: usize,
    ) -> Result<FailPlan, TargetError> {
        if order.cancelled {
            return Ok(FailPlan::Done);
        }
        if keeping == 0 {
            // Every exchanged item failed: the replacement order goes.
            return Ok(FailPlan::CancelOrder);
        }
        let mut taken: BTreeMap<&str, u32> = BTreeMap::new();
        for item in failed {
            let line = self.line_for(order, item).ok_or_else(|| {
                TargetError::Permanent(format!(
                    "item {} ({}) failed QC, but no line of the replacement order {} replaces \
                     it (no line attribute {} names it and no line has its SKU); cancel that \
                     line on Shopify by hand",
                    item.return_item_id, item.sku, order.id, self.replacement.attribute
                ))
            })?;
            *taken.entry(line.id.as_str()).or_default() += item.quantity;
        }
        // Targets from what was bought (not from what is left): the same every time.
        let targets: BTreeMap<String, u32> = order
            .lines
            .iter()
            .map(|l| {
                let take = taken.get(l.id.as_str()).copied().unwrap_or(0);
                (l.id.clone(), l.quantity.saturating_sub(take))
            })
            .collect();
        if targets.values().all(|&q| q == 0) {
            return Ok(FailPlan::CancelOrder);
        }
        let changes: BTreeMap<String, u32> = order
            .lines
            .iter()
            .filter(|l| taken.contains_key(l.id.as_str()) && l.current > targets[&l.id])
            .map(|l| (l.id.clone(), targets[&l.id]))
            .collect();
        Ok(if changes.is_empty() {
            FailPlan::Done
        } else {
            FailPlan::SetQuantities(changes)
        })
    }

    async fn cancel_order(&self, action: &ActionDue, order_id: &str) -> Result<(), TargetError> {
        let shop = self.shop()?;
        let data = shop
            .client()
            .execute(
                &documents::ORDER_CANCEL,
                json!({
                    "orderId": order_id,
                    "notifyCustomer": shop.settings().notify_customer,
                    "staffNote": format!("Returnhub: the returned item failed QC ({})", action.key),
                }),
                // Not idempotent on Shopify's side: an unknown outcome is reconciled (the
                // resend reads cancelledAt first).
                Repeat::Unsafe,
            )
            .await
            .map_err(target_error)?;
        if let Some(errors) = user_errors(&data["orderCancel"]) {
            // Refused because an earlier try (its answer lost) cancelled it already?
            if self.replacement(action).await?.cancelled {
                tracing::info!(key = %action.key, order = %order_id, "replacement order already cancelled (an earlier try took effect)");
                return Ok(());
            }
            return Err(TargetError::Permanent(format!(
                "Shopify refused to cancel the replacement order {order_id}: {errors}"
            )));
        }
        Ok(())
    }

    async fn set_quantities(
        &self,
        action: &ActionDue,
        order_id: &str,
        changes: &BTreeMap<String, u32>,
    ) -> Result<(), TargetError> {
        let shop = self.shop()?;
        let client = shop.client();
        let refused = |step: &str, errors: String| {
            TargetError::Permanent(format!(
                "Shopify refused to {step} the replacement order {order_id}: {errors}"
            ))
        };
        // Begin and set-quantity only stage changes: repeating them is harmless.
        let data = client
            .execute(
                &documents::ORDER_EDIT_BEGIN,
                json!({ "id": order_id }),
                Repeat::Safe,
            )
            .await
            .map_err(target_error)?;
        let payload = &data["orderEditBegin"];
        if let Some(errors) = user_errors(payload) {
            return Err(refused("edit", errors));
        }
        let calculated = payload
            .pointer("/calculatedOrder/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                TargetError::Unknown("orderEditBegin returned no calculated order".into())
            })?
            .to_owned();
        let calculated_lines: Vec<&str> = payload
            .pointer("/calculatedOrder/lineItems/nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l["id"].as_str())
            .collect();
        for (line, quantity) in changes {
            let calculated_line = calculated_lines
                .iter()
                .find(|c| gid_number(c) == gid_number(line))
                .ok_or_else(|| {
                    TargetError::Permanent(format!(
                        "the edit of replacement order {order_id} has no line for {line}"
                    ))
                })?;
            let data = client
                .execute(
                    &documents::ORDER_EDIT_SET_QUANTITY,
                    json!({ "id": calculated, "lineItemId": calculated_line, "quantity": quantity }),
                    Repeat::Safe,
                )
                .await
                .map_err(target_error)?;
            if let Some(errors) = user_errors(&data["orderEditSetQuantity"]) {
                return Err(refused("take the failed items off", errors));
            }
        }
        let data = client
            .execute(
                &documents::ORDER_EDIT_COMMIT,
                json!({
                    "id": calculated,
                    "notifyCustomer": shop.settings().notify_customer,
                    "staffNote": format!("Returnhub: returned items failed QC ({})", action.key),
                }),
                // The commit is the effect: an unknown outcome is reconciled (the resend reads
                // the lines' current quantities first).
                Repeat::Unsafe,
            )
            .await
            .map_err(target_error)?;
        if let Some(errors) = user_errors(&data["orderEditCommit"]) {
            let now = self.replacement(action).await?;
            let done = changes
                .iter()
                .all(|(id, q)| now.lines.iter().any(|l| &l.id == id && l.current <= *q));
            if done {
                tracing::info!(key = %action.key, order = %order_id, "failed lines already taken off (an earlier try took effect)");
                return Ok(());
            }
            return Err(refused("commit the edit of", errors));
        }
        Ok(())
    }

    /// The Clickpost exchange rule for the return's exchanged items: the lines of items that
    /// do not ship (QC failed, or decided as anything but an exchange) off the replacement
    /// order (or the whole order cancelled) first, then, if any item passed and is exchanged,
    /// the holds released — in that order, so a failed item's replacement never ships.
    /// Returns the replacement order's id.
    async fn exchange_rule(
        &self,
        action: &ActionDue,
        exchanged: &[&ActionLine],
        rest: Rest,
    ) -> Result<String, TargetError> {
        let (passed, failed): (Vec<&ActionLine>, Vec<&ActionLine>) =
            exchanged.iter().partition(|l| ships(l));
        let order = self.replacement(action).await?;
        // What else keeps the order: this update's passes, the return's earlier ones, and
        // items still to be decided.
        let keeping = passed.len() + usize::from(rest.shipping) + usize::from(rest.undecided);
        if !failed.is_empty() {
            match self.fail_plan(&order, &failed, keeping)? {
                FailPlan::Done => {}
                FailPlan::CancelOrder => self.cancel_order(action, &order.id).await?,
                FailPlan::SetQuantities(changes) => {
                    self.set_quantities(action, &order.id, &changes).await?
                }
            }
        }
        // Released only once every exchanged item of the return is decided: a replacement
        // ships whole, and an item under review may yet fail.
        if (!passed.is_empty() || rest.shipping) && !rest.undecided {
            if order.cancelled {
                return Err(TargetError::Permanent(format!(
                    "item(s) passed QC, but the replacement order {} is cancelled on Shopify",
                    order.id
                )));
            }
            self.shop()?.exchange(action).await?;
        }
        Ok(order.id)
    }
}

/// Whether the customer asked to exchange the item (Clickpost made its replacement line at
/// the request), or it was decided as an exchange.
fn asked_to_exchange(line: &ActionLine) -> bool {
    line.outcome.as_deref() == Some("exchange") || line.chosen_option.as_deref() == Some("exchange")
}

/// Whether the item's replacement ships: it passed QC and is exchanged.
fn ships(line: &ActionLine) -> bool {
    qc_of(line).0 == QcStatus::Pass && line.outcome.as_deref() == Some("exchange")
}

/// The return's exchanged items outside this update.
#[derive(Debug, Default, Clone, Copy)]
struct Rest {
    /// One is not decided yet (held for review).
    undecided: bool,
    /// One passed and is exchanged.
    shipping: bool,
}

/// A refusal of `what` for good: the credentials, or Increff's reason.
fn refused(status: u16, message: String, what: &str) -> TargetError {
    if matches!(status, 401 | 403) {
        return TargetError::Permanent(format!(
            "Increff refused the credentials (HTTP {status}: {message}); check the retailer's \
             Increff username, password and domain, then retry"
        ));
    }
    TargetError::Permanent(format!("Increff refused {what} (HTTP {status}): {message}"))
}

/// Increff's message from an error body (`message`, `error` or `description` of a JSON
/// object, else the text), at most 300 characters.
fn increff_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            ["message", "error", "description"]
                .iter()
                .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_else(|| text.trim().to_owned());
    let message = if message.is_empty() {
        "no message".to_owned()
    } else {
        message
    };
    message.chars().take(300).collect()
}

fn without_url(e: &reqwest::Error) -> String {
    let message = e.to_string();
    match e.url() {
        Some(url) => message.replace(url.as_str(), "<url>"),
        None => message,
    }
}

/// A non-partner action, or one routed elsewhere since it became due.
fn not_for_increff(action: &ActionDue, context: &ActionContext) -> Option<TargetError> {
    if action.kind != ActionKind::PartnerUpdate {
        return Some(TargetError::Permanent(format!(
            "action {} is a {} for Shopify, not an update for Increff; only QC updates of \
             returns from Increff or Clickpost go to Increff",
            action.key,
            action.kind.name()
        )));
    }
    if context.target != ActionTarget::Increff {
        return Some(TargetError::Permanent(format!(
            "return {} from {} is now actioned through {}, not Increff; retry it so it goes \
             there",
            action.return_id,
            context.source,
            context.target.name()
        )));
    }
    None
}

impl Target for IncreffTarget {
    fn name(&self) -> &str {
        "increff"
    }

    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        if let Some(e) = not_for_increff(action, context) {
            return Err(e);
        }
        let update = processing_update(
            &action.return_id,
            context,
            self.config.photo_url_base.as_deref(),
        );
        // Every item the customer asked to exchange has a line on the replacement order
        // (Clickpost made it at the request), whatever was decided: a QC fail under any
        // QC-fail policy (no action, a supervisor's decision after review, a rule's refund)
        // must take that line off as surely as a failed exchange does.
        let exchanged: Vec<&ActionLine> = context
            .lines
            .iter()
            .filter(|l| asked_to_exchange(l))
            .collect();
        if !exchanged.is_empty() {
            // Before anything is sent: an exchange that cannot be carried out fails whole.
            self.shop()?;
        }
        self.prepare_return_order(return_order_steps(&action.return_id, context))
            .await?;
        self.update(&update).await?;
        if exchanged.is_empty() {
            return Ok(Confirmation::new(update.return_order_code));
        }
        // The return's other exchanged items: one not decided yet (held for review) keeps
        // the order held and uncancelled until it is; one that passed earlier keeps it alive.
        let siblings = context.others.iter().filter(|l| asked_to_exchange(l));
        let rest = siblings.fold(Rest::default(), |rest, l| Rest {
            undecided: rest.undecided
                || matches!(l.outcome.as_deref(), None | Some("hold_for_review")),
            shipping: rest.shipping || ships(l),
        });
        let order_id = self.exchange_rule(action, &exchanged, rest).await?;
        Ok(Confirmation::new(format!(
            "{} {order_id}",
            update.return_order_code
        )))
    }

    /// Always "no effect found, send again" (after the routing checks): see the module doc —
    /// Increff has no read of an update, and a resend of this action changes nothing that an
    /// earlier try changed.
    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        match not_for_increff(action, context) {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use returnhub_protocol::action::ItemQc;

    fn line(id: &str, qc: Option<(&str, Option<&str>, Option<&str>)>) -> ActionLine {
        ActionLine {
            return_item_id: id.into(),
            order_line_id: "gid://shopify/LineItem/1".into(),
            quantity: 1,
            disposition: None,
            sku: format!("SKU-{id}"),
            external_id: Some(format!("IC-{id}")),
            qc: qc.map(|(presence, qc, reason)| ItemQc {
                presence: presence.into(),
                qc: qc.map(str::to_owned),
                qc_reason: reason.map(str::to_owned),
                grade: None,
                note: None,
                photos: vec!["ab12".into()],
                inspected_at: "2026-11-20T00:00:00Z".into(),
            }),
            outcome: Some("refund".into()),
            chosen_option: None,
        }
    }

    #[test]
    fn qc_follows_the_bench_and_refuses_what_nobody_checked() {
        let pass = line("a", Some(("found", Some("pass"), None)));
        let fail = line("b", Some(("found", Some("fail"), Some("STAIN_DAMAGE"))));
        let missing = line("c", Some(("missing", None, None)));
        let unchecked = line("d", None);
        let no_qc = line("e", Some(("found", None, None)));
        assert_eq!(qc_of(&pass), (QcStatus::Pass, None));
        assert_eq!(qc_of(&fail), (QcStatus::Fail, Some("STAIN_DAMAGE".into())));
        assert_eq!(
            qc_of(&missing),
            (QcStatus::Fail, Some(REASON_ITEM_MISSING.into()))
        );
        assert_eq!(
            qc_of(&unchecked),
            (QcStatus::Fail, Some(REASON_NOT_INSPECTED.into()))
        );
        assert_eq!(
            qc_of(&no_qc),
            (QcStatus::Fail, Some(REASON_NOT_INSPECTED.into()))
        );
    }

    fn context(external_id: Option<&str>, lines: Vec<ActionLine>) -> ActionContext {
        ActionContext {
            order_id: "gid://shopify/Order/9".into(),
            lines,
            others: vec![],
            retries: 0,
            source: "orphan_intake".into(),
            target: ActionTarget::Increff,
            external_id: external_id.map(str::to_owned),
            connotes: vec!["AWB1".into(), "AWB2".into()],
        }
    }

    #[test]
    fn a_return_increff_does_not_know_is_created_under_the_hub_s_codes() {
        let mut uncoded = line("a", Some(("found", Some("pass"), None)));
        uncoded.external_id = None;
        let mut blank = line("b", Some(("found", Some("fail"), Some("TAG_MISSING"))));
        blank.external_id = Some("  ".into());
        let context = context(None, vec![uncoded, blank]);
        let steps = return_order_steps("ret-7", &context);
        let create = steps.create.expect("created");
        assert_eq!(create.return_order_code, "RH-ret-7");
        assert_eq!(create.order_type, "CUSTOMER_RETURN");
        assert_eq!(create.awb_number.as_deref(), Some("AWB1"));
        let codes: Vec<&str> = create.items.iter().map(|i| i.item_code.as_str()).collect();
        assert_eq!(codes, ["a", "b"]);
        assert_eq!(steps.add, None);
        let update = processing_update("ret-7", &context, None);
        assert_eq!(update.return_order_code, "RH-ret-7");
        let codes: Vec<&str> = update
            .order_items
            .iter()
            .map(|i| i.item_code.as_str())
            .collect();
        assert_eq!(
            codes,
            ["a", "b"],
            "the update names the items as they were created"
        );
        let body = serde_json::to_value(&create).unwrap();
        assert_eq!(body["items"][0]["channelSkuCode"], "SKU-a");
        assert_eq!(body["awbNumber"], "AWB1");
    }

    #[test]
    fn only_the_items_increff_does_not_list_are_added() {
        let known = line("a", Some(("found", Some("pass"), None)));
        let mut extra = line("b", Some(("missing", None, None)));
        extra.external_id = None;
        let steps = return_order_steps("ret-8", &context(Some("CP-8"), vec![known.clone(), extra]));
        assert_eq!(steps.create, None);
        let add = steps.add.expect("added");
        assert_eq!(add.return_order_code, "CP-8");
        assert_eq!(add.items.len(), 1);
        assert_eq!(add.items[0].item_code, "b");
        let all_known = return_order_steps("ret-8", &context(Some("CP-8"), vec![known]));
        assert_eq!(all_known, ReturnOrderSteps::default());
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let config = IncreffConfig {
            base_url: "https://omni.example".into(),
            username: "hub".into(),
            password: "s3cr3t-pa55".into(),
            domain: "kowhai".into(),
            photo_url_base: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-pa55"), "{shown}");
        let target = IncreffTarget::new(config, Duration::from_secs(1)).unwrap();
        assert!(!format!("{target:?}").contains("s3cr3t-pa55"));
    }

    #[test]
    fn error_messages_come_from_increff_s_body() {
        assert_eq!(
            increff_message(br#"{"message":"Invalid item code"}"#),
            "Invalid item code"
        );
        assert_eq!(increff_message(b"  Bad request \n"), "Bad request");
        assert_eq!(increff_message(b""), "no message");
    }
}
