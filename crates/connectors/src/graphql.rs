//! The Shopify Admin GraphQL client: one pinned API version, cost-based pacing from
//! `extensions.cost.throttleStatus`, and retries that never repeat a request whose effect is
//! unknown unless the caller says repeating it is safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use returnhub_core::time::UnixMillis;
use serde_json::{json, Value};

use crate::clock::{Backoff, Clock};
use crate::credentials::{AppCredentials, ShopCredentials};

/// The Admin API version every request is pinned to (the newest stable version whose schema
/// the tests validate against; it has the `@idempotent` directive, mandatory for
/// `refundCreate` since 2026-04).
pub const API_VERSION: &str = "2026-10";

/// A GraphQL document shipped under `crates/connectors/graphql/`.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// The operation name (the file's stem for the bulk query, which has none).
    pub name: &'static str,
    pub text: &'static str,
    /// Query cost assumed until Shopify has told us the real one.
    pub estimated_cost: u32,
}

macro_rules! document {
    ($name:literal, $file:literal, $cost:literal) => {
        Document {
            name: $name,
            text: include_str!(concat!("../graphql/", $file)),
            estimated_cost: $cost,
        }
    };
    ($name:literal, $file:literal, $cost:literal, with_line_fields) => {
        Document {
            name: $name,
            text: concat!(
                include_str!(concat!("../graphql/", $file)),
                include_str!("../graphql/line_item_fields.graphql")
            ),
            estimated_cost: $cost,
        }
    };
    ($name:literal, $file:literal, $cost:literal, with_order_fields) => {
        Document {
            name: $name,
            text: concat!(
                include_str!(concat!("../graphql/", $file)),
                include_str!("../graphql/order_fields.graphql"),
                include_str!("../graphql/line_item_fields.graphql")
            ),
            estimated_cost: $cost,
        }
    };
}

/// Every document the connector sends.
pub mod documents {
    use super::Document;

    pub const SHOP_NAME: Document = document!("ShopName", "shop_name.graphql", 1);
    pub const APP_SCOPES: Document = document!("AppScopes", "app_scopes.graphql", 1);
    pub const ORDERS_PAGE: Document =
        document!("OrdersPage", "orders_page.graphql", 250, with_order_fields);
    pub const ORDER_BY_ID: Document =
        document!("OrderById", "order_by_id.graphql", 30, with_order_fields);
    pub const ORDER_LINES: Document =
        document!("OrderLines", "order_lines.graphql", 30, with_line_fields);
    pub const ORDERS_COUNT: Document = document!("OrdersCount", "orders_count.graphql", 1);
    /// Not sent as an operation: its text (with `__FILTER__` replaced) is the `query` argument
    /// of [`BULK_RUN`].
    pub const BULK_ORDERS: Document =
        document!("bulk_orders", "bulk_orders.graphql", 0, with_order_fields);
    pub const BULK_RUN: Document = document!("BulkRun", "bulk_run.graphql", 10);
    pub const BULK_STATUS: Document = document!("BulkStatus", "bulk_status.graphql", 1);
    pub const SUGGESTED_REFUND: Document =
        document!("SuggestedRefund", "suggested_refund.graphql", 5);
    pub const REFUND_CREATE: Document = document!("RefundCreate", "refund_create.graphql", 10);
    pub const ORDER_REFUNDS: Document = document!("OrderRefunds", "order_refunds.graphql", 5);
    pub const GIFT_CARD_CREATE: Document =
        document!("GiftCardCreate", "gift_card_create.graphql", 10);
    pub const ORDER_CUSTOMER: Document = document!("OrderCustomer", "order_customer.graphql", 2);
    pub const GIFT_CARD_NOTIFY: Document =
        document!("GiftCardNotify", "gift_card_notify.graphql", 10);
    pub const GIFT_CARD_BY_CODE: Document =
        document!("GiftCardByCode", "gift_card_by_code.graphql", 3);
    pub const EXCHANGE_HOLDS: Document = document!("ExchangeHolds", "exchange_holds.graphql", 25);
    pub const RELEASE_HOLD: Document = document!("ReleaseHold", "release_hold.graphql", 10);
    pub const ORDER_RETURNS: Document = document!("OrderReturns", "order_returns.graphql", 260);
    pub const RETURN_PROCESS: Document = document!("ReturnProcess", "return_process.graphql", 10);
    pub const TAGS_ADD: Document = document!("TagsAdd", "tags_add.graphql", 10);
    pub const ORDER_TAGS: Document = document!("OrderTags", "order_tags.graphql", 1);
    pub const EXCHANGE_ORDER: Document = document!("ExchangeOrder", "exchange_order.graphql", 80);
    pub const ORDER_CANCEL: Document = document!("OrderCancel", "order_cancel.graphql", 10);
    pub const ORDER_EDIT_BEGIN: Document =
        document!("OrderEditBegin", "order_edit_begin.graphql", 60);
    pub const ORDER_EDIT_SET_QUANTITY: Document = document!(
        "OrderEditSetQuantity",
        "order_edit_set_quantity.graphql",
        10
    );
    pub const ORDER_EDIT_COMMIT: Document =
        document!("OrderEditCommit", "order_edit_commit.graphql", 10);

