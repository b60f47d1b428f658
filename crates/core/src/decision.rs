//! Decides what one returned item gets: QC-fail policy, then the rules by priority (first
//! match wins), the customer's choice, the retailer's default — and says why.
//!
//! [`Decider::decide`] is the allocation-free hot path; [`Decider::decide_explained`]
//! reaches the same outcome through the same steps and records which rule matched and why,
//! and which higher-priority rules did not and why, for the supervisor.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::rules::analysis::TCond;
use crate::rules::compiled::{self, Node, Prepared, RuleCode};
use crate::rules::index::{self, RuleIndex};
use crate::rules::validate::{self, outcome_problem, IssueCode, RuleIssue, Severity};
use crate::rules::{ItemFacts, Outcome, QcStatus, RuleSet};
use crate::trigger::Trigger;

/// What a customer may pick in the returns portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ReturnOption {
    Refund,
    CreditNote,
    Exchange,
}

impl ReturnOption {
    /// The stored text, the same as the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnOption::Refund => "refund",
            ReturnOption::CreditNote => "credit_note",
            ReturnOption::Exchange => "exchange",
        }
    }

    pub fn parse(s: &str) -> Option<ReturnOption> {
        [
            ReturnOption::Refund,
            ReturnOption::CreditNote,
            ReturnOption::Exchange,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// What happens to items that fail QC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum QcFailPolicy {
    NoAction,
    HoldForReview,
    /// QC FAIL items go through the rules like any other (rules may test `qc_status`).
    RuleDriven,
}

/// A retailer's settings that shape decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RetailerPolicy {
    pub trigger: Trigger,
    /// Customers pick their return option in the portal.
    pub customers_choose: bool,
    pub exchange_enabled: bool,
    /// A matching rule replaces the customer's choice (otherwise the choice stands).
    pub rules_override_customer_choice: bool,
    /// When no rule matches and there is no valid customer choice.
    pub default_outcome: Outcome,
    pub qc_fail: QcFailPolicy,
    /// Expiry of credit notes the customer chose (rules carry their own).
    pub credit_note_expiry_days: Option<u32>,
    /// The retailer's store currency, to warn about money literals in another one.
    #[ts(type = "string | null")]
    pub currency: Option<Currency>,
    /// How actions are carried out on Shopify (absent in older configurations: the defaults).
    #[serde(default)]
    pub shopify: crate::trigger::ShopifyPolicy,
    /// Which target each return source's actions go to (absent in older configurations:
    /// every source to its default).
    #[serde(default)]
    pub partners: crate::partner::PartnerPolicy,
}

impl RetailerPolicy {
    /// The options the portal offers: Refund and Credit Note always, Exchange if enabled.
    pub fn offered_options(&self) -> Vec<ReturnOption> {
        let mut options = vec![ReturnOption::Refund, ReturnOption::CreditNote];
        if self.exchange_enabled {
            options.push(ReturnOption::Exchange);
        }
        options
    }

    fn offers(&self, option: ReturnOption) -> bool {
        option != ReturnOption::Exchange || self.exchange_enabled
    }

    fn outcome_for(&self, option: ReturnOption) -> Outcome {
        match option {
            ReturnOption::Refund => Outcome::Refund,
            ReturnOption::CreditNote => Outcome::CreditNote {
                expiry_days: self.credit_note_expiry_days,
            },
            ReturnOption::Exchange => Outcome::Exchange,
        }
    }
}

/// Where a fast decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictSource {
    /// Index into [`Decider::rules`] (evaluation order).
    Rule(usize),
    CustomerChoice,
    RetailerDefault,
    QcFailPolicy,
}

/// The result of the fast path: the outcome and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub source: VerdictSource,
}

/// Where a decision came from, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecisionSource {
    Rule {
        rule_id: String,
        rule_name: String,
        priority: u32,
    },
    CustomerChoice,
    RetailerDefault,
    QcFailPolicy,
}

/// Which rule a trace is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RuleLabel {
    pub rule_id: String,
    pub rule_name: String,
    pub priority: u32,
}

/// One rule's result for an item, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RuleTrace {
    /// Shared with the compiled rule: an explanation names every rule it tried, and a
    /// copy of each name was most of its cost.
    #[serde(flatten)]
    #[ts(flatten)]
    pub rule: Arc<RuleLabel>,
    pub why: String,
}

/// Why an item got its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Explanation {
    /// The rule that matched, if any (even when the customer's choice then stood).
    pub matched: Option<RuleTrace>,
    /// Every enabled rule of higher priority than the match (all of them if none matched).
    pub not_matched: Vec<RuleTrace>,
    /// How the policy steps played out, in order.
    pub notes: Vec<String>,
}

/// An item's decision with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Decision {
    pub outcome: Outcome,
    pub source: DecisionSource,
    pub explanation: Explanation,
}

