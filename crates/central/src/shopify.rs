//! The central store's Shopify dispatcher: the [`ActionDispatcher`] behind
//! [`crate::dispatch::dispatch_due`] for retailers connected to their shop. It carries an
//! action out with `returnhub-connectors`' [`ShopifyTarget`] (refunds with `@idempotent`,
//! gift cards with a code derived from the key, held exchanges released) and reconciles an
//! unknown outcome by reading Shopify's own records before anything is sent again.
//!
//! It runs on its own thread with its own single-threaded runtime, so the HTTP server's
//! workers never wait on Shopify. The shop's access token is a secret: the keyring, or a 0600
//! file under the data dir where no keyring service runs (a server usually has none).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::dispatch::{Target, TargetError};
use returnhub_connectors::{
    ClientOptions, ShopCredentials, ShopifyClient, ShopifySettings, ShopifyTarget, SystemClock,
};
use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_secrets::{Backend, SecretVault};

use crate::dispatch::{dispatch_due, ActionDispatcher, DispatchOutcome};
use crate::storage::{ActionClaim, CentralError, CentralStorage, ShopConnection};

/// Between two dispatch passes when there was nothing to do.
const IDLE_PASS: Duration = Duration::from_secs(5);
/// Between two passes that worked something (a claim sent back to `claimed` waits this long).
const BUSY_PASS: Duration = Duration::from_secs(1);

/// The secrets of the central store's shops.
pub fn vault(data_dir: &Path) -> SecretVault {
    SecretVault::new(
        "returnhub-central",
        &data_dir.join("secrets"),
        Backend::KeyringOrFile,
    )
}

fn secret_name(retailer_id: &str) -> String {
    format!("shopify-{retailer_id}")
}

/// Checks the credentials against the shop (`shop { name }`), keeps the token and records the
/// connection. Nothing is kept when the check fails.
pub fn connect_shop(
    storage: &dyn CentralStorage,
    vault: &SecretVault,
    retailer_id: &str,
    credentials: &ShopCredentials,
    now: UnixMillis,
) -> Result<ShopConnection, CentralError> {
    let rt = runtime()?;
    let shop_name = rt
        .block_on(returnhub_connectors::verify_credentials(
            credentials,
            Arc::new(SystemClock),
        ))
        .map_err(|e| {
            CentralError::Invalid(format!(
                "{} did not accept these credentials: {}",
                credentials.shop_domain,
                e.message()
            ))
        })?;
    let connection = ShopConnection {
        retailer_id: retailer_id.to_owned(),
        shop_domain: credentials.shop_domain.clone(),
        shop_name,
        connected_at: rfc3339(now),
    };
    // The retailer must exist before the token is kept.
    storage.connect_shop(&connection)?;
    let secret = serde_json::to_string(credentials)?;
    vault
        .save(&secret_name(retailer_id), &secret)
        .map_err(|e| CentralError::Storage(e.to_string()))?;
    Ok(connection)
}

fn runtime() -> Result<tokio::runtime::Runtime, CentralError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CentralError::Storage(format!("cannot start a runtime: {e}")))
}

/// Sends claims to the shops of the retailers connected when it was built.
pub struct ShopifyDispatcher {
    rt: tokio::runtime::Runtime,
    storage: Arc<dyn CentralStorage>,
    shops: HashMap<String, ShopifyTarget>,
}

