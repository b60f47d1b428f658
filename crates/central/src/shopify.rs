//! The central store's dispatcher: the [`ActionDispatcher`] behind
//! [`crate::dispatch::dispatch_due`] for retailers connected to their shop or to a partner.
//! It carries an action out with `returnhub-connectors`' [`Router`]: to Shopify with its
//! [`ShopifyTarget`] (refunds with `@idempotent`, gift cards with a code derived from the key,
//! held exchanges released), or to the partner the return's source is bound to (Loop, Increff
//! with Clickpost, Returns Prime: connections come with the retailer's configuration from the
//! hubs, their secrets are set here with `returnhub-central partner-secret`), and reconciles
//! an unknown outcome by reading the target's own records before anything is sent again.
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
use returnhub_connectors::oauth;
use returnhub_connectors::route::partner_secret_name;
use returnhub_connectors::{
    ClientOptions, PartnerTarget, Router, ShopCredentials, ShopifyClient, ShopifySettings,
    ShopifyTarget, SystemClock,
};
use returnhub_core::partner::ActionTarget;
use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_protocol::wire::ClaimState;
use returnhub_secrets::{Backend, SecretVault};

use crate::dispatch::{dispatch_due, ActionDispatcher, ClaimContext, DispatchOutcome};
use crate::storage::{
    ActionClaim, CentralError, CentralStorage, OrderUpdate, ShopConnection, ShopInstall,
};

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

fn webhook_secret_name(retailer_id: &str) -> String {
    format!("shopify-webhook-{retailer_id}")
}

/// Keeps the secret Shopify signs a connected retailer's webhooks with (the app's client
/// secret). Refused for a retailer that is not connected to a shop.
pub fn set_webhook_secret(
    storage: &dyn CentralStorage,
    vault: &SecretVault,
    retailer_id: &str,
    secret: &str,
) -> Result<(), CentralError> {
    let secret = secret.trim();
    if secret.len() < 16 {
        return Err(CentralError::Invalid(
            "that is not a webhook secret: Shopify's are 32 characters or more".into(),
        ));
    }
    if !storage
        .shop_connections()?
        .iter()
        .any(|c| c.retailer_id == retailer_id)
    {
        return Err(CentralError::Invalid(format!(
            "retailer {retailer_id} is not connected to a shop: connect-shop first"
        )));
    }
    vault
        .save(&webhook_secret_name(retailer_id), secret)
        .map_err(|e| CentralError::Storage(e.to_string()))
}

/// The headers Shopify sends with a webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhookHeaders {
    /// `X-Shopify-Shop-Domain`: which connected retailer it is for.
    pub shop_domain: Option<String>,
    pub webhook_id: Option<String>,
    /// `X-Shopify-Hmac-Sha256`.
    pub signature: Option<String>,
}