/// Candidate rules from which the sieve pays for finding the item's sieve keys: with a
/// handful of candidates (the usual case once the index narrowed them) it does not.
const SIEVE_FROM: u32 = 12;

/// One enabled rule in evaluation form.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub label: Arc<RuleLabel>,
    pub outcome: Outcome,
    /// For explaining; the same condition as the decider's [`RuleCode`] for this rule.
    condition: Node,
}

/// A validated rule set compiled together with the retailer's policy. Build it once per
/// saved rule-set version and share it (it is immutable; wrap it in an `Arc` across threads).
#[derive(Debug, Clone)]
pub struct Decider {
    rules: Vec<CompiledRule>,
    /// The rules' conditions, for deciding.
    code: RuleCode,
    /// `None` for rule sets too large to index: they are scanned in order.
    index: Option<RuleIndex>,
    policy: RetailerPolicy,
    warnings: Vec<RuleIssue>,
}

/// What the policy step did, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    RuleApplied,
    RuleHolds,
    ChoiceStands(ReturnOption),
    ChoiceNoRule(ReturnOption),
    Default,
    DefaultChoiceNotOffered(ReturnOption),
    DefaultChoiceIgnored(ReturnOption),
}

impl Decider {
    /// Validates `rule_set` against `policy` and compiles it. Refused with every issue
    /// (errors and warnings) if any is an error; warnings alone are kept in
    /// [`Decider::warnings`].
    pub fn new(rule_set: &RuleSet, policy: &RetailerPolicy) -> Result<Decider, Vec<RuleIssue>> {
        let checked = validate::check(rule_set, policy);
        let mut issues = checked.issues;
        if let Some((code, message)) = outcome_problem(policy.default_outcome, policy) {
            issues.push(policy_issue(code, format!("default outcome: {message}")));
        }
        if issues.iter().any(|i| i.severity == Severity::Error) {
            return Err(issues);
        }
        let mut enabled: Vec<(&crate::rules::Rule, TCond)> = rule_set
            .rules
            .iter()
            .zip(checked.conditions)
            .filter(|(rule, _)| rule.enabled)
            // Without errors every condition type-checked.
            .filter_map(|(rule, cond)| cond.map(|cond| (rule, cond)))
            .collect();
        // Priorities are unique after validation, so this order is total.
        enabled.sort_by_key(|(rule, _)| rule.priority);
        let conditions: Vec<&TCond> = enabled.iter().map(|(_, cond)| cond).collect();
        let index = RuleIndex::build(&conditions);
        let rules = enabled
            .iter()
            .map(|(rule, cond)| CompiledRule {
                label: Arc::new(RuleLabel {
                    rule_id: rule.id.clone(),
                    rule_name: rule.name.clone(),
                    priority: rule.priority,
                }),
                outcome: rule.outcome,
                condition: compiled::compile(cond),
            })
            .collect();
        Ok(Decider {
            rules,
            code: RuleCode::new(conditions.iter().copied()),
            index,
            policy: policy.clone(),
            warnings: issues,
        })
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn policy(&self) -> &RetailerPolicy {
        &self.policy
    }

    pub fn warnings(&self) -> &[RuleIssue] {
        &self.warnings
    }

    fn qc_fail_outcome(&self, facts: &ItemFacts) -> Option<Outcome> {
        if facts.qc_status != Some(QcStatus::Fail) {
            return None;
        }
        match self.policy.qc_fail {
            QcFailPolicy::NoAction => Some(Outcome::NoAction),
            QcFailPolicy::HoldForReview => Some(Outcome::HoldForReview),
            QcFailPolicy::RuleDriven => None,
        }
    }

    /// The policy steps after rule evaluation; shared by both paths so they agree.
    fn resolve(&self, matched: Option<usize>, choice: Option<ReturnOption>) -> (Verdict, Step) {
        let policy = &self.policy;
        let usable_choice = choice.filter(|&c| policy.customers_choose && policy.offers(c));
        let verdict = |outcome, source| Verdict { outcome, source };
        match (matched, usable_choice) {
            (Some(index), _) if self.rules[index].outcome == Outcome::HoldForReview => (
                verdict(Outcome::HoldForReview, VerdictSource::Rule(index)),
                Step::RuleHolds,
            ),
            (Some(_), Some(c)) if !policy.rules_override_customer_choice => (
                verdict(policy.outcome_for(c), VerdictSource::CustomerChoice),
                Step::ChoiceStands(c),
            ),
            (Some(index), _) => (
                verdict(self.rules[index].outcome, VerdictSource::Rule(index)),
                Step::RuleApplied,
            ),
            (None, Some(c)) => (
                verdict(policy.outcome_for(c), VerdictSource::CustomerChoice),
                Step::ChoiceNoRule(c),
            ),
            (None, None) => {
                let step = match choice {
                    Some(c) if !policy.customers_choose => Step::DefaultChoiceIgnored(c),
                    Some(c) => Step::DefaultChoiceNotOffered(c),
                    None => Step::Default,
                };
                (
                    verdict(policy.default_outcome, VerdictSource::RetailerDefault),
                    step,
                )
            }
        }
    }

    /// The item's outcome. Allocation-free for ASCII text; same result as
    /// [`Decider::decide_explained`].
    #[inline]
    pub fn decide(&self, facts: &ItemFacts, choice: Option<ReturnOption>) -> Verdict {
        if let Some(outcome) = self.qc_fail_outcome(facts) {
            return Verdict {
                outcome,
                source: VerdictSource::QcFailPolicy,
            };
        }
        let matched = match &self.index {
            Some(index) => {
                let candidates = index.candidates(facts);
                let item = if index::count(&candidates) > SIEVE_FROM {
                    Prepared::sieved(facts)
                } else {
                    Prepared::new(facts)
                };
                self.code.first_match(&item, index::ones(&candidates))
            }
            None => self
                .code
                .first_match(&Prepared::sieved(facts), 0..self.rules.len()),
        };
        self.resolve(matched, choice).0
    }

    /// The item's outcome with the full explanation.
    pub fn decide_explained(&self, facts: &ItemFacts, choice: Option<ReturnOption>) -> Decision {
        let mut explanation = Explanation {
            matched: None,
            not_matched: Vec::new(),
            notes: Vec::new(),
        };
        if let Some(outcome) = self.qc_fail_outcome(facts) {
            explanation.notes.push(format!(
                "QC failed: the retailer's QC fail policy gives {outcome}; rules are not evaluated"
            ));
            return Decision {
                outcome,
                source: DecisionSource::QcFailPolicy,
                explanation,
            };
        }
        let item = Prepared::new(facts);
        let mut matched = None;
        explanation.not_matched.reserve(self.rules.len());
        // Each "why" is written here, then copied out at its exact size: one allocation
        // per rule, of the size the allocator serves fastest.
        let mut scratch = String::with_capacity(256);
        for (index, rule) in self.rules.iter().enumerate() {
            scratch.clear();
            let holds = rule.condition.explain(&item, &mut scratch);
            let trace = RuleTrace {
                rule: rule.label.clone(),
                why: scratch.as_str().to_owned(),
            };
            if holds {
                explanation.matched = Some(trace);
                matched = Some(index);
                break;
            }
            explanation.not_matched.push(trace);
        }
        let (verdict, step) = self.resolve(matched, choice);
        let rule_name = matched
            .map(|i| self.rules[i].label.rule_name.as_str())
            .unwrap_or("");
        explanation.notes.push(match step {
            Step::RuleApplied => format!("rule '{rule_name}' matched: {}", verdict.outcome),
            Step::RuleHolds => format!(
                "rule '{rule_name}' matched: held for supervisor review (applies over any customer choice)"
            ),
            Step::ChoiceStands(c) => format!(
                "rule '{rule_name}' matched but the retailer does not let rules override the customer's choice ({})",
                self.policy.outcome_for(c)
            ),
            Step::ChoiceNoRule(c) => format!(
                "no rule matched: the customer's choice applies ({})",
                self.policy.outcome_for(c)
            ),
            Step::Default => format!(
                "no rule matched and no customer choice: retailer default ({})",
                verdict.outcome
            ),
            Step::DefaultChoiceNotOffered(c) => format!(
                "no rule matched; the customer chose {c:?}, which this retailer does not offer: retailer default ({})",
                verdict.outcome
            ),
            Step::DefaultChoiceIgnored(c) => format!(
                "no rule matched; the customer's choice ({c:?}) is ignored because this retailer does not let customers choose: retailer default ({})",
                verdict.outcome
            ),
        });
        let source = match verdict.source {
            VerdictSource::Rule(i) => DecisionSource::Rule {
                rule_id: self.rules[i].label.rule_id.clone(),
                rule_name: self.rules[i].label.rule_name.clone(),
                priority: self.rules[i].label.priority,
            },
            VerdictSource::CustomerChoice => DecisionSource::CustomerChoice,
            VerdictSource::RetailerDefault => DecisionSource::RetailerDefault,
            VerdictSource::QcFailPolicy => DecisionSource::QcFailPolicy,
        };
        Decision {
            outcome: verdict.outcome,
            source,
            explanation,
        }
    }
}

fn policy_issue(code: IssueCode, message: String) -> RuleIssue {
    RuleIssue {
        severity: Severity::Error,
        code,
        rule_index: None,
        rule_id: None,
        rule_name: None,
        path: String::new(),
        message,
    }
}