    pub const ALL: &[Document] = &[
        SHOP_NAME,
        APP_SCOPES,
        ORDERS_PAGE,
        ORDER_BY_ID,
        ORDER_LINES,
        ORDERS_COUNT,
        BULK_ORDERS,
        BULK_RUN,
        BULK_STATUS,
        SUGGESTED_REFUND,
        REFUND_CREATE,
        ORDER_REFUNDS,
        GIFT_CARD_CREATE,
        ORDER_CUSTOMER,
        GIFT_CARD_NOTIFY,
        GIFT_CARD_BY_CODE,
        EXCHANGE_HOLDS,
        RELEASE_HOLD,
        ORDER_RETURNS,
        RETURN_PROCESS,
        TAGS_ADD,
        ORDER_TAGS,
        EXCHANGE_ORDER,
        ORDER_CANCEL,
        ORDER_EDIT_BEGIN,
        ORDER_EDIT_SET_QUANTITY,
        ORDER_EDIT_COMMIT,
    ];
}

/// Whether repeating a request after an unknown outcome is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, and mutations Shopify de-duplicates (`@idempotent`): retry any failure.
    Safe,
    /// Mutations with no server-side idempotency: retry only what certainly did not run
    /// (connection refused, THROTTLED); otherwise report [`GraphqlError::Unknown`].
    Unsafe,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphqlError {
    /// The request certainly had no effect (it never reached Shopify or was throttled) and
    /// the retries ran out.
    #[error("Shopify {operation}: not sent: {message}")]
    NotSent { operation: String, message: String },
    /// The request may or may not have taken effect (timeout, dropped connection, 5xx).
    #[error("Shopify {operation}: outcome unknown: {message}")]
    Unknown { operation: String, message: String },
    /// Shopify answered and refused (4xx, GraphQL errors): repeating it will not help.
    #[error("Shopify {operation} refused: {message}")]
    Refused { operation: String, message: String },
}

impl GraphqlError {
    pub fn message(&self) -> &str {
        match self {
            GraphqlError::NotSent { message, .. }
            | GraphqlError::Unknown { message, .. }
            | GraphqlError::Refused { message, .. } => message,
        }
    }
}

/// Tuning of the client; the defaults suit the real API.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// Retries of a failed request (throttling does not count: it waits and goes again).
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// At most this many THROTTLED answers in a row before giving up.
    pub max_throttled: u32,
    pub jitter_seed: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_throttled: 20,
            jitter_seed: 0x5248_5542,
        }
    }
}

/// What Shopify last said about the cost bucket, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

#[derive(Debug, Default)]
struct Bucket {
    last: Option<(ThrottleStatus, UnixMillis)>,
    /// The requested cost Shopify reported last time, per operation.
    costs: HashMap<&'static str, f64>,
}

