//! Narrows the rules worth evaluating for an item before any is evaluated.
//!
//! Each rule gets a *guard*: a set of (field, value) keys at least one of which every item
//! it matches must have — taken from an `eq`/`in` on a one-valued text field or the
//! country, or a "has tag" test, inside its condition's top-level `all` (or every branch of
//! an `any`). Rules without a guard are always candidates. Deciding looks the item's
//! values up (a hash of the case-folded text, no allocation), ORs the rule bitsets,
//! and evaluates only the candidates, in priority order. A guard is a necessary condition,
//! so the first candidate that matches is the first rule that matches.

use crate::rules::analysis::TCond;
use crate::rules::facts::{CountryCode, ItemFacts};
use crate::rules::model::Field;
use crate::rules::typed::{fold_chars, SingleTest, TagTest, Typed};

/// Rule sets larger than this are scanned linearly (the candidate set lives on the stack).
pub(crate) const MAX_INDEXED_RULES: usize = 64 * WORDS;
const WORDS: usize = 16;

type Mask = [u64; WORDS];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KeyField {
    ReturnReason,
    SubReason,
    Sku,
    Country,
    ProductTag,
    OrderTag,
}

/// "One of these keys": the values an item needs for a rule to possibly match.
type Guard = Vec<(KeyField, String)>;

fn guard(cond: &TCond) -> Option<Guard> {
    match cond {
        TCond::Pred(Typed::Single { field, test }) => {
            let key = match field {
                Field::ReturnReason => KeyField::ReturnReason,
                Field::SubReason => KeyField::SubReason,
                Field::Sku => KeyField::Sku,
                Field::OrderCountry => KeyField::Country,
                _ => return None,
            };
            match test {
                SingleTest::Eq(v) => Some(vec![(key, v.clone())]),
                SingleTest::In(vs) => Some(vs.iter().map(|v| (key, v.clone())).collect()),
                SingleTest::Ne(_) | SingleTest::Contains(_) => None,
            }
        }
        TCond::Pred(Typed::Tags { field, test }) => {
            let key = if *field == Field::ProductTags {
                KeyField::ProductTag
            } else {
                KeyField::OrderTag
            };
            match test {
                TagTest::Has(t) => Some(vec![(key, t.clone())]),
                TagTest::HasAny(ts) => Some(ts.iter().map(|t| (key, t.clone())).collect()),
                TagTest::Lacks(_) => None,
            }
        }
        TCond::Pred(Typed::Ordered { .. }) | TCond::Not(_) => None,
        // Any one part's guard is necessary; take the one with fewest keys.
        TCond::All(children) => children.iter().filter_map(guard).min_by_key(Vec::len),
        // Every branch must be guarded; their union is necessary.
        TCond::Any(children) => {
            let mut union = Vec::new();
            for child in children {
                union.extend(guard(child)?);
            }
            (!union.is_empty()).then_some(union)
        }
    }
}

/// Longest text folded on the stack for a lookup.
const FOLD_BUFFER: usize = 64;

/// Case-folded keys of one field, each with the rules it makes candidates, sorted, plus an
/// open-addressing hash table over them for the common lookup.
#[derive(Debug, Clone, Default)]
struct Keyed {
    keys: Vec<Box<str>>,
    masks: Vec<Mask>,
    /// `0` for an empty slot, else the key's index + 1. Length is a power of two, at least
    /// twice the number of keys, so probing always reaches an empty slot.
    slots: Box<[u32]>,
}

/// A fixed multiplicative hash (FxHash's constant) over 8-byte chunks: the same on every
/// platform and run, and cheap for the short texts rules compare.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K)
}

/// Whether an item's raw text, folded char by char, equals an already folded key.
fn eq_folded(text: &str, key: &str) -> bool {
    fold_chars(text).eq(key.chars())
}

