//! Checks a rule set when it is saved and parses it from JSON, reporting every problem as
//! an issue that names the rule and the place inside its condition.
//!
//! Errors refuse the save: unknown fields or operators, literals of the wrong type or
//! malformed, QC fields under a first-scan trigger, duplicate ids, priorities below 1 or
//! shared by two rules, outcomes the retailer cannot give (a disabled Exchange, a credit
//! note that expires after 0 days), conditions that can never be true, and rules shadowed
//! by an earlier one (see `analysis` for exactly what is detected). Warnings do not refuse
//! it: a money literal in a currency other than the retailer's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decision::{QcFailPolicy, RetailerPolicy};
use crate::rules::analysis::{self, Conjunction, Lit, TCond};
use crate::rules::model::{Condition, Field, Literal, Outcome, Rule, RuleSet};
use crate::rules::typed::{self, SingleTest, Typed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The rule set cannot be saved.
    Error,
    /// Saved, but the admin should look.
    Warning,
}

/// What kind of problem an issue is, for the UI to group or highlight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// Not valid JSON, or an unknown/missing field or operator.
    Syntax,
    TypeMismatch,
    InvalidValue,
    FieldUnavailable,
    DuplicateId,
    InvalidPriority,
    PriorityTie,
    OutcomeNotOffered,
    NeverMatches,
    Shadowed,
    CurrencyMismatch,
}

/// One problem in a rule set, pointing at a rule and a path inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RuleIssue {
    pub severity: Severity,
    pub code: IssueCode,
    /// Position of the rule in the list as saved; `None` for the rule set as a whole.
    pub rule_index: Option<u32>,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    /// Where inside the rule, e.g. `condition.all[1].predicate.value`; empty for the rule.
    pub path: String,
    pub message: String,
}

impl fmt::Display for RuleIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.rule_name, &self.rule_id, self.rule_index) {
            (Some(name), _, _) => write!(f, "rule '{name}'")?,
            (None, Some(id), _) => write!(f, "rule {id}")?,
            (None, None, Some(index)) => write!(f, "rule #{}", index + 1)?,
            (None, None, None) => f.write_str("rule set")?,
        }
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

fn issue(
    rule_index: usize,
    rule: &Rule,
    code: IssueCode,
    path: &str,
    message: String,
) -> RuleIssue {
    RuleIssue {
        severity: if code == IssueCode::CurrencyMismatch {
            Severity::Warning
        } else {
            Severity::Error
        },
        code,
        rule_index: Some(rule_index as u32),
        rule_id: Some(rule.id.clone()),
        rule_name: Some(rule.name.clone()),
        path: path.to_owned(),
        message,
    }
}

