//! The HTTP layer: axum routes over [`CentralStorage`]. Handlers authenticate, hand the
//! work to the storage on the blocking pool, and answer JSON; every error is an
//! [`ErrorBody`] with a status that says what the caller can do. Secrets are never logged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use returnhub_core::time::UnixMillis;
use returnhub_protocol::wire::{self, ErrorBody, PullRequest, PushRequest, TrackingIn, UploadRow};
use serde::de::DeserializeOwned;

use crate::auth;
use crate::storage::{CentralError, CentralStorage, DeviceIdentity, Failpoint, PartnerIdentity};

pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// Where Shopify delivers connected retailers' `orders/updated` webhooks.
pub const SHOPIFY_ORDERS_UPDATED_PATH: &str = "/v1/shopify/orders-updated";
/// Shopify's install request (the app's URL) and the OAuth callback (its redirect URI).
pub const SHOPIFY_INSTALL_PATH: &str = "/v1/shopify/install";
pub const SHOPIFY_CALLBACK_PATH: &str = "/v1/shopify/callback";
/// Loop's webhooks for one retailer: `/v1/loop/webhook/{retailer id}`.
pub const LOOP_WEBHOOK_PATH: &str = "/v1/loop/webhook/{retailer}";
pub const INCREFF_WEBHOOK_PATH: &str = "/v1/increff/webhook/{retailer}";

#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn CentralStorage>,
    /// Wall time in Unix ms; the tests pass a simulated one.
    pub clock: Clock,
    /// The shops' secrets (access tokens, webhook secrets); `None`: Shopify's webhooks are
    /// refused (503).
    pub shop_secrets: Option<Arc<returnhub_secrets::SecretVault>>,
    /// How the central store's Shopify client times out and retries.
    pub shopify_client: returnhub_connectors::ClientOptions,
}

pub struct ApiError(pub CentralError);

