//! The evaluation form of a validated rule set: literals pre-normalised (lower-cased text,
//! country codes as bytes, QC status and grade as bit masks, money as minor units), so
//! testing an item allocates nothing for ASCII text.
//!
//! Two forms of each condition share the same leaf tests:
//! - a [`Program`] for the hot path: the condition compiled into a flat list of tests, each
//!   with where to jump when it holds and when it does not (`not` just swaps the two, `all`
//!   and `any` chain them), run in a loop with no recursion;
//! - a [`Node`] tree for [`Node::explain`], which computes the same truth value and says
//!   why, for the supervisor. The property tests check the two agree.

use std::fmt::Write;

use crate::money::{Currency, Money};
use crate::rules::analysis::TCond;
use crate::rules::facts::{CountryCode, Grade, ItemFacts, QcStatus};
use crate::rules::model::Field;
use crate::rules::typed::{fold_chars, Cmp, SingleTest, TagTest, Typed};

#[derive(Debug, Clone)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Test(Test),
}

/// A leaf test and how it reads in an explanation.
#[derive(Debug, Clone)]
pub(crate) struct Test {
    check: Check,
    label: Box<str>,
}

#[derive(Debug, Clone, Copy)]
enum TextField {
    ReturnReason,
    SubReason,
    Sku,
}

#[derive(Debug, Clone, Copy)]
enum TagField {
    Product,
    Order,
}

#[derive(Debug, Clone, Copy)]
enum MoneyField {
    OrderDiscountAmount,
    OrderValue,
    ItemPrice,
}

#[derive(Debug, Clone)]
enum Check {
    TextEq(TextField, Box<str>),
    TextNe(TextField, Box<str>),
    TextContains(TextField, Box<str>),
    TextIn(TextField, Box<[Box<str>]>),
    /// Country in the list (`eq` is a list of one); `negate` for `ne`.
    Country {
        codes: Box<[CountryCode]>,
        negate: bool,
    },
    /// Bit `1 << index` set for each allowed QC status / grade.
    Qc(u8),
    Grade(u8),
    TagHas(TagField, Box<str>),
    TagLacks(TagField, Box<str>),
    TagAny(TagField, Box<[Box<str>]>),
    Percent(Cmp, i64),
    Money(MoneyField, Cmp, i64, Currency),
    Days(Cmp, i64),
    /// Stands for predicates validation refuses (e.g. `contains` on a country), so a rule
    /// set that skipped validation fails closed instead of panicking.
    Never,
}

pub(crate) fn compile(cond: &TCond) -> Node {
    match cond {
        TCond::All(cs) => Node::All(cs.iter().map(compile).collect()),
        TCond::Any(cs) => Node::Any(cs.iter().map(compile).collect()),
        TCond::Not(c) => Node::Not(Box::new(compile(c))),
        TCond::Pred(p) => Node::Test(Test {
            check: compile_check(p),
            label: label(p).into_boxed_str(),
        }),
    }
}

/// Where a test jumps next: an instruction index, or one of the two verdicts.
const ACCEPT: u32 = u32::MAX;
const REJECT: u32 = u32::MAX - 1;

#[derive(Debug, Clone)]
struct Instr {
    check: Check,
    if_true: u32,
    if_false: u32,
}

/// A condition as branching code: start at `entry`, run the test there, jump to `if_true`
/// or `if_false`, until a verdict. Every predicate appears once, so the size is linear.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    code: Box<[Instr]>,
    entry: u32,
}

/// Compiles `cond` so that it continues at `on_true` / `on_false`; returns its entry point.
/// Built back to front: each part's targets exist before the part is emitted.
fn emit(cond: &TCond, on_true: u32, on_false: u32, code: &mut Vec<Instr>) -> u32 {
    match cond {
        TCond::Pred(p) => {
            code.push(Instr {
                check: compile_check(p),
                if_true: on_true,
                if_false: on_false,
            });
            (code.len() - 1) as u32
        }
        TCond::Not(inner) => emit(inner, on_false, on_true, code),
        TCond::All(parts) => {
            // Tests are pure, so the order of an `all` cannot change its value: run the
            // cheap, usually failing tests first so a non-matching rule is dropped sooner.
            let mut ordered: Vec<&TCond> = parts.iter().collect();
            ordered.sort_by_key(|part| match part {
                TCond::Pred(p) => compile_check(p).rank(),
                _ => 6,
            });
            let mut next = on_true;
            for part in ordered.iter().rev() {
                next = emit(part, next, on_false, code);
            }
            next
        }
        TCond::Any(parts) => {
            let mut next = on_false;
            for part in parts.iter().rev() {
                next = emit(part, on_true, next, code);
            }
            next
        }
    }
}