/// An `orders/updated` webhook: its signature checked (constant time, before the body is
/// parsed) with the retailer's webhook secret, the order fetched again from the shop (the
/// body is only a notice: the order is read as the import reads it), and recorded for the hub
/// that holds it. A failure to reach the shop is an error, so Shopify delivers it again.
pub async fn order_updated(
    storage: Arc<dyn CentralStorage>,
    vault: Arc<SecretVault>,
    headers: &WebhookHeaders,
    body: &[u8],
    options: ClientOptions,
    now: UnixMillis,
) -> Result<OrderUpdate, CentralError> {
    let shop = headers.shop_domain.as_deref().ok_or_else(|| {
        CentralError::Unauthorized("webhook refused: no X-Shopify-Shop-Domain header".into())
    })?;
    let connection = {
        let storage = storage.clone();
        let shop = shop.to_owned();
        tokio::task::spawn_blocking(move || storage.shop_connections())
            .await
            .map_err(|e| CentralError::Storage(e.to_string()))??
            .into_iter()
            .find(|c| c.shop_domain.eq_ignore_ascii_case(&shop))
    }
    .ok_or_else(|| {
        tracing::warn!(shop, "webhook from a shop no retailer is connected to");
        CentralError::Unauthorized(format!(
            "webhook refused: no retailer is connected to {shop}"
        ))
    })?;
    let retailer = connection.retailer_id.as_str();
    // The keyring (D-Bus) or the secrets file: off the async workers.
    let (secret, stored) = {
        let vault = vault.clone();
        let names = (webhook_secret_name(retailer), secret_name(retailer));
        tokio::task::spawn_blocking(move || (vault.load(&names.0), vault.load(&names.1)))
            .await
            .map_err(|e| CentralError::Storage(e.to_string()))?
    };
    let secret = secret.map_err(|_| {
        tracing::error!(retailer, "webhook received but no webhook secret is kept: set it with `returnhub-central shopify-webhook-secret`");
        CentralError::Unauthorized(format!(
            "webhook refused: no webhook secret is set for retailer {retailer}"
        ))
    })?;
    let notice = returnhub_connectors::webhook::orders_updated(
        secret.as_bytes(),
        Some(shop),
        headers.webhook_id.as_deref(),
        headers.signature.as_deref(),
        body,
    )
    .map_err(|e| CentralError::Unauthorized(e.to_string()))?;
    let credentials: ShopCredentials = stored
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        .map_err(|e| {
            CentralError::Storage(format!(
                "retailer {retailer}'s shop credentials cannot be read ({e}): connect-shop again"
            ))
        })?;
    let client = shop_client(&vault, retailer, &credentials, options)?;
    let order = returnhub_connectors::import::fetch_order(&client, retailer, &notice.order_id)
        .await
        .map_err(|e| {
            CentralError::Storage(format!(
                "order {} could not be read from {shop} ({e}); Shopify delivers the webhook again",
                notice.order_id
            ))
        })?;
    let outcome = tokio::task::spawn_blocking(move || storage.update_shop_order(&order, now))
        .await
        .map_err(|e| CentralError::Storage(e.to_string()))??;
    tracing::info!(retailer, order = %notice.order_id, webhook = ?notice.webhook_id, ?outcome, "orders/updated webhook");
    Ok(outcome)
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
    let needed = scopes_for(storage, retailer_id)?;
    let shop_name = runtime()?.block_on(verify_shop(credentials, &needed))?;
    keep_connection(storage, vault, retailer_id, credentials, shop_name, now)
}

/// The access scopes the retailer's current way of acting on Shopify needs.
fn scopes_for(
    storage: &dyn CentralStorage,
    retailer_id: &str,
) -> Result<Vec<(&'static str, &'static str)>, CentralError> {
    let policy = storage
        .retailer(retailer_id)?
        .map(|r| r.policy.shopify)
        .unwrap_or_default();
    Ok(returnhub_connectors::scopes_needed(&policy))
}

/// The shop's name, once it has accepted the credentials with every scope `needed`.
async fn verify_shop(
    credentials: &ShopCredentials,
    needed: &[(&str, &str)],
) -> Result<String, CentralError> {
    returnhub_connectors::verify_credentials(
        credentials,
        Arc::new(SystemClock),
        ClientOptions::default(),
        needed,
    )
    .await
    .map_err(|e| {
        CentralError::Invalid(format!(
            "{} did not accept these credentials: {}",
            credentials.shop_domain,
            e.message()
        ))
    })
}

/// Records the connection and keeps the credentials (the retailer must exist first).
fn keep_connection(
    storage: &dyn CentralStorage,
    vault: &SecretVault,
    retailer_id: &str,
    credentials: &ShopCredentials,
    shop_name: String,
    now: UnixMillis,
) -> Result<ShopConnection, CentralError> {
    let connection = ShopConnection {
        retailer_id: retailer_id.to_owned(),
        shop_domain: credentials.shop_domain.clone(),
        shop_name,
        connected_at: rfc3339(now),
    };
    storage.connect_shop(&connection)?;
    let secret = serde_json::to_string(credentials)?;
    vault
        .save(&secret_name(retailer_id), &secret)
        .map_err(|e| CentralError::Storage(e.to_string()))?;
    Ok(connection)
}

