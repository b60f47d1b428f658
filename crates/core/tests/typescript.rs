//! The types the admin and supervisor screens show render as TypeScript in the shape their
//! JSON has (the lead exports them; this checks they can be and that the shapes agree).

use returnhub_core::decision::{Decision, RetailerPolicy};
use returnhub_core::dryrun::DryRunReport;
use returnhub_core::rules::{ItemFacts, Outcome, RuleIssue, RuleSet};
use returnhub_core::trigger::ActionDue;
use ts_rs::{Config, TS};

fn decl<T: TS>() -> String {
    T::decl(&Config::default())
}

#[test]
fn ui_types_declare_as_typescript_matching_their_json() {
    let outcome = decl::<Outcome>();
    assert!(outcome.contains(r#""kind": "credit_note""#), "{outcome}");
    assert!(outcome.contains("expiry_days"), "{outcome}");
    let condition = decl::<returnhub_core::rules::Condition>();
    assert!(
        condition.contains(r#""all""#) && condition.contains(r#""predicate""#),
        "{condition}"
    );
    let field = decl::<returnhub_core::rules::Field>();
    assert!(field.contains(r#""order_discount_percent""#), "{field}");
    let facts = decl::<ItemFacts>();
    assert!(facts.contains("order_country: string"), "{facts}");
    let policy = decl::<RetailerPolicy>();
    assert!(policy.contains("currency: string | null"), "{policy}");
    for rendered in [
        decl::<RuleSet>(),
        decl::<RuleIssue>(),
        decl::<Decision>(),
        decl::<DryRunReport>(),
        decl::<ActionDue>(),
    ] {
        assert!(rendered.starts_with("type "), "{rendered}");
        assert!(
            !rendered.contains("bigint"),
            "64-bit fields must map to number: {rendered}"
        );
    }
}
