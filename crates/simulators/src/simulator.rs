//! A simulator of Shopify's Admin GraphQL endpoint, for tests only. It listens on a real TCP
//! socket on 127.0.0.1 and speaks just enough HTTP/1.1 (one request per connection) to be in
//! full control of faults. Every document it receives is validated against Shopify's real
//! schema (`schema.rs`) before anything else happens.
//!
//! It keeps a ledger — orders with line items, transactions, refunds and held fulfillment
//! orders; gift cards; bulk operations — and follows the documented contract where the
//! connector depends on it: the cost bucket (`extensions.cost.throttleStatus`, THROTTLED when
//! a request costs more than is available), `refundCreate` requiring `@idempotent(key:)` and
//! answering a repeated key with the first result, `suggestedRefund` from prices and what is
//! already refunded, gift card codes unique (`TAKEN`), a hold released once, an order
//! cancelled once (`orderCancel` closes its fulfillment orders and takes its lines to 0), and
//! order edits (`orderEditBegin` / `orderEditSetQuantity` stage absolute quantities on a
//! calculated order, `orderEditCommit` applies them once). Cancellations and quantity changes
//! are counted as effects: a repeat that changes nothing is not one.
//!
//! Faults are injected per request from a seeded generator (or forced for the next requests):
//! THROTTLED, a 502 before the effect, a dropped connection before or after the effect, an
//! answer held past the client's timeout after the effect, and a slow answer.

use super::receiver::{read_sim_request, Faults, SimRequest};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use returnhub_connectors::graphql::documents;
use returnhub_core::money::{Currency, Money};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::schema;

pub const TOKEN: &str = "shpat_simulator_0123456789abcdef0123";
/// A Dev Dashboard app's client credentials the simulated shop accepts (the client
/// credentials grant at `/admin/oauth/access_token`).
pub const CLIENT_ID: &str = "simulator-client-0123456789";
pub const CLIENT_SECRET: &str = "shpss_simulator_secret_0123456789";
/// Every scope Returnhub can need: what a simulated shop grants unless a test takes some away.
pub const ALL_SCOPES: &[&str] = &[
    "read_orders",
    "write_orders",
    "write_gift_cards",
    "write_customers",
    "write_merchant_managed_fulfillment_orders",
    "write_returns",
];
pub const LOCATION: &str = "gid://shopify/Location/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    Throttled,
    ServerError,
    DropBeforeCommit,
    DropAfterCommit,
    TimeoutAfterCommit,
    Slow,
    /// The connection drops at once and the effect lands `hold` later: a repeat in between
    /// with the same `@idempotent` key is answered IDEMPOTENCY_CONCURRENT_REQUEST, and a
    /// reconciliation in between finds nothing yet.
    LateCommit,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::Throttled,
        Fault::ServerError,
        Fault::DropBeforeCommit,
        Fault::DropAfterCommit,
        Fault::TimeoutAfterCommit,
        Fault::Slow,
        Fault::LateCommit,
    ];
}

#[derive(Debug, Clone)]
pub struct SimLine {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub barcode: Option<String>,
    pub image: Option<String>,
    pub product_tags: Vec<String>,
    pub quantity: u32,
    pub unit_price: i64,
    /// Discount allocated to the whole line.
    pub discount: i64,
}

#[derive(Debug, Clone)]
pub struct SimRefund {
    pub id: String,
    pub note: Option<String>,
    /// (line id, quantity, restock type, location).
    pub lines: Vec<(String, u32, String, Option<String>)>,
    /// Everything refunded, to the payment and to store credit.
    pub amount: i64,
    /// The part refunded to the customer's store credit, with its expiry (RFC 3339).
    pub store_credit: Option<(i64, Option<String>)>,
    /// What the customer got back, in the currency they paid (the order's presentment
    /// currency when it has one; otherwise the shop's): `amount` converted at the order's rate.
    pub paid_back: Option<(i64, Currency)>,
}

/// The currency a customer paid an order in, and the order's own rate: presentment units per
/// million shop units (shop amounts are converted at it, rounded half up, as Shopify fixes
/// the rate when the order is placed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presentment {
    pub currency: Currency,
    pub per_million: i64,
}

impl Presentment {
    /// `minor` shop units (of `shop`) in the presentment currency.
    pub fn of(self, minor: i64, shop: Currency) -> i64 {
        let scale = |c: Currency| 10i128.pow(c.exponent());
        let num = i128::from(minor) * i128::from(self.per_million) * scale(self.currency);
        let den = 1_000_000 * scale(shop);
        ((2 * num + den) / (2 * den)) as i64
    }

    /// `minor` presentment units in the shop's currency `shop`, at the same rate.
    pub fn to_shop(self, minor: i64, shop: Currency) -> i64 {
        let scale = |c: Currency| 10i128.pow(c.exponent());
        let num = i128::from(minor) * 1_000_000 * scale(shop);
        let den = i128::from(self.per_million) * scale(self.currency);
        ((2 * num + den) / (2 * den)) as i64
    }
}

/// A Shopify return (the customer's, from Shopify's returns flow) with its exchange items.
#[derive(Debug, Clone)]
pub struct SimReturn {
    pub id: String,
    pub name: String,
    pub order_id: String,
    pub status: String,
    /// (return line item id, order line item id, quantity, processed quantity).
    pub lines: Vec<(String, String, u32, u32)>,
    /// (exchange line item id, quantity, processed quantity).
    pub exchanges: Vec<(String, u32, u32)>,
    /// `returnProcess` calls that took effect on this return.
    pub processed_by: u32,
}

#[derive(Debug, Clone)]
pub struct SimOrder {
    pub id: String,
    pub name: String,
    pub email: String,
    pub customer: String,
    pub created_at: String,
    pub updated_at: String,
    pub currency: Currency,
    pub country: String,
    pub tags: Vec<String>,
    pub discount_codes: Vec<String>,
    pub lines: Vec<SimLine>,
    /// The sale transaction: (id, gateway, amount).
    pub payment: (String, String, i64),
    pub refunds: Vec<SimRefund>,
    pub fulfillment_orders: Vec<SimFulfillmentOrder>,
}

/// A fulfillment order and the holds on it. As Shopify documents it, a fulfillment order is
/// `ON_HOLD` while any hold remains, and several apps (and the merchant) may each hold it for
/// their own reason: the returns platform until the returned items arrive, a fraud or
/// payment check, another app's.
#[derive(Debug, Clone)]
pub struct SimFulfillmentOrder {
    pub id: String,
    /// OPEN, ON_HOLD, CLOSED, …
    pub status: String,
    pub holds: Vec<SimHold>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimHold {
    pub id: String,
    /// A `FulfillmentHoldReason`: AWAITING_RETURN_ITEMS, HIGH_RISK_OF_FRAUD,
    /// AWAITING_PAYMENT, OTHER, …
    pub reason: String,
    /// The app that placed it (the returns platform, a fraud app), for `heldByApp`.
    pub app: String,
}

impl SimFulfillmentOrder {
    /// Open: nothing holds it.
    pub fn open(id: &str) -> SimFulfillmentOrder {
        SimFulfillmentOrder {
            id: id.to_owned(),
            status: "OPEN".into(),
            holds: vec![],
        }
    }

    /// An exchange's replacement as the returns platform leaves it: held until the returned
    /// items arrive (`AWAITING_RETURN_ITEMS`, placed by that platform, not by Returnhub).
    pub fn awaiting_return(id: &str) -> SimFulfillmentOrder {
        SimFulfillmentOrder::open(id).held(
            &format!("{id}-hold-return"),
            "AWAITING_RETURN_ITEMS",
            "Returns platform",
        )
    }

    /// Adds a hold (ON_HOLD from now on).
    pub fn held(mut self, hold_id: &str, reason: &str, app: &str) -> SimFulfillmentOrder {
        self.holds.push(SimHold {
            id: hold_id.to_owned(),
            reason: reason.to_owned(),
            app: app.to_owned(),
        });
        self.status = "ON_HOLD".into();
        self
    }