/// A client for a connected retailer's shop that keeps each renewed install token in the
/// vault (the refresh token it replaced stops working once the new one is used).
pub fn shop_client(
    vault: &SecretVault,
    retailer_id: &str,
    credentials: &ShopCredentials,
    options: ClientOptions,
) -> Result<ShopifyClient, CentralError> {
    let client = ShopifyClient::new(credentials, Arc::new(SystemClock), options)
        .map_err(|e| CentralError::Storage(e.to_string()))?;
    if credentials.refresh.is_none() {
        return Ok(client);
    }
    let (vault, name, retailer) = (
        vault.clone(),
        secret_name(retailer_id),
        retailer_id.to_owned(),
    );
    Ok(client.on_renewed(Arc::new(move |renewed: &ShopCredentials| {
        let kept = serde_json::to_string(renewed)
            .map_err(|e| e.to_string())
            .and_then(|json| vault.save(&name, &json).map_err(|e| e.to_string()));
        if let Err(e) = kept {
            tracing::error!(retailer = %retailer, error = %e, "the shop's renewed token could not be kept; it is renewed again from the old refresh token while Shopify still takes it");
        }
    })))
}

/// Returnhub's Shopify app as this central store installs it on merchants' shops (the
/// authorization code grant): its client ID and secret from the Dev Dashboard, and the
/// redirect URI listed in the app's configuration (this store's callback).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ShopifyApp {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_url: String,
}

impl std::fmt::Debug for ShopifyApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

const SHOPIFY_APP_SECRET: &str = "shopify-app";

/// Keeps the app this store installs on merchants' shops. The redirect URL is this store's
/// callback as the internet reaches it (`https://…/v1/shopify/callback`).
pub fn set_shopify_app(
    vault: &SecretVault,
    client_id: &str,
    client_secret: &str,
    redirect_url: &str,
) -> Result<ShopifyApp, CentralError> {
    let app = returnhub_connectors::AppCredentials::new(client_id, client_secret)
        .map_err(CentralError::Invalid)?;
    let redirect_url = redirect_url.trim();
    returnhub_core::partner::check_endpoint(redirect_url, false)
        .map_err(|e| CentralError::Invalid(format!("the redirect URL {redirect_url:?}: {e}")))?;
    let path = redirect_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| format!("/{}", path.split(['?', '#']).next().unwrap_or_default()))
        .unwrap_or_default();
    if !path.ends_with(crate::api::SHOPIFY_CALLBACK_PATH) {
        return Err(CentralError::Invalid(format!(
            "the redirect URL must be this store's callback, ending {}",
            crate::api::SHOPIFY_CALLBACK_PATH
        )));
    }
    let app = ShopifyApp {
        client_id: app.client_id,
        client_secret: app.client_secret,
        redirect_url: redirect_url.to_owned(),
    };
    vault
        .save(SHOPIFY_APP_SECRET, &serde_json::to_string(&app)?)
        .map_err(|e| CentralError::Storage(e.to_string()))?;
    Ok(app)
}

/// The app set with [`set_shopify_app`].
pub fn shopify_app(vault: &SecretVault) -> Result<ShopifyApp, CentralError> {
    let kept = vault.load(SHOPIFY_APP_SECRET).map_err(|_| {
        CentralError::Invalid(
            "no Shopify app is set for installs: set it with `returnhub-central shopify-app`"
                .into(),
        )
    })?;
    serde_json::from_str(&kept).map_err(|e| {
        CentralError::Storage(format!(
            "the Shopify app kept here cannot be read ({e}): set it again"
        ))
    })
}

/// Starts installing the app on `shop` for a retailer: the link the merchant opens to
/// approve it, carrying a fresh `state` (good once, for an hour) that the callback must bring
/// back. The scopes asked for are those the retailer's settings need.
pub fn begin_install(
    storage: &dyn CentralStorage,
    vault: &SecretVault,
    retailer_id: &str,
    shop: &str,
    now: UnixMillis,
) -> Result<String, CentralError> {
    let app = shopify_app(vault)?;
    let shop =
        returnhub_connectors::credentials::shop_domain_of(shop).map_err(CentralError::Invalid)?;
    // Shopify sends the merchant back naming the shop by its own hostname: an install is
    // made only for one (or for a simulator on this machine, named by its base).
    if !oauth::is_shop_hostname(&shop) && !shop.starts_with("http://") {
        return Err(CentralError::Invalid(format!(
            "{shop} is not a Shopify shop's own address: give it as NAME.myshopify.com"
        )));
    }
    let state = crate::auth::random_hex(32)?;
    storage.begin_shop_install(&ShopInstall {
        state_sha256: crate::auth::hex(&crate::auth::digest(&state)),
        retailer_id: retailer_id.to_owned(),
        shop_domain: shop.clone(),
        created_at: now,
        expires_at: now + oauth::STATE_LIFETIME_MS,
    })?;
    let scopes: Vec<&str> = scopes_for(storage, retailer_id)?
        .into_iter()
        .map(|(scope, _)| scope)
        .collect();
    Ok(oauth::authorize_url(
        &shop,
        &app.client_id,
        &scopes,
        &app.redirect_url,
        &state,
    ))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CentralError> + Send + 'static,
) -> Result<T, CentralError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CentralError::Storage(e.to_string()))?
}