impl Program {
    pub(crate) fn new(cond: &TCond) -> Program {
        let mut code = Vec::new();
        let entry = emit(cond, ACCEPT, REJECT, &mut code);
        Program {
            code: code.into_boxed_slice(),
            entry,
        }
    }

    /// Whether the item satisfies the condition. Allocation-free for ASCII text.
    #[inline]
    pub(crate) fn eval(&self, facts: &ItemFacts) -> bool {
        let mut at = self.entry;
        loop {
            match at {
                ACCEPT => return true,
                REJECT => return false,
                _ => {
                    let instr = &self.code[at as usize];
                    at = if instr.check.eval(facts) {
                        instr.if_true
                    } else {
                        instr.if_false
                    };
                }
            }
        }
    }
}

fn boxed(values: &[String]) -> Box<[Box<str>]> {
    values.iter().map(|v| Box::from(v.as_str())).collect()
}

fn mask<T: Copy + PartialEq>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    values: &[&String],
) -> u8 {
    let mut bits = 0u8;
    for (i, candidate) in all.iter().enumerate() {
        if values.iter().any(|v| v.as_str() == name(*candidate)) {
            bits |= 1 << i;
        }
    }
    bits
}

fn compile_check(p: &Typed) -> Check {
    match p {
        Typed::Single { field, test } => match field {
            Field::OrderCountry => {
                let (values, negate): (Vec<&String>, bool) = match test {
                    SingleTest::Eq(v) => (vec![v], false),
                    SingleTest::Ne(v) => (vec![v], true),
                    SingleTest::In(vs) => (vs.iter().collect(), false),
                    SingleTest::Contains(_) => return Check::Never,
                };
                Check::Country {
                    codes: values.iter().filter_map(|v| v.parse().ok()).collect(),
                    negate,
                }
            }
            Field::QcStatus | Field::QcGrade => {
                let (values, negate): (Vec<&String>, bool) = match test {
                    SingleTest::Eq(v) => (vec![v], false),
                    SingleTest::Ne(v) => (vec![v], true),
                    SingleTest::In(vs) => (vs.iter().collect(), false),
                    SingleTest::Contains(_) => return Check::Never,
                };
                if *field == Field::QcStatus {
                    let bits = mask(&QcStatus::ALL, QcStatus::name, &values);
                    Check::Qc(if negate { !bits & 0b11 } else { bits })
                } else {
                    let bits = mask(&Grade::ALL, Grade::name, &values);
                    Check::Grade(if negate { !bits & 0b1111 } else { bits })
                }
            }
            _ => {
                let tf = match field {
                    Field::ReturnReason => TextField::ReturnReason,
                    Field::SubReason => TextField::SubReason,
                    _ => TextField::Sku,
                };
                match test {
                    SingleTest::Eq(v) => Check::TextEq(tf, v.as_str().into()),
                    SingleTest::Ne(v) => Check::TextNe(tf, v.as_str().into()),
                    SingleTest::Contains(v) => Check::TextContains(tf, v.as_str().into()),
                    SingleTest::In(vs) => Check::TextIn(tf, boxed(vs)),
                }
            }
        },
        Typed::Tags { field, test } => {
            let tf = if *field == Field::ProductTags {
                TagField::Product
            } else {
                TagField::Order
            };
            match test {
                TagTest::Has(t) => Check::TagHas(tf, t.as_str().into()),
                TagTest::Lacks(t) => Check::TagLacks(tf, t.as_str().into()),
                TagTest::HasAny(ts) => Check::TagAny(tf, boxed(ts)),
            }
        }
        Typed::Ordered {
            field,
            cmp,
            value,
            currency,
        } => match (field, currency) {
            (Field::OrderDiscountPercent, _) => Check::Percent(*cmp, *value),
            (Field::DaysSinceOrder, _) => Check::Days(*cmp, *value),
            (_, Some(currency)) => {
                let mf = match field {
                    Field::OrderDiscountAmount => MoneyField::OrderDiscountAmount,
                    Field::OrderValue => MoneyField::OrderValue,
                    _ => MoneyField::ItemPrice,
                };
                Check::Money(mf, *cmp, *value, *currency)
            }
            // Type checking gives every money literal a currency.
            (_, None) => Check::Never,
        },
    }
}