impl Bucket {
    /// How long to wait so that `cost` points are available at `now`.
    fn wait_for(&self, cost: f64, now: UnixMillis) -> Duration {
        let Some((status, at)) = self.last else {
            return Duration::ZERO;
        };
        if status.restore_rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = (now - at).max(0) as f64 / 1000.0;
        let available = (status.currently_available + elapsed * status.restore_rate)
            .min(status.maximum_available);
        let cost = cost.min(status.maximum_available);
        if available >= cost {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((cost - available) / status.restore_rate)
    }
}

/// How a client signs in.
enum Auth {
    /// A custom app's static token.
    Token(String),
    /// A Dev Dashboard app: its tokens are asked for at `token_url` (the client credentials
    /// grant, or an install's refresh token) and asked for again before they expire, or when
    /// Shopify says one is no good.
    App(Arc<AppAuth>),
}

struct AppAuth {
    credentials: AppCredentials,
    token_url: String,
    current: Mutex<Option<AppToken>>,
    /// An install's refresh token (replaced at each renewal); `None`: the client
    /// credentials grant.
    refresh: Option<Mutex<String>>,
    /// One renewal at a time: a refresh token is spent by its use.
    renewing: tokio::sync::Mutex<()>,
    shop_domain: String,
    /// Every refresh token this state has held: credentials kept from before a renewal
    /// (read again from the vault, say) still belong to it.
    seen: Mutex<std::collections::HashSet<String>>,
}

/// Installs' renewal state by (shop, client ID), shared by every client of one shop's install
/// in this process: the dispatcher's targets and the webhook handler alike. Each renewing on
/// its own would spend one refresh token twice, and Shopify refuses the second.
type Installs = Mutex<HashMap<(String, String), Arc<AppAuth>>>;

fn installs() -> &'static Installs {
    static INSTALLS: std::sync::OnceLock<Installs> = std::sync::OnceLock::new();
    INSTALLS.get_or_init(Default::default)
}

#[derive(Clone)]
struct AppToken {
    token: String,
    scopes: Vec<String>,
    /// When it expires.
    expires_at: UnixMillis,
    /// When to ask for the next one: before it expires, by a margin.
    renew_at: UnixMillis,
}

impl AppToken {
    fn new(token: String, scopes: Vec<String>, now: UnixMillis, lifetime_ms: i64) -> AppToken {
        let lifetime = lifetime_ms.max(1);
        AppToken {
            token,
            scopes,
            expires_at: now + lifetime,
            renew_at: now + lifetime - (lifetime / 2).min(5 * 60 * 1000),
        }
    }
}

/// Told the new credentials each time an install's token is renewed, to keep them: the old
/// refresh token stops working once the new one is used.
pub type RenewedHook = Arc<dyn Fn(&ShopCredentials) + Send + Sync>;

/// A client for one shop.
pub struct ShopifyClient {
    http: reqwest::Client,
    endpoint: String,
    auth: Auth,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    options: ClientOptions,
    bucket: Mutex<Bucket>,
    on_renewed: Option<RenewedHook>,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyClient")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Attempt {
    /// What an attempt that got no answer means to a caller, for `operation`.
    fn into_error(self, operation: &str) -> GraphqlError {
        let operation = operation.to_owned();
        match self {
            Attempt::NotSent(message) => GraphqlError::NotSent { operation, message },
            Attempt::Unknown(message) => GraphqlError::Unknown { operation, message },
            Attempt::Refused(message) => GraphqlError::Refused { operation, message },
            Attempt::Answer(_) | Attempt::Throttled { .. } => GraphqlError::Unknown {
                operation,
                message: "no answer".into(),
            },
        }
    }
}

/// One HTTP exchange's outcome before retry policy.
enum Attempt {
    Answer(Value),
    Throttled { wait: Duration },
    NotSent(String),
    Unknown(String),
    Refused(String),
}