/// Parses a rule set from its JSON, reporting each rule's syntax errors with the rule's
/// name and the path inside it (e.g. "rule 'Sale items' at condition.predicate.field:
/// unknown field 'colour' ..."). Semantic checks are [`validate`]'s job.
pub fn parse_rule_set(json: &str) -> Result<RuleSet, Vec<RuleIssue>> {
    let whole_set_issue = |message: String| RuleIssue {
        severity: Severity::Error,
        code: IssueCode::Syntax,
        rule_index: None,
        rule_id: None,
        rule_name: None,
        path: String::new(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| vec![whole_set_issue(e.to_string())])?;
    let serde_json::Value::Object(mut top) = value else {
        return Err(vec![whole_set_issue(
            "a rule set is an object with a \"rules\" list".to_owned(),
        )]);
    };
    let mut issues = Vec::new();
    for key in top.keys().filter(|k| *k != "rules") {
        issues.push(whole_set_issue(format!(
            "unknown key '{key}' (expected only \"rules\")"
        )));
    }
    let Some(serde_json::Value::Array(raw_rules)) = top.remove("rules") else {
        issues.push(whole_set_issue("missing the \"rules\" list".to_owned()));
        return Err(issues);
    };
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (index, raw) in raw_rules.into_iter().enumerate() {
        let text_of = |key: &str| raw.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let (rule_id, rule_name) = (text_of("id"), text_of("name"));
        match serde_path_to_error::deserialize::<_, Rule>(raw) {
            Ok(rule) => rules.push(rule),
            Err(err) => {
                let path = err.path().to_string();
                issues.push(RuleIssue {
                    severity: Severity::Error,
                    code: IssueCode::Syntax,
                    rule_index: Some(index as u32),
                    rule_id,
                    rule_name,
                    path: if path == "." { String::new() } else { path },
                    message: err.into_inner().to_string(),
                });
            }
        }
    }
    if issues.is_empty() {
        Ok(RuleSet { rules })
    } else {
        Err(issues)
    }
}

/// The outcome of checking a rule set: its issues, and each rule's checked condition
/// (`None` where the condition had errors).
pub(crate) struct Checked {
    pub issues: Vec<RuleIssue>,
    pub conditions: Vec<Option<TCond>>,
}

/// Checks a rule set against the retailer's policy. Empty means valid; any issue of
/// severity `Error` means the rule set must not be saved or used.
pub fn validate(rule_set: &RuleSet, policy: &RetailerPolicy) -> Vec<RuleIssue> {
    check(rule_set, policy).issues
}

pub(crate) fn check(rule_set: &RuleSet, policy: &RetailerPolicy) -> Checked {
    let mut issues = Vec::new();
    let mut conditions = Vec::with_capacity(rule_set.rules.len());
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut priorities: BTreeMap<u32, usize> = BTreeMap::new();
    for (index, rule) in rule_set.rules.iter().enumerate() {
        let mut problem = |code, path: &str, message| {
            issues.push(issue(index, rule, code, path, message));
        };
        if rule.id.trim().is_empty() {
            problem(
                IssueCode::InvalidValue,
                "id",
                "the rule has no id".to_owned(),
            );
        } else if let Some(&first) = ids.get(rule.id.as_str()) {
            let other = &rule_set.rules[first].name;
            problem(
                IssueCode::DuplicateId,
                "id",
                format!("id '{}' is already used by rule '{other}'", rule.id),
            );
        } else {
            ids.insert(&rule.id, index);
        }
        if rule.priority == 0 {
            problem(
                IssueCode::InvalidPriority,
                "priority",
                "priorities start at 1".to_owned(),
            );
        } else if let Some(&first) = priorities.get(&rule.priority) {
            let other = &rule_set.rules[first].name;
            problem(
                IssueCode::PriorityTie,
                "priority",
                format!(
                    "priority {} is also given to rule '{other}'; each rule needs its own",
                    rule.priority
                ),
            );
        } else {
            priorities.insert(rule.priority, index);
        }
        if let Some((code, message)) = outcome_problem(rule.outcome, policy) {
            problem(code, "outcome", message);
        }
        let mut errors = Vec::new();
        let checked = check_condition(&rule.condition, "condition", policy, &mut errors);
        for (code, path, message) in errors {
            problem(code, &path, message);
        }
        conditions.push(checked);
    }
    issues.extend(reachability_issues(rule_set, policy, &conditions));
    // Rule by rule, in the order the admin sees them (stable: per-rule order kept).
    issues.sort_by_key(|i| i.rule_index);
    Checked { issues, conditions }
}

/// Why `outcome` cannot be given by this retailer, if it cannot.
pub(crate) fn outcome_problem(
    outcome: Outcome,
    policy: &RetailerPolicy,
) -> Option<(IssueCode, String)> {
    match outcome {
        Outcome::Exchange if !policy.exchange_enabled => Some((
            IssueCode::OutcomeNotOffered,
            "Exchange is disabled for this retailer".to_owned(),
        )),
        Outcome::CreditNote {
            expiry_days: Some(0),
        } => Some((
            IssueCode::InvalidValue,
            "a credit note that expires after 0 days is worthless; leave the expiry empty for none"
                .to_owned(),
        )),
        _ => None,
    }
}

type ConditionError = (IssueCode, String, String);

fn check_condition(
    condition: &Condition,
    path: &str,
    policy: &RetailerPolicy,
    errors: &mut Vec<ConditionError>,
) -> Option<TCond> {
    let children = |list: &[Condition], kind: &str, errors: &mut Vec<ConditionError>| {
        let checked: Vec<Option<TCond>> = list
            .iter()
            .enumerate()
            .map(|(i, c)| check_condition(c, &format!("{path}.{kind}[{i}]"), policy, errors))
            .collect();
        checked.into_iter().collect::<Option<Vec<TCond>>>()
    };
    match condition {
        Condition::All(list) => children(list, "all", errors).map(TCond::All),
        Condition::Any(list) => {
            if list.is_empty() {
                errors.push((
                    IssueCode::NeverMatches,
                    format!("{path}.any"),
                    "an empty 'any' is never true".to_owned(),
                ));
            }
            children(list, "any", errors).map(TCond::Any)
        }
        Condition::Not(inner) => check_condition(inner, &format!("{path}.not"), policy, errors)
            .map(|c| TCond::Not(Box::new(c))),
        Condition::Predicate(pred) => {
            let here = format!("{path}.predicate");
            match typed::check(pred, policy.trigger) {
                Ok(typed) => {
                    if let (Literal::Money(m), Some(currency)) = (&pred.value, policy.currency) {
                        if m.currency != currency {
                            errors.push((
                                IssueCode::CurrencyMismatch,
                                format!("{here}.value"),
                                format!(
                                    "{} is in {} but the retailer sells in {currency}; it never matches {currency} orders",
                                    pred.field, m.currency
                                ),
                            ));
                        }
                    }
                    Some(TCond::Pred(typed))
                }
                Err(e) => {
                    let code = if e.type_mismatch {
                        IssueCode::TypeMismatch
                    } else if matches!(pred.field, Field::QcStatus | Field::QcGrade)
                        && !policy.trigger.sees_inspection()
                    {
                        IssueCode::FieldUnavailable
                    } else {
                        IssueCode::InvalidValue
                    };
                    errors.push((code, here, e.message));
                    None
                }
            }
        }
    }
}

/// What the retailer's QC policy adds to every rule: when QC FAIL items never reach the
/// rules, every rule implicitly has "QC status is not fail".
fn context_literals(policy: &RetailerPolicy) -> Vec<Lit> {
    if policy.qc_fail == QcFailPolicy::RuleDriven || !policy.trigger.sees_inspection() {
        return Vec::new();
    }
    vec![Lit {
        pred: Typed::Single {
            field: Field::QcStatus,
            test: SingleTest::Eq("fail".to_owned()),
        },
        positive: false,
    }]
}

fn mentions_qc(cond: &TCond) -> bool {
    match cond {
        TCond::All(cs) | TCond::Any(cs) => cs.iter().any(mentions_qc),
        TCond::Not(c) => mentions_qc(c),
        TCond::Pred(p) => p.field() == Field::QcStatus,
    }
}

fn reachability_issues(
    rule_set: &RuleSet,
    policy: &RetailerPolicy,
    conditions: &[Option<TCond>],
) -> Vec<RuleIssue> {
    let context = context_literals(policy);
    // Enabled rules in evaluation order, with their DNF under the retailer's context.
    let mut order: Vec<usize> = (0..rule_set.rules.len())
        .filter(|&i| rule_set.rules[i].enabled)
        .collect();
    order.sort_by_key(|&i| (rule_set.rules[i].priority, i));
    let mut issues = Vec::new();
    let mut earlier: Vec<(usize, Vec<Conjunction>)> = Vec::new();
    let with_context = |terms: Vec<Conjunction>| -> Vec<Conjunction> {
        terms
            .into_iter()
            .map(|mut t| {
                t.extend(context.iter().cloned());
                t
            })
            .collect()
    };
    for index in order {
        let rule = &rule_set.rules[index];
        let Some(cond) = &conditions[index] else {
            continue;
        };
        let Some(terms) = analysis::dnf(cond, true).map(with_context) else {
            continue;
        };
        if !terms.is_empty() && analysis::never_true(&terms) {
            let why = if !context.is_empty() && mentions_qc(cond) {
                " (items failing QC follow the retailer's QC fail policy and never reach the rules)"
            } else {
                ""
            };
            issues.push(issue(
                index,
                rule,
                IssueCode::NeverMatches,
                "condition",
                format!("this condition contradicts itself and can never be true{why}"),
            ));
            continue;
        }
        if terms.is_empty() {
            // An empty `any` was already reported.
            continue;
        }
        if let Some((shadow_index, _)) = earlier
            .iter()
            .find(|(_, earlier_terms)| analysis::implies(&terms, earlier_terms))
        {
            let shadow = &rule_set.rules[*shadow_index];
            issues.push(issue(
                index,
                rule,
                IssueCode::Shadowed,
                "condition",
                format!(
                    "unreachable: every item it matches is taken first by rule '{}' (priority {})",
                    shadow.name, shadow.priority
                ),
            ));
            continue;
        }
        earlier.push((index, terms));
    }
    issues
}
