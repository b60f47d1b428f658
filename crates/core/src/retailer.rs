//! A retailer's settings as an admin fills them in (the retailer form at the hub, or a file
//! given to the central store's CLI), and the one check that turns them into the whole
//! `RetailerRecord` that is recorded. Every field's problem is reported at once, each naming
//! its field, so a form can show them inline; nothing is recorded while any remains.
//!
//! What the form does not carry (the rules, how actions are carried out on Shopify, partner
//! bindings) is kept from the retailer's current configuration: each has its own screen.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::decision::{Decider, QcFailPolicy, RetailerPolicy};
use crate::money::Currency;
use crate::record::{QcReasonRecord, ReasonRecord, RetailerRecord, SubReasonRecord};
use crate::rules::{CountryCode, Outcome, RuleSet, Severity};
use crate::trigger::Trigger;

/// The longest credit-note expiry a retailer may set: ten years.
pub const MAX_EXPIRY_DAYS: u32 = 3650;
const MAX_REASONS: usize = 100;

/// The retailer form, field by field, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct RetailerForm {
    /// Lower-case letters, digits and dashes; fixed once the retailer exists.
    pub id: String,
    /// The exact display name the Return Upload API must send as `Retailer`.
    pub name: String,
    /// ISO 4217, e.g. NZD.
    pub currency: String,
    /// As a person writes it: "Canada", "CA" or "CAN".
    pub country: String,
    pub trigger: Trigger,
    pub customers_choose: bool,
    pub rules_override_customer_choice: bool,
    pub exchange_enabled: bool,
    /// Days a credit note the customer chose stays valid; none: it does not expire.
    pub credit_note_expiry_days: Option<u32>,
    pub default_outcome: Outcome,
    pub qc_fail: QcFailPolicy,
    pub reasons: Vec<ReasonRecord>,
    pub qc_reasons: Vec<QcReasonRecord>,
}

/// One problem with one field of the form (`field` is the form's key, e.g. `reasons[2].code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FieldIssue {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl RetailerForm {
    /// The form for an existing retailer, as its configuration is now.
    pub fn from_record(record: &RetailerRecord) -> RetailerForm {
        let p = &record.policy;
        RetailerForm {
            id: record.id.clone(),
            name: record.name.clone(),
            currency: record.currency.code().to_string(),
            country: record.country.clone().unwrap_or_default(),
            trigger: p.trigger,
            customers_choose: p.customers_choose,
            rules_override_customer_choice: p.rules_override_customer_choice,
            exchange_enabled: p.exchange_enabled,
            credit_note_expiry_days: p.credit_note_expiry_days,
            default_outcome: p.default_outcome,
            qc_fail: p.qc_fail,
            reasons: record.reasons.clone(),
            qc_reasons: record.qc_reasons.clone(),
        }
    }

    /// A new retailer's form with the usual starting values: refunds at processing, the
    /// customer's choice honoured, QC failures held for a supervisor.
    pub fn blank() -> RetailerForm {
        RetailerForm {
            id: String::new(),
            name: String::new(),
            currency: String::new(),
            country: String::new(),
            trigger: Trigger::Processing,
            customers_choose: true,
            rules_override_customer_choice: true,
            exchange_enabled: false,
            credit_note_expiry_days: Some(365),
            default_outcome: Outcome::Refund,
            qc_fail: QcFailPolicy::HoldForReview,
            reasons: Vec::new(),
            qc_reasons: Vec::new(),
        }
    }
}

