//! The embedded demo hub: three retailers with different triggers and rules, 300 orders from
//! the last 30 days and 72 expected returns, generated from a fixed seed so every install shows
//! the same connotes (the README lists some). Dates are relative to the first start so the
//! orders are always "recent". Written through the store's one write path like any import.

use returnhub_core::auth::Role;
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, QcReasonRecord, ReasonRecord, RetailerRecord, ReturnItemRecord,
    ReturnRecord, SubReasonRecord, UserRecord,
};
use returnhub_core::rules::{parse_rule_set, Outcome, RuleSet};
use returnhub_core::time::{rfc3339, UnixMillis, MS_PER_DAY};
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Result, Store};

pub const DEMO_HUB_ID: &str = "AKL";

/// The demo's people: (id, name, badge, PIN, role). The README lists them; the PINs exist
/// only here and in the README, the store keeps Argon2id hashes.
pub const DEMO_USERS: &[(&str, &str, &str, &str, Role)] = &[
    ("u-aroha", "Aroha Ngata", "OP-1001", "1111", Role::Operator),
    ("u-liam", "Liam Parata", "OP-1002", "1212", Role::Operator),
    ("u-sam", "Sam Walker", "SV-2001", "2222", Role::Supervisor),
    ("u-ada", "Ada Clarke", "AD-3001", "3333", Role::Admin),
];
pub const DEMO_HUB_NAME: &str = "Auckland returns hub (demo)";
const OTHER_HUB_ID: &str = "SYD";
const ACTOR: &str = "system:demo";
const SEED: u64 = 0x5EED_2026_1123;

/// A tiny deterministic generator (SplitMix64): the demo must not change between builds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Product {
    code: &'static str,
    title: &'static str,
    image: &'static str,
    /// Price in the retailer's minor units.
    price: i64,
}

const PRODUCTS: &[Product] = &[
    Product {
        code: "TEE",
        title: "Organic cotton tee",
        image: "demo/tee.svg",
        price: 4_900,
    },
    Product {
        code: "HOOD",
        title: "Merino hoodie",
        image: "demo/hoodie.svg",
        price: 17_900,
    },
    Product {
        code: "JEAN",
        title: "Straight-leg jeans",
        image: "demo/jeans.svg",
        price: 12_900,
    },
    Product {
        code: "SNKR",
        title: "Canvas sneakers",
        image: "demo/sneaker.svg",
        price: 11_000,
    },
    Product {
        code: "CAP",
        title: "Six-panel cap",
        image: "demo/cap.svg",
        price: 3_900,
    },
    Product {
        code: "DRSS",
        title: "Linen summer dress",
        image: "demo/dress.svg",
        price: 15_900,
    },
    Product {
        code: "JCKT",
        title: "Waxed rain jacket",
        image: "demo/jacket.svg",
        price: 24_900,
    },
    Product {
        code: "SOCK",
        title: "Wool hiking socks (2 pack)",
        image: "demo/socks.svg",
        price: 2_900,
    },
];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const COLOURS: &[&str] = &["BLK", "NVY", "OAT", "RED", "GRN"];
const FIRST_NAMES: &[&str] = &[
    "Aroha",
    "Liam",
    "Mia",
    "Noah",
    "Ana",
    "Oliver",
    "Isla",
    "Wiremu",
    "Charlotte",
    "Jack",
    "Amelia",
    "Leo",
    "Ruby",
    "Hemi",
    "Grace",
    "Tama",
];
const LAST_NAMES: &[&str] = &[
    "Ngata", "Smith", "Wilson", "Brown", "Taylor", "Walker", "Thompson", "Parata", "Martin",
    "Clarke", "Tane", "Evans",
];

struct RetailerPlan {
    record: RetailerRecord,
    sku_prefix: &'static str,
    home_country: &'static str,
    other_countries: &'static [&'static str],
    orders: u32,
    returns: u32,
    connote_prefix: &'static str,
    connote_country: &'static str,
}

fn reason(code: &str, label: &str, evidence: bool, subs: &[(&str, &str)]) -> ReasonRecord {
    ReasonRecord {
        code: code.into(),
        label: label.into(),
        requires_evidence: evidence,
        sub_reasons: subs
            .iter()
            .map(|(c, l)| SubReasonRecord {
                code: (*c).into(),
                label: (*l).into(),
            })
            .collect(),
    }
}