/// The app and the parameters of a request Shopify signed with the app's secret; refused
/// (and logged as `what`) when it is not signed, signed otherwise, or old.
async fn signed_by_shopify(
    vault: &Arc<SecretVault>,
    query: &str,
    now: UnixMillis,
    what: &'static str,
) -> Result<(ShopifyApp, Vec<(String, String)>), CentralError> {
    let app = {
        let vault = vault.clone();
        blocking(move || shopify_app(&vault)).await?
    };
    let pairs = oauth::parse_query(query);
    oauth::verify_query(&pairs, app.client_secret.as_bytes(), now).map_err(|e| {
        tracing::warn!(error = %e, "{what} refused");
        CentralError::Unauthorized(format!("install refused: {e}"))
    })?;
    Ok((app, pairs))
}

/// Shopify's install request (the app's URL, when a merchant installs from a link Shopify
/// made): signed by Shopify; it continues the install under way for that shop with a fresh
/// state, answering where to send the merchant. A shop no install is under way for is
/// refused: a retailer is tied to its shop by this store's admin, never by the request.
pub async fn install_request(
    storage: Arc<dyn CentralStorage>,
    vault: Arc<SecretVault>,
    query: &str,
    now: UnixMillis,
) -> Result<String, CentralError> {
    let (_, pairs) = signed_by_shopify(&vault, query, now, "install request").await?;
    let shop = oauth::param(&pairs, "shop").unwrap_or_default().to_owned();
    blocking(move || {
        let install = storage.pending_shop_install(&shop, now)?.ok_or_else(|| {
            CentralError::Invalid(format!(
                "no install of Returnhub is under way for {shop}: ask the returns hub to start                  one (returnhub-central shop-install), then open the link it gives"
            ))
        })?;
        begin_install(storage.as_ref(), &vault, &install.retailer_id, &shop, now)
    })
    .await
}

/// Shopify's callback after the merchant approved the app: the signature checked (constant
/// time), the state taken once (a replay, an old link or a forged state is refused), the shop
/// the one the install was started for, the code exchanged for an expiring offline token, and
/// the connection checked (shop name, every scope the retailer needs) before it is kept.
pub async fn install_callback(
    storage: Arc<dyn CentralStorage>,
    vault: Arc<SecretVault>,
    query: &str,
    options: ClientOptions,
    now: UnixMillis,
) -> Result<ShopConnection, CentralError> {
    let (app, pairs) = signed_by_shopify(&vault, query, now, "install callback").await?;
    let state = oauth::param(&pairs, "state").unwrap_or_default();
    let state_sha256 = crate::auth::hex(&crate::auth::digest(state));
    let install = {
        let storage = storage.clone();
        blocking(move || storage.take_shop_install(&state_sha256, now)).await?
    }
    .ok_or_else(|| {
        CentralError::Unauthorized(
            "install refused: this link was used already, is more than an hour old, or was not              made here; ask the returns hub for a new one"
                .into(),
        )
    })?;
    let shop = oauth::param(&pairs, "shop").unwrap_or_default();
    // A simulator on this machine is named by its base; a real shop by its hostname.
    let same_shop = if install.shop_domain.starts_with("http://") {
        shop == install.shop_domain
    } else {
        oauth::is_shop_hostname(shop) && shop == install.shop_domain
    };
    if !same_shop {
        tracing::warn!(expected = %install.shop_domain, got = %shop, "install callback for another shop");
        return Err(CentralError::Unauthorized(format!(
            "install refused: the link was made for {}, not {shop}",
            install.shop_domain
        )));
    }
    let code = oauth::param(&pairs, "code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| CentralError::BadRequest("install refused: no code from Shopify".into()))?;
    let app_credentials = returnhub_connectors::AppCredentials {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
    };
    let (credentials, _) = oauth::exchange_code(
        &install.shop_domain,
        &app_credentials,
        code,
        now,
        options.timeout,
    )
    .await
    .map_err(CentralError::Invalid)?;
    let needed = {
        let (storage, retailer) = (storage.clone(), install.retailer_id.clone());
        blocking(move || scopes_for(storage.as_ref(), &retailer)).await?
    };
    let shop_name = verify_shop(&credentials, &needed).await?;
    let connection = blocking(move || {
        keep_connection(
            storage.as_ref(),
            &vault,
            &install.retailer_id,
            &credentials,
            shop_name,
            now,
        )
    })
    .await?;
    tracing::info!(retailer = %connection.retailer_id, shop = %connection.shop_domain, "shop connected by install");
    Ok(connection)
}

fn runtime() -> Result<tokio::runtime::Runtime, CentralError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CentralError::Storage(format!("cannot start a runtime: {e}")))
}