/// Checks the form and builds the record to record. `existing` is the retailer's current
/// configuration when the form edits one (its rules, Shopify and partner settings are kept);
/// `others` are every other retailer's (display names must be unique: the Upload API finds
/// a retailer by it).
pub fn build_record(
    form: &RetailerForm,
    existing: Option<&RetailerRecord>,
    others: &[RetailerRecord],
) -> Result<RetailerRecord, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let mut issue = |field: &str, message: String| {
        issues.push(FieldIssue {
            field: field.to_string(),
            message,
        })
    };

    let id = form.id.trim().to_string();
    match existing {
        Some(current) if current.id != id => issue(
            "id",
            format!("a retailer's id cannot change (it is {})", current.id),
        ),
        Some(_) => {}
        None => {
            if let Err(message) = check_id(&id) {
                issue("id", message);
            } else if others.iter().any(|r| r.id == id) {
                issue("id", format!("there is already a retailer {id}"));
            }
        }
    }

    let name = form.name.trim().to_string();
    if name.is_empty() {
        issue(
            "name",
            "the display name is empty: type it exactly as the Upload API sends it".into(),
        );
    } else if name.chars().count() > 200 {
        issue(
            "name",
            "the display name is longer than 200 characters".into(),
        );
    } else if let Some(other) = others
        .iter()
        .find(|r| r.id != id && r.name.eq_ignore_ascii_case(&name))
    {
        issue(
            "name",
            format!(
                "retailer {} already has the display name {}",
                other.id, other.name
            ),
        );
    }

    let currency = match Currency::from_input(&form.currency) {
        Ok(c) => Some(c),
        Err(_) => {
            issue(
                "currency",
                format!(
                    "'{}' is not an ISO 4217 currency code (e.g. NZD, AUD, CAD)",
                    form.currency.trim()
                ),
            );
            None
        }
    };
    let country = match CountryCode::from_input(&form.country) {
        Ok(c) => Some(c.as_str().to_string()),
        Err(message) => {
            issue("country", message);
            None
        }
    };

    if let Some(days) = form.credit_note_expiry_days {
        if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
            issue(
                "credit_note_expiry_days",
                format!("between 1 and {MAX_EXPIRY_DAYS} days, or none for no expiry"),
            );
        }
    }
    if let Outcome::CreditNote {
        expiry_days: Some(days),
    } = form.default_outcome
    {
        if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
            issue(
                "default_outcome",
                format!("a credit note's expiry is between 1 and {MAX_EXPIRY_DAYS} days"),
            );
        }
    }

    let reasons = check_reasons(&form.reasons, &mut issue);
    let qc_reasons = check_qc_reasons(&form.qc_reasons, &mut issue);

    let (rules, shopify, partners) = match existing {
        Some(r) => (
            r.rules.clone(),
            r.policy.shopify.clone(),
            r.policy.partners.clone(),
        ),
        None => (RuleSet::default(), Default::default(), Default::default()),
    };
    let policy = RetailerPolicy {
        trigger: form.trigger,
        customers_choose: form.customers_choose,
        exchange_enabled: form.exchange_enabled,
        rules_override_customer_choice: form.rules_override_customer_choice,
        default_outcome: form.default_outcome,
        qc_fail: form.qc_fail,
        credit_note_expiry_days: form.credit_note_expiry_days,
        currency,
        shopify,
        partners,
    };
    // The settings and the retailer's rules must still agree (say, exchange switched off
    // while a rule gives exchanges): the rules engine's own check decides.
    if let Err(rule_issues) = Decider::new(&rules, &policy) {
        for i in rule_issues.iter().filter(|i| i.severity == Severity::Error) {
            let field = if i.rule_index.is_some() {
                "rules"
            } else {
                "default_outcome"
            };
            issue(field, i.to_string());
        }
    }

    match (issues.is_empty(), currency) {
        (true, Some(currency)) => Ok(RetailerRecord {
            id,
            name,
            currency,
            country,
            policy,
            rules,
            reasons,
            qc_reasons,
        }),
        _ => Err(issues),
    }
}

