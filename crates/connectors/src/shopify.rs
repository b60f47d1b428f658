//! Shopify as a dispatch [`Target`]: refunds (`refundCreate` with `@idempotent`), credit
//! notes as gift cards (`giftCardCreate` with a code derived from the idempotency key), and
//! exchanges by releasing the held replacement order. Reconciliation reads Shopify's own
//! records: the order's refunds (by the key in the note), the gift card by its code, the
//! replacement order's holds.

use returnhub_core::money::{Currency, Money};
use returnhub_core::time::{rfc3339, UnixMillis, MS_PER_DAY};
use returnhub_core::trigger::{
    ActionDue, ActionKind, CreditNoteVia, ExchangeVia, IdempotencyKey, ShopifyPolicy,
};
use returnhub_protocol::action::ActionContext;
use serde_json::{json, Value};

use crate::dispatch::{Confirmation, Target, TargetError};
use crate::graphql::{documents, user_errors, Document, GraphqlError, Repeat, ShopifyClient};

/// The reason of the hold a returns platform puts on an exchange's replacement until the
/// returned items arrive: the only hold an exchange releases.
const AWAITING_RETURN_ITEMS: &str = "AWAITING_RETURN_ITEMS";

/// A replacement order's holds: ours (by fulfillment order, the hold ids) and the reasons of
/// the others on held fulfillment orders (fraud, payment, another app's).
struct ReplacementHolds {
    order_id: String,
    ours: Vec<(String, Vec<String>)>,
    others: Vec<String>,
}

/// How one retailer's actions are carried out: the retailer's [`ShopifyPolicy`] (from its
/// configuration) and whether Shopify emails the customer.
#[derive(Debug, Clone)]
pub struct ShopifySettings {
    pub policy: ShopifyPolicy,
    /// Whether Shopify emails the customer about refunds and processed returns.
    pub notify_customer: bool,
    /// The dispatching device's key for gift card codes ([`gift_card_code`]); without one,
    /// codes are derived as by earlier builds ([`legacy_gift_card_code`]).
    pub gift_card_secret: Option<Vec<u8>>,
}

impl Default for ShopifySettings {
    fn default() -> Self {
        ShopifySettings {
            policy: ShopifyPolicy::default(),
            notify_customer: true,
            gift_card_secret: None,
        }
    }
}

impl ShopifySettings {
    pub fn for_policy(policy: &ShopifyPolicy) -> ShopifySettings {
        ShopifySettings {
            policy: policy.clone(),
            notify_customer: policy.notify_customer,
            gift_card_secret: None,
        }
    }

    /// With the dispatching device's key for gift card codes.
    pub fn with_gift_card_secret(mut self, secret: &str) -> ShopifySettings {
        self.gift_card_secret = Some(secret.as_bytes().to_vec());
        self
    }

    /// The code a credit note of `key` is (or was) issued under.
    pub fn gift_card_code(&self, key: &IdempotencyKey) -> String {
        match &self.gift_card_secret {
            Some(secret) => gift_card_code(secret, key),
            None => legacy_gift_card_code(key),
        }
    }
}

pub struct ShopifyTarget {
    client: ShopifyClient,
    settings: ShopifySettings,
}

/// The marker written into a refund's note, found again by reconciliation.
pub fn refund_note(key: &IdempotencyKey) -> String {
    format!("Returnhub refund {key}")
}

/// The marker of a credit note issued as a refund to store credit.
pub fn store_credit_note(key: &IdempotencyKey) -> String {
    format!("Returnhub credit note {key}")
}

/// The note of the refund that carries `action` (a refund, or a credit note to store credit).
fn refund_marker(action: &ActionDue) -> String {
    match action.kind {
        ActionKind::CreditNote => store_credit_note(&action.key),
        _ => refund_note(&action.key),
    }
}

/// The `@idempotent` key of an action's refund: the action's key, and after a supervisor's
/// retry of a refusal a key of that retry's own. Shopify answers a repeat of a key with the
/// first request's result, which for a refused one is the refusal again; a refusal took no
/// effect, and the note (which carries the action's key) is what reconciliation looks for.
pub fn idempotent_key(action: &ActionDue, context: &ActionContext) -> String {
    match context.retries {
        0 => action.key.as_str().to_owned(),
        n => format!("{}/retry-{n}", action.key),
    }
}

/// Where a refund's money goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RefundTo {
    /// Back through the order's payment transactions.
    Payment,
    /// To the customer's store credit, expiring at this RFC 3339 time if set.
    StoreCredit { expires_at: Option<String> },
}