fn loop_webhook_secret_name(retailer_id: &str) -> String {
    format!("loop-webhook-{retailer_id}")
}

/// Keeps the secret Loop signs a retailer's webhooks with (`X-Loop-Signature`).
pub fn set_loop_webhook_secret(
    vault: &SecretVault,
    retailer_id: &str,
    secret: &str,
) -> Result<(), CentralError> {
    keep_webhook_secret(
        vault,
        &loop_webhook_secret_name(retailer_id),
        secret,
        "the one Loop shows for the webhook",
    )
}

/// Keeps a partner's webhook secret under `name` (16 characters at least: `which` says
/// where it comes from).
pub(crate) fn keep_webhook_secret(
    vault: &SecretVault,
    name: &str,
    secret: &str,
    which: &str,
) -> Result<(), CentralError> {
    let secret = secret.trim();
    if secret.len() < 16 {
        return Err(CentralError::Invalid(format!(
            "that is not a webhook secret: use {which} (16 characters or more)"
        )));
    }
    vault
        .save(name, secret)
        .map_err(|e| CentralError::Storage(e.to_string()))
}

/// The webhook secret kept under `name`, read off the runtime's threads; a missing one
/// refuses the webhook (401) naming `what`.
pub(crate) async fn load_webhook_secret(
    vault: Arc<SecretVault>,
    name: String,
    what: &str,
) -> Result<String, CentralError> {
    tokio::task::spawn_blocking(move || vault.load(&name))
        .await
        .map_err(|e| CentralError::Storage(e.to_string()))?
        .map_err(|_| CentralError::Unauthorized(format!("webhook refused: no {what} is set")))
}

/// What a verified Loop webhook told us.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoopWebhookAnswer {
    pub topic: String,
    pub return_id: String,
    /// Claims of that return still waiting for Loop (sent or unknown): the dispatcher's next
    /// pass reconciles them against Loop's own record of the return.
    pub awaiting: usize,
}

