//! Every GraphQL document the connector sends is valid against Shopify's real Admin schema
//! for the pinned version (from `@shopify/dev-mcp`), and the validator is live: it rejects a
//! misspelled field, a wrong argument type and an unknown directive.

use returnhub_simulators as support;

use returnhub_connectors::graphql::documents;

#[test]
fn every_document_validates_against_the_admin_schema() {
    let mut checked = 0;
    for doc in documents::ALL {
        // The bulk query is a template: its filter is filled in before it is sent.
        let text = doc
            .text
            .replace("__FILTER__", "created_at:>='2026-10-25T00:00:00Z'");
        if let Err(errors) = support::schema::validate(&text, &format!("{}.graphql", doc.name)) {
            panic!(
                "{} does not validate against Shopify's schema:\n{errors}",
                doc.name
            );
        }
        checked += 1;
    }
    assert_eq!(checked, documents::ALL.len());
    assert!(checked >= 14, "{checked}");
}

#[test]
fn the_validator_rejects_what_shopify_would() {
    let misspelled = "query { shop { nmae } }";
    let e = support::schema::validate(misspelled, "misspelled.graphql").unwrap_err();
    assert!(e.contains("nmae"), "{e}");
    let wrong_type = "query { orders(first: \"ten\") { nodes { id } } }";
    assert!(support::schema::validate(wrong_type, "wrong_type.graphql").is_err());
    let unknown_directive = "query { shop @cached { name } }";
    assert!(support::schema::validate(unknown_directive, "directive.graphql").is_err());
    // The idempotency directive is in this version's schema, on fields.
    let idempotent = "mutation($k: String!) { giftCardCreate(input: {initialAmount: {amount: 1, currencyCode: NZD}}) @idempotent(key: $k) { giftCard { id } } }";
    support::schema::validate(idempotent, "idempotent.graphql").unwrap();
}

/// The variables a request carries are checked too, as Shopify checks them: a missing
/// required variable, a wrong type, an input field the type does not have and an enum value
/// it does not list are each refused; the values the connector sends pass.
#[test]
fn the_variable_checker_refuses_what_shopify_would() {
    use serde_json::json;
    let refund =
        support::schema::validate(documents::REFUND_CREATE.text, "RefundCreate.graphql").unwrap();
    let good = json!({ "key": "k", "input": { "orderId": "gid://shopify/Order/1",
        "currency": "AUD", "notify": true,
        "refundLineItems": [{ "lineItemId": "gid://shopify/LineItem/1", "quantity": 1,
            "restockType": "NO_RESTOCK" }],
        "transactions": [{ "amount": "45.95", "gateway": "shopify_payments", "kind": "REFUND",
            "orderId": "gid://shopify/Order/1", "parentId": "gid://shopify/OrderTransaction/1" }] } });
    support::schema::check_variables(&refund, Some("RefundCreate"), &good).unwrap();
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("key");
    let mut unknown_field = good.clone();
    unknown_field["input"]["currencyCode"] = json!("AUD");
    let mut bad_enum = good.clone();
    bad_enum["input"]["currency"] = json!("XXY");
    let mut bad_type = good.clone();
    bad_type["input"]["notify"] = json!("yes");
    for (what, vars) in [
        ("a missing variable", missing),
        ("an unknown input field", unknown_field),
        ("an enum value not listed", bad_enum),
        ("a wrong type", bad_type),
    ] {
        assert!(
            support::schema::check_variables(&refund, Some("RefundCreate"), &vars).is_err(),
            "{what} passed"
        );
    }
}