fn label(p: &Typed) -> String {
    let field = p.field();
    let quoted = |vs: &[String]| {
        vs.iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match p {
        Typed::Single { test, .. } => match test {
            SingleTest::Eq(v) => format!("{field} = '{v}'"),
            SingleTest::Ne(v) => format!("{field} ≠ '{v}'"),
            SingleTest::Contains(v) => format!("{field} contains '{v}'"),
            SingleTest::In(vs) => format!("{field} in [{}]", quoted(vs)),
        },
        Typed::Tags { test, .. } => match test {
            TagTest::Has(t) => format!("{field} has '{t}'"),
            TagTest::Lacks(t) => format!("{field} lacks '{t}'"),
            TagTest::HasAny(ts) => format!("{field} has any of [{}]", quoted(ts)),
        },
        Typed::Ordered {
            cmp,
            value,
            currency,
            ..
        } => {
            let symbol = match cmp {
                Cmp::Eq => "=",
                Cmp::Ne => "≠",
                Cmp::Gt => ">",
                Cmp::Gte => "≥",
                Cmp::Lt => "<",
                Cmp::Lte => "≤",
            };
            let shown = match (field, currency) {
                (Field::OrderDiscountPercent, _) => format!("{}.{:02}%", value / 100, value % 100),
                (_, Some(c)) => Money::new(*value, *c).to_string(),
                _ => value.to_string(),
            };
            format!("{field} {symbol} {shown}")
        }
    }
}

fn text_of(facts: &ItemFacts, field: TextField) -> Option<&str> {
    match field {
        TextField::ReturnReason => Some(&facts.return_reason),
        TextField::SubReason => facts.sub_reason.as_deref(),
        TextField::Sku => Some(&facts.sku),
    }
}

fn tags_of(facts: &ItemFacts, field: TagField) -> &[String] {
    match field {
        TagField::Product => &facts.product_tags,
        TagField::Order => &facts.order_tags,
    }
}

fn money_of(facts: &ItemFacts, field: MoneyField) -> Money {
    match field {
        MoneyField::OrderDiscountAmount => facts.order_discount_amount,
        MoneyField::OrderValue => facts.order_value,
        MoneyField::ItemPrice => facts.item_price,
    }
}

/// Case-insensitive equality of an item's text with an already lower-cased literal.
/// ASCII text takes the byte-wise path; other text folds char by char, still allocation-free.
fn text_eq(text: &str, folded: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(folded)
    } else {
        fold_chars(text).eq(folded.chars())
    }
}

/// Case-insensitive substring test against an already lower-cased needle.
fn text_contains(text: &str, folded_needle: &str) -> bool {
    if text.is_ascii() {
        let (hay, needle) = (text.as_bytes(), folded_needle.as_bytes());
        let Some((&first, rest)) = needle.split_first() else {
            return true;
        };
        if hay.len() < needle.len() {
            return false;
        }
        // Check the first byte before comparing the rest: most positions fail there.
        (0..=hay.len() - needle.len()).any(|start| {
            hay[start].to_ascii_lowercase() == first
                && hay[start + 1..start + needle.len()].eq_ignore_ascii_case(rest)
        })
    } else {
        // Rare (non-ASCII item text): fold into a fresh string.
        fold_chars(text).collect::<String>().contains(folded_needle)
    }
}

fn has_tag(tags: &[String], folded: &str) -> bool {
    tags.iter().any(|t| text_eq(t, folded))
}

impl Check {
    /// Evaluation order inside an `all`: tests that usually fail (equality on text,
    /// countries, tags) and are cheap come first; ranges, which most items pass, and
    /// negations come last.
    fn rank(&self) -> u8 {
        match self {
            Check::Never => 0,
            Check::TextEq(..) | Check::TextIn(..) | Check::Country { negate: false, .. } => 1,
            Check::TagHas(..) | Check::TagAny(..) | Check::Qc(_) | Check::Grade(_) => 2,
            Check::TextContains(..) => 3,
            Check::Percent(..) | Check::Money(..) | Check::Days(..) => 4,
            Check::TextNe(..) | Check::TagLacks(..) | Check::Country { negate: true, .. } => 5,
        }
    }

