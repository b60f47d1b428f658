//! One [`Target`] over every system a hub (or the central store) is connected to: each action
//! goes to the target its return's source is bound to ([`ActionContext::target`], from the
//! retailer's routes), at that retailer's connection. An action whose retailer has no
//! connection to that target waits (not applied, retried later), so connecting it later sends
//! what queued up meanwhile. Outcomes are recorded under the name of the target that carried
//! them out ("loop", "increff", …), never the router's.

use std::collections::HashMap;

use std::time::Duration;

use returnhub_core::partner::{ActionTarget, PartnerConnection};
use returnhub_core::trigger::ActionDue;
use returnhub_protocol::action::ActionContext;

use crate::dispatch::{Confirmation, Target, TargetError};
use crate::{
    IncreffConfig, IncreffTarget, LoopConfig, LoopTarget, ReturnsPrimeClient, ReturnsPrimeConfig,
    ReturnsPrimeTarget, ShopifyTarget, SystemClock,
};

/// The keyring name of a retailer's partner secret (Loop's API key, Increff's password,
/// Returns Prime's token): the same on every hub and at the central store.
pub fn partner_secret_name(retailer_id: &str, target: ActionTarget) -> String {
    format!("partner-{}-{retailer_id}", target.name())
}

/// A partner's target, built from a retailer's connection and its secret (Loop's API key,
/// Increff's password, Returns Prime's token).
pub enum PartnerTarget {
    Loop(LoopTarget),
    Increff(Box<IncreffTarget>),
    ReturnsPrime(ReturnsPrimeTarget),
}

impl PartnerTarget {
    pub fn build(c: &PartnerConnection, secret: &str) -> Result<PartnerTarget, String> {
        // Checked again here, where the secret is about to be used, whatever the record says.
        returnhub_core::partner::check_endpoint(&c.base_url, c.insecure)?;
        let timeout = Duration::from_secs(30);
        match c.target {
            ActionTarget::Loop => LoopTarget::with_timeout(
                &LoopConfig {
                    base_url: c.base_url.clone(),
                    api_key: secret.to_owned(),
                },
                timeout,
            )
            .map(PartnerTarget::Loop),
            ActionTarget::Increff => IncreffTarget::new(
                IncreffConfig {
                    base_url: c.base_url.clone(),
                    username: c.username.clone().unwrap_or_default(),
                    password: secret.to_owned(),
                    domain: c.domain.clone().unwrap_or_default(),
                    photo_url_base: c.photo_url_base.clone(),
                },
                timeout,
            )
            .map(|t| PartnerTarget::Increff(Box::new(t))),
            ActionTarget::ReturnsPrime => {
                let mut config = ReturnsPrimeConfig::new(&c.base_url, secret);
                if let Some(path) = &c.qc_path {
                    config.qc_path = path.clone();
                }
                ReturnsPrimeClient::new(config, std::sync::Arc::new(SystemClock))
                    .map(|client| PartnerTarget::ReturnsPrime(ReturnsPrimeTarget::new(client)))
                    .map_err(|e| e.to_string())
            }
            ActionTarget::Shopify => {
                Err("Shopify is connected with its shop domain and token".to_owned())
            }
        }
    }

    /// A cheap authenticated call: `Err` is one sentence for the admin.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self {
            PartnerTarget::Loop(t) => t.test_connection().await,
            PartnerTarget::Increff(t) => t.test_connection().await,
            PartnerTarget::ReturnsPrime(t) => t.test_connection().await,
        }
    }
}

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
    /// Adds a retailer's partner connection. `shop`: the retailer's Shopify shop, which an
    /// Increff connection needs for Clickpost exchanges (held replacement orders).
    pub fn add_partner(
        &mut self,
        retailer: &str,
        target: PartnerTarget,
        shop: Option<ShopifyTarget>,
    ) {
        match target {
            PartnerTarget::Loop(t) => {
                self.loop_returns.insert(retailer.to_owned(), t);
            }
            PartnerTarget::Increff(t) => {
                let t = match shop {
                    Some(shop) => (*t).with_shop(shop),
                    None => *t,
                };
                self.increff.insert(retailer.to_owned(), t);
            }
            PartnerTarget::ReturnsPrime(t) => {
                self.returns_prime.insert(retailer.to_owned(), t);
            }
        }
    }

    /// Whether this router has the connection the action's context names.
    pub fn serves(&self, retailer: &str, context: &ActionContext) -> bool {
        match context.target {
            ActionTarget::Shopify => self.shopify.contains_key(retailer),
            ActionTarget::Loop => self.loop_returns.contains_key(retailer),
            ActionTarget::Increff => self.increff.contains_key(retailer),
            ActionTarget::ReturnsPrime => self.returns_prime.contains_key(retailer),
        }
    }

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
