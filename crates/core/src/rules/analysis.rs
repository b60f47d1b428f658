//! Finds conditions that can never be true and later rules that an earlier rule always
//! takes first. Sound, not complete: when it says "never" or "shadowed" that is certain;
//! it may miss cases.
//!
//! A condition is put in disjunctive normal form (at most [`MAX_CONJUNCTIONS`] terms;
//! beyond that nothing is claimed). A conjunction is unsatisfiable when, for one field, its
//! literals conflict:
//! - one-valued text or code fields: the allowed values (from `eq`/`in`, and the whole
//!   domain for QC status and grade) minus the excluded ones (`ne`, negated `eq`/`in`),
//!   filtered by required and forbidden substrings, is empty; or a required substring
//!   contains a forbidden one;
//! - tags: a tag both required and forbidden, or an `in` list wholly forbidden;
//! - ordered fields: the interval of `gt/gte/lt/lte/eq` is empty (whole numbers for money
//!   and days, exact fractions for percents), or two money literals need different
//!   currencies.
//!
//! Negated literals on fields an item may lack (sub-reason, QC status, grade) are true when
//! the value is absent, so they are used only when another literal requires the value.
//!
//! Rule B is shadowed by an earlier rule A when every conjunction of B implies a
//! conjunction of A, where `b ⇒ a` is checked as "b ∧ ¬l is unsatisfiable for each literal
//! l of a". Not detected: shadowing by several earlier rules together, implications that
//! need arithmetic across fields, and anything past the size limit.

use std::collections::BTreeSet;

use crate::money::Currency;
use crate::rules::model::Field;
use crate::rules::typed::{is_optional, Cmp, SingleTest, TagTest, Typed};

/// Past this many DNF terms a condition is not analysed (and nothing is claimed about it).
pub(crate) const MAX_CONJUNCTIONS: usize = 256;

/// A type-checked condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TCond {
    All(Vec<TCond>),
    Any(Vec<TCond>),
    Not(Box<TCond>),
    Pred(Typed),
}

/// A predicate or its negation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lit {
    pub pred: Typed,
    pub positive: bool,
}

pub(crate) type Conjunction = Vec<Lit>;

/// The DNF of `cond` (negated when `!positive`), or `None` if it would be too large.
pub(crate) fn dnf(cond: &TCond, positive: bool) -> Option<Vec<Conjunction>> {
    match (cond, positive) {
        (TCond::Pred(p), _) => Some(vec![vec![Lit {
            pred: p.clone(),
            positive,
        }]]),
        (TCond::Not(inner), _) => dnf(inner, !positive),
        // A conjunction (All, or a negated Any by De Morgan): cross product.
        (TCond::All(children), true) | (TCond::Any(children), false) => {
            let mut terms: Vec<Conjunction> = vec![Vec::new()];
            for child in children {
                let child_terms = dnf(child, positive)?;
                if terms.len().saturating_mul(child_terms.len()) > MAX_CONJUNCTIONS {
                    return None;
                }
                let mut next = Vec::with_capacity(terms.len() * child_terms.len());
                for term in &terms {
                    for child_term in &child_terms {
                        let mut joined = term.clone();
                        joined.extend(child_term.iter().cloned());
                        next.push(joined);
                    }
                }
                terms = next;
            }
            Some(terms)
        }
        // A disjunction: concatenation.
        (TCond::Any(children), true) | (TCond::All(children), false) => {
            let mut terms = Vec::new();
            for child in children {
                terms.extend(dnf(child, positive)?);
                if terms.len() > MAX_CONJUNCTIONS {
                    return None;
                }
            }
            Some(terms)
        }
    }
}