/// What changed between two versions of a retailer's configuration, in words, for its
/// history (`before` is `None` when it was created).
pub fn describe_change(before: Option<&RetailerRecord>, after: &RetailerRecord) -> String {
    let Some(before) = before else {
        return format!(
            "Created {} ({}, {}, actions at {})",
            after.name,
            after.currency.code(),
            after.country.as_deref().unwrap_or("no country"),
            after.policy.trigger.as_str()
        );
    };
    let mut parts = Vec::new();
    let mut changed = |what: &str, a: String, b: String| {
        if a != b {
            parts.push(format!("{what} {a} → {b}"));
        }
    };
    changed("name", before.name.clone(), after.name.clone());
    changed(
        "currency",
        before.currency.code().into(),
        after.currency.code().into(),
    );
    changed(
        "country",
        before.country.clone().unwrap_or_else(|| "none".into()),
        after.country.clone().unwrap_or_else(|| "none".into()),
    );
    let (p, q) = (&before.policy, &after.policy);
    changed(
        "trigger",
        p.trigger.as_str().into(),
        q.trigger.as_str().into(),
    );
    changed(
        "customers choose",
        p.customers_choose.to_string(),
        q.customers_choose.to_string(),
    );
    changed(
        "rules override the choice",
        p.rules_override_customer_choice.to_string(),
        q.rules_override_customer_choice.to_string(),
    );
    changed(
        "exchange",
        p.exchange_enabled.to_string(),
        q.exchange_enabled.to_string(),
    );
    changed(
        "credit-note expiry",
        days(p.credit_note_expiry_days),
        days(q.credit_note_expiry_days),
    );
    changed(
        "default outcome",
        outcome_text(p.default_outcome),
        outcome_text(q.default_outcome),
    );
    changed(
        "QC-fail policy",
        format!("{:?}", p.qc_fail),
        format!("{:?}", q.qc_fail),
    );
    if before.reasons != after.reasons {
        parts.push(format!(
            "return reasons ({} → {})",
            before.reasons.len(),
            after.reasons.len()
        ));
    }
    if before.qc_reasons != after.qc_reasons {
        parts.push(format!(
            "QC fail reasons ({} → {})",
            before.qc_reasons.len(),
            after.qc_reasons.len()
        ));
    }
    if before.rules != after.rules {
        parts.push(format!(
            "rules ({} → {})",
            before.rules.rules.len(),
            after.rules.rules.len()
        ));
    }
    if p.shopify != q.shopify {
        parts.push("Shopify settings".into());
    }
    if p.partners != q.partners {
        parts.push("partner bindings".into());
    }
    if parts.is_empty() {
        return "Saved with no change".into();
    }
    format!("Changed {}", parts.join(", "))
}

fn days(d: Option<u32>) -> String {
    d.map_or_else(|| "none".into(), |d| format!("{d} days"))
}

fn outcome_text(o: Outcome) -> String {
    match o {
        Outcome::CreditNote {
            expiry_days: Some(d),
        } => format!("credit note ({d} days)"),
        other => other.kind().label().to_lowercase(),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(2..=40).contains(&id.len()) || !ok_chars || id.starts_with('-') || id.ends_with('-') {
        return Err(format!(
            "'{id}' is not a retailer id: 2 to 40 lower-case letters, digits and dashes (e.g. kowhai-apparel)"
        ));
    }
    Ok(())
}

/// A reason code as stored: upper case, letters, digits and underscores.
fn normalise_code(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    if code.is_empty() {
        return Err("the code is empty".into());
    }
    if code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "'{}' is not a code: letters, digits and underscores, at most 64",
            raw.trim()
        ));
    }
    Ok(code)
}

fn check_label(raw: &str) -> Result<String, String> {
    let label = raw.trim();
    if label.is_empty() {
        return Err("the label is empty".into());
    }
    if label.chars().count() > 200 {
        return Err("the label is longer than 200 characters".into());
    }
    Ok(label.to_string())
}