    fn json(&self) -> Value {
        json!({ "id": self.id, "status": self.status,
            "fulfillmentHolds": self.holds.iter().map(|h| json!({
                "id": h.id, "reason": h.reason, "reasonNotes": null,
                "displayReason": h.reason, "heldByRequestingApp": false,
                "heldByApp": { "title": h.app } })).collect::<Vec<_>>() })
    }
}

impl SimOrder {
    /// An order of one unit of one item at `unit_price`, paid in full, from New Zealand,
    /// numbered `number` (the order, its line and its payment take it; its name is
    /// `#{prefix}{number}`): the order a window test brings into a shop. Tests change the rest.
    pub fn one_line(
        number: u32,
        prefix: &str,
        created_at: &str,
        currency: Currency,
        unit_price: i64,
    ) -> SimOrder {
        SimOrder {
            id: format!("gid://shopify/Order/{number}"),
            name: format!("#{prefix}{number}"),
            email: format!("customer{number}@example.com"),
            customer: format!("Customer {number}"),
            created_at: created_at.to_owned(),
            updated_at: created_at.to_owned(),
            currency,
            country: "NZ".into(),
            tags: vec![],
            discount_codes: vec![],
            lines: vec![SimLine {
                id: format!("gid://shopify/LineItem/{number}"),
                sku: format!("SKU-{number}"),
                title: format!("Item {number}"),
                barcode: None,
                image: None,
                product_tags: vec![],
                quantity: 1,
                unit_price,
                discount: 0,
            }],
            payment: (
                format!("gid://shopify/OrderTransaction/{number}"),
                "shopify_payments".into(),
                unit_price,
            ),
            refunds: vec![],
            fulfillment_orders: vec![],
        }
    }

    fn line_net(&self, line: &SimLine) -> i64 {
        // What one unit was paid, the line's discount spread evenly (the last unit takes the
        // remainder, like Shopify's allocation): for a suggestion, the floor per unit.
        line.unit_price - line.discount / i64::from(line.quantity.max(1))
    }

    fn refunded_quantity(&self, line_id: &str) -> u32 {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|(id, ..)| id == line_id)
            .map(|(_, q, ..)| q)
            .sum()
    }

    fn refunded_amount(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    pub fn subtotal(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.unit_price * i64::from(l.quantity))
            .sum()
    }

    pub fn discount(&self) -> i64 {
        self.lines.iter().map(|l| l.discount).sum()
    }

    pub fn total(&self) -> i64 {
        self.subtotal() - self.discount()
    }
}

#[derive(Debug, Clone)]
pub struct SimGiftCard {
    pub id: String,
    pub code: String,
    pub amount: i64,
    pub currency: String,
    pub expires_on: Option<String>,
    pub note: Option<String>,
    /// The customer it was issued to (it shows in their account).
    pub customer_id: Option<String>,
    /// Emails of the card sent to that customer.
    pub notified: u32,
}

impl SimOrder {
    /// The order's customer, as Shopify ids it (an order without a customer name was placed
    /// without an account: it has none).
    pub fn customer_id(&self) -> Option<String> {
        (!self.customer.is_empty()).then(|| {
            format!(
                "gid://shopify/Customer/{}",
                self.id.rsplit('/').next().unwrap_or_default()
            )
        })
    }
}

#[derive(Debug, Clone)]
struct BulkOp {
    filter: Option<(String, String)>,
    polls: u32,
}

#[derive(Debug)]
struct Bucket {
    maximum: f64,
    available: f64,
    restore_rate: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * self.restore_rate).min(self.maximum);
        self.at = now;
    }
}

/// What the simulated shop holds.
#[derive(Debug, Default)]
pub struct Ledger {
    pub shop_name: String,
    pub orders: BTreeMap<String, SimOrder>,
    pub gift_cards: Vec<SimGiftCard>,
    pub returns: Vec<SimReturn>,
    /// Results of `@idempotent` mutations by key.
    idempotent: HashMap<String, Value>,
    bulk: HashMap<String, BulkOp>,
    next_id: u64,
    /// Every operation name received, in order (for pacing and import checks).
    pub operations: Vec<String>,
    /// THROTTLED answers given because the bucket was short (not injected).
    pub throttled_by_bucket: u64,
    pub invalid_documents: u64,
    /// While set, `refundCreate` answers with a user error (the shop refuses refunds).
    pub refuse_refunds: Option<String>,
    /// `@idempotent` keys whose request is still being processed (a late commit).
    pending_keys: std::collections::HashSet<String>,
    /// Orders cancelled, with how many cancellations took effect (more than one is a double).
    pub cancellations: BTreeMap<String, u32>,
    /// Lines whose quantity an edit or a cancellation changed: their current quantity (a line
    /// not here still has what was bought).
    pub current_quantities: HashMap<String, u32>,
    /// Order edit commits that changed each line's quantity.
    pub quantity_changes: BTreeMap<String, u32>,
    /// Line items' custom attributes (key, value).
    pub line_attributes: HashMap<String, Vec<(String, String)>>,
    /// Orders the customer paid in another currency than the shop's (Shopify's presentment
    /// currency), by order id. Every money bag of such an order has both amounts, and a
    /// refund must name that currency and give its amounts in it.
    pub presentment: HashMap<String, Presentment>,
    /// Order edit sessions by calculated order id.
    edits: HashMap<String, EditSession>,
    /// The access scopes the shop granted (the static token's and the app's alike).
    pub granted_scopes: Vec<String>,
    /// Tokens issued to the app by the client credentials grant, with when each expires.
    pub app_tokens: HashMap<String, Instant>,
    /// How long an app token lasts (Shopify: 24 hours).
    pub app_token_lifetime: Duration,
    /// The app's redirect URIs, as its configuration lists them: an authorization request
    /// naming another is refused.
    pub redirect_uris: Vec<String>,
    /// What the merchant's approval grants instead of the scopes asked for (the app's
    /// configured scopes win over the request's since Shopify-managed installs).
    pub install_grants: Option<Vec<String>>,
    /// Authorization codes handed out by approvals: good once, for a minute.
    auth_codes: HashMap<String, AuthCode>,
    /// Live refresh tokens of installs, each with the one it replaced: that one keeps
    /// working until its replacement is first used (Shopify, August 2026).
    refresh_tokens: HashMap<String, RefreshToken>,
    /// How long an expiring offline token lasts (Shopify: an hour).
    pub offline_token_lifetime: Duration,
    /// Approvals given, codes exchanged, tokens renewed with a refresh token.
    pub installs: u32,
    pub codes_exchanged: u32,
    pub refreshes: u32,
}

#[derive(Debug, Clone)]
struct AuthCode {
    scopes: Vec<String>,
    issued: Instant,
    used: bool,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    scopes: Vec<String>,
    replaces: Option<String>,
}

#[derive(Debug, Clone)]
struct EditSession {
    order_id: String,
    /// Order line id → staged quantity.
    staged: BTreeMap<String, u32>,
    committed: bool,
}

/// `gid://shopify/LineItem/42` → `gid://shopify/CalculatedLineItem/42`: Shopify's calculated
/// line items carry the number of the line they edit.
fn calculated_line(line_id: &str) -> String {
    format!(
        "gid://shopify/CalculatedLineItem/{}",
        line_id.rsplit('/').next().unwrap_or_default()
    )
}

impl Ledger {
    /// A new access token for the app, good for `lifetime`.
    fn issue_token(&mut self, lifetime: Duration) -> String {
        self.next_id += 1;
        let token = format!("shpat_app_{}", self.next_id);
        self.app_tokens
            .insert(token.clone(), Instant::now() + lifetime);
        token
    }

    /// A refresh token of an install that granted `scopes`, replacing `replaces` (which
    /// works until this one is first used).
    fn issue_refresh_token(&mut self, scopes: &[String], replaces: Option<String>) -> String {
        self.next_id += 1;
        let token = format!("shprt_{}", self.next_id);
        self.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                scopes: scopes.to_vec(),
                replaces,
            },
        );
        token
    }

    fn gid(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("gid://shopify/{kind}/{}", 900_000 + self.next_id)
    }

    /// A line's quantity after edits and cancellation.
    pub fn current_quantity(&self, line: &SimLine) -> u32 {
        self.current_quantities
            .get(&line.id)
            .copied()
            .unwrap_or(line.quantity)
    }

    pub fn refunds_with_note(&self, note: &str) -> usize {
        self.orders
            .values()
            .flat_map(|o| &o.refunds)
            .filter(|r| r.note.as_deref() == Some(note))
            .count()
    }
}

#[derive(Clone)]
pub struct Simulator {
    pub addr: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
    faults: Faults<Fault>,
    bucket: Arc<Mutex<Bucket>>,
}
pub fn money(minor: i64, currency: Currency) -> Value {
    json!({ "amount": Money::new(minor, currency).to_decimal_string(), "currencyCode": currency.code() })
}

fn shop_money(minor: i64, currency: Currency) -> Value {
    json!({ "shopMoney": money(minor, currency) })
}