    #[inline]
    fn eval(&self, facts: &ItemFacts) -> bool {
        match self {
            Check::TextEq(f, v) => text_of(facts, *f).is_some_and(|t| text_eq(t, v)),
            Check::TextNe(f, v) => text_of(facts, *f).is_some_and(|t| !text_eq(t, v)),
            Check::TextContains(f, v) => text_of(facts, *f).is_some_and(|t| text_contains(t, v)),
            Check::TextIn(f, vs) => {
                text_of(facts, *f).is_some_and(|t| vs.iter().any(|v| text_eq(t, v)))
            }
            Check::Country { codes, negate } => codes.contains(&facts.order_country) != *negate,
            Check::Qc(bits) => facts.qc_status.is_some_and(|s| bits & (1 << s as u8) != 0),
            Check::Grade(bits) => facts.qc_grade.is_some_and(|g| bits & (1 << g as u8) != 0),
            Check::TagHas(f, t) => has_tag(tags_of(facts, *f), t),
            Check::TagLacks(f, t) => !has_tag(tags_of(facts, *f), t),
            Check::TagAny(f, ts) => {
                let tags = tags_of(facts, *f);
                ts.iter().any(|t| has_tag(tags, t))
            }
            Check::Percent(cmp, bp) => cmp.holds(facts.order_discount.cmp_basis_points(*bp)),
            Check::Money(f, cmp, minor, currency) => {
                let m = money_of(facts, *f);
                m.currency == *currency && cmp.holds(m.minor.cmp(minor))
            }
            Check::Days(cmp, n) => cmp.holds(i64::from(facts.days_since_order).cmp(n)),
            Check::Never => false,
        }
    }

    /// The item's value for this test, as an explanation shows it.
    fn actual(&self, facts: &ItemFacts) -> String {
        let quote_all = |tags: &[String]| {
            if tags.is_empty() {
                "no tags".to_owned()
            } else {
                tags.iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        match self {
            Check::TextEq(f, _)
            | Check::TextNe(f, _)
            | Check::TextContains(f, _)
            | Check::TextIn(f, _) => match text_of(facts, *f) {
                Some(t) => format!("'{t}'"),
                None => "none".to_owned(),
            },
            Check::Country { .. } => facts.order_country.to_string(),
            Check::Qc(_) => facts
                .qc_status
                .map_or("not inspected".to_owned(), |s| s.name().to_owned()),
            Check::Grade(_) => facts
                .qc_grade
                .map_or("no grade".to_owned(), |g| g.name().to_owned()),
            Check::TagHas(f, _) | Check::TagLacks(f, _) | Check::TagAny(f, _) => {
                quote_all(tags_of(facts, *f))
            }
            Check::Percent(..) => {
                let r = facts.order_discount;
                // Two decimals, rounded down, for display only.
                let hundredths = i128::from(r.numerator()) * 10_000 / i128::from(r.denominator());
                format!("{}.{:02}%", hundredths / 100, hundredths % 100)
            }
            Check::Money(f, ..) => money_of(facts, *f).to_string(),
            Check::Days(..) => facts.days_since_order.to_string(),
            Check::Never => "not applicable".to_owned(),
        }
    }
}

impl Node {
    /// The same truth value as [`Program::eval`], writing why into `why`: for a true `all`
    /// every part, for a false one the first part that failed; for `any` the first part that
    /// held, or every part when none did.
    pub(crate) fn explain(&self, facts: &ItemFacts, why: &mut String) -> bool {
        match self {
            Node::All(children) if children.is_empty() => {
                why.push_str("always (no conditions)");
                true
            }
            Node::All(children) => {
                let mut parts = Vec::new();
                for child in children.iter() {
                    let mut part = String::new();
                    if !child.explain(facts, &mut part) {
                        why.push_str(&part);
                        return false;
                    }
                    parts.push(part);
                }
                why.push_str(&parts.join(" and "));
                true
            }
            Node::Any(children) => {
                let mut parts = Vec::new();
                for child in children.iter() {
                    let mut part = String::new();
                    if child.explain(facts, &mut part) {
                        why.push_str(&part);
                        return true;
                    }
                    parts.push(part);
                }
                let _ = write!(why, "none of: {}", parts.join("; "));
                false
            }
            Node::Not(inner) => {
                let mut part = String::new();
                let inner_holds = inner.explain(facts, &mut part);
                let _ = write!(why, "not ({part})");
                !inner_holds
            }
            Node::Test(test) => test.explain(facts, why),
        }
    }
}

impl Test {
    fn explain(&self, facts: &ItemFacts, why: &mut String) -> bool {
        let holds = self.check.eval(facts);
        let verdict = if holds { "holds" } else { "does not hold" };
        let _ = write!(
            why,
            "{} {verdict} (item: {})",
            self.label,
            self.check.actual(facts)
        );
        holds
    }
}