/// A Loop webhook for `retailer_id`: the signature is checked (constant time) against the
/// retailer's Loop webhook secret before the body is read; a tampered or unsigned one is
/// refused. A `return.closed` or `return.processing.failed` is not taken as the outcome
/// itself: the dispatcher reconciles against Loop's record of the return (every pass
/// reconciles claims that wait), so a replayed webhook can never confirm anything.
pub async fn loop_webhook(
    storage: Arc<dyn CentralStorage>,
    vault: Arc<SecretVault>,
    retailer_id: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<LoopWebhookAnswer, CentralError> {
    let secret = load_webhook_secret(
        vault,
        loop_webhook_secret_name(retailer_id),
        &format!("Loop webhook secret for retailer {retailer_id}"),
    )
    .await?;
    let hook =
        returnhub_connectors::loop_returns::verify_webhook(secret.as_bytes(), body, signature)
            .map_err(|e| match e {
                returnhub_connectors::loop_returns::LoopWebhookError::NotJson(_)
                | returnhub_connectors::loop_returns::LoopWebhookError::NoReturnId => {
                    CentralError::BadRequest(format!("Loop webhook: {e}"))
                }
                _ => CentralError::Unauthorized(format!("webhook refused: {e}")),
            })?;
    let topic = match &hook.topic {
        returnhub_connectors::loop_returns::LoopTopic::Closed => "return.closed".to_owned(),
        returnhub_connectors::loop_returns::LoopTopic::ProcessingFailed { .. } => {
            "return.processing.failed".to_owned()
        }
        returnhub_connectors::loop_returns::LoopTopic::Other(t) => t.clone(),
    };
    let retailer = retailer_id.to_owned();
    let loop_id = hook.return_id.clone();
    let awaiting = tokio::task::spawn_blocking(move || -> Result<usize, CentralError> {
        let returns = storage.returns_by_external_id(&retailer, &loop_id)?;
        let retailers = [retailer];
        let mut n = 0;
        for state in [ClaimState::Sent, ClaimState::Unknown] {
            n += storage
                .claims_in_state(state, Some(&retailers), 10_000)?
                .iter()
                .filter(|c| returns.contains(&c.return_id))
                .count();
        }
        Ok(n)
    })
    .await
    .map_err(|e| CentralError::Storage(e.to_string()))??;
    tracing::info!(retailer = retailer_id, loop_return = %hook.return_id, topic = %topic, awaiting, "Loop webhook verified");
    Ok(LoopWebhookAnswer {
        topic,
        return_id: hook.return_id,
        awaiting,
    })
}

/// Keeps a retailer's partner secret after testing it against the connection the retailer's
/// configuration names (set by an admin on a hub's F5). Returns the partner's API address.
pub fn set_partner_secret(
    storage: &dyn CentralStorage,
    vault: &SecretVault,
    retailer_id: &str,
    partner: &str,
    secret: &str,
) -> Result<String, String> {
    let target = ActionTarget::parse(partner)
        .filter(|t| t.is_partner())
        .ok_or_else(|| {
            format!("--partner must be loop, increff or returns_prime, not '{partner}'")
        })?;
    let record = storage
        .retailer(retailer_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no retailer '{retailer_id}' here yet (a hub syncs it)"))?;
    let connection = record
        .policy
        .partners
        .connections
        .iter()
        .find(|c| c.target == target)
        .ok_or_else(|| {
            format!(
                "{} is not connected to {partner}: an admin connects it on a hub's F5 first",
                record.name
            )
        })?;
    if secret.is_empty() {
        return Err("the secret on stdin is empty".to_owned());
    }
    let built = PartnerTarget::build(connection, secret)?;
    runtime()
        .map_err(|e| e.to_string())?
        .block_on(built.test_connection())
        .map_err(|e| format!("{partner} did not accept it: {e}"))?;
    vault
        .save(&partner_secret_name(retailer_id, target), secret)
        .map_err(|e| e.to_string())?;
    Ok(connection.base_url.clone())
}

/// Sends claims through the connections (shops and partners) there were when it was built.
pub struct ShopifyDispatcher {
    rt: tokio::runtime::Runtime,
    router: Router,
}

impl ShopifyDispatcher {
    pub fn new(
        storage: Arc<dyn CentralStorage>,
        vault: &SecretVault,
        options: ClientOptions,
    ) -> Result<ShopifyDispatcher, CentralError> {
        // The central store's own key for gift card codes (made the first time).
        let gift_card_secret = vault
            .load_or_create("gift-card-codes")
            .map_err(|e| CentralError::Storage(format!("the key for gift card codes: {e}")))?;
        let mut shops: HashMap<String, (ShopCredentials, ShopifySettings)> = HashMap::new();
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
            // The retailer's Shopify settings travel with its configuration from the hubs.
            let settings = storage
                .retailer(&connection.retailer_id)?
                .map(|r| ShopifySettings::for_policy(&r.policy.shopify))
                .unwrap_or_default()
                .with_gift_card_secret(&gift_card_secret);
            shops.insert(connection.retailer_id, (credentials, settings));
        }
        let shop = |retailer: &str| -> Result<Option<ShopifyTarget>, CentralError> {
            let Some((credentials, settings)) = shops.get(retailer) else {
                return Ok(None);
            };
            let client = shop_client(vault, retailer, credentials, options.clone())?;
            Ok(Some(ShopifyTarget::new(client, settings.clone())))
        };
        let mut router = Router::default();
        for retailer in shops.keys() {
            if let Some(target) = shop(retailer)? {
                router.shopify.insert(retailer.clone(), target);
            }
        }
        for retailer in storage.retailer_ids()? {
            let Some(record) = storage.retailer(&retailer)? else {
                continue;
            };
            for c in &record.policy.partners.connections {
                let secret = match vault.load(&partner_secret_name(&retailer, c.target)) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(retailer = %retailer, partner = c.target.name(), error = %e, "no partner secret here: set it with partner-secret; its actions wait");
                        continue;
                    }
                };
                match PartnerTarget::build(c, &secret) {
                    Ok(target) => {
                        let for_exchanges = match c.target {
                            ActionTarget::Increff => shop(&retailer)?,
                            _ => None,
                        };
                        router.add_partner(&retailer, target, for_exchanges);
                    }
                    Err(e) => {
                        tracing::error!(retailer = %retailer, partner = c.target.name(), error = %e, "partner connection unusable")
                    }
                }
            }
        }
        Ok(ShopifyDispatcher {
            rt: runtime()?,
            router,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.router.is_empty()
    }

    /// The target and context of a claim, or why it cannot be worked now.
    fn prepare<'c>(
        &self,
        claim: &ActionClaim,
        context: &'c ClaimContext<'_>,
    ) -> Result<(&Router, &'c returnhub_protocol::action::ActionContext), DispatchOutcome> {
        let context = context
            .get()
            .map_err(|e| DispatchOutcome::Failed(e.to_owned()))?;
        // Not connected: left claimed, it is sent once the retailer's shop or partner is.
        if !self.router.serves(&claim.action.retailer_id, context) {
            return Err(DispatchOutcome::NotApplied);
        }
        Ok((&self.router, context))
    }
}