/// A MoneyBag of an amount of `o` (in the shop's currency): both amounts, the presentment one
/// at the order's rate (the same as the shop's when the customer paid in it).
fn bag(ledger: &Ledger, o: &SimOrder, minor: i64) -> Value {
    let presentment = match ledger.presentment.get(&o.id) {
        Some(p) => money(p.of(minor, o.currency), p.currency),
        None => money(minor, o.currency),
    };
    json!({ "shopMoney": money(minor, o.currency), "presentmentMoney": presentment })
}

fn parse_money(v: &Value) -> Option<(i64, String)> {
    let code = v.get("currencyCode")?.as_str()?.to_owned();
    let currency: Currency = code.parse().ok()?;
    let amount = match v.get("amount")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some((Money::parse(&amount, currency).ok()?.minor, code))
}

/// `created_at:>='…'` / `updated_at:>='…'` / `tag:'…'` of a search query.
fn search_term(query: &str, field: &str) -> Option<String> {
    let start = query.find(field)? + field.len();
    let rest = &query[start..];
    let rest = rest.trim_start_matches(":>=").trim_start_matches(':');
    let rest = rest.trim_start_matches(['\'', '"', '\\']);
    let end = rest.find(['\'', '"', '\\'])?;
    Some(rest[..end].to_owned())
}

fn order_filter(query: Option<&str>) -> Option<(String, String)> {
    let q = query?;
    for field in ["updated_at", "created_at"] {
        if let Some(v) = search_term(q, field) {
            return Some((field.to_owned(), v));
        }
    }
    None
}

fn matches(order: &SimOrder, filter: &Option<(String, String)>) -> bool {
    match filter {
        None => true,
        Some((field, since)) => {
            let value = if field == "updated_at" {
                &order.updated_at
            } else {
                &order.created_at
            };
            value.as_str() >= since.as_str()
        }
    }
}

/// What a document asks of the `field` connection: `first` (a literal or a variable; Shopify
/// refuses more than 250 and a connection without `first` or `last`) and `after`.
fn connection_args(query: &str, field: &str, vars: &Value) -> Result<(usize, usize), String> {
    let at = query
        .find(&format!("{field}("))
        .ok_or_else(|| format!("you must provide one of first or last for {field}"))?;
    let args = &query[at + field.len() + 1..];
    let args = &args[..args.find(')').unwrap_or(args.len())];
    let arg = |name: &str| {
        args.split(',')
            .find_map(|a| a.trim().strip_prefix(name))
            .map(|v| v.trim_start().trim_start_matches(':').trim())
            .map(|v| match v.strip_prefix('$') {
                Some(var) => vars[var].clone(),
                None => serde_json::from_str(v).unwrap_or(Value::Null),
            })
    };
    let first = arg("first")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| format!("you must provide one of first or last for {field}"))?;
    if first > 250 {
        return Err(format!("{field}: first cannot exceed 250"));
    }
    let start = arg("after")
        .and_then(|v| v.as_str().map(str::to_owned))
        .and_then(|c| {
            c.strip_prefix("line-")
                .and_then(|n| n.parse::<usize>().ok())
        })
        .map_or(0, |n| n + 1);
    Ok((first as usize, start))
}

/// The first `first` of `o`'s fulfillment orders, as a connection.
fn fulfillment_page(o: &SimOrder, first: usize) -> Value {
    json!({
        "pageInfo": { "hasNextPage": o.fulfillment_orders.len() > first },
        "nodes": o.fulfillment_orders.iter().take(first).map(SimFulfillmentOrder::json)
            .collect::<Vec<_>>(),
    })
}

/// A page of `o`'s line items, as a connection: at most `first` from `start`.
fn lines_page(o: &SimOrder, first: usize, start: usize) -> Value {
    let page: Vec<Value> = o
        .lines
        .iter()
        .skip(start)
        .take(first)
        .map(|l| line_json(l, o.currency))
        .collect();
    let end = start + page.len();
    json!({
        "pageInfo": { "hasNextPage": end < o.lines.len(),
                      "endCursor": (end > start).then(|| format!("line-{}", end - 1)) },
        "nodes": page,
    })
}

fn order_json(o: &SimOrder, lines: Option<(usize, usize)>) -> Value {
    let c = o.currency;
    let mut v = json!({
        "id": o.id,
        "name": o.name,
        "email": o.email,
        "createdAt": o.created_at,
        "updatedAt": o.updated_at,
        "currencyCode": c.code(),
        "tags": o.tags,
        "discountCodes": o.discount_codes,
        "customer": { "displayName": o.customer },
        "shippingAddress": { "countryCodeV2": o.country },
        "subtotalPriceSet": shop_money(o.subtotal(), c),
        "totalDiscountsSet": shop_money(o.discount(), c),
        "totalPriceSet": shop_money(o.total(), c),
    });
    if let Some((first, start)) = lines {
        v["lineItems"] = lines_page(o, first, start);
    }
    v
}

fn line_json(l: &SimLine, c: Currency) -> Value {
    json!({
        "id": l.id,
        "sku": l.sku,
        "title": l.title,
        "quantity": l.quantity,
        "variant": { "id": format!("{}-variant", l.id), "barcode": l.barcode },
        "image": l.image.as_ref().map(|url| json!({ "url": url })),
        "product": { "tags": l.product_tags },
        "originalUnitPriceSet": shop_money(l.unit_price, c),
        "discountAllocations": if l.discount > 0 {
            json!([{ "allocatedAmountSet": shop_money(l.discount, c) }])
        } else {
            json!([])
        },
    })
}

/// What a request did, and how to answer.
enum Outcome {
    Data(Value),
    Errors(Vec<Value>),
    Throttled,
}

impl Simulator {
    /// Starts the simulator on its own thread and runtime; it runs until the process ends.
    pub fn start(shop_name: &str) -> Simulator {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let sim = Simulator {
            addr: listener.local_addr().unwrap(),
            ledger: Arc::new(Mutex::new(Ledger {
                shop_name: shop_name.to_owned(),
                granted_scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                app_token_lifetime: Duration::from_secs(24 * 3600),
                offline_token_lifetime: Duration::from_secs(3600),
                ..Ledger::default()
            })),
            faults: Faults::new(&Fault::ALL),
            bucket: Arc::new(Mutex::new(Bucket {
                maximum: 1000.0,
                available: 1000.0,
                restore_rate: 50.0,
                at: Instant::now(),
            })),
        };
        let server = sim.clone();
        super::receiver::serve_forever("shopify-simulator", listener, Some(2), move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        sim
    }

    /// The base the client is given as its shop domain.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Faults on a `rate` share of requests, drawn from `seed`; answers held for `hold`
    /// (longer than the client's timeout) and slowed by `slow`.
    pub fn inject(&self, rate: f64, seed: u64, hold: Duration, slow: Duration) {
        self.faults.inject(rate, seed, hold, slow);
    }

    /// The next requests get these faults, in order.
    pub fn force(&self, faults: &[Fault]) {
        self.faults.force(faults);
    }

    /// The next requests, in order, get these faults or (`None`) none.
    pub fn force_sequence(&self, faults: &[Option<Fault>]) {
        self.faults.force_sequence(faults);
    }

    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.faults.injected()
    }

    pub fn set_bucket(&self, maximum: f64, restore_rate: f64) {
        let mut b = self.bucket.lock().unwrap();
        b.maximum = maximum;
        b.available = maximum;
        b.restore_rate = restore_rate;
        b.at = Instant::now();
    }