/// Whether no item can satisfy all of `lits`. `false` means "could not prove it".
pub(crate) fn unsatisfiable(lits: &[Lit]) -> bool {
    let fields: BTreeSet<Field> = lits.iter().map(|l| l.pred.field()).collect();
    fields.into_iter().any(|field| {
        let on_field: Vec<&Lit> = lits.iter().filter(|l| l.pred.field() == field).collect();
        // Negated literals on an optional field are true when it is absent: use them only
        // when a positive literal demands a value.
        let value_required = !is_optional(field) || on_field.iter().any(|l| l.positive);
        let usable: Vec<&Lit> = on_field
            .into_iter()
            .filter(|l| l.positive || value_required)
            .collect();
        match usable.first().map(|l| &l.pred) {
            None => false,
            Some(Typed::Single { .. }) => single_unsat(field, &usable),
            Some(Typed::Tags { .. }) => tags_unsat(&usable),
            Some(Typed::Ordered { .. }) => ordered_unsat(field, &usable),
        }
    })
}

fn finite_domain(field: Field) -> Option<BTreeSet<String>> {
    let values: &[&str] = match field {
        Field::QcStatus => &["pass", "fail"],
        Field::QcGrade => &["A", "B", "C", "D"],
        _ => return None,
    };
    Some(values.iter().map(|v| (*v).to_owned()).collect())
}

fn intersect(allowed: &mut Option<BTreeSet<String>>, values: &[String]) {
    let incoming: BTreeSet<String> = values.iter().cloned().collect();
    *allowed = Some(match allowed.take() {
        None => incoming,
        Some(current) => current.intersection(&incoming).cloned().collect(),
    });
}

fn single_unsat(field: Field, lits: &[&Lit]) -> bool {
    let mut allowed = finite_domain(field);
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    let mut required: Vec<&str> = Vec::new();
    let mut forbidden: Vec<&str> = Vec::new();
    for lit in lits {
        let Typed::Single { test, .. } = &lit.pred else {
            continue;
        };
        match (test, lit.positive) {
            (SingleTest::Eq(v), true) | (SingleTest::Ne(v), false) => {
                intersect(&mut allowed, std::slice::from_ref(v))
            }
            (SingleTest::In(vs), true) => intersect(&mut allowed, vs),
            (SingleTest::Ne(v), true) | (SingleTest::Eq(v), false) => {
                excluded.insert(v.clone());
            }
            (SingleTest::In(vs), false) => excluded.extend(vs.iter().cloned()),
            (SingleTest::Contains(s), true) => required.push(s),
            (SingleTest::Contains(s), false) => forbidden.push(s),
        }
    }
    match allowed {
        Some(values) => values.iter().all(|v| {
            excluded.contains(v)
                || required.iter().any(|r| !v.contains(r))
                || forbidden.iter().any(|f| v.contains(f))
        }),
        None => required
            .iter()
            .any(|r| forbidden.iter().any(|f| r.contains(f))),
    }
}

fn tags_unsat(lits: &[&Lit]) -> bool {
    let mut required: BTreeSet<&str> = BTreeSet::new();
    let mut forbidden: BTreeSet<&str> = BTreeSet::new();
    let mut any_of: Vec<&[String]> = Vec::new();
    for lit in lits {
        let Typed::Tags { test, .. } = &lit.pred else {
            continue;
        };
        match (test, lit.positive) {
            (TagTest::Has(t), true) | (TagTest::Lacks(t), false) => {
                required.insert(t);
            }
            (TagTest::Lacks(t), true) | (TagTest::Has(t), false) => {
                forbidden.insert(t);
            }
            (TagTest::HasAny(ts), true) => any_of.push(ts),
            (TagTest::HasAny(ts), false) => forbidden.extend(ts.iter().map(String::as_str)),
        }
    }
    required.iter().any(|t| forbidden.contains(t))
        || any_of
            .iter()
            .any(|ts| ts.iter().all(|t| forbidden.contains(t.as_str())))
}

/// A bound on an ordered value, scaled so percents (exact fractions of basis points) and
/// whole numbers compare alike.
#[derive(Debug, Clone, Copy)]
struct Bound {
    value: i128,
    inclusive: bool,
}