/// The gift card code of a credit note: `RH` and 16 upper-case hex digits of an HMAC of the
/// action's key under `secret` (the dispatching device's own, in its keyring). Deterministic,
/// so a retry finds the card it may already have created; and nobody who knows only the key
/// (it is in logs, events and on screens) can work the code out.
pub fn gift_card_code(secret: &[u8], key: &IdempotencyKey) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(key.as_str().as_bytes());
    let hex: String = mac.finalize().into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("RH{hex}")
}

/// The code cards were issued under before codes were keyed: the key's own digits. Only
/// looked for, so a credit note sent by an earlier build is found again, never issued twice.
pub fn legacy_gift_card_code(key: &IdempotencyKey) -> String {
    let digest = key
        .as_str()
        .strip_prefix(IdempotencyKey::PREFIX)
        .unwrap_or(key.as_str());
    let hex: String = digest
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    format!("RH{}", hex.to_ascii_uppercase())
}

/// `YYYY-MM-DD` of the day `days` after `now` (UTC).
pub fn expiry_date(now: UnixMillis, days: u32) -> String {
    rfc3339(now + i64::from(days) * MS_PER_DAY)[..10].to_owned()
}

/// RFC 3339 time `days` after `now`: the expiry of store credit.
pub fn expiry_time(now: UnixMillis, days: u32) -> String {
    rfc3339(now + i64::from(days) * MS_PER_DAY)
}

/// Shopify's restock type for a line, from the hub's disposition of the item.
pub fn restock_type(disposition: Option<&str>) -> &'static str {
    match disposition {
        Some("back_to_stock") => "RETURN",
        _ => "NO_RESTOCK",
    }
}

pub(crate) fn target_error(e: GraphqlError) -> TargetError {
    match e {
        GraphqlError::NotSent { .. } => TargetError::NotApplied(e.to_string()),
        GraphqlError::Unknown { .. } => TargetError::Unknown(e.to_string()),
        GraphqlError::Refused { .. } => TargetError::Permanent(e.to_string()),
    }
}

/// For a read, nothing is ever applied: any failure short of a refusal can be tried again.
pub(crate) fn read_error(e: GraphqlError) -> TargetError {
    match e {
        GraphqlError::Refused { .. } => TargetError::Permanent(e.to_string()),
        other => TargetError::Unknown(other.to_string()),
    }
}

/// Parses a `MoneyV2` / `shopMoney` JSON object.
/// `shop_minor` (of the shop's currency, at most `whole`) in the currency the customer paid,
/// at the rate of Shopify's suggestion (`whole` in the shop's currency is `paid` in theirs):
/// all of it is exactly `paid`; a part is its share, rounded half up.
fn in_paid_currency(shop_minor: i64, whole: Money, paid: Money) -> i64 {
    if paid.currency == whole.currency {
        return shop_minor;
    }
    if shop_minor == whole.minor || whole.minor == 0 {
        return if shop_minor == whole.minor {
            paid.minor
        } else {
            0
        };
    }
    let num = i128::from(shop_minor) * i128::from(paid.minor);
    let den = i128::from(whole.minor);
    ((2 * num + den) / (2 * den)) as i64
}

pub fn parse_money(v: &Value) -> Option<Money> {
    let currency: Currency = v.get("currencyCode")?.as_str()?.parse().ok()?;
    Money::parse(v.get("amount")?.as_str()?, currency).ok()
}

impl ShopifyTarget {
    pub fn new(client: ShopifyClient, settings: ShopifySettings) -> ShopifyTarget {
        ShopifyTarget { client, settings }
    }

    pub fn client(&self) -> &ShopifyClient {
        &self.client
    }

    pub fn settings(&self) -> &ShopifySettings {
        &self.settings
    }

    /// The tag on the replacement order of `return_id`'s exchange.
    pub fn exchange_tag(&self, return_id: &str) -> String {
        format!("{}{return_id}", self.settings.policy.exchange_tag_prefix)
    }

    async fn read(&self, doc: &Document, vars: Value) -> Result<Value, TargetError> {
        self.client
            .execute(doc, vars, Repeat::Safe)
            .await
            .map_err(read_error)
    }

