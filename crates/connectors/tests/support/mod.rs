//! Test support shared by the connector tests: Shopify's real schema and a simulator of its
//! Admin GraphQL API. Test code only; never linked into the product.
#![allow(dead_code)]

pub mod schema;
pub mod simulator;
