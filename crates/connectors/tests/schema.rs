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