impl ShopifyDispatcher {
    pub fn new(
        storage: Arc<dyn CentralStorage>,
        vault: &SecretVault,
        options: ClientOptions,
    ) -> Result<ShopifyDispatcher, CentralError> {
        let mut shops = HashMap::new();
        for connection in storage.shop_connections()? {
            let credentials: ShopCredentials = match vault
                .load(&secret_name(&connection.retailer_id))
                .map_err(|e| e.to_string())
                .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(retailer = %connection.retailer_id, error = %e, "shop credentials missing: connect the shop again");
                    continue;
                }
            };
            let client = ShopifyClient::new(&credentials, Arc::new(SystemClock), options.clone())
                .map_err(|e| CentralError::Storage(e.to_string()))?;
            // The retailer's Shopify settings travel with its configuration from the hubs.
            let settings = storage
                .retailer(&connection.retailer_id)?
                .map(|r| ShopifySettings::for_policy(&r.policy.shopify))
                .unwrap_or_default();
            shops.insert(connection.retailer_id, ShopifyTarget::new(client, settings));
        }
        Ok(ShopifyDispatcher {
            rt: runtime()?,
            storage,
            shops,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.shops.is_empty()
    }

    /// The target and context of a claim, or why it cannot be worked now.
    fn prepare(
        &self,
        claim: &ActionClaim,
    ) -> Result<(&ShopifyTarget, returnhub_store::ActionContext), DispatchOutcome> {
        // Not connected: left claimed, it is sent once the retailer's shop is.
        let target = self
            .shops
            .get(&claim.action.retailer_id)
            .ok_or(DispatchOutcome::NotApplied)?;
        let context = self
            .storage
            .action_context(claim)
            .map_err(|e| DispatchOutcome::Failed(e.to_string()))?;
        Ok((target, context))
    }
}

impl ActionDispatcher for ShopifyDispatcher {
    fn retailers(&self) -> Option<Vec<String>> {
        Some(self.shops.keys().cloned().collect())
    }

    fn dispatch(&self, claim: &ActionClaim) -> DispatchOutcome {
        let (target, context) = match self.prepare(claim) {
            Ok(x) => x,
            Err(outcome) => return outcome,
        };
        match self.rt.block_on(target.send(&claim.action, &context)) {
            Ok(confirmation) => {
                tracing::info!(key = %claim.key, reference = %confirmation.reference, "action confirmed by Shopify");
                DispatchOutcome::Confirmed
            }
            Err(TargetError::Permanent(reason)) => DispatchOutcome::Failed(reason),
            // Certainly not applied: dispatch_due leaves it claimed and sends it next pass.
            Err(TargetError::NotApplied(reason)) => {
                tracing::warn!(key = %claim.key, reason = %reason, "action not applied; sent again later");
                DispatchOutcome::NotApplied
            }
            Err(TargetError::Unknown(reason)) => DispatchOutcome::Unknown(reason),
        }
    }

    fn reconcile(&self, claim: &ActionClaim) -> DispatchOutcome {
        let (target, context) = match self.prepare(claim) {
            Ok(x) => x,
            // Not connected any more: keep it unknown rather than resend blindly.
            Err(DispatchOutcome::NotApplied) => {
                return DispatchOutcome::Unknown(format!(
                    "retailer {} has no shop connected: cannot reconcile",
                    claim.action.retailer_id
                ))
            }
            Err(outcome) => return outcome,
        };
        match self.rt.block_on(target.reconcile(&claim.action, &context)) {
            Ok(Some(_)) => DispatchOutcome::Confirmed,
            Ok(None) => DispatchOutcome::NotApplied,
            Err(TargetError::Permanent(reason)) => DispatchOutcome::Failed(reason),
            Err(TargetError::NotApplied(reason) | TargetError::Unknown(reason)) => {
                DispatchOutcome::Unknown(format!("reconcile: {reason}"))
            }
        }
    }
}

/// Runs dispatch passes on a thread of its own until `stop` is set: connections are re-read
/// every pass, so a shop connected while serving is picked up.
pub fn start(
    storage: Arc<dyn CentralStorage>,
    vault: SecretVault,
    clock: Arc<dyn Fn() -> UnixMillis + Send + Sync>,
    options: ClientOptions,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("shopify-dispatch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let pass = ShopifyDispatcher::new(storage.clone(), &vault, options.clone())
                    .and_then(|d| {
                        if d.is_empty() {
                            return Ok(None);
                        }
                        dispatch_due(storage.as_ref(), &d, clock(), 100).map(Some)
                    });
                let busy = match pass {
                    Ok(Some(report)) => report.sent + report.reconciled > 0,
                    Ok(None) => false,
                    Err(e) => {
                        tracing::error!(error = %e, "dispatch pass failed");
                        false
                    }
                };
                std::thread::sleep(if busy { BUSY_PASS } else { IDLE_PASS });
            }
        })
        .expect("spawning the dispatch thread")
}