impl ShopifyClient {
    /// A client for `credentials.shop_domain` (e.g. `example.myshopify.com`, or for tests a
    /// full `http://127.0.0.1:port` base).
    pub fn new(
        credentials: &ShopCredentials,
        clock: Arc<dyn Clock>,
        options: ClientOptions,
    ) -> Result<ShopifyClient, GraphqlError> {
        let base = crate::oauth::shop_base(&credentials.shop_domain);
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| GraphqlError::NotSent {
                operation: "client".into(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let auth = match &credentials.app {
            Some(app) => {
                // An install's current token is used until shortly before it expires.
                let current = credentials.refresh.as_ref().and_then(|grant| {
                    let now = clock.now_ms();
                    let token = AppToken::new(
                        credentials.access_token.clone(),
                        grant.scopes.clone(),
                        now,
                        grant.expires_at - now,
                    );
                    (grant.expires_at > now && !token.token.is_empty()).then_some(token)
                });
                let fresh = || AppAuth {
                    credentials: app.clone(),
                    token_url: format!("{base}/admin/oauth/access_token"),
                    current: Mutex::new(current.clone()),
                    refresh: credentials
                        .refresh
                        .as_ref()
                        .map(|g| Mutex::new(g.refresh_token.clone())),
                    renewing: tokio::sync::Mutex::new(()),
                    shop_domain: credentials.shop_domain.clone(),
                    seen: Mutex::new(
                        credentials
                            .refresh
                            .iter()
                            .map(|g| g.refresh_token.clone())
                            .collect(),
                    ),
                };
                match &credentials.refresh {
                    // The install's state, shared with its other clients here, unless these
                    // credentials come from another grant (the app installed again).
                    Some(grant) => {
                        let key = (credentials.shop_domain.clone(), app.client_id.clone());
                        let mut installs = lock(installs());
                        let shared = installs
                            .get(&key)
                            .filter(|a| lock(&a.seen).contains(&grant.refresh_token))
                            .cloned();
                        Auth::App(shared.unwrap_or_else(|| {
                            let auth = Arc::new(fresh());
                            installs.insert(key, auth.clone());
                            auth
                        }))
                    }
                    None => Auth::App(Arc::new(fresh())),
                }
            }
            None => Auth::Token(credentials.access_token.clone()),
        };
        Ok(ShopifyClient {
            http,
            endpoint: format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            auth,
            clock,
            backoff: Backoff::new(
                options.backoff_base,
                options.backoff_max,
                options.jitter_seed,
            ),
            options,
            bucket: Mutex::new(Bucket::default()),
            on_renewed: None,
        })
    }

    /// Calls `hook` with the new credentials whenever an install's token is renewed (its
    /// refresh token replaced), so that whoever keeps them keeps the newest.
    pub fn on_renewed(mut self, hook: RenewedHook) -> ShopifyClient {
        self.on_renewed = Some(hook);
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The bucket as Shopify last reported it.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.lock_bucket().last.map(|(s, _)| s)
    }

    fn lock_bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cheap query that proves the domain and token work: the shop's name.
    pub async fn shop_name(&self) -> Result<String, GraphqlError> {
        let data = self
            .execute(&documents::SHOP_NAME, json!({}), Repeat::Safe)
            .await?;
        data.pointer("/shop/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GraphqlError::Refused {
                operation: "ShopName".into(),
                message: "the answer has no shop name".into(),
            })
    }

    /// Runs `doc` with `variables` and returns `data`. Paces itself so the cost bucket is
    /// never exhausted, waits out THROTTLED answers exactly, and retries failures with
    /// jittered backoff as `repeat` allows.
    pub async fn execute(
        &self,
        doc: &Document,
        variables: Value,
        repeat: Repeat,
    ) -> Result<Value, GraphqlError> {
        let body = json!({ "query": doc.text, "operationName": doc.name, "variables": variables });
        let body = serde_json::to_vec(&body).map_err(|e| GraphqlError::Refused {
            operation: doc.name.into(),
            message: e.to_string(),
        })?;
        let mut retries = 0u32;
        let mut throttled = 0u32;
        loop {
            let pace = {
                let bucket = self.lock_bucket();
                let cost = bucket
                    .costs
                    .get(doc.name)
                    .copied()
                    .unwrap_or(f64::from(doc.estimated_cost));
                bucket.wait_for(cost, self.clock.now_ms())
            };
            if !pace.is_zero() {
                tracing::debug!(
                    operation = doc.name,
                    wait_ms = pace.as_millis() as u64,
                    "pacing for the cost bucket"
                );
                self.clock.sleep(pace).await;
            }
            let (failure, may_repeat) = match self.attempt(doc, body.clone()).await {
                Attempt::Answer(data) => return Ok(data),
                Attempt::Throttled { wait } => {
                    throttled += 1;
                    if throttled > self.options.max_throttled {
                        return Err(GraphqlError::NotSent {
                            operation: doc.name.into(),
                            message: format!("throttled {throttled} times in a row"),
                        });
                    }
                    tracing::info!(
                        operation = doc.name,
                        wait_ms = wait.as_millis() as u64,
                        "throttled by Shopify; waiting"
                    );
                    self.clock.sleep(wait).await;
                    continue;
                }
                Attempt::Refused(message) => {
                    return Err(GraphqlError::Refused {
                        operation: doc.name.into(),
                        message,
                    })
                }
                Attempt::NotSent(message) => (
                    GraphqlError::NotSent {
                        operation: doc.name.into(),
                        message,
                    },
                    true,
                ),
                Attempt::Unknown(message) => (
                    GraphqlError::Unknown {
                        operation: doc.name.into(),
                        message,
                    },
                    repeat == Repeat::Safe,
                ),
            };
            if !may_repeat || retries >= self.options.max_retries {
                return Err(failure);
            }
            let delay = self.backoff.delay(retries);
            retries += 1;
            tracing::warn!(operation = doc.name, retry = retries, delay_ms = delay.as_millis() as u64, error = %failure, "retrying Shopify request");
            self.clock.sleep(delay).await;
        }
    }

    /// The token to send: the static one, or the app's current one, asked for when there is
    /// none, when it is about to expire, or (`renew`) when Shopify refused it.
    async fn token(&self, renew: bool) -> Result<String, Attempt> {
        let AppAuth {
            credentials,
            token_url,
            current,
            refresh,
            renewing,
            shop_domain,
            seen,
        } = match &self.auth {
            Auth::Token(token) => return Ok(token.clone()),
            Auth::App(app) => app.as_ref(),
        };
        let fresh = |now| lock(current).as_ref().filter(|t| now < t.renew_at).cloned();
        let held = lock(current).as_ref().map(|t| t.token.clone());
        if !renew {
            if let Some(t) = fresh(self.clock.now_ms()) {
                return Ok(t.token);
            }
        }
        let _one = renewing.lock().await;
        // Another request may have renewed it while this one waited.
        if let Some(t) = fresh(self.clock.now_ms()) {
            if !renew || Some(&t.token) != held.as_ref() {
                return Ok(t.token);
            }
        }
        let now = self.clock.now_ms();
        let refresh_token = refresh.as_ref().map(|r| lock(r).clone());
        let mut form = vec![
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.as_str()),
        ];
        match &refresh_token {
            Some(token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token.as_str()));
            }
            None => form.push(("grant_type", "client_credentials")),
        }
        // A token request changes nothing at the shop: any failure can be tried again, and
        // the GraphQL request it was for was not sent.
        let response = self
            .http
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                Attempt::NotSent(format!("asking for a token: {}", transport_message(&e)))
            })?;
        let status = response.status();
        let body: Value = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if status.is_client_error() {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            return Err(Attempt::Refused(match refresh_token {
                Some(_) => format!(
                    "Shopify refused to renew the shop's token (HTTP {status}: {why}): the \
                     app was uninstalled or its authorization lapsed; install it on the shop \
                     again (returnhub-central shop-install)"
                ),
                None => format!(
                    "Shopify refused the app's client ID and secret (HTTP {status}: {why}); \
                     check them in the Dev Dashboard and that the app is installed on this shop"
                ),
            }));
        }
        let (Some(token), Some(expires_in)) =
            (body["access_token"].as_str(), body["expires_in"].as_i64())
        else {
            return Err(Attempt::NotSent(format!(
                "asking for a token: HTTP {status} without a token"
            )));
        };
        let mut scopes = crate::oauth::scopes_of(&body);
        if scopes.is_empty() {
            // A renewal keeps the scopes granted at install when it does not list them.
            scopes = lock(current)
                .as_ref()
                .map(|t| t.scopes.clone())
                .unwrap_or_default();
        }
        let fresh = AppToken::new(token.to_owned(), scopes, now, expires_in * 1000);
        let next = match refresh {
            Some(_) => match body["refresh_token"].as_str().filter(|t| !t.is_empty()) {
                Some(next) => Some(next.to_owned()),
                None => {
                    return Err(Attempt::NotSent(format!(
                        "renewing the token: HTTP {status} without a refresh token"
                    )))
                }
            },
            None => None,
        };
        *lock(current) = Some(fresh.clone());
        if let (Some(refresh), Some(next)) = (refresh, next.as_deref()) {
            *lock(refresh) = next.to_owned();
            lock(seen).insert(next.to_owned());
            if let Some(hook) = &self.on_renewed {
                hook(&ShopCredentials {
                    shop_domain: shop_domain.clone(),
                    access_token: fresh.token.clone(),
                    app: Some(credentials.clone()),
                    refresh: Some(crate::credentials::RefreshGrant {
                        refresh_token: next.to_owned(),
                        expires_at: fresh.expires_at,
                        scopes: fresh.scopes.clone(),
                    }),
                });
            }
            tracing::info!(endpoint = %self.endpoint, expires_in, "the shop's offline token renewed with its refresh token");
        } else {
            tracing::info!(endpoint = %self.endpoint, expires_in, "Shopify access token obtained with the app's client credentials");
        }
        Ok(fresh.token)
    }

    /// The access scopes the shop granted these credentials: from the app's token answer, or
    /// (a static token) `currentAppInstallation`.
    pub async fn granted_scopes(&self) -> Result<Vec<String>, GraphqlError> {
        if let Auth::App(app) = &self.auth {
            let current = &app.current;
            self.token(false)
                .await
                .map_err(|a| a.into_error("access token"))?;
            return Ok(lock(current)
                .as_ref()
                .map(|t| t.scopes.clone())
                .unwrap_or_default());
        }
        let data = self
            .execute(&documents::APP_SCOPES, json!({}), Repeat::Safe)
            .await?;
        Ok(data
            .pointer("/currentAppInstallation/accessScopes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s["handle"].as_str().map(str::to_owned))
            .collect())
    }

    async fn post(&self, token: &str, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(&self.endpoint)
            .header("X-Shopify-Access-Token", token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
    }

    async fn attempt(&self, doc: &Document, body: Vec<u8>) -> Attempt {
        let token = match self.token(false).await {
            Ok(token) => token,
            Err(attempt) => return attempt,
        };
        let mut response = self.post(&token, body.clone()).await;
        if matches!(&response, Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED)
            && matches!(self.auth, Auth::App(_))
        {
            // The app's token expired early or was revoked: a 401 applied nothing, so a new
            // token and the same request again.
            let token = match self.token(true).await {
                Ok(token) => token,
                Err(attempt) => return attempt,
            };
            response = self.post(&token, body).await;
        }
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Attempt::NotSent(transport_message(&e)),
            Err(e) => return Attempt::Unknown(transport_message(&e)),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Unknown(transport_message(&e)),
        };
        if status.is_server_error() {
            return Attempt::Unknown(format!("HTTP {status}"));
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let Some(body) = parsed else {
            return if status.is_success() {
                Attempt::Unknown(format!("HTTP {status} with a body that is not JSON"))
            } else {
                Attempt::Refused(format!("HTTP {status}"))
            };
        };
        let now = self.clock.now_ms();
        let cost = body.pointer("/extensions/cost");
        let requested = cost
            .and_then(|c| c.get("requestedQueryCost"))
            .and_then(Value::as_f64);
        let throttle = cost
            .and_then(|c| c.get("throttleStatus"))
            .and_then(parse_throttle);
        {
            let mut bucket = self.lock_bucket();
            if let Some(t) = throttle {
                bucket.last = Some((t, now));
            }
            if let Some(r) = requested {
                bucket.costs.insert(doc.name, r);
            }
        }
        let errors = body.get("errors").and_then(Value::as_array);
        let is_throttled = errors.is_some_and(|errs| {
            errs.iter()
                .any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"))
        });
        if is_throttled {
            let requested = requested.unwrap_or(f64::from(doc.estimated_cost));
            let wait = match throttle {
                Some(t) if t.restore_rate > 0.0 => Duration::from_secs_f64(
                    ((requested - t.currently_available) / t.restore_rate).max(0.0),
                ),
                _ => self.backoff.delay(0),
            };
            return Attempt::Throttled { wait };
        }
        // Another request with the same @idempotent key is still being processed: its
        // outcome is not known yet, and repeating this one later with the key is safe.
        let concurrent = errors.is_some_and(|errs| {
            errs.iter().any(|e| {
                e.pointer("/extensions/code").and_then(Value::as_str)
                    == Some("IDEMPOTENCY_CONCURRENT_REQUEST")
            })
        });
        if concurrent {
            return Attempt::Unknown(error_messages(errors));
        }
        if !status.is_success() {
            return Attempt::Refused(format!("HTTP {status}: {}", error_messages(errors)));
        }
        match body.get("data") {
            Some(data) if !data.is_null() && errors.is_none_or(|e| e.is_empty()) => {
                Attempt::Answer(data.clone())
            }
            _ => Attempt::Refused(error_messages(errors)),
        }
    }

    /// Downloads `url` (a bulk operation's JSONL) and hands it over chunk by chunk.
    pub async fn download(
        &self,
        url: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), GraphqlError> {
        let unknown = |message: String| GraphqlError::Unknown {
            operation: "bulk download".into(),
            message,
        };
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unknown(transport_message(&e)))?;
        if !response.status().is_success() {
            return Err(unknown(format!("HTTP {}", response.status())));
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unknown(transport_message(&e)))?
        {
            sink(&chunk).map_err(|message| GraphqlError::Refused {
                operation: "bulk download".into(),
                message,
            })?;
        }
        Ok(())
    }
}

