//! Returnhub's connectors: the target-agnostic action dispatcher, Shopify (the Admin GraphQL
//! client, order import, the `orders/updated` webhook, refunds / credit notes / exchanges as a
//! dispatch target, credentials), the partners (Loop, Increff with Clickpost, Returns Prime)
//! as targets, and the tracking webhook out. Tauri-free: the hub drives these.
//!
//! - [`dispatch`]: works the store's `action` outbox through any [`dispatch::Target`].
//! - [`graphql`]: the pinned-version client with cost-based pacing; the documents it sends
//!   live in `graphql/*.graphql` and are validated against Shopify's schema by the tests.
//! - [`shopify`]: Shopify as a target. [`import`]: orders into the store. [`webhook`]: HMAC.
//! - [`credentials`]: shop domain and token, checked (the hub keeps them in the keyring).
//! - [`oauth`]: the authorization code install on a merchant's shop (signed callbacks, the
//!   code exchanged for an expiring offline token).
//! - [`loop_returns`]: Loop Returns as a target (grades, dispositions, processing confirmed
//!   by Loop closing the return) and Loop's signed webhooks.
//! - [`returns_prime`]: Returns Prime as a lookup source (a parcel's request by AWB) and as
//!   the target of a partner update (each item's QC verdict).
//! - [`route`]: one target over every connection, choosing by the return's bound target.
//! - [`increff`]: Increff's Returns Processing Update as a target (Clickpost's QC goes this
//!   way), with Clickpost's exchange rule on the retailer's Shopify; a return Increff does not
//!   know is created there first.
//! - [`increff_notify`]: Increff's signed notifications in (RETURN_PICKED_UP / RTO become
//!   tracking events the hub forwards).

pub mod clock;
pub mod credentials;
pub mod dispatch;
pub mod graphql;
pub mod import;
pub mod increff;
pub mod increff_notify;
pub mod loop_returns;
pub mod oauth;
pub mod returns_prime;
pub mod route;
pub mod shopify;
pub mod tracking_out;
pub mod webhook;

pub use clock::{Clock, SystemClock};
pub use credentials::{AppCredentials, RefreshGrant, ShopCredentials};
pub use dispatch::{
    Confirmation, DispatchOptions, DispatchReport, Dispatcher, Target, TargetError,
};
pub use graphql::{ClientOptions, ShopifyClient, API_VERSION};
pub use import::{ImportOptions, ImportProgress, Importer};
pub use increff::{IncreffConfig, IncreffTarget};
pub use loop_returns::{LoopConfig, LoopTarget};
pub use returns_prime::{ReturnsPrimeClient, ReturnsPrimeConfig, ReturnsPrimeTarget};
pub use route::{PartnerTarget, Router};
pub use shopify::{ShopifySettings, ShopifyTarget};

/// Checks the credentials with a cheap query, and that the shop granted every scope in
/// `needed` ([`scopes_needed`]): the shop's name, or an error naming each missing scope and
/// what it is for.
pub async fn verify_credentials(
    credentials: &ShopCredentials,
    clock: std::sync::Arc<dyn Clock>,
    options: ClientOptions,
    needed: &[(&str, &str)],
) -> Result<String, graphql::GraphqlError> {
    let client = ShopifyClient::new(credentials, clock, options)?;
    let name = client.shop_name().await?;
    let granted = client.granted_scopes().await?;
    let missing = missing_scopes(&granted, needed);
    if missing.is_empty() {
        return Ok(name);
    }
    Err(graphql::GraphqlError::Refused {
        operation: "access scopes".into(),
        message: format!(
            "the app lacks the access scope{} {}: grant {} in the app's configuration, then \
             connect again",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        ),
    })
}

/// The Admin API access scopes Returnhub needs for a retailer whose actions follow
/// `policy`, each with what it is for.
pub fn scopes_needed(
    policy: &returnhub_core::trigger::ShopifyPolicy,
) -> Vec<(&'static str, &'static str)> {
    use returnhub_core::trigger::{CreditNoteVia, ExchangeVia};
    let mut needed = vec![
        ("read_orders", "importing orders"),
        ("write_orders", "refunds, order tags and edits"),
    ];
    if policy.credit_note == CreditNoteVia::GiftCard {
        needed.push(("write_gift_cards", "credit notes as gift cards"));
        needed.push((
            "write_customers",
            "gift cards issued to the order's customer",
        ));
    }
    match policy.exchange {
        ExchangeVia::ReleaseHold => needed.push((
            "write_merchant_managed_fulfillment_orders",
            "releasing an exchange's hold",
        )),
        ExchangeVia::ReturnProcess => needed.push(("write_returns", "processing Shopify returns")),
    }
    needed
}

/// Each scope of `needed` the shop did not grant, with what it is for. A `write_` scope
/// grants its `read_` scope too, as Shopify's do.
pub fn missing_scopes(granted: &[String], needed: &[(&str, &str)]) -> Vec<String> {
    let has = |scope: &str| {
        granted.iter().any(|g| g == scope)
            || scope.strip_prefix("read_").is_some_and(|rest| {
                granted
                    .iter()
                    .any(|g| g.strip_prefix("write_") == Some(rest))
            })
    };
    needed
        .iter()
        .filter(|(scope, _)| !has(scope))
        .map(|(scope, why)| format!("{scope} ({why})"))
        .collect()
}
