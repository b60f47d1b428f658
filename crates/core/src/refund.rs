//! What an item's refund (or credit note) is worth: its unit price less its share of the
//! line and order discounts, for the quantity actually received, never more than is still
//! refundable on its line; then the retailer's restocking fee and shipping policy.
//!
//! All arithmetic is in integer minor units. Splits use [`Money::allocate`] or cumulative
//! floors, so the parts always add up to the whole: refunding every unit of a line, in any
//! number of returns, gives back exactly what was paid for it.

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

/// A line of the order as paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct OrderLine {
    pub line_id: String,
    pub unit_price: Money,
    pub quantity: u32,
    /// Total discount applied to this line (not per unit).
    pub line_discount: Money,
    /// Already refunded on this line by earlier returns.
    pub refunded_amount: Money,
    pub refunded_quantity: u32,
}

/// The order as paid, with what was refunded before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Order {
    #[ts(type = "string")]
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    /// Order-level discount (a code on the whole order), spread over the lines pro rata.
    pub order_discount: Money,
    pub shipping_paid: Money,
    pub shipping_refunded: Money,
}

/// How many units of a line the hub actually received (never what the customer claimed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReceivedLine {
    pub line_id: String,
    pub quantity_received: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestockingFee {
    None,
    /// A fixed fee per unit refunded.
    PerUnit {
        fee: Money,
    },
    /// A share of the refunded value, rounded down (in the customer's favour).
    BasisPoints {
        bp: u32,
    },
}

/// The retailer's refund settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RefundPolicy {
    pub restocking_fee: RestockingFee,
    /// Refund the shipping paid once every unit of the order has been returned.
    pub refund_shipping_when_fully_returned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct LineRefund {
    pub line_id: String,
    /// Units refunded now (received, capped at what is left on the line).
    pub quantity: u32,
    /// Their worth after discounts, capped at what is still refundable on the line.
    pub value: Money,
    pub restocking_fee: Money,
    /// `value - restocking_fee`: what the customer gets for this line.
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RefundBreakdown {
    pub lines: Vec<LineRefund>,
    pub shipping: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("line '{0}' is not on the order")]
    UnknownLine(String),
    #[error("the order is inconsistent: {0}")]
    InvalidOrder(String),
}

fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), RefundError> {
    if ok {
        Ok(())
    } else {
        Err(RefundError::InvalidOrder(message()))
    }
}

/// What was paid for each line after its own discount and its pro-rata share of the order
/// discount (shares weighted by each line's value after its own discount).
pub fn line_net_amounts(order: &Order) -> Result<Vec<Money>, RefundError> {
    let currency = order.currency;
    let mut after_line_discount = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        for m in [line.unit_price, line.line_discount, line.refunded_amount] {
            ensure(m.currency == currency, || {
                format!(
                    "line '{}' is in {} not {currency}",
                    line.line_id, m.currency
                )
            })?;
            ensure(m.minor >= 0, || {
                format!("line '{}' has a negative amount", line.line_id)
            })?;
        }
        let gross = line.unit_price.checked_mul(i64::from(line.quantity))?;
        let net = gross.checked_sub(line.line_discount)?;
        ensure(net.minor >= 0, || {
            format!("line '{}' is discounted below zero", line.line_id)
        })?;
        after_line_discount.push(net);
    }
    for m in [
        order.order_discount,
        order.shipping_paid,
        order.shipping_refunded,
    ] {
        ensure(m.currency == currency, || {
            format!("an order amount is in {} not {currency}", m.currency)
        })?;
        ensure(m.minor >= 0, || "an order amount is negative".to_owned())?;
    }
    if order.order_discount.minor == 0 {
        return Ok(after_line_discount);
    }
    let weights: Vec<u64> = after_line_discount.iter().map(|m| m.minor as u64).collect();
    ensure(weights.iter().any(|&w| w > 0), || {
        "an order discount on an order whose lines are all free".to_owned()
    })?;
    let shares = order.order_discount.allocate(&weights)?;
    after_line_discount
        .iter()
        .zip(shares)
        .map(|(net, share)| {
            let paid = net.checked_sub(share)?;
            ensure(paid.minor >= 0, || {
                "the order discount exceeds the order".to_owned()
            })?;
            Ok(paid)
        })
        .collect()
}