fn parse_throttle(v: &Value) -> Option<ThrottleStatus> {
    Some(ThrottleStatus {
        maximum_available: v.get("maximumAvailable")?.as_f64()?,
        currently_available: v.get("currentlyAvailable")?.as_f64()?,
        restore_rate: v.get("restoreRate")?.as_f64()?,
    })
}

fn error_messages(errors: Option<&Vec<Value>>) -> String {
    let messages: Vec<&str> = errors
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        "no data and no error message".into()
    } else {
        messages.join("; ")
    }
}

/// The error without the URL's query string (a bulk download URL is signed).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the connection failed"
    };
    // Drop the URL: a bulk download URL is signed.
    let message = e.to_string();
    let message = match e.url() {
        Some(url) => message.replace(url.as_str(), "<url>"),
        None => message,
    };
    format!("{kind}: {message}")
}

/// `userErrors` of a mutation payload as one sentence, or `None` when there are none.
pub fn user_errors(payload: &Value) -> Option<String> {
    let errors = payload.get("userErrors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    Some(
        errors
            .iter()
            .map(|e| {
                let field = e
                    .get("field")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let message = e.get("message").and_then(Value::as_str).unwrap_or("?");
                if field.is_empty() {
                    message.to_owned()
                } else {
                    format!("{field}: {message}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_waits_exactly_until_the_bucket_holds_the_cost() {
        let mut bucket = Bucket::default();
        assert_eq!(bucket.wait_for(100.0, 0), Duration::ZERO);
        bucket.last = Some((
            ThrottleStatus {
                maximum_available: 1000.0,
                currently_available: 40.0,
                restore_rate: 50.0,
            },
            1_000,
        ));
        // 60 points missing at 50/s: 1.2 s; half a second later 35 points are missing: 0.7 s.
        assert_eq!(bucket.wait_for(100.0, 1_000), Duration::from_millis(1200));
        assert_eq!(bucket.wait_for(100.0, 1_500), Duration::from_millis(700));
        assert_eq!(bucket.wait_for(100.0, 10_000), Duration::ZERO);
    }
}
