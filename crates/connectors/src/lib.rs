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
pub mod returns_prime;
pub mod route;
pub mod shopify;
pub mod tracking_out;
pub mod webhook;

pub use clock::{Clock, SystemClock};
pub use credentials::ShopCredentials;
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

/// Checks the credentials with a cheap query and returns the shop's name.
pub async fn verify_credentials(
    credentials: &ShopCredentials,
    clock: std::sync::Arc<dyn Clock>,
) -> Result<String, graphql::GraphqlError> {
    ShopifyClient::new(credentials, clock, ClientOptions::default())?
        .shop_name()
        .await
}