impl ActionDispatcher for ShopifyDispatcher {
    fn target(&self) -> &str {
        "shopify"
    }

    fn target_for(&self, _claim: &ActionClaim, context: &ClaimContext<'_>) -> String {
        match context.get() {
            Ok(context) => self.router.name_for(context),
            Err(_) => self.target().to_owned(),
        }
    }

    fn serves(&self, claim: &ActionClaim, context: &ClaimContext<'_>) -> bool {
        match context.get() {
            Ok(context) => self.router.serves(&claim.action.retailer_id, context),
            // Sent on, to be failed with the reason (the return is not here, say).
            Err(_) => true,
        }
    }

    fn retailers(&self) -> Option<Vec<String>> {
        Some(self.router.retailers())
    }

    fn dispatch(&self, claim: &ActionClaim, context: &ClaimContext<'_>) -> DispatchOutcome {
        let (target, context) = match self.prepare(claim, context) {
            Ok(x) => x,
            Err(outcome) => return outcome,
        };
        match self.rt.block_on(target.send(&claim.action, context)) {
            Ok(confirmation) => {
                tracing::info!(key = %claim.key, target = %self.router.name_for(context), reference = %confirmation.reference, "action confirmed");
                DispatchOutcome::Confirmed(confirmation)
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

    fn reconcile(&self, claim: &ActionClaim, context: &ClaimContext<'_>) -> DispatchOutcome {
        let (target, context) = match self.prepare(claim, context) {
            Ok(x) => x,
            // Not connected any more: keep it unknown rather than resend blindly.
            Err(DispatchOutcome::NotApplied) => {
                return DispatchOutcome::Unknown(format!(
                    "retailer {} is not connected to this action's target here: cannot reconcile",
                    claim.action.retailer_id
                ))
            }
            Err(outcome) => return outcome,
        };
        match self.rt.block_on(target.reconcile(&claim.action, context)) {
            Ok(Some(found)) => DispatchOutcome::Confirmed(found),
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