    /// `/admin/oauth/access_token`, as Shopify documents it: the client credentials grant
    /// (`grant_type=client_credentials`), an install's refresh (`grant_type=refresh_token`),
    /// or an authorization code's exchange (`code`, and `expiring=1` for an expiring offline
    /// token with its refresh token). Each checks the app's client ID and secret; a token
    /// with the granted scopes and (but for a non-expiring one) its lifetime in seconds, or 400
    /// with the OAuth error.
    fn grant_token(&self, body: &[u8]) -> (u16, Value) {
        let form: HashMap<String, String> = form_pairs(&String::from_utf8_lossy(body))
            .into_iter()
            .collect();
        let field = |k: &str| form.get(k).map(String::as_str);
        let oauth_error = |error: &str, description: &str| {
            (
                400,
                json!({ "error": error, "error_description": description }),
            )
        };
        if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
            return oauth_error("invalid_client", "Client authentication failed");
        }
        let mut ledger = self.ledger();
        match (field("grant_type"), field("code")) {
            (Some("client_credentials"), _) => {
                let lifetime = ledger.app_token_lifetime;
                let token = ledger.issue_token(lifetime);
                (
                    200,
                    json!({ "access_token": token, "scope": ledger.granted_scopes.join(","),
                        "expires_in": lifetime.as_secs() }),
                )
            }
            (Some("refresh_token"), _) => {
                let given = field("refresh_token").unwrap_or_default().to_owned();
                let Some(grant) = ledger.refresh_tokens.get(&given).cloned() else {
                    return oauth_error(
                        "invalid_grant",
                        "The refresh token is invalid or was revoked",
                    );
                };
                // Its use retires the token it replaced.
                if let Some(old) = grant.replaces {
                    ledger.refresh_tokens.remove(&old);
                }
                ledger.refreshes += 1;
                let lifetime = ledger.offline_token_lifetime;
                let token = ledger.issue_token(lifetime);
                let next = ledger.issue_refresh_token(&grant.scopes, Some(given));
                (
                    200,
                    json!({ "access_token": token, "scope": grant.scopes.join(","),
                        "expires_in": lifetime.as_secs(), "refresh_token": next,
                        "refresh_token_expires_in": 7_776_000 }),
                )
            }
            (None, Some(code)) => {
                let fresh = ledger
                    .auth_codes
                    .get_mut(code)
                    .filter(|c| !c.used && c.issued.elapsed() < Duration::from_secs(60));
                let Some(grant) = fresh else {
                    return oauth_error(
                        "invalid_request",
                        "The authorization code was not found or was already used",
                    );
                };
                grant.used = true;
                let scopes = grant.scopes.clone();
                ledger.codes_exchanged += 1;
                if field("expiring") == Some("1") {
                    let lifetime = ledger.offline_token_lifetime;
                    let token = ledger.issue_token(lifetime);
                    let refresh = ledger.issue_refresh_token(&scopes, None);
                    (
                        200,
                        json!({ "access_token": token, "scope": scopes.join(","),
                            "expires_in": lifetime.as_secs(), "refresh_token": refresh,
                            "refresh_token_expires_in": 7_776_000 }),
                    )
                } else {
                    let token = ledger.issue_token(Duration::from_secs(10 * 365 * 86_400));
                    (
                        200,
                        json!({ "access_token": token, "scope": scopes.join(",") }),
                    )
                }
            }
            _ => oauth_error(
                "unsupported_grant_type",
                "grant_type must be client_credentials or refresh_token, or a code given",
            ),
        }
    }

    /// `/admin/oauth/authorize`: the merchant approves the app at once (a test stands in for
    /// the person) and Shopify sends the browser to the redirect URI with a code, the shop,
    /// the state, a timestamp and `host`, signed (`hmac`) as Shopify's documentation says:
    /// hex HMAC-SHA256 under the client secret of the other parameters sorted and
    /// form-encoded. An unknown client ID or a redirect URI the app does not list is refused
    /// on Shopify's page (the browser goes nowhere).
    fn authorize(&self, query: &str) -> Result<String, (u16, String)> {
        let pairs = form_pairs(query);
        let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if field("client_id").as_deref() != Some(CLIENT_ID) {
            return Err((404, "Oauth error: the app was not found".into()));
        }
        let redirect = field("redirect_uri").unwrap_or_default();
        let mut ledger = self.ledger();
        if !ledger.redirect_uris.contains(&redirect) {
            return Err((
                400,
                "Oauth error invalid_request: The redirect_uri is not whitelisted".into(),
            ));
        }
        let asked: Vec<String> = field("scope")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let scopes = ledger.install_grants.clone().unwrap_or(asked);
        ledger.granted_scopes = scopes.clone();
        ledger.installs += 1;
        let code = format!(
            "{:032x}",
            0x5eed_c0de_u128 * 1_000_003 + ledger.installs as u128
        );
        ledger.auth_codes.insert(
            code.clone(),
            AuthCode {
                scopes,
                issued: Instant::now(),
                used: false,
            },
        );
        drop(ledger);
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        let host = base64_std(format!("admin.shopify.com/store/{}", self.addr.port()).as_bytes());
        let params = vec![
            ("code".to_owned(), code),
            ("host".to_owned(), host),
            ("shop".to_owned(), self.base()),
            ("state".to_owned(), field("state").unwrap_or_default()),
            ("timestamp".to_owned(), timestamp),
        ];
        let separator = if redirect.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{redirect}{separator}{}",
            Simulator::signed_query(&params)
        ))
    }

    /// `params` with the `hmac` Shopify adds to the requests it sends an app (the install
    /// request, the OAuth callback), as a query string.
    pub fn signed_query(params: &[(String, String)]) -> String {
        use hmac::Mac;
        let mut sorted: Vec<&(String, String)> = params.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let message: Vec<String> = sorted
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes())
            .expect("any key length");
        mac.update(message.join("&").as_bytes());
        let hmac: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut all: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        all.push(format!("hmac={hmac}"));
        all.join("&")
    }

    /// Lists a redirect URI in the app's configuration.
    pub fn allow_redirect(&self, uri: &str) {
        self.ledger().redirect_uris.push(uri.to_owned());
    }

    /// The merchant uninstalls the app: its tokens and refresh tokens stop working.
    pub fn uninstall(&self) {
        let mut ledger = self.ledger();
        ledger.app_tokens.clear();
        ledger.refresh_tokens.clear();
    }

    /// Replaces the scopes the shop granted.
    pub fn grant_scopes(&self, scopes: &[&str]) {
        self.ledger().granted_scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Every app token issued so far stops working (as when a merchant rotates the secret);
    /// refresh tokens still renew them.
    pub fn revoke_app_tokens(&self) {
        self.ledger().app_tokens.clear();
    }

    pub fn add_order(&self, order: SimOrder) {
        self.ledger().orders.insert(order.id.clone(), order);
    }

    pub fn add_return(&self, shop_return: SimReturn) {
        self.ledger().returns.push(shop_return);
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(SimRequest {
            line: request_line,
            headers,
            body,
        }) = read_sim_request(&mut stream).await
        else {
            return;
        };
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if request_line.starts_with("GET ") {
            if let Some(query) = path.strip_prefix("/admin/oauth/authorize?") {
                return match self.authorize(query) {
                    Ok(location) => redirect(&mut stream, &location).await,
                    Err((status, page)) => {
                        respond(&mut stream, status, "text/plain", page.as_bytes()).await
                    }
                };
            }
            if let Some(id) = path.strip_prefix("/bulk/") {
                let body = self.bulk_file(id.trim_end_matches(".jsonl"));
                return respond(&mut stream, 200, "application/jsonl", body.as_bytes()).await;
            }
            return respond(&mut stream, 404, "text/plain", b"not found").await;
        }
        if path == "/admin/oauth/access_token" {
            let (status, answer) = self.grant_token(&body);
            return respond(
                &mut stream,
                status,
                "application/json",
                answer.to_string().as_bytes(),
            )
            .await;
        }
        let endpoint = format!(
            "/admin/api/{}/graphql.json",
            returnhub_connectors::API_VERSION
        );
        if path != endpoint {
            return respond(&mut stream, 404, "text/plain", b"no such API version").await;
        }
        let token = headers.get("x-shopify-access-token").map(String::as_str);
        let valid = token == Some(TOKEN)
            || token.is_some_and(|t| {
                self.ledger()
                    .app_tokens
                    .get(t)
                    .is_some_and(|expires| Instant::now() < *expires)
            });
        if !valid {
            let body = json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" });
            return respond(
                &mut stream,
                401,
                "application/json",
                body.to_string().as_bytes(),
            )
            .await;
        }
        let fault = self.faults.next();
        match fault {
            Some(Fault::ServerError) => {
                return respond(&mut stream, 502, "text/html", b"<h1>502 Bad Gateway</h1>").await
            }
            Some(Fault::DropBeforeCommit) => return drop(stream),
            Some(Fault::Slow) => {
                let slow = self.faults.slow();
                tokio::time::sleep(slow).await;
            }
            _ => {}
        }
        let request: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let body = json!({ "errors": [{ "message": format!("invalid JSON: {e}") }] });
                return respond(
                    &mut stream,
                    400,
                    "application/json",
                    body.to_string().as_bytes(),
                )
                .await;
            }
        };
        if fault == Some(Fault::LateCommit) {
            let key = request["variables"]["key"].as_str().map(str::to_owned);
            if let Some(key) = &key {
                self.ledger().pending_keys.insert(key.clone());
            }
            drop(stream);
            let hold = self.faults.hold();
            tokio::time::sleep(hold).await;
            if let Some(key) = &key {
                self.ledger().pending_keys.remove(key);
            }
            self.answer(&request, false);
            return;
        }
        let answer = self.answer(&request, fault == Some(Fault::Throttled));
        match fault {
            Some(Fault::DropAfterCommit) => drop(stream),
            Some(Fault::TimeoutAfterCommit) => {
                let hold = self.faults.hold();
                tokio::time::sleep(hold).await;
                drop(stream);
            }
            _ => {
                respond(
                    &mut stream,
                    200,
                    "application/json",
                    answer.to_string().as_bytes(),
                )
                .await
            }
        }
    }

    /// Validates, charges the bucket, runs the operation: the whole JSON answer.
    fn answer(&self, request: &Value, inject_throttle: bool) -> Value {
        let query = request["query"].as_str().unwrap_or_default();
        let name = request["operationName"].as_str().unwrap_or_default();
        let variables = request.get("variables").cloned().unwrap_or(json!({}));
        let document = match schema::validate(query, &format!("{name}.graphql")) {
            Ok(document) => document,
            Err(errors) => {
                self.ledger().invalid_documents += 1;
                return json!({ "errors": [{ "message": errors, "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" } }] });
            }
        };
        // Shopify checks the variables against the operation before it runs anything.
        let operation = (!name.is_empty()).then_some(name);
        if let Err(problem) = schema::check_variables(&document, operation, &variables) {
            self.ledger().invalid_documents += 1;
            return json!({ "errors": [{ "message": format!("Variable invalid: {problem}"),
                "extensions": { "code": "INVALID_VARIABLE" } }] });
        }
        let cost = documents::ALL
            .iter()
            .find(|d| d.name == name)
            .map_or(10.0, |d| f64::from(d.estimated_cost.max(1)));
        let (status, throttled) = {
            let mut b = self.bucket.lock().unwrap();
            b.refill();
            let short = b.available < cost;
            if !short && !inject_throttle {
                b.available -= cost;
            }
            let available = if inject_throttle {
                b.available.min(cost - 1.0).max(0.0)
            } else {
                b.available
            };
            (
                json!({ "maximumAvailable": b.maximum, "currentlyAvailable": available, "restoreRate": b.restore_rate }),
                short || inject_throttle,
            )
        };
        if throttled && !inject_throttle {
            self.ledger().throttled_by_bucket += 1;
        }
        let outcome = if throttled {
            Outcome::Throttled
        } else {
            let mut ledger = self.ledger();
            ledger.operations.push(name.to_owned());
            run(&mut ledger, name, query, &variables, &self.base())
        };
        let extensions = json!({ "cost": {
            "requestedQueryCost": cost,
            "actualQueryCost": if throttled { Value::Null } else { json!(cost) },
            "throttleStatus": status,
        }});
        match outcome {
            Outcome::Data(data) => json!({ "data": data, "extensions": extensions }),
            Outcome::Errors(errors) => json!({ "errors": errors, "extensions": extensions }),
            Outcome::Throttled => json!({
                "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
                "extensions": extensions,
            }),
        }
    }

    fn bulk_file(&self, id: &str) -> String {
        let ledger = self.ledger();
        let Some(op) = ledger
            .bulk
            .get(&format!("gid://shopify/BulkOperation/{id}"))
        else {
            return String::new();
        };
        let mut orders: Vec<&SimOrder> = ledger
            .orders
            .values()
            .filter(|o| matches(o, &op.filter))
            .collect();
        orders.sort_by(|a, b| (&a.updated_at, &a.id).cmp(&(&b.updated_at, &b.id)));
        let mut lines = Vec::new();
        for o in orders {
            lines.push(order_json(o, None).to_string());
            for l in &o.lines {
                let mut line = line_json(l, o.currency);
                line["__parentId"] = json!(o.id);
                lines.push(line.to_string());
            }
        }
        // Ungrouped output (`groupObjects: false`, the default) is in no particular order:
        // Shopify documents only that a child names its parent. Shuffled (the same way for
        // the same operation), a line item comes before its order, after it or far from it.
        let mut state = id.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
        });
        for i in (1..lines.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lines.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn user_error(field: &[&str], message: &str, code: Option<&str>) -> Value {
    json!({ "field": field, "message": message, "code": code })
}

impl Ledger {
    /// Whether the shop granted `scope` (a `write_` scope grants its `read_` one).
    fn grants(&self, scope: &str) -> bool {
        self.granted_scopes.iter().any(|g| g == scope)
            || scope.strip_prefix("read_").is_some_and(|rest| {
                self.granted_scopes
                    .iter()
                    .any(|g| g.strip_prefix("write_") == Some(rest))
            })
    }
}

/// Runs one valid operation against the ledger.
fn run(ledger: &mut Ledger, name: &str, query: &str, vars: &Value, base: &str) -> Outcome {
    let not_found =
        |what: &str| Outcome::Errors(vec![json!({ "message": format!("{what} not found") })]);
    match name {
        "ShopName" => Outcome::Data(json!({ "shop": { "name": ledger.shop_name } })),
        "OrdersCount" => {
            let filter = order_filter(vars["query"].as_str());
            let n = ledger
                .orders
                .values()
                .filter(|o| matches(o, &filter))
                .count();
            Outcome::Data(json!({ "ordersCount": { "count": n, "precision": "EXACT" } }))
        }
        "OrdersPage" => {
            let filter = order_filter(vars["query"].as_str());
            let mut orders: Vec<&SimOrder> = ledger
                .orders
                .values()
                .filter(|o| matches(o, &filter))
                .collect();
            orders.sort_by(|a, b| (&a.updated_at, &a.id).cmp(&(&b.updated_at, &b.id)));
            let first = vars["first"].as_u64().unwrap_or(50).min(250) as usize;
            let start = vars["after"]
                .as_str()
                .and_then(|c| c.strip_prefix("cursor-"))
                .and_then(|n| n.parse::<usize>().ok())
                .map_or(0, |n| n + 1);
            let lines = match connection_args(query, "lineItems", vars) {
                Ok(args) => args,
                Err(e) => return Outcome::Errors(vec![json!({ "message": e })]),
            };
            let page: Vec<Value> = orders
                .iter()
                .skip(start)
                .take(first)
                .map(|o| order_json(o, Some(lines)))
                .collect();
            let end = start + page.len();
            Outcome::Data(json!({ "orders": {
                "pageInfo": { "hasNextPage": end < orders.len(),
                              "endCursor": (end > start).then(|| format!("cursor-{}", end - 1)) },
                "nodes": page,
            }}))
        }
        "OrderById" | "OrderLines" => {
            let lines = match connection_args(query, "lineItems", vars) {
                Ok(args) => args,
                Err(e) => return Outcome::Errors(vec![json!({ "message": e })]),
            };
            match ledger.orders.get(vars["id"].as_str().unwrap_or_default()) {
                Some(o) if name == "OrderLines" => Outcome::Data(
                    json!({ "order": { "lineItems": lines_page(o, lines.0, lines.1) } }),
                ),
                Some(o) => Outcome::Data(json!({ "order": order_json(o, Some(lines)) })),
                None => Outcome::Data(json!({ "order": null })),
            }
        }
        "BulkRun" => {
            let inner = vars["query"].as_str().unwrap_or_default();
            if let Err(e) = schema::validate(inner, "bulk.graphql") {
                return Outcome::Data(json!({ "bulkOperationRunQuery": { "bulkOperation": null,
                    "userErrors": [user_error(&["query"], &e, None)] } }));
            }
            let id = ledger.gid("BulkOperation");
            ledger.bulk.insert(
                id.clone(),
                BulkOp {
                    filter: order_filter(Some(inner)),
                    polls: 0,
                },
            );
            Outcome::Data(json!({ "bulkOperationRunQuery": {
                "bulkOperation": { "id": id, "status": "CREATED" }, "userErrors": [] } }))
        }
        "BulkStatus" => {
            let id = vars["id"].as_str().unwrap_or_default().to_owned();
            let Some(op) = ledger.bulk.get_mut(&id) else {
                return Outcome::Data(json!({ "bulkOperation": null }));
            };
            op.polls += 1;
            let filter = op.filter.clone();
            let done = op.polls >= 2;
            let roots = ledger
                .orders
                .values()
                .filter(|o| matches(o, &filter))
                .count();
            let lines: usize = ledger
                .orders
                .values()
                .filter(|o| matches(o, &filter))
                .map(|o| o.lines.len())
                .sum();
            let number = id.rsplit('/').next().unwrap_or_default();
            Outcome::Data(json!({ "bulkOperation": {
                "id": id,
                "status": if done { "COMPLETED" } else { "RUNNING" },
                "errorCode": null,
                "objectCount": (roots + lines).to_string(),
                "rootObjectCount": roots.to_string(),
                "url": (done && roots > 0).then(|| format!("{base}/bulk/{number}.jsonl")),
            }}))
        }
        "SuggestedRefund" => {
            let Some(order) = ledger
                .orders
                .get(vars["orderId"].as_str().unwrap_or_default())
            else {
                return Outcome::Data(json!({ "order": null }));
            };
            let c = order.currency;
            let mut amount = 0;
            let mut lines = Vec::new();
            for l in vars["lines"].as_array().into_iter().flatten() {
                let id = l["lineItemId"].as_str().unwrap_or_default();
                let Some(line) = order.lines.iter().find(|x| x.id == id) else {
                    continue;
                };
                let left = line.quantity - order.refunded_quantity(id);
                let q = l["quantity"].as_u64().unwrap_or(0).min(u64::from(left)) as u32;
                amount += order.line_net(line) * i64::from(q);
                let restock = l["restockType"].as_str().unwrap_or("NO_RESTOCK");
                lines.push(json!({ "lineItem": { "id": id },
                    "location": (restock != "NO_RESTOCK").then(|| json!({ "id": LOCATION })) }));
            }
            let paid_left = order.payment.2 - order.refunded_amount();
            let amount = amount.min(paid_left).max(0);
            let presentment = ledger.presentment.get(&order.id).map_or(c, |p| p.currency);
            Outcome::Data(json!({ "order": { "id": order.id,
                "currencyCode": c.code(), "presentmentCurrencyCode": presentment.code(),
                "suggestedRefund": {
                "amountSet": bag(ledger, order, amount),
                "refundLineItems": lines,
                "suggestedTransactions": [{
                    "gateway": order.payment.1, "kind": "SUGGESTED_REFUND",
                    "amountSet": bag(ledger, order, amount),
                    "parentTransaction": { "id": order.payment.0 },
                }],
            }}}))
        }
        "RefundCreate" => {
            if !query.contains("@idempotent") {
                return Outcome::Errors(vec![
                    json!({ "message": "refundCreate requires the @idempotent directive" }),
                ]);
            }
            let key = vars["key"].as_str().unwrap_or_default().to_owned();
            if ledger.pending_keys.contains(&key) {
                return Outcome::Errors(vec![json!({
                    "message": "A request with this idempotency key is already being processed",
                    "extensions": { "code": "IDEMPOTENCY_CONCURRENT_REQUEST" } })]);
            }
            if let Some(first) = ledger.idempotent.get(&key) {
                return Outcome::Data(first.clone());
            }
            if let Some(reason) = &ledger.refuse_refunds {
                // The key keeps the first request's result, whatever it was (the strict
                // reading of Shopify's idempotency docs): a repeat is refused again.
                let answer = json!({ "refundCreate": { "refund": null,
                    "userErrors": [user_error(&["orderId"], reason, None)] } });
                ledger.idempotent.insert(key, answer.clone());
                return Outcome::Data(answer);
            }
            let input = &vars["input"];
            let order_id = input["orderId"].as_str().unwrap_or_default().to_owned();
            let refund_id = ledger.gid("Refund");
            let presentment = ledger.presentment.get(&order_id).copied();
            let Some(order) = ledger.orders.get_mut(&order_id) else {
                return not_found("order");
            };
            // RefundInput.currency: "required for orders where the currency and presentment
            // currency differ"; it must be the presentment currency, and every amount of the
            // refund is in it.
            let paid_in = presentment.map_or(order.currency, |p| p.currency);
            let refund_currency = match input["currency"].as_str() {
                Some(code) if code == paid_in.code() => paid_in,
                Some(code) => {
                    return Outcome::Data(json!({ "refundCreate": { "refund": null,
                        "userErrors": [user_error(&["currency"], &format!("Currency {code} must be the order's presentment currency {}", paid_in.code()), None)] } }))
                }
                None if paid_in != order.currency => {
                    return Outcome::Data(json!({ "refundCreate": { "refund": null,
                        "userErrors": [user_error(&["currency"], "Currency is required for orders where the currency and presentment currency differ", None)] } }))
                }
                None => order.currency,
            };
            let in_paid = |shop_minor: i64| {
                presentment.map_or(shop_minor, |p| p.of(shop_minor, order.currency))
            };
            let mut lines = Vec::new();
            for l in input["refundLineItems"].as_array().into_iter().flatten() {
                let id = l["lineItemId"].as_str().unwrap_or_default().to_owned();
                let q = l["quantity"].as_u64().unwrap_or(0) as u32;
                let Some(line) = order.lines.iter().find(|x| x.id == id) else {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["refundLineItems"], "line item not found", None)] } }),
                    );
                };
                if q + order.refunded_quantity(&id) > line.quantity {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["refundLineItems", "quantity"], "cannot refund more items than were purchased", None)] } }),
                    );
                }
                let restock = l["restockType"].as_str().unwrap_or("NO_RESTOCK").to_owned();
                let location = l["locationId"].as_str().map(str::to_owned);
                if restock == "RETURN" && location.is_none() {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["refundLineItems", "locationId"], "a location is required to restock", None)] } }),
                    );
                }
                lines.push((id, q, restock, location));
            }
            let mut amount = 0;
            for t in input["transactions"].as_array().into_iter().flatten() {
                let Some((minor, code)) = parse_money(
                    &json!({ "amount": t["amount"], "currencyCode": refund_currency.code() }),
                ) else {
                    return Outcome::Errors(vec![json!({ "message": "bad amount" })]);
                };
                let _ = code;
                if t["parentId"].as_str() != Some(order.payment.0.as_str()) {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["transactions", "parentId"], "parent transaction not found", None)] } }),
                    );
                }
                amount += minor;
            }
            let mut store_credit = None;
            for m in input["refundMethods"].as_array().into_iter().flatten() {
                let credit = &m["storeCreditRefund"];
                let Some((minor, code)) = parse_money(&credit["amount"]) else {
                    return Outcome::Errors(vec![json!({ "message": "bad store credit amount" })]);
                };
                if code != refund_currency.code() {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["refundMethods", "storeCreditRefund", "amount"], "store credit must be in the refund's currency", None)] } }),
                    );
                }
                if store_credit.is_some() {
                    return Outcome::Data(
                        json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["refundMethods"], "only one store credit refund method is allowed", None)] } }),
                    );
                }
                amount += minor;
                store_credit = Some((minor, credit["expiresAt"].as_str().map(str::to_owned)));
            }
            if amount > in_paid(order.payment.2 - order.refunded_amount()) {
                return Outcome::Data(
                    json!({ "refundCreate": { "refund": null, "userErrors": [user_error(&["transactions"], "amount exceeds the refundable amount", None)] } }),
                );
            }
            let shop_amount = match presentment {
                Some(p) if refund_currency != order.currency => p.to_shop(amount, order.currency),
                _ => amount,
            };
            let note = input["note"].as_str().map(str::to_owned);
            order.refunds.push(SimRefund {
                id: refund_id.clone(),
                note: note.clone(),
                lines,
                amount: shop_amount,
                store_credit,
                paid_back: Some((amount, refund_currency)),
            });
            let answer = json!({ "refundCreate": { "refund": { "id": refund_id, "note": note }, "userErrors": [] } });
            ledger.idempotent.insert(key, answer.clone());
            Outcome::Data(answer)
        }
        "OrderRefunds" => match ledger
            .orders
            .get(vars["orderId"].as_str().unwrap_or_default())
        {
            Some(o) => Outcome::Data(json!({ "order": { "id": o.id,
                "refunds": o.refunds.iter().map(|r| {
                    let (minor, currency) = r.paid_back.unwrap_or((r.amount, o.currency));
                    json!({ "id": r.id, "note": r.note, "totalRefundedSet": {
                        "shopMoney": money(r.amount, o.currency),
                        "presentmentMoney": money(minor, currency) } })
                }).collect::<Vec<_>>() } })),
            None => Outcome::Data(json!({ "order": null })),
        },
        "GiftCardCreate"
            if vars["input"]["customerId"].is_string() && !ledger.grants("write_customers") =>
        {
            Outcome::Errors(vec![json!({
                "message": "Access denied for customerId. Required access: `write_customers` access scope.",
                "extensions": { "code": "ACCESS_DENIED" } })])
        }
        "GiftCardCreate" => {
            let input = &vars["input"];
            let code = input["code"].as_str().unwrap_or_default().to_owned();
            if ledger
                .gift_cards
                .iter()
                .any(|g| g.code.eq_ignore_ascii_case(&code))
            {
                return Outcome::Data(json!({ "giftCardCreate": { "giftCard": null,
                    "userErrors": [user_error(&["input", "code"], "Code has already been taken", Some("TAKEN"))] } }));
            }
            let Some((amount, currency)) = parse_money(&input["initialAmount"]) else {
                return Outcome::Data(json!({ "giftCardCreate": { "giftCard": null,
                    "userErrors": [user_error(&["input", "initialAmount"], "is invalid", Some("INVALID"))] } }));
            };
            let customer_id = input["customerId"].as_str().map(str::to_owned);
            if let Some(customer) = &customer_id {
                if !ledger
                    .orders
                    .values()
                    .any(|o| o.customer_id().as_ref() == Some(customer))
                {
                    return Outcome::Data(json!({ "giftCardCreate": { "giftCard": null,
                        "userErrors": [user_error(&["input", "customerId"], "Customer does not exist", Some("CUSTOMER_NOT_FOUND"))] } }));
                }
            }
            let id = ledger.gid("GiftCard");
            ledger.gift_cards.push(SimGiftCard {
                id: id.clone(),
                code: code.clone(),
                amount,
                currency,
                expires_on: input["expiresOn"].as_str().map(str::to_owned),
                note: input["note"].as_str().map(str::to_owned),
                customer_id,
                notified: 0,
            });
            let last = code[code.len().saturating_sub(4)..].to_owned();
            Outcome::Data(
                json!({ "giftCardCreate": { "giftCard": { "id": id, "lastCharacters": last }, "userErrors": [] } }),
            )
        }
        "AppScopes" => Outcome::Data(json!({ "currentAppInstallation": { "accessScopes":
            ledger.granted_scopes.iter().map(|s| json!({ "handle": s })).collect::<Vec<_>>() } })),
        "OrderCustomer" if !ledger.grants("read_customers") => Outcome::Errors(vec![json!({
            "message": "Access denied for customer field. Required access: `read_customers` access scope.",
            "extensions": { "code": "ACCESS_DENIED" } })]),
        "OrderCustomer" => match ledger.orders.get(vars["id"].as_str().unwrap_or_default()) {
            Some(o) => Outcome::Data(json!({ "order": { "id": o.id,
                "customer": o.customer_id().map(|id| json!({ "id": id })) } })),
            None => Outcome::Data(json!({ "order": null })),
        },
        "GiftCardNotify" => {
            let id = vars["id"].as_str().unwrap_or_default();
            let Some(card) = ledger.gift_cards.iter_mut().find(|g| g.id == id) else {
                return not_found("gift card");
            };
            if card.customer_id.is_none() {
                return Outcome::Data(
                    json!({ "giftCardSendNotificationToCustomer": { "giftCard": null,
                    "userErrors": [user_error(&["id"], "The gift card has no customer to notify", None)] } }),
                );
            }
            card.notified += 1;
            Outcome::Data(json!({ "giftCardSendNotificationToCustomer": {
                "giftCard": { "id": id }, "userErrors": [] } }))
        }
        "GiftCardByCode" => {
            let q = vars["query"].as_str().unwrap_or_default();
            let nodes: Vec<Value> = ledger
                .gift_cards
                .iter()
                .filter(|g| q.contains(&g.code))
                .map(|g| json!({ "id": g.id, "lastCharacters": &g.code[g.code.len() - 4..], "note": g.note }))
                .collect();
            Outcome::Data(json!({ "giftCards": { "nodes": nodes } }))
        }
        "ExchangeHolds" => {
            let tag =
                search_term(vars["query"].as_str().unwrap_or_default(), "tag").unwrap_or_default();
            let Ok((first, _)) = connection_args(query, "fulfillmentOrders", vars) else {
                return Outcome::Errors(vec![
                    json!({ "message": "you must provide one of first or last" }),
                ]);
            };
            let nodes: Vec<Value> = ledger
                .orders
                .values()
                .filter(|o| o.tags.contains(&tag))
                .take(2)
                .map(|o| json!({ "id": o.id, "fulfillmentOrders": fulfillment_page(o, first) }))
                .collect();
            Outcome::Data(json!({ "orders": { "nodes": nodes } }))
        }
        "ReleaseHold" => {
            // As documented: `holdIds` names the holds to release (ids not on this fulfillment
            // order are ignored); without it, every hold goes, whoever placed it.
            let id = vars["id"].as_str().unwrap_or_default();
            let only: Option<Vec<&str>> = vars["holdIds"]
                .as_array()
                .map(|ids| ids.iter().filter_map(Value::as_str).collect());
            for o in ledger.orders.values_mut() {
                if let Some(fo) = o.fulfillment_orders.iter_mut().find(|f| f.id == id) {
                    if fo.status != "ON_HOLD" {
                        return Outcome::Data(
                            json!({ "fulfillmentOrderReleaseHold": { "fulfillmentOrder": null,
                            "userErrors": [user_error(&["id"], "The fulfillment order is not on hold.", None)] } }),
                        );
                    }
                    fo.holds.retain(|h| {
                        only.as_ref()
                            .is_some_and(|ids| !ids.contains(&h.id.as_str()))
                    });
                    if fo.holds.is_empty() {
                        fo.status = "OPEN".into();
                    }
                    return Outcome::Data(json!({ "fulfillmentOrderReleaseHold": {
                        "fulfillmentOrder": { "id": id, "status": fo.status }, "userErrors": [] } }));
                }
            }
            not_found("fulfillment order")
        }
        "ExchangeOrder" => {
            let tag =
                search_term(vars["query"].as_str().unwrap_or_default(), "tag").unwrap_or_default();
            let (Ok((first_lines, _)), Ok((first_fos, _))) = (
                connection_args(query, "lineItems", vars),
                connection_args(query, "fulfillmentOrders", vars),
            ) else {
                return Outcome::Errors(vec![
                    json!({ "message": "you must provide one of first or last" }),
                ]);
            };
            let nodes: Vec<Value> = ledger
                .orders
                .values()
                .filter(|o| o.tags.contains(&tag))
                .take(2)
                .map(|o| {
                    let lines: Vec<Value> = o
                        .lines
                        .iter()
                        .take(first_lines)
                        .map(|l| json!({ "id": l.id, "sku": l.sku, "quantity": l.quantity,
                            "currentQuantity": ledger.current_quantity(l),
                            "customAttributes": ledger.line_attributes.get(&l.id).into_iter().flatten()
                                .map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>() }))
                        .collect();
                    json!({ "id": o.id,
                        "cancelledAt": ledger.cancellations.contains_key(&o.id).then_some("2026-11-24T00:00:00Z"),
                        "lineItems": { "nodes": lines,
                            "pageInfo": { "hasNextPage": o.lines.len() > first_lines } },
                        "fulfillmentOrders": fulfillment_page(o, first_fos) })
                })
                .collect();
            Outcome::Data(json!({ "orders": { "nodes": nodes } }))
        }
        "OrderCancel" => {
            let id = vars["orderId"].as_str().unwrap_or_default().to_owned();
            let refuse = |message: &str, code: &str| {
                Outcome::Data(json!({ "orderCancel": { "job": null,
                    "userErrors": [user_error(&["orderId"], message, Some(code))] } }))
            };
            if ledger.cancellations.contains_key(&id) {
                return refuse("Order has already been cancelled.", "INVALID");
            }
            let Some(order) = ledger.orders.get_mut(&id) else {
                return refuse("Order does not exist.", "NOT_FOUND");
            };
            for fo in &mut order.fulfillment_orders {
                fo.status = "CLOSED".into();
                fo.holds.clear();
            }
            let lines: Vec<String> = order.lines.iter().map(|l| l.id.clone()).collect();
            for line in lines {
                ledger.current_quantities.insert(line, 0);
            }
            *ledger.cancellations.entry(id).or_default() += 1;
            let job = ledger.gid("Job");
            Outcome::Data(
                json!({ "orderCancel": { "job": { "id": job, "done": true }, "userErrors": [] } }),
            )
        }
        "OrderEditBegin" => {
            let id = vars["id"].as_str().unwrap_or_default().to_owned();
            let refuse = |message: &str| {
                Outcome::Data(json!({ "orderEditBegin": { "calculatedOrder": null,
                    "userErrors": [user_error(&["id"], message, None)] } }))
            };
            if ledger.cancellations.contains_key(&id) {
                return refuse("The order is cancelled and cannot be edited.");
            }
            let Some(order) = ledger.orders.get(&id) else {
                return refuse("The order does not exist.");
            };
            let lines: Vec<Value> = order
                .lines
                .iter()
                .map(|l| json!({ "id": calculated_line(&l.id), "sku": l.sku, "quantity": ledger.current_quantity(l) }))
                .collect();
            let calculated = ledger.gid("CalculatedOrder");
            ledger.edits.insert(
                calculated.clone(),
                EditSession {
                    order_id: id,
                    staged: BTreeMap::new(),
                    committed: false,
                },
            );
            Outcome::Data(json!({ "orderEditBegin": {
                "calculatedOrder": { "id": calculated, "lineItems": { "nodes": lines } }, "userErrors": [] } }))
        }
        "OrderEditSetQuantity" => {
            let refuse = |message: &str| {
                Outcome::Data(
                    json!({ "orderEditSetQuantity": { "calculatedLineItem": null,
                    "userErrors": [user_error(&["lineItemId"], message, None)] } }),
                )
            };
            let calculated = vars["lineItemId"].as_str().unwrap_or_default().to_owned();
            let quantity = vars["quantity"].as_i64().unwrap_or(-1);
            let Some(session) = ledger.edits.get(vars["id"].as_str().unwrap_or_default()) else {
                return refuse("The order edit session does not exist.");
            };
            if session.committed {
                return refuse("The order edit has already been committed.");
            }
            let Some(line) = ledger.orders[&session.order_id]
                .lines
                .iter()
                .find(|l| calculated_line(&l.id) == calculated)
                .map(|l| l.id.clone())
            else {
                return refuse("The line item does not exist on the order.");
            };
            if quantity < 0 {
                return refuse("The quantity cannot be negative.");
            }
            let session = ledger
                .edits
                .get_mut(vars["id"].as_str().unwrap_or_default())
                .unwrap();
            session.staged.insert(line, quantity as u32);
            Outcome::Data(json!({ "orderEditSetQuantity": {
                "calculatedLineItem": { "id": calculated, "quantity": quantity }, "userErrors": [] } }))
        }
        "OrderEditCommit" => {
            let id = vars["id"].as_str().unwrap_or_default().to_owned();
            let refuse = |message: &str| {
                Outcome::Data(json!({ "orderEditCommit": { "order": null,
                    "userErrors": [user_error(&["id"], message, None)] } }))
            };
            let Some(session) = ledger.edits.get(&id).cloned() else {
                return refuse("The order edit session does not exist.");
            };
            if session.committed {
                return refuse("The order edit has already been committed.");
            }
            if ledger.cancellations.contains_key(&session.order_id) {
                return refuse("The order is cancelled and cannot be edited.");
            }
            for (line_id, quantity) in &session.staged {
                let Some(line) = ledger.orders[&session.order_id]
                    .lines
                    .iter()
                    .find(|l| &l.id == line_id)
                    .cloned()
                else {
                    continue;
                };
                if ledger.current_quantity(&line) != *quantity {
                    ledger.current_quantities.insert(line_id.clone(), *quantity);
                    *ledger.quantity_changes.entry(line_id.clone()).or_default() += 1;
                }
            }
            ledger.edits.get_mut(&id).unwrap().committed = true;
            Outcome::Data(
                json!({ "orderEditCommit": { "order": { "id": session.order_id }, "userErrors": [] } }),
            )
        }
        "OrderReturns" => {
            let order_id = vars["orderId"].as_str().unwrap_or_default();
            if !ledger.orders.contains_key(order_id) {
                return Outcome::Data(json!({ "order": null }));
            }
            let (Ok((first, _)), Ok((first_lines, _)), Ok((first_exchanges, _))) = (
                connection_args(query, "returns", vars),
                connection_args(query, "returnLineItems", vars),
                connection_args(query, "exchangeLineItems", vars),
            ) else {
                return Outcome::Errors(vec![
                    json!({ "message": "you must provide one of first or last" }),
                ]);
            };
            let all: Vec<&SimReturn> = ledger
                .returns
                .iter()
                .filter(|r| r.order_id == order_id)
                .collect();
            let nodes: Vec<Value> = all
                .iter()
                .take(first)
                .map(|r| json!({ "id": r.id, "name": r.name, "status": r.status,
                    "returnLineItems": {
                        "pageInfo": { "hasNextPage": r.lines.len() > first_lines },
                        "nodes": r.lines.iter().take(first_lines).map(|(id, line, q, done)| json!({
                        "id": id, "quantity": q, "unprocessedQuantity": q - done,
                        "fulfillmentLineItem": { "lineItem": { "id": line } } })).collect::<Vec<_>>() },
                    "exchangeLineItems": {
                        "pageInfo": { "hasNextPage": r.exchanges.len() > first_exchanges },
                        "nodes": r.exchanges.iter().take(first_exchanges).map(|(id, q, done)| json!({
                        "id": id, "quantity": q, "unprocessedQuantity": q - done })).collect::<Vec<_>>() },
                }))
                .collect();
            Outcome::Data(json!({ "order": { "id": order_id, "returns": {
                "pageInfo": { "hasNextPage": all.len() > first }, "nodes": nodes } } }))
        }
        "ReturnProcess" => {
            let input = &vars["input"];
            let refuse = |message: &str| {
                Outcome::Data(json!({ "returnProcess": { "return": null,
                    "userErrors": [user_error(&["input"], message, Some("INVALID"))] } }))
            };
            let Some(r) = ledger
                .returns
                .iter_mut()
                .find(|r| Some(r.id.as_str()) == input["returnId"].as_str())
            else {
                return refuse("Return does not exist.");
            };
            if r.status != "OPEN" {
                return refuse("Return must be open to be processed.");
            }
            let asked = |list: &str| -> Vec<(String, u32)> {
                input[list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        (
                            l["id"].as_str().unwrap_or_default().to_owned(),
                            l["quantity"].as_u64().unwrap_or(0) as u32,
                        )
                    })
                    .collect()
            };
            let (lines, exchanges) = (asked("returnLineItems"), asked("exchangeLineItems"));
            if lines.is_empty() && exchanges.is_empty() {
                return refuse("Nothing to process.");
            }
            // Check everything before changing anything: Shopify applies all or nothing.
            for (id, q) in &lines {
                match r.lines.iter().find(|l| &l.0 == id) {
                    Some(l) if *q >= 1 && l.3 + q <= l.2 => {}
                    Some(_) => return refuse("Quantity exceeds the unprocessed quantity."),
                    None => return refuse("Return line item does not exist."),
                }
            }
            for (id, q) in &exchanges {
                match r.exchanges.iter().find(|x| &x.0 == id) {
                    Some(x) if *q >= 1 && x.2 + q <= x.1 => {}
                    Some(_) => return refuse("Quantity exceeds the unprocessed quantity."),
                    None => return refuse("Exchange line item does not exist."),
                }
            }
            for (id, q) in lines {
                if let Some(l) = r.lines.iter_mut().find(|l| l.0 == id) {
                    l.3 += q;
                }
            }
            for (id, q) in exchanges {
                if let Some(x) = r.exchanges.iter_mut().find(|x| x.0 == id) {
                    x.2 += q;
                }
            }
            r.processed_by += 1;
            Outcome::Data(json!({ "returnProcess": {
                "return": { "id": r.id, "status": r.status }, "userErrors": [] } }))
        }
        "TagsAdd" => {
            let id = vars["id"].as_str().unwrap_or_default();
            let Some(order) = ledger.orders.get_mut(id) else {
                return Outcome::Data(json!({ "tagsAdd": { "node": null,
                    "userErrors": [user_error(&["id"], "Resource not found", None)] } }));
            };
            for tag in vars["tags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().unwrap_or_default().trim().to_owned();
                if !tag.is_empty() && !order.tags.contains(&tag) {
                    order.tags.push(tag);
                }
            }
            Outcome::Data(json!({ "tagsAdd": { "node": { "id": id }, "userErrors": [] } }))
        }
        "OrderTags" => match ledger.orders.get(vars["id"].as_str().unwrap_or_default()) {
            Some(o) => Outcome::Data(json!({ "order": { "id": o.id, "tags": o.tags } })),
            None => Outcome::Data(json!({ "order": null })),
        },
        other => Outcome::Errors(vec![
            json!({ "message": format!("the simulator does not serve {other}") }),
        ]),
    }
}

/// A form body or query string's pairs: `+` is a space, then `%XX` escapes.
fn form_pairs(s: &str) -> Vec<(String, String)> {
    let decode = |t: &str| super::loop_sim::percent_decode(&t.replace('+', " "));
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The WHATWG form encoding (`application/x-www-form-urlencoded`) of one name or value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 302 to `location`.
async fn redirect(stream: &mut TcpStream, location: &str) {
    let head = format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.shutdown().await;
}

pub async fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Bad Gateway",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}
