//! `Decider::decide` is the hot path: it must not allocate for ASCII text, whatever rule
//! shapes it meets. A counting allocator checks it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use returnhub_core::decision::{Decider, ReturnOption};
use returnhub_core::rules::{Condition, Field, Literal, Op, Outcome, Ratio, RuleSet};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn deciding_allocates_nothing() {
    let set = RuleSet {
        rules: vec![
            rule(
                "reason",
                1,
                one_of(Field::ReturnReason, &["Faulty", "Broken"]),
                Outcome::Refund,
            ),
            rule(
                "mixed",
                2,
                Condition::All(vec![
                    text(Field::Sku, Op::Contains, "blk"),
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("50".into()),
                    ),
                    Condition::Not(Box::new(text(Field::OrderTags, Op::Eq, "VIP"))),
                ]),
                Outcome::NoAction,
            ),
            rule(
                "any",
                3,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "Stain"),
                    Condition::test(Field::ItemPrice, Op::Gte, Literal::Money(nzd(10_000))),
                    one_of(Field::OrderCountry, &["CA", "US"]),
                ]),
                Outcome::Exchange,
            ),
        ],
    };
    let mut p = policy();
    p.customers_choose = true;
    let decider = Decider::new(&set, &p).unwrap();
    let mut unmatched = item();
    unmatched.product_tags = vec!["Sale Item".into(), "Summer".into()];
    unmatched.order_tags = vec!["vip".into()];
    unmatched.sub_reason = Some("Too big".into());
    let mut discounted = unmatched.clone();
    discounted.order_discount = Ratio::new(3, 4).unwrap();
    discounted.order_tags.clear();
    let items = [unmatched, discounted];
    let before = allocations();
    let mut outcomes = Vec::with_capacity(items.len() * 2);
    let reserved = allocations();
    for f in &items {
        outcomes.push(decider.decide(f, None).outcome);
        outcomes.push(decider.decide(f, Some(ReturnOption::CreditNote)).outcome);
    }
    assert_eq!(allocations(), reserved, "decide allocated");
    assert_eq!(reserved - before, 1, "only the result vector was allocated");
    assert_eq!(
        outcomes,
        [
            Outcome::Refund,
            Outcome::CreditNote { expiry_days: None },
            Outcome::NoAction,
            Outcome::NoAction
        ]
    );
}
