//! Test support shared by the connector tests: Shopify's real schema and a simulator of its
//! Admin GraphQL API, simulators of the partners' APIs (Loop Returns, Returns Prime, Increff),
//! and a webhook receiver. Test code only; never linked into the product.
#![allow(dead_code)]

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