/// Everything the customer paid: lines after discounts, plus shipping.
pub fn amount_paid(order: &Order) -> Result<Money, RefundError> {
    let mut total = order.shipping_paid;
    for net in line_net_amounts(order)? {
        total = total.checked_add(net)?;
    }
    Ok(total)
}

/// The worth of units `from..to` (0-based) of a line whose `quantity` units cost `net` in
/// all: unit `i` is worth `floor(net·(i+1)/q) − floor(net·i/q)`, so all units sum to `net`.
fn units_value(net: i64, quantity: u32, from: u32, to: u32) -> i64 {
    let cumulative = |k: u32| (i128::from(net) * i128::from(k) / i128::from(quantity)) as i64;
    cumulative(to) - cumulative(from)
}

/// The refund for the units received in one return.
pub fn refund_for_return(
    order: &Order,
    received: &[ReceivedLine],
    policy: &RefundPolicy,
) -> Result<RefundBreakdown, RefundError> {
    let currency = order.currency;
    let nets = line_net_amounts(order)?;
    let mut received_per_line = vec![0u32; order.lines.len()];
    for r in received {
        let index = order
            .lines
            .iter()
            .position(|l| l.line_id == r.line_id)
            .ok_or_else(|| RefundError::UnknownLine(r.line_id.clone()))?;
        received_per_line[index] = received_per_line[index].saturating_add(r.quantity_received);
    }
    let mut lines = Vec::new();
    let mut total = Money::zero(currency);
    let mut fully_returned = true;
    for ((line, net), &got) in order.lines.iter().zip(&nets).zip(&received_per_line) {
        let from = line.refunded_quantity.min(line.quantity);
        let to = from.saturating_add(got).min(line.quantity);
        fully_returned &= to == line.quantity;
        if got == 0 {
            continue;
        }
        let quantity = to - from;
        let still_refundable = (net.minor - line.refunded_amount.minor).max(0);
        let value = if quantity == 0 {
            0
        } else {
            units_value(net.minor, line.quantity, from, to).min(still_refundable)
        };
        let fee = match policy.restocking_fee {
            RestockingFee::None => 0,
            RestockingFee::PerUnit { fee } => {
                ensure(fee.currency == currency, || {
                    format!("the restocking fee is in {} not {currency}", fee.currency)
                })?;
                fee.checked_mul(i64::from(quantity))?.minor.max(0)
            }
            RestockingFee::BasisPoints { bp } => {
                (i128::from(value) * i128::from(bp) / 10_000) as i64
            }
        }
        .min(value);
        let amount = Money::new(value - fee, currency);
        total = total.checked_add(amount)?;
        lines.push(LineRefund {
            line_id: line.line_id.clone(),
            quantity,
            value: Money::new(value, currency),
            restocking_fee: Money::new(fee, currency),
            amount,
        });
    }
    let shipping = if policy.refund_shipping_when_fully_returned && fully_returned {
        Money::new(
            (order.shipping_paid.minor - order.shipping_refunded.minor).max(0),
            currency,
        )
    } else {
        Money::zero(currency)
    };
    total = total.checked_add(shipping)?;
    Ok(RefundBreakdown {
        lines,
        shipping,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(id: &str, unit: i64, qty: u32, discount: i64, c: Currency) -> OrderLine {
        OrderLine {
            line_id: id.into(),
            unit_price: Money::new(unit, c),
            quantity: qty,
            line_discount: Money::new(discount, c),
            refunded_amount: Money::zero(c),
            refunded_quantity: 0,
        }
    }

    fn order(lines: Vec<OrderLine>, order_discount: i64, shipping: i64, c: Currency) -> Order {
        Order {
            currency: c,
            lines,
            order_discount: Money::new(order_discount, c),
            shipping_paid: Money::new(shipping, c),
            shipping_refunded: Money::zero(c),
        }
    }

    const NO_FEES: RefundPolicy = RefundPolicy {
        restocking_fee: RestockingFee::None,
        refund_shipping_when_fully_returned: false,
    };

    fn received(id: &str, q: u32) -> ReceivedLine {
        ReceivedLine {
            line_id: id.into(),
            quantity_received: q,
        }
    }

    #[test]
    fn item_refund_is_unit_price_less_its_discount_shares_for_the_received_quantity() {
        // Line a: 3 × $20.00 less $6.00 → $54.00; line b: 1 × $46.00. Order code $10.00
        // splits 54:46 → $5.40 and $4.60.
        let o = order(
            vec![
                line("a", 2000, 3, 600, Currency::NZD),
                line("b", 4600, 1, 0, Currency::NZD),
            ],
            1000,
            995,
            Currency::NZD,
        );
        assert_eq!(
            line_net_amounts(&o).unwrap(),
            [
                Money::new(4860, Currency::NZD),
                Money::new(4140, Currency::NZD)
            ]
        );
        // Claimed 3, received 2: two of three units of $48.60 → $32.40.
        let r = refund_for_return(&o, &[received("a", 2)], &NO_FEES).unwrap();
        assert_eq!(r.lines[0].quantity, 2);
        assert_eq!(r.total, Money::new(3240, Currency::NZD));
    }

    #[test]
    fn zero_decimal_currencies_split_in_whole_yen() {
        // 3 × ¥1000 less ¥2000 leaves ¥1000 over 3 units: 333, 333, 334 by cumulative floors.
        let o = order(
            vec![line("a", 1000, 3, 2000, Currency::JPY)],
            0,
            0,
            Currency::JPY,
        );
        let first = refund_for_return(&o, &[received("a", 1)], &NO_FEES).unwrap();
        assert_eq!(first.total, Money::new(333, Currency::JPY));
        assert_eq!(first.total.to_decimal_string(), "333");
    }

    #[test]
    fn later_returns_get_only_what_is_left_and_shipping_once_all_is_back() {
        let mut o = order(
            vec![line("a", 1000, 3, 0, Currency::NZD)],
            0,
            500,
            Currency::NZD,
        );
        let policy = RefundPolicy {
            restocking_fee: RestockingFee::None,
            refund_shipping_when_fully_returned: true,
        };
        let first = refund_for_return(&o, &[received("a", 2)], &policy).unwrap();
        assert_eq!((first.total.minor, first.shipping.minor), (2000, 0));
        o.lines[0].refunded_quantity = 2;
        o.lines[0].refunded_amount = first.lines[0].value;
        // Four received against one left: one unit refunded, and the shipping.
        let second = refund_for_return(&o, &[received("a", 4)], &policy).unwrap();
        assert_eq!(
            (
                second.lines[0].quantity,
                second.shipping.minor,
                second.total.minor
            ),
            (1, 500, 1500)
        );
    }

    #[test]
    fn restocking_fees_never_exceed_the_value() {
        let o = order(
            vec![line("a", 1000, 2, 0, Currency::NZD)],
            0,
            0,
            Currency::NZD,
        );
        let percent = RefundPolicy {
            restocking_fee: RestockingFee::BasisPoints { bp: 1500 },
            refund_shipping_when_fully_returned: false,
        };
        let r = refund_for_return(&o, &[received("a", 1)], &percent).unwrap();
        assert_eq!((r.lines[0].restocking_fee.minor, r.total.minor), (150, 850));
        let flat = RefundPolicy {
            restocking_fee: RestockingFee::PerUnit {
                fee: Money::new(5000, Currency::NZD),
            },
            refund_shipping_when_fully_returned: false,
        };
        assert_eq!(
            refund_for_return(&o, &[received("a", 2)], &flat)
                .unwrap()
                .total
                .minor,
            0
        );
    }

    #[test]
    fn inconsistent_orders_are_refused() {
        let o = order(
            vec![line("a", 1000, 1, 2000, Currency::NZD)],
            0,
            0,
            Currency::NZD,
        );
        assert!(matches!(
            line_net_amounts(&o),
            Err(RefundError::InvalidOrder(_))
        ));
        let o = order(
            vec![line("a", 1000, 1, 0, Currency::USD)],
            0,
            0,
            Currency::NZD,
        );
        assert!(line_net_amounts(&o).is_err());
        let o = order(
            vec![line("a", 1000, 1, 0, Currency::NZD)],
            0,
            0,
            Currency::NZD,
        );
        assert_eq!(
            refund_for_return(&o, &[received("zz", 1)], &NO_FEES),
            Err(RefundError::UnknownLine("zz".into()))
        );
    }

    fn order_strategy() -> impl Strategy<Value = Order> {
        (
            prop::sample::select(vec![Currency::NZD, Currency::JPY, Currency::KWD]),
            prop::collection::vec((1i64..100_000, 1u32..6, 0u32..=100), 1..5),
            0u32..=100,
            0i64..2000,
        )
            .prop_map(|(c, specs, order_discount_pct, shipping)| {
                let lines: Vec<OrderLine> = specs
                    .iter()
                    .enumerate()
                    .map(|(i, &(unit, qty, disc_pct))| {
                        let gross = unit * i64::from(qty);
                        line(
                            &format!("l{i}"),
                            unit,
                            qty,
                            gross * i64::from(disc_pct) / 100,
                            c,
                        )
                    })
                    .collect();
                let after: i64 = lines
                    .iter()
                    .map(|l| l.unit_price.minor * i64::from(l.quantity) - l.line_discount.minor)
                    .sum();
                order(
                    lines,
                    after * i64::from(order_discount_pct) / 100,
                    shipping,
                    c,
                )
            })
    }

    proptest! {
        #[test]
        fn refunds_over_any_sequence_of_returns_never_exceed_what_was_paid(
            mut o in order_strategy(),
            returns in prop::collection::vec(prop::collection::vec((0usize..5, 0u32..4), 0..4), 1..5),
            fee_bp in prop::option::of(0u32..3000),
            shipping in any::<bool>(),
        ) {
            let policy = RefundPolicy {
                restocking_fee: fee_bp.map_or(RestockingFee::None, |bp| RestockingFee::BasisPoints { bp }),
                refund_shipping_when_fully_returned: shipping,
            };
            let paid = amount_paid(&o).unwrap();
            let nets = line_net_amounts(&o).unwrap();
            let mut refunded_so_far = 0i64;
            for ret in returns {
                let got: Vec<ReceivedLine> = ret
                    .iter()
                    .filter(|(i, _)| *i < o.lines.len())
                    .map(|&(i, q)| received(&format!("l{i}"), q))
                    .collect();
                let r = refund_for_return(&o, &got, &policy).unwrap();
                prop_assert!(r.total.minor >= 0);
                prop_assert!(r.total.minor <= paid.minor - refunded_so_far,
                    "refund {} exceeds paid {} less earlier {}", r.total.minor, paid.minor, refunded_so_far);
                prop_assert_eq!(r.lines.iter().map(|l| l.amount.minor).sum::<i64>() + r.shipping.minor, r.total.minor);
                for lr in &r.lines {
                    let line = o.lines.iter_mut().find(|l| l.line_id == lr.line_id).unwrap();
                    line.refunded_quantity += lr.quantity;
                    line.refunded_amount = line.refunded_amount.checked_add(lr.value).unwrap();
                }
                o.shipping_refunded = o.shipping_refunded.checked_add(r.shipping).unwrap();
                refunded_so_far += r.total.minor;
            }
            for (line, net) in o.lines.iter().zip(&nets) {
                prop_assert!(line.refunded_amount.minor <= net.minor);
            }
        }

        #[test]
        fn refunding_every_unit_one_at_a_time_returns_exactly_the_line_net(o in order_strategy()) {
            let nets = line_net_amounts(&o).unwrap();
            for (index, line) in o.lines.iter().enumerate() {
                let mut state = o.clone();
                let mut sum = 0i64;
                for _ in 0..line.quantity {
                    let r = refund_for_return(&state, &[received(&line.line_id, 1)], &NO_FEES).unwrap();
                    sum += r.total.minor;
                    state.lines[index].refunded_quantity += 1;
                    state.lines[index].refunded_amount =
                        state.lines[index].refunded_amount.checked_add(r.lines[0].value).unwrap();
                }
                prop_assert_eq!(sum, nets[index].minor);
            }
            // The order discount's shares add up to it exactly.
            let before: i64 = o.lines.iter().map(|l| l.unit_price.minor * i64::from(l.quantity) - l.line_discount.minor).sum();
            prop_assert_eq!(before - nets.iter().map(|n| n.minor).sum::<i64>(), o.order_discount.minor);
        }
    }
}