impl Keyed {
    fn insert(&mut self, key: &str, rule: usize) {
        let at = match self.keys.binary_search_by(|k| (**k).cmp(key)) {
            Ok(at) => at,
            Err(at) => {
                self.keys.insert(at, key.into());
                self.masks.insert(at, [0; WORDS]);
                at
            }
        };
        self.masks[at][rule / 64] |= 1 << (rule % 64);
    }

    /// Builds the hash table once every key is in.
    fn seal(&mut self) {
        let size = (self.keys.len() * 2).next_power_of_two().max(2);
        let mut slots = vec![0u32; size];
        for (i, key) in self.keys.iter().enumerate() {
            let mut at = hash(key.as_bytes()) as usize & (size - 1);
            while slots[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            slots[at] = i as u32 + 1;
        }
        self.slots = slots.into_boxed_slice();
    }

    fn find(&self, text: &str) -> Option<usize> {
        if text.len() <= FOLD_BUFFER && text.is_ascii() {
            // Short ASCII text (nearly all of it) is folded once on the stack and hashed.
            let mut buffer = [0u8; FOLD_BUFFER];
            let folded = &mut buffer[..text.len()];
            for (out, b) in folded.iter_mut().zip(text.bytes()) {
                *out = b.to_ascii_lowercase();
            }
            let mask = self.slots.len() - 1;
            let mut at = hash(folded) as usize & mask;
            loop {
                let slot = self.slots[at] as usize;
                if slot == 0 {
                    return None;
                }
                if self.keys[slot - 1].as_bytes() == &*folded {
                    return Some(slot - 1);
                }
                at = (at + 1) & mask;
            }
        } else {
            // Rare: fold while comparing, key by key.
            self.keys.iter().position(|k| eq_folded(text, k))
        }
    }

    #[inline]
    fn add_to(&self, text: &str, candidates: &mut Mask) {
        if self.keys.is_empty() {
            return;
        }
        if let Some(at) = self.find(text) {
            or_into(candidates, &self.masks[at]);
        }
    }
}

#[inline]
fn or_into(target: &mut Mask, source: &Mask) {
    for (t, s) in target.iter_mut().zip(source) {
        *t |= s;
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RuleIndex {
    always: Mask,
    return_reason: Keyed,
    sub_reason: Keyed,
    sku: Keyed,
    country: Vec<(CountryCode, Mask)>,
    product_tag: Keyed,
    order_tag: Keyed,
}

impl RuleIndex {
    /// Indexes `conditions` (in evaluation order); `None` if there are too many rules.
    pub(crate) fn build(conditions: &[&TCond]) -> Option<RuleIndex> {
        if conditions.len() > MAX_INDEXED_RULES {
            return None;
        }
        let mut index = RuleIndex {
            always: [0; WORDS],
            return_reason: Keyed::default(),
            sub_reason: Keyed::default(),
            sku: Keyed::default(),
            country: Vec::new(),
            product_tag: Keyed::default(),
            order_tag: Keyed::default(),
        };
        for (rule, cond) in conditions.iter().enumerate() {
            let Some(keys) = guard(cond) else {
                index.always[rule / 64] |= 1 << (rule % 64);
                continue;
            };
            for (field, value) in keys {
                let keyed = match field {
                    KeyField::ReturnReason => &mut index.return_reason,
                    KeyField::SubReason => &mut index.sub_reason,
                    KeyField::Sku => &mut index.sku,
                    KeyField::ProductTag => &mut index.product_tag,
                    KeyField::OrderTag => &mut index.order_tag,
                    KeyField::Country => {
                        // Type checking normalised it to a valid code.
                        let Ok(code) = value.parse::<CountryCode>() else {
                            index.always[rule / 64] |= 1 << (rule % 64);
                            continue;
                        };
                        match index.country.iter_mut().find(|(c, _)| *c == code) {
                            Some((_, mask)) => mask[rule / 64] |= 1 << (rule % 64),
                            None => {
                                let mut mask = [0; WORDS];
                                mask[rule / 64] |= 1 << (rule % 64);
                                index.country.push((code, mask));
                            }
                        }
                        continue;
                    }
                };
                keyed.insert(&value, rule);
            }
        }
        for keyed in [
            &mut index.return_reason,
            &mut index.sub_reason,
            &mut index.sku,
            &mut index.product_tag,
            &mut index.order_tag,
        ] {
            keyed.seal();
        }
        Some(index)
    }

    /// The rules that might match `facts`, as a bitset over evaluation order.
    #[inline]
    pub(crate) fn candidates(&self, facts: &ItemFacts) -> Mask {
        let mut mask = self.always;
        self.return_reason.add_to(&facts.return_reason, &mut mask);
        if let Some(sub) = &facts.sub_reason {
            self.sub_reason.add_to(sub, &mut mask);
        }
        self.sku.add_to(&facts.sku, &mut mask);
        if let Some((_, m)) = self.country.iter().find(|(c, _)| *c == facts.order_country) {
            or_into(&mut mask, m);
        }
        if !self.product_tag.keys.is_empty() {
            for tag in &facts.product_tags {
                self.product_tag.add_to(tag, &mut mask);
            }
        }
        if !self.order_tag.keys.is_empty() {
            for tag in &facts.order_tags {
                self.order_tag.add_to(tag, &mut mask);
            }
        }
        mask
    }
}

/// How many candidates `mask` holds.
pub(crate) fn count(mask: &Mask) -> u32 {
    mask.iter().map(|word| word.count_ones()).sum()
}

/// The candidates in `mask`, lowest first (priority order).
#[inline]
pub(crate) fn ones(mask: &Mask) -> impl Iterator<Item = usize> + '_ {
    mask.iter().enumerate().flat_map(|(word_index, &word)| {
        let mut bits = word;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let rule = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                rule
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(field: Field, value: &str) -> TCond {
        TCond::Pred(Typed::Single {
            field,
            test: SingleTest::Eq(value.into()),
        })
    }

    fn ne(field: Field, value: &str) -> TCond {
        TCond::Pred(Typed::Single {
            field,
            test: SingleTest::Ne(value.into()),
        })
    }

    #[test]
    fn guards_come_only_from_tests_every_match_must_pass() {
        let reason = eq(Field::ReturnReason, "faulty");
        assert_eq!(
            guard(&TCond::All(vec![ne(Field::Sku, "x"), reason.clone()])),
            Some(vec![(KeyField::ReturnReason, "faulty".into())])
        );
        // A negation or an unguarded branch of an `any` leaves the rule always a candidate.
        assert_eq!(guard(&TCond::Not(Box::new(reason.clone()))), None);
        assert_eq!(
            guard(&TCond::Any(vec![reason.clone(), ne(Field::Sku, "x")])),
            None
        );
        assert_eq!(
            guard(&TCond::Any(vec![reason, eq(Field::OrderCountry, "CA")])),
            Some(vec![
                (KeyField::ReturnReason, "faulty".into()),
                (KeyField::Country, "CA".into())
            ])
        );
        assert_eq!(guard(&TCond::All(vec![])), None);
    }

    #[test]
    fn lookups_fold_case_and_too_many_rules_are_not_indexed() {
        let conditions = [eq(Field::ReturnReason, "défaut"), ne(Field::Sku, "x")];
        let refs: Vec<&TCond> = conditions.iter().collect();
        let index = RuleIndex::build(&refs).unwrap();
        let mut mask = [0; WORDS];
        index.return_reason.add_to("DÉFAUT", &mut mask);
        assert_eq!(mask[0], 0b01);
        assert_eq!(index.always[0], 0b10);
        let many: Vec<&TCond> =
            std::iter::repeat_n(&conditions[0], MAX_INDEXED_RULES + 1).collect();
        assert!(RuleIndex::build(&many).is_none());
    }
}
