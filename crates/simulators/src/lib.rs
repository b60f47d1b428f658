//! Test support shared by the tests of the connectors, the hub, the central store and the
//! window: Shopify's real schema and a simulator of its Admin GraphQL API, simulators of the
//! partners' APIs (Loop Returns, Returns Prime, Increff) written from their contracts, and a
//! webhook receiver. Test code only: a dev-dependency, never linked into the product.

pub mod increff_sim;
pub mod loop_sim;
pub mod receiver;
pub mod rp_sim;
pub mod schema;
pub mod simulator;

/// A runtime for driving one future at a time from a test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