impl From<CentralError> for ApiError {
    fn from(e: CentralError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// The status and code an error is answered with.
    fn status_of(e: &CentralError) -> (StatusCode, &'static str) {
        match e {
            CentralError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            CentralError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CentralError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            CentralError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            CentralError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            CentralError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            CentralError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = ApiError::status_of(&self.0);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
        }
        let body = ErrorBody {
            code: code.into(),
            error: self.0.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The most each route reads of a body, enforced while reading, after the caller is
/// authenticated (where a route has a caller to authenticate): an unauthenticated request is
/// answered from its headers, and no request makes the server hold more than its route's limit.
/// A push carries a page of at most 16 MiB of payload (`wire::MAX_PAGE_BYTES`) in JSON.
pub const PUSH_BODY_LIMIT: usize = 48 * 1024 * 1024;
/// A pull asks with a cursor.
pub const PULL_BODY_LIMIT: usize = 64 * 1024;
/// A hand-over names a return, a hub, a person and a reason.
pub const HAND_OVER_BODY_LIMIT: usize = 16 * 1024;
/// 64k upload rows of a few hundred bytes each.
pub const UPLOAD_BODY_LIMIT: usize = 32 * 1024 * 1024;
pub const TRACKING_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// A partner's webhook is one order or one notification: its signature covers the whole
/// body, so the body is read (to this limit) before the signature is checked.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Reads a body to its end, or refuses it (413) as soon as it passes `limit`.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        ApiError(CentralError::TooLarge(format!(
            "the request body is over {} KiB, or broke off: {e}",
            limit / 1024
        )))
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CentralError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(CentralError::Storage(format!("worker panicked: {e}"))))?
        .map_err(ApiError)
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(CentralError::BadRequest(format!(
            "malformed JSON body: {e}"
        )))
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-Retailer-Name` as its sender meant it: UTF-8 bytes as they are ("Kōwhai Apparel" is
/// not ASCII), or the RFC 8187 form `UTF-8''K%C5%8Dwhai%20Apparel` for clients that can send
/// ASCII only.
fn retailer_header(headers: &HeaderMap) -> Result<String, ApiError> {
    let missing = || {
        ApiError(CentralError::Unauthorized(
            "missing X-Retailer-Name header".into(),
        ))
    };
    let raw = headers
        .get(wire::RETAILER_HEADER)
        .ok_or_else(missing)?
        .as_bytes();
    let not_utf8 = || {
        ApiError(CentralError::Unauthorized(
            "X-Retailer-Name is not UTF-8 (send the name as UTF-8, or as UTF-8''<percent-encoded>)"
                .into(),
        ))
    };
    let text = std::str::from_utf8(raw).map_err(|_| not_utf8())?;
    match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("UTF-8''") => {
            percent_encoding::percent_decode_str(&text[7..])
                .decode_utf8()
                .map(|name| name.into_owned())
                .map_err(|_| not_utf8())
        }
        _ => Ok(text.to_string()),
    }
}

async fn device(state: &AppState, headers: &HeaderMap) -> Result<DeviceIdentity, ApiError> {
    let token = header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            CentralError::Unauthorized("missing 'Authorization: Bearer <device token>'".into())
        })?
        .trim()
        .to_string();
    let storage = state.storage.clone();
    blocking(move || storage.authenticate_device(&token))
        .await?
        .ok_or_else(|| ApiError(CentralError::Unauthorized("unknown device token".into())))
}

/// The API key must be valid AND belong to the retailer named in `X-Retailer-Name`, exactly.
async fn partner(state: &AppState, headers: &HeaderMap) -> Result<PartnerIdentity, ApiError> {
    let key = header(headers, wire::API_KEY_HEADER)
        .ok_or_else(|| CentralError::Unauthorized("missing X-Api-Key header".into()))?
        .trim()
        .to_string();
    let name = retailer_header(headers)?;
    let storage = state.storage.clone();
    let identity = blocking(move || storage.authenticate_partner(&key))
        .await?
        .ok_or_else(|| ApiError(CentralError::Unauthorized("unknown API key".into())))?;
    if !auth::same_name(&identity.retailer_name, &name) {
        return Err(ApiError(CentralError::Forbidden(format!(
            "this API key is not for retailer '{name}' (the name must match exactly)"
        ))));
    }
    Ok(identity)
}

#[cfg(feature = "failpoints")]
fn failpoint(headers: &HeaderMap) -> Failpoint {
    match header(headers, "x-returnhub-failpoint") {
        Some("before_commit") => Failpoint::BeforeCommit,
        Some("after_commit") => Failpoint::AfterCommit,
        _ => Failpoint::None,
    }
}

#[cfg(not(feature = "failpoints"))]
fn failpoint(_headers: &HeaderMap) -> Failpoint {
    Failpoint::None
}

async fn push(State(state): State<AppState>, request: Request) -> ApiResult<wire::PushResponse> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let device = device(&state, &headers).await?;
    let req: PushRequest = parse(&read_body(body, PUSH_BODY_LIMIT).await?)?;
    let fp = failpoint(&headers);
    let now = (state.clock)();
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || storage.push(&device, &req.events, now, fp)).await?,
    ))
}

async fn pull(State(state): State<AppState>, request: Request) -> ApiResult<wire::PullResponse> {
    let (parts, body) = request.into_parts();
    let device = device(&state, &parts.headers).await?;
    let req: PullRequest = parse(&read_body(body, PULL_BODY_LIMIT).await?)?;
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.pull(&device, &req)).await?))
}

/// For a load balancer or a supervisor of the process: 200 when the database answers and
/// every migration this build has is applied; 503, saying which, otherwise. Not
/// authenticated, and it tells nothing about any hub.
async fn healthz(State(state): State<AppState>) -> Response {
    let storage = state.storage.clone();
    let unavailable = |reason: String| {
        let body = serde_json::json!({ "status": "unavailable", "reason": reason });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    };
    match blocking(move || storage.health()).await {
        Ok(h) if h.schema == h.expected => {
            let body = serde_json::json!({ "status": "ok", "schema": h.schema });
            (StatusCode::OK, Json(body)).into_response()
        }
        // Migrations run when the process opens the database, so a difference means another
        // process of another build changed it since.
        Ok(h) if h.schema < h.expected => unavailable(format!(
            "the database is at schema {} and this build needs {}: restart the process to \
             apply the missing migrations",
            h.schema, h.expected
        )),
        Ok(h) => unavailable(format!(
            "the database is at schema {}, newer than this build's {}: a newer build migrated \
             it; run that build",
            h.schema, h.expected
        )),
        Err(e) => {
            tracing::error!(error = %e.0, "healthz: the database does not answer");
            unavailable(format!("the database does not answer: {}", e.0))
        }
    }
}

/// Which hub the calling device's token is for (a station joining its hub asks first).
async fn device_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<wire::DeviceInfo> {
    let device = device(&state, &headers).await?;
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.device_info(&device)).await?))
}

async fn conflicts(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Vec<wire::Conflict>> {
    let device = device(&state, &headers).await?;
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || storage.conflicts(Some(&device.hub_id))).await?,
    ))
}

/// The hubs that may receive one of the device's hub's returns (they serve its retailer).
async fn hand_over_targets(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<wire::HandOverTargetsQuery>, QueryRejection>,
) -> ApiResult<Vec<wire::HubChoice>> {
    let device = device(&state, &headers).await?;
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError(CentralError::BadRequest(format!("which return? {e}"))))?;
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || storage.hand_over_targets(&device, &query.return_id)).await?,
    ))
}

/// A supervisor of the device's hub hands one of its returns to another hub; the central
/// store checks everything and records it for both hubs in one transaction.
async fn hand_over(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<wire::HandOverResponse> {
    let (parts, body) = request.into_parts();
    let device = device(&state, &parts.headers).await?;
    let req: wire::HandOverRequest = parse(&read_body(body, HAND_OVER_BODY_LIMIT).await?)?;
    let now = (state.clock)();
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || storage.hand_over(&device, &req, now)).await?,
    ))
}

async fn upload(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let partner = partner(&state, &parts.headers).await?;
    let rows: Vec<UploadRow> = parse(&read_body(body, UPLOAD_BODY_LIMIT).await?)?;
    if rows.is_empty() {
        return Err(ApiError(CentralError::BadRequest(
            "the upload has no rows".into(),
        )));
    }
    let now = (state.clock)();
    let storage = state.storage.clone();
    let answer = blocking(move || storage.upload_returns(&partner, &rows, now)).await?;
    let status = if answer.accepted_rows == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)).into_response())
}

async fn tracking(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<wire::TrackingResponse> {
    let (parts, body) = request.into_parts();
    let partner = partner(&state, &parts.headers).await?;
    let events: Vec<TrackingIn> = parse(&read_body(body, TRACKING_BODY_LIMIT).await?)?;
    let now = (state.clock)();
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || storage.record_tracking(&partner, &events, now)).await?,
    ))
}

#[derive(serde::Serialize)]
struct WebhookAnswer {
    outcome: crate::storage::OrderUpdate,
}

async fn shopify_orders_updated(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(vault) = state.shop_secrets.clone() else {
        let body = ErrorBody {
            code: "unavailable".into(),
            error: "this central store takes no Shopify webhooks".into(),
        };
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    };
    let webhook = crate::shopify::WebhookHeaders {
        shop_domain: header(&headers, "x-shopify-shop-domain").map(str::to_owned),
        webhook_id: header(&headers, "x-shopify-webhook-id").map(str::to_owned),
        signature: header(&headers, "x-shopify-hmac-sha256").map(str::to_owned),
    };
    let outcome = crate::shopify::order_updated(
        state.storage.clone(),
        vault,
        &webhook,
        &body,
        state.shopify_client.clone(),
        (state.clock)(),
    )
    .await?;
    Ok(Json(WebhookAnswer { outcome }).into_response())
}

/// A page for the merchant's browser: plain text, so nothing in it is markup.
fn page(status: StatusCode, text: String) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn no_installs() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "This central store installs no Shopify app.".into(),
    )
}

async fn shopify_install(State(state): State<AppState>, request: Request) -> Response {
    let Some(vault) = state.shop_secrets.clone() else {
        return no_installs();
    };
    let query = request.uri().query().unwrap_or_default().to_owned();
    match crate::shopify::install_request(state.storage.clone(), vault, &query, (state.clock)())
        .await
    {
        Ok(location) => (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, location)],
        )
            .into_response(),
        Err(e) => install_page(e),
    }
}

async fn shopify_callback(State(state): State<AppState>, request: Request) -> Response {
    let Some(vault) = state.shop_secrets.clone() else {
        return no_installs();
    };
    let query = request.uri().query().unwrap_or_default().to_owned();
    match crate::shopify::install_callback(
        state.storage.clone(),
        vault,
        &query,
        state.shopify_client.clone(),
        (state.clock)(),
    )
    .await
    {
        Ok(connection) => page(
            StatusCode::OK,
            format!(
                "Returnhub is connected to {} ({}) for retailer {}. Its return actions are \
                 sent from the returns hub's central store. You can close this page.",
                connection.shop_name, connection.shop_domain, connection.retailer_id
            ),
        ),
        Err(e) => install_page(e),
    }
}

/// A refused or failed install step, said to the merchant; server failures are logged.
fn install_page(e: CentralError) -> Response {
    let (status, _) = ApiError::status_of(&e);
    if status.is_server_error() {
        tracing::error!(error = %e, "install failed");
    }
    page(status, format!("The install did not complete: {e}"))
}

/// The answer of a central store that keeps no partner webhook secrets.
fn no_partner_webhooks() -> Response {
    let body = ErrorBody {
        code: "unavailable".into(),
        error: "this central store takes no partner webhooks".into(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn loop_webhook(
    State(state): State<AppState>,
    axum::extract::Path(retailer): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(vault) = state.shop_secrets.clone() else {
        return Ok(no_partner_webhooks());
    };
    let answer = crate::shopify::loop_webhook(
        state.storage.clone(),
        vault,
        &retailer,
        header(&headers, "x-loop-signature"),
        &body,
    )
    .await?;
    Ok(Json(answer).into_response())
}

async fn increff_webhook(
    State(state): State<AppState>,
    axum::extract::Path(retailer): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(vault) = state.shop_secrets.clone() else {
        return Ok(no_partner_webhooks());
    };
    let answer = crate::increff::notification(
        state.storage.clone(),
        vault,
        &retailer,
        header(
            &headers,
            returnhub_connectors::increff_notify::SIGNATURE_HEADER,
        ),
        &body,
        (state.clock)(),
    )
    .await?;
    Ok(Json(answer).into_response())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/healthz", get(healthz))
        .route(wire::PUSH_PATH, post(push))
        .route(wire::PULL_PATH, post(pull))
        .route(wire::CONFLICTS_PATH, get(conflicts))
        .route(wire::DEVICE_PATH, get(device_info))
        .route(wire::HAND_OVER_TARGETS_PATH, get(hand_over_targets))
        .route(wire::HAND_OVER_PATH, post(hand_over))
        .route(wire::UPLOAD_PATH, post(upload))
        .route(wire::TRACKING_PATH, post(tracking))
        .route(SHOPIFY_INSTALL_PATH, get(shopify_install))
        .route(SHOPIFY_CALLBACK_PATH, get(shopify_callback))
        // The webhooks read their body whole (the signature covers it): bounded per route.
        .route(
            SHOPIFY_ORDERS_UPDATED_PATH,
            post(shopify_orders_updated).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .route(
            LOOP_WEBHOOK_PATH,
            post(loop_webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .route(
            INCREFF_WEBHOOK_PATH,
            post(increff_webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `state` on `listener` from a thread of its own (with its own tokio runtime) for as
/// long as the process runs, and returns the base URL: the central store embedded in another
/// program, such as a test of hub stations against a real central store.
pub fn serve_in_background(
    listener: std::net::TcpListener,
    state: AppState,
) -> std::io::Result<String> {
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("central-store".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!(error = %e, "cannot serve"),
                };
                if let Err(e) = serve(listener, state, std::future::pending()).await {
                    tracing::error!(error = %e, "the central store stopped");
                }
            })
        })?;
    Ok(url)
}
