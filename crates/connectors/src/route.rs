//! One [`Target`] over every system a hub (or the central store) is connected to: each action
//! goes to the target its return's source is bound to ([`ActionContext::target`], from the
//! retailer's routes), at that retailer's connection. An action whose retailer has no
//! connection to that target waits (not applied, retried later), so connecting it later sends
//! what queued up meanwhile. Outcomes are recorded under the name of the target that carried
//! them out ("loop", "increff", …), never the router's.

use std::collections::HashMap;

use returnhub_core::partner::ActionTarget;
use returnhub_core::trigger::ActionDue;
use returnhub_store::ActionContext;

use crate::dispatch::{Confirmation, Target, TargetError};
use crate::{IncreffTarget, LoopTarget, ReturnsPrimeTarget, ShopifyTarget};

/// Every connection, by retailer.
#[derive(Default)]
pub struct Router {
    pub shopify: HashMap<String, ShopifyTarget>,
    pub loop_returns: HashMap<String, LoopTarget>,
    pub increff: HashMap<String, IncreffTarget>,
    pub returns_prime: HashMap<String, ReturnsPrimeTarget>,
}

/// The connection an action goes through.
enum Route<'a> {
    Shopify(&'a ShopifyTarget),
    Loop(&'a LoopTarget),
    Increff(&'a IncreffTarget),
    ReturnsPrime(&'a ReturnsPrimeTarget),
}

impl Router {
    /// Retailers with at least one connection (the dispatcher's filter).
    pub fn retailers(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .shopify
            .keys()
            .chain(self.loop_returns.keys())
            .chain(self.increff.keys())
            .chain(self.returns_prime.keys())
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub fn is_empty(&self) -> bool {
        self.retailers().is_empty()
    }

    fn route(&self, action: &ActionDue, context: &ActionContext) -> Result<Route<'_>, TargetError> {
        let retailer = &action.retailer_id;
        let found = match context.target {
            ActionTarget::Shopify => self.shopify.get(retailer).map(Route::Shopify),
            ActionTarget::Loop => self.loop_returns.get(retailer).map(Route::Loop),
            ActionTarget::Increff => self.increff.get(retailer).map(Route::Increff),
            ActionTarget::ReturnsPrime => self.returns_prime.get(retailer).map(Route::ReturnsPrime),
        };
        found.ok_or_else(|| {
            TargetError::NotApplied(format!(
                "retailer {retailer} is not connected to {} on this device (returns from \"{}\" go there): connect it on F5",
                context.target.name(),
                context.source
            ))
        })
    }
}

impl Target for Router {
    fn name(&self) -> &str {
        "router"
    }

    fn name_for(&self, context: &ActionContext) -> String {
        context.target.name().to_owned()
    }

    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        match self.route(action, context)? {
            Route::Shopify(t) => t.send(action, context).await,
            Route::Loop(t) => t.send(action, context).await,
            Route::Increff(t) => t.send(action, context).await,
            Route::ReturnsPrime(t) => t.send(action, context).await,
        }
    }

    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        match self.route(action, context)? {
            Route::Shopify(t) => t.reconcile(action, context).await,
            Route::Loop(t) => t.reconcile(action, context).await,
            Route::Increff(t) => t.reconcile(action, context).await,
            Route::ReturnsPrime(t) => t.reconcile(action, context).await,
        }
    }
}