    async fn refund(
        &self,
        action: &ActionDue,
        context: &ActionContext,
        to: RefundTo,
    ) -> Result<Confirmation, TargetError> {
        let amount = action.amount.ok_or_else(|| {
            TargetError::Permanent(format!("{:?} {} has no amount", action.kind, action.key))
        })?;
        let lines: Vec<Value> = context
            .lines
            .iter()
            .map(|l| {
                json!({
                    "lineItemId": l.order_line_id,
                    "quantity": l.quantity,
                    "restockType": restock_type(l.disposition.as_deref()),
                })
            })
            .collect();
        let data = self
            .read(
                &documents::SUGGESTED_REFUND,
                json!({ "orderId": context.order_id, "lines": lines }),
            )
            .await?;
        let suggested = data
            .pointer("/order/suggestedRefund")
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                TargetError::Permanent(format!("order {} not found on Shopify", context.order_id))
            })?;
        let most = suggested
            .pointer("/amountSet/shopMoney")
            .and_then(parse_money)
            .ok_or_else(|| TargetError::Permanent("suggestedRefund has no amount".into()))?;
        if most.currency != amount.currency {
            return Err(TargetError::Permanent(format!(
                "the decision refunds {amount} but the order is in {}",
                most.currency
            )));
        }
        if amount.minor > most.minor {
            return self
                .unless_refunded(
                    action,
                    context,
                    TargetError::Permanent(format!(
                        "the decision refunds {amount}, more than Shopify's suggested refund {most}"
                    )),
                )
                .await;
        }
        // The customer gets it back in the currency they paid (Shopify's presentment
        // currency, the shop's for most orders), at the order's own rate: the suggestion's two
        // amounts give it exactly, so a whole suggestion converts to its presentment amount.
        let paid = suggested
            .pointer("/amountSet/presentmentMoney")
            .and_then(parse_money)
            .unwrap_or(most);
        let back = Money::new(in_paid_currency(amount.minor, most, paid), paid.currency);
        let money_of = |t: &Value| {
            let pointer = if paid.currency == most.currency {
                "/amountSet/shopMoney"
            } else {
                "/amountSet/presentmentMoney"
            };
            t.pointer(pointer).and_then(parse_money)
        };
        // Spread the amount over the suggested transactions, in Shopify's order (a refund to
        // store credit moves no payment).
        let mut left = if to == RefundTo::Payment {
            back.minor
        } else {
            0
        };
        let mut transactions = Vec::new();
        for t in suggested
            .get("suggestedTransactions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if left == 0 {
                break;
            }
            let (Some(available), Some(gateway)) =
                (money_of(t), t.get("gateway").and_then(Value::as_str))
            else {
                continue;
            };
            let part = left.min(available.minor);
            if part <= 0 {
                continue;
            }
            left -= part;
            transactions.push(json!({
                "amount": Money::new(part, back.currency).to_decimal_string(),
                "gateway": gateway,
                "kind": "REFUND",
                "orderId": context.order_id,
                "parentId": t.pointer("/parentTransaction/id"),
            }));
        }
        if left > 0 {
            return self
                .unless_refunded(
                    action,
                    context,
                    TargetError::Permanent(format!(
                        "Shopify suggests no transactions that can carry a refund of {back}"
                    )),
                )
                .await;
        }
        // A restocked line names the location Shopify suggests (where it was fulfilled from);
        // without one it is refunded without restocking rather than not refunded at all.
        let locations: std::collections::HashMap<&str, &str> = suggested
            .get("refundLineItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| {
                Some((
                    l.pointer("/lineItem/id")?.as_str()?,
                    l.pointer("/location/id")?.as_str()?,
                ))
            })
            .collect();
        let refund_lines: Vec<Value> = lines
            .iter()
            .map(|line| {
                let mut line = line.clone();
                if line["restockType"] == "RETURN" {
                    match line["lineItemId"].as_str().and_then(|id| locations.get(id)) {
                        Some(location) => line["locationId"] = json!(location),
                        None => {
                            tracing::warn!(key = %action.key, line = %line["lineItemId"], "no restock location suggested; refunding without restocking");
                            line["restockType"] = json!("NO_RESTOCK");
                        }
                    }
                }
                line
            })
            .collect();
        let mut input = json!({
            "orderId": context.order_id,
            // Required when the customer paid in another currency than the shop's; every
            // amount of the refund is in it.
            "currency": back.currency.code(),
            "note": refund_marker(action),
            "notify": self.settings.notify_customer,
            "refundLineItems": refund_lines,
            "transactions": transactions,
        });
        if let RefundTo::StoreCredit { expires_at } = &to {
            input["refundMethods"] = json!([{ "storeCreditRefund": {
                "amount": {
                    "amount": back.to_decimal_string(),
                    "currencyCode": back.currency.code(),
                },
                "expiresAt": expires_at,
            }}]);
        }
        // @idempotent makes a repeat of this exact request return the first refund.
        let data = match self
            .client
            .execute(
                &documents::REFUND_CREATE,
                json!({ "input": input, "key": idempotent_key(action, context) }),
                Repeat::Safe,
            )
            .await
            .map_err(target_error)
        {
            Ok(data) => data,
            // E.g. IDEMPOTENCY_KEY_PARAMETER_MISMATCH: the key's refund exists already.
            Err(e @ TargetError::Permanent(_)) => {
                return self.unless_refunded(action, context, e).await
            }
            Err(e) => return Err(e),
        };
        let payload = &data["refundCreate"];
        if let Some(errors) = user_errors(payload) {
            return if errors.contains("IDEMPOTENCY_CONCURRENT_REQUEST") {
                Err(TargetError::Unknown(errors))
            } else {
                let e = TargetError::Permanent(format!("refundCreate: {errors}"));
                self.unless_refunded(action, context, e).await
            };
        }
        let confirmed = payload
            .pointer("/refund/id")
            .and_then(Value::as_str)
            .map(Confirmation::new)
            .ok_or_else(|| TargetError::Unknown("refundCreate returned no refund".into()))?;
        // The bench shows what the customer got back when it is not in the shop's currency.
        Ok(Confirmation {
            paid: (back.currency != amount.currency).then_some(back),
            ..confirmed
        })
    }

    /// A refusal that this action's own refund would explain (it landed after an earlier try
    /// lost its answer, and after the reconciliation that found nothing): look for that refund
    /// before the action fails.
    async fn unless_refunded(
        &self,
        action: &ActionDue,
        context: &ActionContext,
        refusal: TargetError,
    ) -> Result<Confirmation, TargetError> {
        match self.find_refund(action, context).await? {
            Some(confirmation) => {
                tracing::info!(key = %action.key, reference = %confirmation.reference, "the refund exists already (an earlier try landed late)");
                Ok(confirmation)
            }
            None => Err(refusal),
        }
    }

    async fn find_refund(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        let data = self
            .read(
                &documents::ORDER_REFUNDS,
                json!({ "orderId": context.order_id }),
            )
            .await?;
        let marker = refund_marker(action);
        let refunds = data
            .pointer("/order/refunds")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                TargetError::Permanent(format!("order {} not found on Shopify", context.order_id))
            })?;
        let Some(refund) = refunds
            .iter()
            .find(|r| r.get("note").and_then(Value::as_str) == Some(marker.as_str()))
        else {
            return Ok(None);
        };
        let paid = refund
            .pointer("/totalRefundedSet/presentmentMoney")
            .and_then(parse_money)
            .filter(|paid| action.amount.is_some_and(|a| a.currency != paid.currency));
        Ok(refund
            .get("id")
            .and_then(Value::as_str)
            .map(|id| Confirmation {
                paid,
                ..Confirmation::new(id)
            }))
    }

    /// A credit note as a gift card issued to the order's customer (so it shows in their
    /// account), emailed to them when the retailer has Shopify notify customers.
    async fn gift_card(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        let amount = action.amount.ok_or_else(|| {
            TargetError::Permanent(format!("credit note {} has no amount", action.key))
        })?;
        let mut customer = match self
            .client
            .execute(
                &documents::ORDER_CUSTOMER,
                json!({ "id": context.order_id }),
                Repeat::Safe,
            )
            .await
        {
            Ok(data) => data
                .pointer("/order/customer/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            // A shop connected before customers were asked for (no customer scopes): the
            // card is issued all the same, to nobody, as it was then.
            Err(GraphqlError::Refused { message, .. }) => {
                tracing::warn!(key = %action.key, %message, "the order's customer cannot be read: the gift card is issued to nobody (grant write_customers to the app)");
                None
            }
            Err(e) => return Err(read_error(e)),
        };
        let mut input = json!({
            "initialAmount": {
                "amount": amount.to_decimal_string(),
                "currencyCode": amount.currency.code(),
            },
            "code": self.settings.gift_card_code(&action.key),
            "note": format!("Returnhub credit note {}", action.key),
        });
        if let Some(days) = action.credit_note_expiry_days {
            input["expiresOn"] = json!(expiry_date(self.client.clock().now_ms(), days));
        }
        match &customer {
            Some(id) => input["customerId"] = json!(id),
            None => {
                tracing::warn!(key = %action.key, order = %context.order_id, "the order has no customer: the gift card is issued to nobody (its code is on the action)")
            }
        }
        let mut sent = self.create_gift_card(&input).await;
        let denied = match (&sent, &customer) {
            (Err(GraphqlError::Refused { message, .. }), Some(_)) => {
                message.contains("Access denied").then(|| message.clone())
            }
            _ => None,
        };
        if let Some(message) = denied {
            // Refused before it ran (the app may read customers but not assign cards to
            // them): issued to nobody instead, as a shop connected before this asked.
            tracing::warn!(key = %action.key, %message, "the gift card cannot be assigned to the customer: issued to nobody (grant write_customers to the app)");
            customer = None;
            if let Some(fields) = input.as_object_mut() {
                fields.remove("customerId");
            }
            sent = self.create_gift_card(&input).await;
        }
        let data = sent.map_err(target_error)?;
        let payload = &data["giftCardCreate"];
        if let Some(errors) = user_errors(payload) {
            let taken = payload["userErrors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["code"] == "TAKEN"));
            // The code is ours: a card with it is this action's card from an earlier try.
            return Err(if taken {
                TargetError::Unknown(format!("giftCardCreate: {errors}"))
            } else {
                TargetError::Permanent(format!("giftCardCreate: {errors}"))
            });
        }
        let card = payload
            .pointer("/giftCard/id")
            .and_then(Value::as_str)
            .ok_or_else(|| TargetError::Unknown("giftCardCreate returned no gift card".into()))?
            .to_owned();
        if self.settings.notify_customer && customer.is_some() {
            self.notify_gift_card(action, &card).await;
        }
        Ok(Confirmation::new(card))
    }

    /// `giftCardCreate` with `input`. No server-side idempotency: never repeated blindly,
    /// reconciled by code instead.
    async fn create_gift_card(&self, input: &Value) -> Result<Value, GraphqlError> {
        self.client
            .execute(
                &documents::GIFT_CARD_CREATE,
                json!({ "input": input }),
                Repeat::Unsafe,
            )
            .await
    }

    /// Emails the card to its customer. The card exists whatever happens here: a failed
    /// email is logged (the code is on the action, for a supervisor to pass on), never a
    /// reason to issue the card again.
    async fn notify_gift_card(&self, action: &ActionDue, card: &str) {
        let sent = self
            .client
            .execute(
                &documents::GIFT_CARD_NOTIFY,
                json!({ "id": card }),
                Repeat::Unsafe,
            )
            .await;
        let problem = match &sent {
            Ok(data) => user_errors(&data["giftCardSendNotificationToCustomer"]),
            Err(e) => Some(e.to_string()),
        };
        if let Some(problem) = problem {
            tracing::warn!(key = %action.key, card, %problem, "the gift card was issued but not emailed to the customer");
        }
    }

    /// The card a credit note was issued as: under this device's code, or under the code an
    /// earlier build derived (a card it sent before an upgrade must not be issued again).
    async fn find_gift_card(
        &self,
        action: &ActionDue,
    ) -> Result<Option<Confirmation>, TargetError> {
        let mut codes = vec![self.settings.gift_card_code(&action.key)];
        let legacy = legacy_gift_card_code(&action.key);
        if codes[0] != legacy {
            codes.push(legacy);
        }
        for code in codes {
            if let Some(found) = self.find_gift_card_by(action, &code).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    async fn find_gift_card_by(
        &self,
        action: &ActionDue,
        code: &str,
    ) -> Result<Option<Confirmation>, TargetError> {
        let data = self
            .read(&documents::GIFT_CARD_BY_CODE, json!({ "query": code }))
            .await?;
        let last4 = &code[code.len() - 4..];
        Ok(data
            .pointer("/giftCards/nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            // The last four characters narrow it down; the note (which carries the whole key)
            // makes it certain: two codes may share their last four.
            .find(|card| {
                card.get("lastCharacters")
                    .and_then(Value::as_str)
                    .is_some_and(|l| l.eq_ignore_ascii_case(last4))
                    && card
                        .get("note")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.contains(action.key.as_str()))
            })
            .and_then(|card| card.get("id").and_then(Value::as_str))
            .map(Confirmation::new))
    }

    /// The replacement order, and each of its fulfillment orders that the returns platform
    /// holds until the returned items arrive, with the ids of those holds. Other holds (fraud,
    /// payment, another app's) are not ours to release and are left out.
    async fn exchange_holds(&self, action: &ActionDue) -> Result<ReplacementHolds, TargetError> {
        let tag_prefix = &self.settings.policy.exchange_tag_prefix;
        let query = format!("tag:'{tag_prefix}{}'", action.return_id);
        let data = self
            .read(&documents::EXCHANGE_HOLDS, json!({ "query": query }))
            .await?;
        let order = data.pointer("/orders/nodes/0").ok_or_else(|| {
            TargetError::Permanent(format!(
                "no replacement order tagged {tag_prefix}{} on Shopify",
                action.return_id
            ))
        })?;
        if order["fulfillmentOrders"]["pageInfo"]["hasNextPage"] == true {
            return Err(TargetError::Permanent(format!(
                "the replacement order {} has more than 20 fulfillment orders, more than \
                 Returnhub reads of one: nothing was released; release its return holds in \
                 Shopify by hand",
                order["id"].as_str().unwrap_or_default()
            )));
        }
        let mut holds = ReplacementHolds {
            order_id: order["id"].as_str().unwrap_or_default().to_owned(),
            ours: Vec::new(),
            others: Vec::new(),
        };
        for fo in order
            .pointer("/fulfillmentOrders/nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|fo| fo["status"] == "ON_HOLD")
        {
            let (ours, others): (Vec<&Value>, Vec<&Value>) = fo["fulfillmentHolds"]
                .as_array()
                .into_iter()
                .flatten()
                .partition(|h| h["reason"] == AWAITING_RETURN_ITEMS);
            holds.others.extend(
                others
                    .iter()
                    .filter_map(|h| h["reason"].as_str().map(str::to_owned)),
            );
            let ours: Vec<String> = ours
                .iter()
                .filter_map(|h| h["id"].as_str().map(str::to_owned))
                .collect();
            if let (false, Some(id)) = (ours.is_empty(), fo["id"].as_str()) {
                holds.ours.push((id.to_owned(), ours));
            }
        }
        Ok(holds)
    }

    /// Releases the returns platform's holds (and only those) on the replacement order of
    /// `action`'s return (found by its tag); also the QC PASS half of the Clickpost exchange
    /// rule (see `increff`). A fraud or payment hold stays: the order ships when it is lifted.
    pub(crate) async fn exchange(&self, action: &ActionDue) -> Result<Confirmation, TargetError> {
        let ReplacementHolds {
            order_id,
            ours: held,
            others,
        } = self.exchange_holds(action).await?;
        if held.is_empty() && !others.is_empty() {
            // Held, but not for the returned items: releasing nothing and calling it done
            // would leave the customer waiting with the action confirmed.
            return Err(TargetError::Permanent(format!(
                "the replacement order {order_id} is held for {} and not for the returned \
                 items ({AWAITING_RETURN_ITEMS}): nothing was released; release it in Shopify \
                 once those holds are settled",
                others.join(", ")
            )));
        }
        for (fulfillment_order, hold_ids) in held {
            // A repeat after a lost answer finds the hold already released and Shopify
            // refuses it ("not on hold"): that is the effect we wanted, so look before
            // calling it a failure.
            let data = self
                .client
                .execute(
                    &documents::RELEASE_HOLD,
                    json!({ "id": fulfillment_order, "holdIds": hold_ids }),
                    Repeat::Safe,
                )
                .await
                .map_err(target_error)?;
            if let Some(errors) = user_errors(&data["fulfillmentOrderReleaseHold"]) {
                let still_held = self.exchange_holds(action).await?.ours;
                if still_held.iter().any(|(fo, _)| *fo == fulfillment_order) {
                    return Err(TargetError::Permanent(format!(
                        "fulfillmentOrderReleaseHold: {errors}"
                    )));
                }
                tracing::info!(key = %action.key, fulfillment_order = %fulfillment_order, "hold already released (an earlier try took effect)");
            }
        }
        Ok(Confirmation::new(order_id))
    }
    /// The Shopify return of the order whose return line items cover the action's lines, with
    /// what is left to process of it. `None`: the order has no such return.
    async fn shopify_return(
        &self,
        context: &ActionContext,
    ) -> Result<Option<ShopReturn>, TargetError> {
        let data = self
            .read(
                &documents::ORDER_RETURNS,
                json!({ "orderId": context.order_id }),
            )
            .await?;
        let returns = data
            .pointer("/order/returns/nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                TargetError::Permanent(format!("order {} not found on Shopify", context.order_id))
            })?;
        let longer = data["order"]["returns"]["pageInfo"]["hasNextPage"] == true
            || returns.iter().any(|r| {
                ["returnLineItems", "exchangeLineItems"]
                    .iter()
                    .any(|c| r[*c]["pageInfo"]["hasNextPage"] == true)
            });
        if longer {
            return Err(TargetError::Permanent(format!(
                "order {} has more than 5 Shopify returns, or a return of more than 25 lines, \
                 more than Returnhub reads: nothing was processed; process the return in \
                 Shopify by hand",
                context.order_id
            )));
        }
        Ok(returns
            .iter()
            .map(ShopReturn::parse)
            .filter(|r| r.status != "CANCELED" && r.status != "DECLINED")
            .find(|r| {
                context
                    .lines
                    .iter()
                    .all(|l| r.lines.iter().any(|rl| rl.line_item_id == l.order_line_id))
            }))
    }

    async fn process_return(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        let missing = || {
            TargetError::Permanent(format!(
                "order {} has no Shopify return covering the returned item(s); with exchanges \
                 through returnProcess the customer's exchange must be a Shopify return",
                context.order_id
            ))
        };
        let found = self.shopify_return(context).await?.ok_or_else(missing)?;
        if found.exchanges.is_empty() {
            return Err(TargetError::Permanent(format!(
                "Shopify return {} has no exchange items",
                found.name
            )));
        }
        let Some(input) = found.process_input(context, self.settings.notify_customer) else {
            // Nothing left to process: an earlier try (or the shop's staff) did it.
            return Ok(Confirmation::new(found.id));
        };
        // Not idempotent on Shopify's side: never repeated blindly.
        let data = self
            .client
            .execute(
                &documents::RETURN_PROCESS,
                json!({ "input": input }),
                Repeat::Unsafe,
            )
            .await
            .map_err(target_error)?;
        if let Some(errors) = user_errors(&data["returnProcess"]) {
            // Refused because there was nothing left to process? Then it is done.
            return match self.shopify_return(context).await? {
                Some(now) if now.id == found.id && now.processed_for(context) => {
                    tracing::info!(key = %action.key, shopify_return = %now.name, "return already processed (an earlier try took effect)");
                    Ok(Confirmation::new(now.id))
                }
                _ => Err(TargetError::Permanent(format!("returnProcess: {errors}"))),
            };
        }
        Ok(Confirmation::new(found.id))
    }

    fn no_action_tag(&self) -> Result<&str, TargetError> {
        self.settings
            .policy
            .no_action_tag
            .as_deref()
            .ok_or_else(|| {
                TargetError::Permanent(
                    "the retailer no longer tags No Action orders; nothing was sent".into(),
                )
            })
    }

    async fn tag_order(&self, context: &ActionContext) -> Result<Confirmation, TargetError> {
        let tag = self.no_action_tag()?;
        // Adding a tag the order has changes nothing: repeating is harmless.
        let data = self
            .client
            .execute(
                &documents::TAGS_ADD,
                json!({ "id": context.order_id, "tags": [tag] }),
                Repeat::Safe,
            )
            .await
            .map_err(target_error)?;
        if let Some(errors) = user_errors(&data["tagsAdd"]) {
            return Err(TargetError::Permanent(format!("tagsAdd: {errors}")));
        }
        Ok(Confirmation::new(context.order_id.clone()))
    }

    async fn find_tag(&self, context: &ActionContext) -> Result<Option<Confirmation>, TargetError> {
        let tag = self.no_action_tag()?;
        let data = self
            .read(&documents::ORDER_TAGS, json!({ "id": context.order_id }))
            .await?;
        let tags = data
            .pointer("/order/tags")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                TargetError::Permanent(format!("order {} not found on Shopify", context.order_id))
            })?;
        Ok(tags
            .iter()
            .any(|t| t.as_str() == Some(tag))
            .then(|| Confirmation::new(context.order_id.clone())))
    }
}

/// A Shopify return as `OrderReturns` reads it.
#[derive(Debug, Clone)]
struct ShopReturn {
    id: String,
    name: String,
    status: String,
    lines: Vec<ShopReturnLine>,
    /// (exchange line item id, unprocessed quantity).
    exchanges: Vec<(String, u64)>,
}

#[derive(Debug, Clone)]
struct ShopReturnLine {
    id: String,
    line_item_id: String,
    unprocessed: u64,
}

impl ShopReturn {
    fn parse(v: &Value) -> ShopReturn {
        let text = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let nodes = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        ShopReturn {
            id: text(v, "/id"),
            name: text(v, "/name"),
            status: text(v, "/status"),
            lines: nodes("/returnLineItems/nodes")
                .iter()
                .map(|l| ShopReturnLine {
                    id: text(l, "/id"),
                    line_item_id: text(l, "/fulfillmentLineItem/lineItem/id"),
                    unprocessed: l["unprocessedQuantity"].as_u64().unwrap_or(0),
                })
                .collect(),
            exchanges: nodes("/exchangeLineItems/nodes")
                .iter()
                .map(|x| {
                    (
                        text(x, "/id"),
                        x["unprocessedQuantity"].as_u64().unwrap_or(0),
                    )
                })
                .collect(),
        }
    }

    /// The action's return lines still to process, with how many of each.
    fn our_lines<'a>(&'a self, context: &'a ActionContext) -> impl Iterator<Item = (&'a str, u64)> {
        self.lines.iter().filter_map(|rl| {
            let ours: u64 = context
                .lines
                .iter()
                .filter(|l| l.order_line_id == rl.line_item_id)
                .map(|l| u64::from(l.quantity))
                .sum();
            let q = ours.min(rl.unprocessed);
            (q > 0).then_some((rl.id.as_str(), q))
        })
    }

    /// Whether the action's items and the return's exchange items are all processed.
    fn processed_for(&self, context: &ActionContext) -> bool {
        self.our_lines(context).next().is_none() && self.exchanges.iter().all(|(_, q)| *q == 0)
    }

    /// `ReturnProcessInput` for what is left: the action's returned items and every
    /// unprocessed exchange item of the return (Shopify does not tie an exchange item to a
    /// returned one: the first item of the return processed releases the exchange).
    fn process_input(&self, context: &ActionContext, notify: bool) -> Option<Value> {
        if self.processed_for(context) {
            return None;
        }
        let lines: Vec<Value> = self
            .our_lines(context)
            .map(|(id, q)| json!({ "id": id, "quantity": q }))
            .collect();
        let exchanges: Vec<Value> = self
            .exchanges
            .iter()
            .filter(|(_, q)| *q > 0)
            .map(|(id, q)| json!({ "id": id, "quantity": q }))
            .collect();
        Some(json!({
            "returnId": self.id,
            "returnLineItems": lines,
            "exchangeLineItems": exchanges,
            "notifyCustomer": notify,
        }))
    }
}