fn check_reasons(
    reasons: &[ReasonRecord],
    issue: &mut impl FnMut(&str, String),
) -> Vec<ReasonRecord> {
    if reasons.len() > MAX_REASONS {
        issue("reasons", format!("at most {MAX_REASONS} return reasons"));
    }
    let mut out: Vec<ReasonRecord> = Vec::with_capacity(reasons.len());
    for (n, reason) in reasons.iter().enumerate() {
        let code = match normalise_code(&reason.code) {
            Ok(code) if out.iter().any(|r| r.code == code) => {
                issue(
                    &format!("reasons[{n}].code"),
                    format!("{code} is listed twice"),
                );
                code
            }
            Ok(code) => code,
            Err(message) => {
                issue(&format!("reasons[{n}].code"), message);
                String::new()
            }
        };
        let label = check_label(&reason.label).unwrap_or_else(|message| {
            issue(&format!("reasons[{n}].label"), message);
            String::new()
        });
        let mut subs: Vec<SubReasonRecord> = Vec::new();
        for (m, sub) in reason.sub_reasons.iter().enumerate() {
            let field = format!("reasons[{n}].sub_reasons[{m}]");
            let sub_code = match normalise_code(&sub.code) {
                Ok(c) if subs.iter().any(|s| s.code == c) => {
                    issue(&format!("{field}.code"), format!("{c} is listed twice"));
                    c
                }
                Ok(c) => c,
                Err(message) => {
                    issue(&format!("{field}.code"), message);
                    String::new()
                }
            };
            let sub_label = check_label(&sub.label).unwrap_or_else(|message| {
                issue(&format!("{field}.label"), message);
                String::new()
            });
            subs.push(SubReasonRecord {
                code: sub_code,
                label: sub_label,
            });
        }
        out.push(ReasonRecord {
            code,
            label,
            requires_evidence: reason.requires_evidence,
            sub_reasons: subs,
        });
    }
    out
}