fn standard_reasons() -> Vec<ReasonRecord> {
    vec![
        reason(
            "FAULTY",
            "Faulty",
            true,
            &[
                ("BROKEN_ZIP", "Broken zip"),
                ("SEAM", "Seam came apart"),
                ("HOLE", "Hole or tear"),
            ],
        ),
        reason(
            "FIT",
            "Isn't the right fit",
            false,
            &[("TOO_SMALL", "Too small"), ("TOO_BIG", "Too big")],
        ),
        reason("CHANGED_MIND", "Changed my mind", false, &[]),
        reason(
            "NOT_AS_PICTURED",
            "Not as pictured",
            false,
            &[("COLOUR", "Colour differs"), ("FABRIC", "Fabric differs")],
        ),
        reason("WRONG_ITEM", "Incorrect item sent", true, &[]),
    ]
}

// The seeds' own examples, spread over the three retailers.
const KOWHAI_RULES: &str = r#"{"rules": [
  {"id": "sale-items", "name": "Sale items", "priority": 1,
   "condition": {"predicate": {"field": "product_tags", "op": "eq", "value": {"text": "Sale Item"}}},
   "outcome": {"kind": "no_action"}},
  {"id": "faulty", "name": "Faulty goods are refunded", "priority": 2,
   "condition": {"predicate": {"field": "return_reason", "op": "eq", "value": {"text": "FAULTY"}}},
   "outcome": {"kind": "refund"}}
]}"#;
const BONDI_RULES: &str = r#"{"rules": [
  {"id": "faulty", "name": "Faulty goods are refunded", "priority": 1,
   "condition": {"predicate": {"field": "return_reason", "op": "eq", "value": {"text": "FAULTY"}}},
   "outcome": {"kind": "refund"}},
  {"id": "canada", "name": "No returns from Canada", "priority": 2,
   "condition": {"predicate": {"field": "order_country", "op": "eq", "value": {"text": "CA"}}},
   "outcome": {"kind": "no_action"}},
  {"id": "deep-discount", "name": "Deep discounts get store credit", "priority": 3,
   "condition": {"predicate": {"field": "order_discount_percent", "op": "gt", "value": {"percent": "50"}}},
   "outcome": {"kind": "credit_note", "expiry_days": 90}}
]}"#;
const MAPLE_RULES: &str = r#"{"rules": [
  {"id": "big-orders", "name": "Big orders are reviewed", "priority": 1,
   "condition": {"predicate": {"field": "order_value", "op": "gt", "value": {"money": {"minor": 40000, "currency": "CAD"}}}},
   "outcome": {"kind": "hold_for_review"}}
]}"#;

fn rules(json: &str) -> RuleSet {
    parse_rule_set(json).expect("the demo rule sets are valid")
}

fn plans() -> Vec<RetailerPlan> {
    vec![
        RetailerPlan {
            record: RetailerRecord {
                id: "kowhai".into(),
                name: "Kōwhai Apparel".into(),
                currency: Currency::NZD,
                country: Some("NZ".into()),
                policy: RetailerPolicy {
                    trigger: Trigger::Processing,
                    customers_choose: true,
                    exchange_enabled: true,
                    rules_override_customer_choice: true,
                    default_outcome: Outcome::Refund,
                    qc_fail: QcFailPolicy::HoldForReview,
                    credit_note_expiry_days: Some(365),
                    currency: Some(Currency::NZD),
                    shopify: Default::default(),
                    partners: Default::default(),
                },
                rules: rules(KOWHAI_RULES),
                reasons: standard_reasons(),
                qc_reasons: vec![QcReasonRecord {
                    code: "PILLING".into(),
                    label: "Pilling".into(),
                    requires_photo: true,
                }],
            },
            sku_prefix: "KW",
            home_country: "NZ",
            other_countries: &["AU"],
            orders: 120,
            returns: 30,
            connote_prefix: "LZ",
            connote_country: "NZ",
        },
        RetailerPlan {
            record: RetailerRecord {
                id: "bondi".into(),
                name: "Bondi Surf Co".into(),
                currency: Currency::AUD,
                country: Some("AU".into()),
                policy: RetailerPolicy {
                    trigger: Trigger::FirstScan,
                    customers_choose: false,
                    exchange_enabled: false,
                    rules_override_customer_choice: false,
                    default_outcome: Outcome::CreditNote {
                        expiry_days: Some(180),
                    },
                    qc_fail: QcFailPolicy::RuleDriven,
                    credit_note_expiry_days: Some(180),
                    currency: Some(Currency::AUD),
                    shopify: Default::default(),
                    partners: Default::default(),
                },
                rules: rules(BONDI_RULES),
                reasons: standard_reasons(),
                qc_reasons: vec![],
            },
            sku_prefix: "BS",
            home_country: "AU",
            other_countries: &["NZ", "US", "CA"],
            orders: 100,
            returns: 24,
            connote_prefix: "CQ",
            connote_country: "AU",
        },
        RetailerPlan {
            record: RetailerRecord {
                id: "maple".into(),
                name: "Maple & Pine".into(),
                currency: Currency::CAD,
                country: Some("CA".into()),
                policy: RetailerPolicy {
                    trigger: Trigger::Manual,
                    customers_choose: true,
                    exchange_enabled: false,
                    rules_override_customer_choice: true,
                    default_outcome: Outcome::Refund,
                    qc_fail: QcFailPolicy::NoAction,
                    credit_note_expiry_days: None,
                    currency: Some(Currency::CAD),
                    shopify: Default::default(),
                    partners: Default::default(),
                },
                rules: rules(MAPLE_RULES),
                reasons: standard_reasons(),
                qc_reasons: vec![],
            },
            sku_prefix: "MP",
            home_country: "CA",
            other_countries: &["NZ", "US"],
            orders: 80,
            returns: 18,
            connote_prefix: "RR",
            connote_country: "CA",
        },
    ]
}