impl Target for ShopifyTarget {
    fn name(&self) -> &str {
        "shopify"
    }

    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        let policy = &self.settings.policy;
        match action.kind {
            ActionKind::Refund => self.refund(action, context, RefundTo::Payment).await,
            ActionKind::CreditNote => match policy.credit_note {
                CreditNoteVia::GiftCard => self.gift_card(action, context).await,
                CreditNoteVia::StoreCredit => {
                    let expires_at = action
                        .credit_note_expiry_days
                        .map(|days| expiry_time(self.client.clock().now_ms(), days));
                    self.refund(action, context, RefundTo::StoreCredit { expires_at })
                        .await
                }
            },
            ActionKind::Exchange => match policy.exchange {
                ExchangeVia::ReleaseHold => self.exchange(action).await,
                ExchangeVia::ReturnProcess => self.process_return(action, context).await,
            },
            ActionKind::TagOrder => self.tag_order(context).await,
            ActionKind::PartnerUpdate => Err(not_for_shopify(action)),
        }
    }

    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        match action.kind {
            ActionKind::Refund => self.find_refund(action, context).await,
            // Both places, whatever the setting is now: it may have changed since the send.
            ActionKind::CreditNote => match self.find_gift_card(action).await? {
                Some(found) => Ok(Some(found)),
                None => self.find_refund(action, context).await,
            },
            ActionKind::Exchange => match self.settings.policy.exchange {
                ExchangeVia::ReleaseHold => {
                    let holds = self.exchange_holds(action).await?;
                    Ok(holds
                        .ours
                        .is_empty()
                        .then_some(Confirmation::new(holds.order_id)))
                }
                ExchangeVia::ReturnProcess => Ok(self
                    .shopify_return(context)
                    .await?
                    .filter(|r| r.processed_for(context))
                    .map(|r| Confirmation::new(r.id))),
            },
            ActionKind::TagOrder => self.find_tag(context).await,
            ActionKind::PartnerUpdate => Err(not_for_shopify(action)),
        }
    }
}