fn check_qc_reasons(
    reasons: &[QcReasonRecord],
    issue: &mut impl FnMut(&str, String),
) -> Vec<QcReasonRecord> {
    if reasons.len() > MAX_REASONS {
        issue(
            "qc_reasons",
            format!("at most {MAX_REASONS} QC fail reasons"),
        );
    }
    let mut out: Vec<QcReasonRecord> = Vec::with_capacity(reasons.len());
    for (n, reason) in reasons.iter().enumerate() {
        let code = match normalise_code(&reason.code) {
            Ok(code) if out.iter().any(|r| r.code == code) => {
                issue(
                    &format!("qc_reasons[{n}].code"),
                    format!("{code} is listed twice"),
                );
                code
            }
            Ok(code) => code,
            Err(message) => {
                issue(&format!("qc_reasons[{n}].code"), message);
                String::new()
            }
        };
        let label = check_label(&reason.label).unwrap_or_else(|message| {
            issue(&format!("qc_reasons[{n}].label"), message);
            String::new()
        });
        out.push(QcReasonRecord {
            code,
            label,
            requires_photo: reason.requires_photo,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RetailerForm {
        RetailerForm {
            id: "tui-outdoor".into(),
            name: "Tūī Outdoor".into(),
            currency: "nzd".into(),
            country: "New Zealand".into(),
            reasons: vec![ReasonRecord {
                code: "faulty".into(),
                label: "Faulty".into(),
                requires_evidence: true,
                sub_reasons: vec![SubReasonRecord {
                    code: "broken zip".into(),
                    label: "Broken zip".into(),
                }],
            }],
            qc_reasons: vec![QcReasonRecord {
                code: "STAINED".into(),
                label: "Stained".into(),
                requires_photo: true,
            }],
            ..RetailerForm::blank()
        }
    }

    #[test]
    fn a_good_form_becomes_the_whole_record() {
        let record = build_record(&form(), None, &[]).unwrap();
        assert_eq!(record.id, "tui-outdoor");
        assert_eq!(record.currency, Currency::NZD);
        assert_eq!(record.country.as_deref(), Some("NZ"));
        assert_eq!(record.policy.currency, Some(Currency::NZD));
        assert_eq!(record.reasons[0].code, "FAULTY");
        assert_eq!(record.reasons[0].sub_reasons[0].code, "BROKEN_ZIP");
        assert_eq!(RetailerForm::from_record(&record).country, "NZ");
    }

    #[test]
    fn countries_are_read_as_people_write_them() {
        for typed in ["Canada", "CA", "ca", "CAN", " can "] {
            let f = RetailerForm {
                country: typed.into(),
                ..form()
            };
            assert_eq!(
                build_record(&f, None, &[]).unwrap().country.as_deref(),
                Some("CA"),
                "{typed}"
            );
        }
        let f = RetailerForm {
            country: "Atlantis".into(),
            ..form()
        };
        let issues = build_record(&f, None, &[]).unwrap_err();
        assert_eq!(issues[0].field, "country");
        assert!(issues[0].message.contains("'Atlantis'"), "{issues:?}");
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let f = RetailerForm {
            id: "Bad Id".into(),
            name: " ".into(),
            currency: "XXY".into(),
            country: String::new(),
            credit_note_expiry_days: Some(0),
            reasons: vec![
                ReasonRecord {
                    code: "FIT".into(),
                    label: "Fit".into(),
                    requires_evidence: false,
                    sub_reasons: vec![],
                },
                ReasonRecord {
                    code: "fit".into(),
                    label: String::new(),
                    requires_evidence: false,
                    sub_reasons: vec![],
                },
            ],
            ..form()
        };
        let fields: Vec<String> = build_record(&f, None, &[])
            .unwrap_err()
            .into_iter()
            .map(|i| i.field)
            .collect();
        for wanted in [
            "id",
            "name",
            "currency",
            "country",
            "credit_note_expiry_days",
            "reasons[1].code",
            "reasons[1].label",
        ] {
            assert!(fields.iter().any(|f| f == wanted), "{wanted} in {fields:?}");
        }
    }

    #[test]
    fn names_are_unique_and_ids_fixed() {
        let existing = build_record(&form(), None, &[]).unwrap();
        let twin = RetailerForm {
            id: "other".into(),
            name: "tūī outdoor".into(),
            ..form()
        };
        let issues = build_record(&twin, None, std::slice::from_ref(&existing)).unwrap_err();
        assert_eq!(issues[0].field, "name");
        let renamed = RetailerForm {
            id: "renamed".into(),
            ..form()
        };
        let issues = build_record(&renamed, Some(&existing), &[]).unwrap_err();
        assert_eq!(issues[0].field, "id");
    }

    #[test]
    fn settings_that_contradict_the_rules_are_refused() {
        let mut existing = build_record(&form(), None, &[]).unwrap();
        existing.policy.exchange_enabled = true;
        existing.rules = crate::rules::parse_rule_set(
            r#"{"rules": [{"id": "x", "name": "Exchanges", "priority": 1,
               "condition": {"predicate": {"field": "return_reason", "op": "eq", "value": {"text": "FIT"}}},
               "outcome": {"kind": "exchange"}}]}"#,
        )
        .unwrap();
        let off = RetailerForm {
            exchange_enabled: false,
            ..RetailerForm::from_record(&existing)
        };
        let issues = build_record(&off, Some(&existing), &[]).unwrap_err();
        assert!(issues.iter().any(|i| i.field == "rules"), "{issues:?}");
        let manual = RetailerForm {
            trigger: Trigger::Manual,
            ..RetailerForm::from_record(&existing)
        };
        let after = build_record(&manual, Some(&existing), &[]).unwrap();
        let text = describe_change(Some(&existing), &after);
        assert!(text.contains("trigger processing → manual"), "{text}");
        // Rules and other settings are kept on an edit.
        let on = RetailerForm::from_record(&existing);
        assert_eq!(
            build_record(&on, Some(&existing), &[]).unwrap().rules,
            existing.rules
        );
    }
}
