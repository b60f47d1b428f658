//! The evaluation form of a validated rule set: literals pre-normalised (lower-cased text,
//! country codes as bytes, QC status and grade as bit masks, money as minor units), so
//! testing an item allocates nothing for ASCII text.
//!
//! Two forms of each condition share the same leaf tests:
//! - a [`RuleCode`] for the hot path: the conditions compiled into a flat list of tests, each
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
#[repr(u8)]
enum TextField {
    ReturnReason = 0,
    SubReason = 1,
    Sku = 2,
}

#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum TagField {
    Product = 0,
    Order = 1,
}

#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum MoneyField {
    OrderDiscountAmount = 0,
    OrderValue = 1,
    ItemPrice = 2,
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
    /// A necessary condition for `check` checked before it: the item's key in this slot of
    /// [`Prepared::keys`], masked by `mask`, must equal `key` — or, with [`ANY`], must not
    /// (one of the mask's bits is set) — unless the slot is [`NO_SIEVE`]. Most tests of a
    /// rule set are equality tests that fail; this way they fail on one comparison, before
    /// the dispatch on the kind of test.
    sieve: u8,
    if_true: u32,
    if_false: u32,
    mask: u64,
    key: u64,
}

const NO_SIEVE: u8 = 0x7F;
/// The sieve passes when the masked key differs from `key` (0): any of the mask's bits.
const ANY: u8 = 0x80;
/// Slots of [`Prepared::keys`]: the text fields by [`TextField`], the country, a 64-bit
/// Bloom filter of each tag list by [`TagField`], each text's bit in such a filter, then
/// the set of each text's bytes (see [`byte_bits`]).
const COUNTRY_SLOT: u8 = 3;
const TAG_SLOTS: u8 = 4;
const TEXT_BIT_SLOTS: u8 = 8;
const TEXT_BYTE_SLOTS: u8 = 11;
const SLOTS: usize = 16;

/// The bytes an ASCII text holds, folded, as bits (`byte % 64`): a text holding a needle
/// holds each of its bytes, so its bits include the needle's.
fn byte_bits(ascii: &str) -> u64 {
    ascii
        .bytes()
        .fold(0, |bits, b| bits | 1 << (b.to_ascii_lowercase() % 64))
}

/// A text's bit in a Bloom filter, from its ASCII text (folded or not).
fn text_bit(folded: &str) -> u64 {
    key_bit(text_key(folded), folded.len())
}