/// A partner's update routed to Shopify: the retailer's routes changed after it became due.
fn not_for_shopify(action: &ActionDue) -> TargetError {
    TargetError::Permanent(format!(
        "action {} is an update for the partner the return came from, not for Shopify; \
         bind the return's source to that partner on F5 and retry it",
        action.key
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gift_card_codes_are_stable_and_shaped_for_shopify() {
        let key = IdempotencyKey::derive("r1", "ret1", &["i1"], ActionKind::CreditNote);
        let secret = b"0123456789abcdef0123456789abcdef";
        let code = gift_card_code(secret, &key);
        assert_eq!(code, gift_card_code(secret, &key));
        // Not the key's own digits, and another device's key gives another code.
        assert!(!key.as_str().to_ascii_uppercase().contains(&code[2..]));
        assert_ne!(gift_card_code(b"another device's key", &key), code);
        assert_eq!(code.len(), 18);
        assert!(code.starts_with("RH"));
        assert!(code[2..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        let other = IdempotencyKey::derive("r1", "ret1", &["i2"], ActionKind::CreditNote);
        assert_ne!(gift_card_code(secret, &other), code);
    }

    #[test]
    fn expiry_is_a_calendar_date_days_later() {
        // 2026-11-23T21:00Z + 30 days.
        let now = returnhub_core::time::parse_rfc3339("2026-11-23T21:00:00Z").unwrap();
        assert_eq!(expiry_date(now, 30), "2026-12-23");
    }

    #[test]
    fn only_back_to_stock_restocks() {
        assert_eq!(restock_type(Some("back_to_stock")), "RETURN");
        assert_eq!(restock_type(Some("resale_hold")), "NO_RESTOCK");
        assert_eq!(restock_type(None), "NO_RESTOCK");
    }
}