fn ordered_unsat(field: Field, lits: &[&Lit]) -> bool {
    let whole_numbers = field != Field::OrderDiscountPercent;
    let mut currency: Option<Currency> = None;
    // Money literals in a positive position fix the item's currency.
    for lit in lits.iter().filter(|l| l.positive) {
        if let Typed::Ordered {
            currency: Some(c), ..
        } = lit.pred
        {
            match currency {
                Some(fixed) if fixed != c => return true,
                _ => currency = Some(c),
            }
        }
    }
    // Days and percents cannot be negative.
    let mut lo = (field == Field::DaysSinceOrder || field == Field::OrderDiscountPercent)
        .then_some(Bound {
            value: 0,
            inclusive: true,
        });
    let mut hi: Option<Bound> = None;
    let mut excluded: Vec<i128> = Vec::new();
    for lit in lits {
        let Typed::Ordered {
            cmp,
            value,
            currency: lit_currency,
            ..
        } = lit.pred
        else {
            continue;
        };
        if lit_currency.is_some() && lit_currency != currency {
            // A negated money literal in another currency is simply true; one whose currency
            // is not fixed by a positive literal says "other currency, or ...": skip both.
            continue;
        }
        let cmp = if lit.positive { cmp } else { cmp.negated() };
        let value = i128::from(value);
        let tighten_lo = |lo: &mut Option<Bound>, b: Bound| {
            let tighter = match lo {
                None => true,
                Some(cur) => b.value > cur.value || (b.value == cur.value && !b.inclusive),
            };
            if tighter {
                *lo = Some(b);
            }
        };
        let tighten_hi = |hi: &mut Option<Bound>, b: Bound| {
            let tighter = match hi {
                None => true,
                Some(cur) => b.value < cur.value || (b.value == cur.value && !b.inclusive),
            };
            if tighter {
                *hi = Some(b);
            }
        };
        let at = |inclusive| Bound { value, inclusive };
        match cmp {
            Cmp::Eq => {
                tighten_lo(&mut lo, at(true));
                tighten_hi(&mut hi, at(true));
            }
            Cmp::Ne => excluded.push(value),
            Cmp::Gt => tighten_lo(&mut lo, at(false)),
            Cmp::Gte => tighten_lo(&mut lo, at(true)),
            Cmp::Lt => tighten_hi(&mut hi, at(false)),
            Cmp::Lte => tighten_hi(&mut hi, at(true)),
        }
    }
    if whole_numbers {
        // Over whole numbers, x > 5 is x ≥ 6.
        let lo_value = lo.map(|b| if b.inclusive { b.value } else { b.value + 1 });
        let hi_value = hi.map(|b| if b.inclusive { b.value } else { b.value - 1 });
        match (lo_value, hi_value) {
            (Some(l), Some(h)) if l > h => true,
            // Few enough values left that the exclusions might cover them all.
            (Some(l), Some(h)) if h - l < 64 => (l..=h).all(|v| excluded.contains(&v)),
            _ => false,
        }
    } else {
        match (lo, hi) {
            (Some(l), Some(h)) if l.value > h.value => true,
            (Some(l), Some(h)) if l.value == h.value => {
                !(l.inclusive && h.inclusive) || excluded.contains(&l.value)
            }
            _ => false,
        }
    }
}

/// Whether every item satisfying `b` satisfies `a` (proven; `false` = not proven).
fn conjunction_implies(b: &[Lit], a: &[Lit]) -> bool {
    a.iter().all(|lit| {
        let mut with_negation: Vec<Lit> = b.to_vec();
        with_negation.push(Lit {
            pred: lit.pred.clone(),
            positive: !lit.positive,
        });
        unsatisfiable(&with_negation)
    })
}

/// Whether condition `later` can never be true (proven).
pub(crate) fn never_true(later: &[Conjunction]) -> bool {
    later.iter().all(|term| unsatisfiable(term))
}

/// Whether every item matching `later` also matches `earlier` (proven).
pub(crate) fn implies(later: &[Conjunction], earlier: &[Conjunction]) -> bool {
    later
        .iter()
        .filter(|term| !unsatisfiable(term))
        .all(|term| earlier.iter().any(|e| conjunction_implies(term, e)))
}