/// [`text_bit`] from the text's key and length.
fn key_bit(key: Option<u64>, len: usize) -> u64 {
    let key = key.unwrap_or(NO_KEY) ^ len as u64;
    1 << (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// An ASCII text's sieve key: its length (top byte) and its first seven bytes, folded;
/// `None` for text too long to say. Equal texts have equal keys.
#[inline]
fn text_key(ascii: &str) -> Option<u64> {
    let bytes = ascii.as_bytes();
    if bytes.len() >= 0xFF {
        return None;
    }
    let head = bytes
        .iter()
        .take(7)
        .fold(0u64, |x, &b| x << 8 | u64::from(b));
    let head = head << (8 * (7 - bytes.len().min(7)));
    Some((bytes.len() as u64) << 56 | ascii_lowercase(head))
}

/// Lower-cases each byte of `x`, all of them ASCII, at once: a byte from `A` to `Z` gains
/// 0x20. No byte can carry into the next (each is below 0x80).
fn ascii_lowercase(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let at_least_a = x + ONES * u64::from(0x80 - b'A');
    let above_z = x + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !above_z & (ONES * 0x80);
    x | upper >> 2
}

/// An item's key when it has no such text, or text longer than any key: no literal's key.
const NO_KEY: u64 = u64::MAX;

fn country_key(code: CountryCode) -> u64 {
    let [a, b] = code.bytes();
    u64::from(u16::from_be_bytes([a, b]))
}

impl Check {
    /// The sieve's slot, mask and key.
    fn sieve(&self) -> (u8, u64, u64) {
        match self {
            Check::TextEq(f, v) if v.is_ascii() => match text_key(v) {
                Some(key) => (*f as u8, u64::MAX, key),
                None => (NO_SIEVE, 0, 0),
            },
            Check::Country {
                codes,
                negate: false,
            } if codes.len() == 1 => (COUNTRY_SLOT, u64::MAX, country_key(codes[0])),
            Check::TagHas(f, t) if t.is_ascii() => ((TAG_SLOTS + *f as u8) | ANY, text_bit(t), 0),
            Check::TagAny(f, ts) if ts.iter().all(|t| t.is_ascii()) => {
                let bits = ts.iter().fold(0, |bits, t| bits | text_bit(t));
                ((TAG_SLOTS + *f as u8) | ANY, bits, 0)
            }
            Check::TextContains(f, v) if v.is_ascii() => {
                let bits = byte_bits(v);
                (TEXT_BYTE_SLOTS + *f as u8, bits, bits)
            }
            Check::TextIn(f, vs) if vs.iter().all(|v| v.is_ascii()) => {
                let bits = vs.iter().fold(0, |bits, v| bits | text_bit(v));
                ((TEXT_BIT_SLOTS + *f as u8) | ANY, bits, 0)
            }
            _ => (NO_SIEVE, 0, 0),
        }
    }
}

/// Every enabled rule's condition as one branching program, in priority order: start at
/// a rule's entry, run the test there, jump to `if_true` or `if_false`, until the rule's
/// verdict. Every predicate appears once, so the size is linear in the rule set; one loop
/// runs all the rules an item is tested against, with no call per rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleCode {
    code: Box<[Instr]>,
    entries: Box<[u32]>,
}

/// Compiles `cond` so that it continues at `on_true` / `on_false`; returns its entry point.
/// Built back to front: each part's targets exist before the part is emitted.
fn emit(cond: &TCond, on_true: u32, on_false: u32, code: &mut Vec<Instr>) -> u32 {
    match cond {
        TCond::Pred(p) => {
            let check = compile_check(p);
            let (sieve, mask, key) = check.sieve();
            code.push(Instr {
                check,
                sieve,
                mask,
                key,
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

impl RuleCode {
    pub(crate) fn new<'c>(conditions: impl IntoIterator<Item = &'c TCond>) -> RuleCode {
        let mut code = Vec::new();
        let entries = conditions
            .into_iter()
            .map(|cond| match emit(cond, ACCEPT, REJECT, &mut code) {
                // A condition with no test (`all` of nothing: always) still enters at an
                // instruction, so the loop needs no check before the first test.
                verdict @ (ACCEPT | REJECT) => {
                    code.push(Instr {
                        check: Check::Never,
                        sieve: NO_SIEVE,
                        if_true: verdict,
                        if_false: verdict,
                        mask: 0,
                        key: 0,
                    });
                    (code.len() - 1) as u32
                }
                entry => entry,
            })
            .collect();
        RuleCode {
            code: code.into_boxed_slice(),
            entries,
        }
    }

    /// The first of `candidates` (rule positions, ascending) whose condition the item
    /// satisfies. Allocation-free for ASCII text.
    #[inline]
    pub(crate) fn first_match(
        &self,
        item: &Prepared,
        mut candidates: impl Iterator<Item = usize>,
    ) -> Option<usize> {
        let mut rule = candidates.next()?;
        let mut at = self.entries[rule];
        // Two branches, not one select of the next instruction from the test's result: the
        // processor predicts a branch and runs ahead into the next test, where a select
        // would make every test wait for the one before.
        loop {
            let instr = &self.code[at as usize];
            if item.passes(instr) && instr.check.eval(item) {
                at = instr.if_true;
                if at >= REJECT {
                    if at == ACCEPT {
                        return Some(rule);
                    }
                    rule = candidates.next()?;
                    at = self.entries[rule];
                }
            } else {
                at = instr.if_false;
                if at >= REJECT {
                    if at == REJECT {
                        rule = candidates.next()?;
                        at = self.entries[rule];
                    } else {
                        return Some(rule);
                    }
                }
            }
        }
    }
}

/// An item as the tests read it: its facts laid out by field, so a test reaches its value
/// by index rather than by a match, and which of its texts are ASCII — found once per
/// decision, so that no test scans a text again to choose between the byte-wise comparison
/// and the char-by-char fold.
pub(crate) struct Prepared<'a> {
    facts: &'a ItemFacts,
    /// By [`TextField`]; the flag says the text is ASCII.
    texts: [Option<(&'a str, bool)>; 3],
    /// By [`TagField`]; the flag says every tag of the list is ASCII.
    tags: [(&'a [String], bool); 2],
    /// By [`MoneyField`].
    money: [Money; 3],
    /// Sieve keys by slot (see [`Instr::sieve`]).
    keys: [u64; SLOTS],
    /// Slots whose key cannot sieve: text or tags that are not ASCII, which may fold to a
    /// literal of another length.
    unsieved: u16,
}

impl<'a> Prepared<'a> {
    /// The item for a few tests: no sieve keys (finding them costs more than they save).
    #[inline]
    pub(crate) fn new(facts: &'a ItemFacts) -> Prepared<'a> {
        let text = |t: &'a str| Some((t, t.is_ascii()));
        let tags = |ts: &'a [String]| (ts, ts.iter().all(|t| t.is_ascii()));
        Prepared {
            facts,
            texts: [
                text(&facts.return_reason),
                facts.sub_reason.as_deref().and_then(text),
                text(&facts.sku),
            ],
            tags: [tags(&facts.product_tags), tags(&facts.order_tags)],
            money: [
                facts.order_discount_amount,
                facts.order_value,
                facts.item_price,
            ],
            keys: [0; SLOTS],
            unsieved: u16::MAX,
        }
    }

    /// The item for many tests: with the keys of every slot the rules sieve on.
    #[inline]
    pub(crate) fn sieved(facts: &'a ItemFacts) -> Prepared<'a> {
        let mut item = Prepared::new(facts);
        item.keys[usize::from(COUNTRY_SLOT)] = country_key(facts.order_country);
        item.unsieved = 0;
        for (slot, text) in item.texts.iter().enumerate() {
            let bit_slot = usize::from(TEXT_BIT_SLOTS) + slot;
            let byte_slot = usize::from(TEXT_BYTE_SLOTS) + slot;
            match text {
                Some((t, true)) => {
                    let key = text_key(t);
                    item.keys[slot] = key.unwrap_or(NO_KEY);
                    item.keys[bit_slot] = key_bit(key, t.len());
                    item.keys[byte_slot] = byte_bits(t);
                }
                Some((_, false)) => {
                    item.unsieved |= (1 << slot) | (1 << bit_slot) | (1 << byte_slot)
                }
                // No text: no literal's key, no bit.
                None => item.keys[slot] = NO_KEY,
            }
        }
        for (i, (list, ascii)) in item.tags.iter().enumerate() {
            let slot = usize::from(TAG_SLOTS) + i;
            if *ascii {
                item.keys[slot] = list.iter().fold(0, |bloom, t| bloom | text_bit(t));
            } else {
                item.unsieved |= 1 << slot;
            }
        }
        item
    }

    /// False when the instruction's sieve shows its test cannot hold.
    #[inline(always)]
    fn passes(&self, instr: &Instr) -> bool {
        let sieve = instr.sieve;
        sieve == NO_SIEVE || {
            let slot = usize::from(sieve) % SLOTS;
            (self.keys[slot] & instr.mask == instr.key) != (sieve & ANY != 0)
                || self.unsieved & (1 << slot) != 0
        }
    }

    #[inline(always)]
    fn text(&self, field: TextField) -> Option<(&'a str, bool)> {
        self.texts[field as usize]
    }

    #[inline(always)]
    fn tags(&self, field: TagField) -> (&'a [String], bool) {
        self.tags[field as usize]
    }

    #[inline(always)]
    fn money(&self, field: MoneyField) -> Money {
        self.money[field as usize]
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
/// ASCII text (`ascii`, known beforehand) takes the byte-wise path, which compares the
/// lengths first; other text folds char by char, still allocation-free.
#[inline(always)]
fn text_eq(text: &str, ascii: bool, folded: &str) -> bool {
    if ascii {
        text.eq_ignore_ascii_case(folded)
    } else {
        folds_to(text, folded)
    }
}

#[inline(never)]
fn folds_to(text: &str, folded: &str) -> bool {
    fold_chars(text).eq(folded.chars())
}

/// Case-insensitive substring test against an already lower-cased needle.
#[inline(always)]
fn text_contains(text: &str, ascii: bool, folded_needle: &str) -> bool {
    // A shorter ASCII text cannot hold the needle; say so without a call.
    (!ascii || text.len() >= folded_needle.len()) && find_folded(text, ascii, folded_needle)
}

fn find_folded(text: &str, ascii: bool, folded_needle: &str) -> bool {
    if ascii {
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

fn has_tag((tags, ascii): (&[String], bool), folded: &str) -> bool {
    tags.iter()
        .any(|t| text_eq(t, ascii || t.is_ascii(), folded))
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

    // Inlined into the decision loop: a call per test was a third of its time.
    #[inline(always)]
    fn eval(&self, item: &Prepared) -> bool {
        let facts = item.facts;
        match self {
            Check::TextEq(f, v) => item.text(*f).is_some_and(|(t, a)| text_eq(t, a, v)),
            Check::TextNe(f, v) => item.text(*f).is_some_and(|(t, a)| !text_eq(t, a, v)),
            Check::TextContains(f, v) => item.text(*f).is_some_and(|(t, a)| text_contains(t, a, v)),
            Check::TextIn(f, vs) => item
                .text(*f)
                .is_some_and(|(t, a)| vs.iter().any(|v| text_eq(t, a, v))),
            Check::Country { codes, negate } => codes.contains(&facts.order_country) != *negate,
            Check::Qc(bits) => facts.qc_status.is_some_and(|s| bits & (1 << s as u8) != 0),
            Check::Grade(bits) => facts.qc_grade.is_some_and(|g| bits & (1 << g as u8) != 0),
            Check::TagHas(f, t) => has_tag(item.tags(*f), t),
            Check::TagLacks(f, t) => !has_tag(item.tags(*f), t),
            Check::TagAny(f, ts) => {
                let tags = item.tags(*f);
                ts.iter().any(|t| has_tag(tags, t))
            }
            Check::Percent(cmp, bp) => cmp.holds(facts.order_discount.cmp_basis_points(*bp)),
            Check::Money(f, cmp, minor, currency) => {
                let m = item.money(*f);
                m.currency == *currency && cmp.holds(m.minor.cmp(minor))
            }
            Check::Days(cmp, n) => cmp.holds(i64::from(facts.days_since_order).cmp(n)),
            Check::Never => false,
        }
    }

    /// Writes the item's value for this test, as an explanation shows it.
    fn write_actual(&self, facts: &ItemFacts, out: &mut String) {
        match self {
            Check::TextEq(f, _)
            | Check::TextNe(f, _)
            | Check::TextContains(f, _)
            | Check::TextIn(f, _) => match text_of(facts, *f) {
                Some(t) => quote(t, out),
                None => out.push_str("none"),
            },
            Check::Country { .. } => out.push_str(facts.order_country.as_str()),
            Check::Qc(_) => out.push_str(facts.qc_status.map_or("not inspected", |s| s.name())),
            Check::Grade(_) => out.push_str(facts.qc_grade.map_or("no grade", |g| g.name())),
            Check::TagHas(f, _) | Check::TagLacks(f, _) | Check::TagAny(f, _) => {
                let tags = tags_of(facts, *f);
                if tags.is_empty() {
                    out.push_str("no tags");
                }
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    quote(tag, out);
                }
            }
            Check::Percent(..) => {
                let r = facts.order_discount;
                // Two decimals, rounded down, for display only.
                let hundredths = i128::from(r.numerator()) * 10_000 / i128::from(r.denominator());
                let _ = write!(out, "{}.{:02}%", hundredths / 100, hundredths % 100);
            }
            Check::Money(f, ..) => {
                let _ = write!(out, "{}", money_of(facts, *f));
            }
            Check::Days(..) => {
                let _ = write!(out, "{}", facts.days_since_order);
            }
            Check::Never => out.push_str("not applicable"),
        }
    }
}

fn quote(text: &str, out: &mut String) {
    out.push('\'');
    out.push_str(text);
    out.push('\'');
}

impl Node {
    /// Whether the item satisfies this condition, without saying why (the same value as
    /// [`RuleCode::first_match`]).
    fn holds(&self, item: &Prepared) -> bool {
        match self {
            Node::All(children) => children.iter().all(|c| c.holds(item)),
            Node::Any(children) => children.iter().any(|c| c.holds(item)),
            Node::Not(inner) => !inner.holds(item),
            Node::Test(test) => test.check.eval(item),
        }
    }

    /// The same truth value as [`RuleCode::first_match`], writing why into `why`: for a true `all`
    /// every part, for a false one the first part that failed; for `any` the first part that
    /// held, or every part when none did. Each part is evaluated first and only the parts
    /// the explanation names are written, straight into `why`: the supervisor's view of 100
    /// rules stays in microseconds.
    pub(crate) fn explain(&self, item: &Prepared, why: &mut String) -> bool {
        match self {
            Node::All(children) if children.is_empty() => {
                why.push_str("always (no conditions)");
                true
            }
            Node::All(children) => {
                if let Some(failed) = children.iter().find(|c| !c.holds(item)) {
                    failed.explain(item, why);
                    return false;
                }
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        why.push_str(" and ");
                    }
                    child.explain(item, why);
                }
                true
            }
            Node::Any(children) => {
                if let Some(held) = children.iter().find(|c| c.holds(item)) {
                    held.explain(item, why);
                    return true;
                }
                why.push_str("none of: ");
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        why.push_str("; ");
                    }
                    child.explain(item, why);
                }
                false
            }
            Node::Not(inner) => {
                why.push_str("not (");
                let inner_holds = inner.explain(item, why);
                why.push(')');
                !inner_holds
            }
            Node::Test(test) => test.explain(item, why),
        }
    }
}

impl Test {
    fn explain(&self, item: &Prepared, why: &mut String) -> bool {
        let holds = self.check.eval(item);
        why.push_str(&self.label);
        why.push_str(if holds {
            " holds (item: "
        } else {
            " does not hold (item: "
        });
        self.check.write_actual(item.facts, why);
        why.push(')');
        holds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sieve_folds_every_ascii_byte_as_the_tests_do() {
        for b in 0u8..0x80 {
            // Each of the seven key bytes, and the byte beside it untouched.
            for at in 0..7 {
                let x = u64::from(b) << (8 * at) | u64::from(b'Q') << (8 * ((at + 1) % 7));
                let folded = ascii_lowercase(x);
                assert_eq!((folded >> (8 * at)) as u8, b.to_ascii_lowercase(), "{b:#x}");
                assert_eq!((folded >> (8 * ((at + 1) % 7))) as u8, b'q');
            }
        }
    }

    #[test]
    fn equal_texts_have_equal_keys_and_unequal_short_ones_do_not() {
        let key = |t: &str| text_key(t).unwrap();
        assert_eq!(key("TEE-BLK-M"), key("tee-blk-m"));
        assert_eq!(key("Changed mind"), key("CHANGED MIND"));
        // Same seven first bytes, another length; another byte within the first seven.
        assert_ne!(key("Changed mind"), key("Changed mind later"));
        assert_ne!(key("Faulty"), key("Faulty "));
        assert_ne!(key("CAP-01"), key("CAP-02"));
        assert_ne!(key(""), key("a"));
        assert_eq!(text_key(&"x".repeat(255)), None);
        assert!(text_key(&"x".repeat(254)).is_some());
        assert_eq!(text_bit("Sale Item"), text_bit("sale item"));
        let (hay, needle) = (byte_bits("TEE-BLK-M"), byte_bits("blk-m"));
        assert_eq!(hay & needle, needle);
        assert_ne!(hay & byte_bits("sku-"), byte_bits("sku-"));
    }
}