/// A well-formed UPU S10 connote (the devices crate's check digit), so demo connotes scan as
/// connotes, not misreads.
fn s10(prefix: &str, serial: u32, country: &str) -> String {
    let digits = format!("{serial:08}");
    let check = returnhub_devices::checkdigit::s10(&digits).expect("eight digits");
    format!("{prefix}{digits}{check}{country}")
}

/// EAN-13 from a 12-digit body, with its check digit.
fn ean13(body: u64) -> String {
    let digits = format!("{body:012}");
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// Writes the demo hub into an empty store. Deterministic for a given `now`.
pub fn seed_demo(store: &mut Store, now: UnixMillis) -> Result<()> {
    let mut rng = Rng(SEED);
    let input = |event| EventInput {
        event,
        actor: ACTOR.to_string(),
        station: None,
    };
    store.write(now, |tx| {
        for (id, name) in [
            (DEMO_HUB_ID, DEMO_HUB_NAME),
            (OTHER_HUB_ID, "Sydney returns hub"),
        ] {
            tx.append(input(DomainEvent::HubRegistered {
                id: id.into(),
                name: name.into(),
            }))?;
        }
        for (id, name, badge, pin, role) in DEMO_USERS {
            tx.append(input(DomainEvent::UserEnrolled(UserRecord {
                id: (*id).into(),
                name: (*name).into(),
                badge: (*badge).into(),
                pin_hash: crate::auth::hash_pin(pin),
                role: *role,
                active: true,
                must_change_pin: false,
            })))?;
        }
        let mut order_seq: u32 = 1000;
        let mut connote_serial = 48_213_000;
        for plan in plans() {
            let retailer = &plan.record;
            tx.append(input(DomainEvent::RetailerConfigured(retailer.clone())))?;
            let currency = retailer.currency;
            let mut orders = Vec::new();
            for n in 0..plan.orders {
                order_seq += 1;
                let created =
                    now - (rng.below(30 * MS_PER_DAY as u64 - 3_600_000) as i64) - 3_600_000;
                let first = rng.pick(FIRST_NAMES);
                let last = rng.pick(LAST_NAMES);
                let country = if rng.chance(85) {
                    plan.home_country
                } else {
                    rng.pick(plan.other_countries)
                };
                let mut tags = Vec::new();
                if rng.chance(15) {
                    tags.push("VIP".to_string());
                }
                let line_count = 1 + rng.below(3) as usize;
                let mut lines: Vec<OrderLineRecord> = Vec::new();
                for l in 0..line_count {
                    let p = rng.pick(PRODUCTS);
                    let size = rng.pick(SIZES);
                    let colour = rng.pick(COLOURS);
                    let sku = format!("{}-{}-{}-{}", plan.sku_prefix, p.code, colour, size);
                    if lines.iter().any(|x| x.sku == sku) {
                        continue;
                    }
                    let on_sale = rng.chance(20);
                    let quantity = if rng.chance(80) { 1 } else { 2 };
                    let unit = Money::new(p.price, currency);
                    let line_discount = if on_sale {
                        Money::new(p.price * i64::from(quantity) * 30 / 100, currency)
                    } else {
                        Money::zero(currency)
                    };
                    let body = 940_000_000_000 + u64::from(order_seq) * 10 + l as u64;
                    lines.push(OrderLineRecord {
                        id: format!("{}-{order_seq}-{}", plan.sku_prefix.to_lowercase(), l + 1),
                        sku,
                        ean: Some(ean13(body)),
                        title: format!("{} ({colour}, {size})", p.title),
                        image: Some(p.image.to_string()),
                        quantity,
                        unit_price: unit,
                        discount: line_discount,
                        product_tags: if on_sale {
                            vec!["Sale Item".into()]
                        } else {
                            vec![]
                        },
                    });
                }
                let subtotal: i64 = lines
                    .iter()
                    .map(|l| l.unit_price.minor * i64::from(l.quantity) - l.discount.minor)
                    .sum();
                // Every tenth order used a discount code; one in five of those a deep one.
                let code_percent = match n % 10 {
                    0 if rng.chance(20) => 60,
                    0 => 15,
                    _ => 0,
                };
                let order_discount = subtotal * code_percent / 100;
                let order = OrderRecord {
                    id: format!("{}-o{order_seq}", retailer.id),
                    retailer_id: retailer.id.clone(),
                    order_number: format!("#{}{order_seq}", plan.sku_prefix),
                    customer_name: format!("{first} {last}"),
                    email: format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        order_seq % 97
                    ),
                    created_at: rfc3339(created),
                    country: country.to_string(),
                    tags,
                    subtotal: Money::new(subtotal, currency),
                    discount: Money::new(order_discount, currency),
                    total: Money::new(subtotal - order_discount, currency),
                    lines,
                };
                tx.append(input(DomainEvent::OrderImported(order.clone())))?;
                orders.push(order);
            }

            // Returns: one per chosen order, most expected here, a few in every other state.
            for r in 0..plan.returns {
                let order = &orders[(r as usize * 7 + 3) % orders.len()];
                let (status, hub) = match r {
                    0..=1 => (ReturnStatus::Processed, DEMO_HUB_ID),
                    2 => (ReturnStatus::Closed, DEMO_HUB_ID),
                    3 => (ReturnStatus::Cancelled, DEMO_HUB_ID),
                    4..=5 => (ReturnStatus::Expected, OTHER_HUB_ID),
                    _ if r % 4 == 0 => (ReturnStatus::InTransit, DEMO_HUB_ID),
                    _ => (ReturnStatus::Expected, DEMO_HUB_ID),
                };
                let take = if order.lines.len() > 1 && rng.chance(50) {
                    2
                } else {
                    1
                };
                let reasons = &retailer.reasons;
                let items = order
                    .lines
                    .iter()
                    .take(take)
                    .enumerate()
                    .map(|(i, line)| {
                        let reason = rng.pick(reasons);
                        let sub = (!reason.sub_reasons.is_empty() && rng.chance(70))
                            .then(|| rng.pick(&reason.sub_reasons).code.clone());
                        let chosen = retailer
                            .policy
                            .customers_choose
                            .then(|| *rng.pick(&retailer.policy.offered_options()));
                        ReturnItemRecord {
                            external_id: None,
                            id: format!("{}-r{r:03}-i{}", retailer.id, i + 1),
                            order_line_id: line.id.clone(),
                            quantity: line.quantity,
                            reason_code: reason.code.clone(),
                            sub_reason_code: sub,
                            comment: rng
                                .chance(25)
                                .then(|| "Lovely quality, just not for me.".to_string()),
                            chosen_option: chosen,
                        }
                    })
                    .collect();
                let mut connotes = vec![];
                let parcels = if r == 7 { 2 } else { 1 };
                for _ in 0..parcels {
                    connote_serial += 1 + rng.below(40) as u32;
                    connotes.push(s10(
                        plan.connote_prefix,
                        connote_serial,
                        plan.connote_country,
                    ));
                }
                let created = later_than(&order.created_at, &mut rng, now);
                tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                    external_id: None,
                    id: format!("{}-r{r:03}", retailer.id),
                    retailer_id: retailer.id.clone(),
                    hub_id: hub.to_string(),
                    order_id: order.id.clone(),
                    source: "portal".into(),
                    status,
                    created_at: created,
                    connotes,
                    items,
                })))?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// A return is created after its order: between the order and now.
fn later_than(order_created: &str, rng: &mut Rng, now: UnixMillis) -> String {
    let from = returnhub_core::time::parse_rfc3339(order_created).unwrap_or(now);
    let span = (now - from).max(1) as u64;
    rfc3339(from + rng.below(span) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s10_connotes_carry_the_standard_check_digit() {
        // The UPU S10 standard's own example: RR 47312482 9 GB.
        assert_eq!(s10("RR", 47_312_482, "GB"), "RR473124829GB");
    }

    #[test]
    fn ean13_check_digit() {
        // 4006381333931 is a well-known valid EAN-13.
        assert_eq!(ean13(400_638_133_393), "4006381333931");
    }
}
