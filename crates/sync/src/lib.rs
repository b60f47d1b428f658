//! Sync between a hub device and the central return store: the wire protocol ([`wire`]) and
//! the hub's background sync worker ([`SyncWorker`]).
//!
//! The worker runs on its own thread with its own connection to the hub's store file, so the
//! bench never waits on it: the bench appends events (each with a `sync` outbox row) and the
//! worker, when it can, pushes them in batches, marks them confirmed only after the central
//! store acknowledged them (it answers after its commit), then pulls what changed for the hub
//! since its cursor and applies it with [`returnhub_store::Store::apply_remote_batch`]. Every
//! step is idempotent, so a crash or a lost answer at any point only repeats work.
//!
//! A hub with no central store configured does not start the worker at all: its events stay
//! in the outbox as `pending` (they are pushed whenever a central store is configured later)
//! and the hub dispatches its actions itself.

use returnhub_protocol::wire;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_store::Store;
use serde::Serialize;
use wire::{ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No answer: connection refused, timed out, reset. The usual offline case.
    #[error("central store unreachable: {0}")]
    Unreachable(String),
    #[error("central store refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("central store answered nonsense: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] returnhub_store::StoreError),
}

/// How a worker reaches the central store. [`HttpTransport`] is the real one; the tests wrap
/// it to inject faults.
pub trait Transport {
    fn push(&self, req: &PushRequest) -> impl Future<Output = Result<PushResponse, SyncError>>;
    fn pull(&self, req: &PullRequest) -> impl Future<Output = Result<PullResponse, SyncError>>;
}

/// JSON over HTTP(S) with the device's bearer token.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for HttpTransport {
    // The token is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, SyncError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(HttpTransport {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    /// Which hub this token is for, as the central store knows it.
    pub async fn device_info(&self) -> Result<wire::DeviceInfo, SyncError> {
        let request = self
            .client
            .get(format!("{}{}", self.base, wire::DEVICE_PATH))
            .bearer_auth(&self.token);
        self.answer(request).await
    }

    /// The hubs a return of this device's hub may be handed to.
    pub async fn hand_over_targets(
        &self,
        return_id: &str,
    ) -> Result<Vec<wire::HubChoice>, SyncError> {
        let request = self
            .client
            .get(format!("{}{}", self.base, wire::HAND_OVER_TARGETS_PATH))
            .query(&wire::HandOverTargetsQuery {
                return_id: return_id.to_owned(),
            })
            .bearer_auth(&self.token);
        self.answer(request).await
    }

    /// Asks the central store to hand a return of this device's hub to another hub.
    pub async fn hand_over(
        &self,
        req: &wire::HandOverRequest,
    ) -> Result<wire::HandOverResponse, SyncError> {
        self.post(wire::HAND_OVER_PATH, req).await
    }

    async fn post<Q: Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<A, SyncError> {
        let request = self
            .client
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(body);
        self.answer(request).await
    }

    /// Sends `request` and reads its JSON answer; a refusal carries the central store's reason.
    async fn answer<A: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<A, SyncError> {
        let response = request
            .send()
            .await
            .map_err(|e| SyncError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SyncError::Unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(SyncError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }
}

impl Transport for HttpTransport {
    async fn push(&self, req: &PushRequest) -> Result<PushResponse, SyncError> {
        self.post(wire::PUSH_PATH, req).await
    }
    async fn pull(&self, req: &PullRequest) -> Result<PullResponse, SyncError> {
        self.post(wire::PULL_PATH, req).await
    }
}

/// What one round of [`Syncer::sync_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub pushed: usize,
    pub pulled: usize,
    /// Pulled events this build cannot read, held back (see `returnhub_store`'s sync module).
    pub held: usize,
    pub tracking: usize,
}

/// One device's sync steps, driven by the worker (or step by step by the tests).
pub struct Syncer<T> {
    pub store: Store,
    pub transport: T,
    pub push_batch: u32,
    pub pull_limit: u32,
    /// Payload bytes per push and per pull page (at least one event goes whatever its size).
    pub page_bytes: u64,
    clock: Arc<dyn Fn() -> UnixMillis + Send + Sync>,
}

impl<T: Transport> Syncer<T> {
    pub fn new(
        store: Store,
        transport: T,
        clock: Arc<dyn Fn() -> UnixMillis + Send + Sync>,
    ) -> Self {
        Syncer {
            store,
            transport,
            push_batch: 500,
            pull_limit: 1000,
            page_bytes: wire::MAX_PAGE_BYTES,
            clock,
        }
    }

    /// Pushes one batch of pending events; confirms only the ids the central store
    /// acknowledged. Returns how many were confirmed (0: nothing pending).
    pub async fn push_one_batch(&mut self) -> Result<usize, SyncError> {
        let mut pending = self.store.pending_sync(self.push_batch)?;
        if pending.is_empty() {
            return Ok(0);
        }
        // A bulk import's events are large: keep the request well under the body limit.
        let mut bytes = 0u64;
        let fits = pending
            .iter()
            .take_while(|p| {
                bytes += p.event.payload.len() as u64;
                bytes <= self.page_bytes
            })
            .count();
        pending.truncate(fits.max(1));
        let sent: Vec<String> = pending.iter().map(|p| p.event.id.clone()).collect();
        let req = PushRequest {
            events: pending.into_iter().map(|p| p.event).collect(),
        };
        let answer = self.transport.push(&req).await?;
        let acked: Vec<String> = answer
            .acknowledged
            .into_iter()
            .filter(|id| sent.contains(id))
            .collect();
        if acked.is_empty() {
            return Err(SyncError::Protocol(
                "the central store acknowledged none of the batch".into(),
            ));
        }
        // Kept there, not applied: the supervisors here see which and why.
        let refused: Vec<(String, String)> = answer
            .held
            .iter()
            .filter(|h| sent.contains(&h.id))
            .map(|h| {
                tracing::warn!(event = %h.id, reason = %h.reason, "the central store refused one of our events");
                (h.id.clone(), h.reason.clone())
            })
            .collect();
        self.store.record_refused(&refused, (self.clock)())?;
        self.store.confirm_synced(&acked, (self.clock)())?;
        Ok(acked.len())
    }

    /// Sends this station's refused events again (after a fix at the central store: this hub
    /// added to a retailer's list, say). Those taken now leave the held list; those still
    /// refused keep it with the reason given now. Returns how many were taken.
    pub async fn resend_refused(&mut self) -> Result<usize, SyncError> {
        let refused = self.store.refused_events(self.push_batch)?;
        if refused.is_empty() {
            return Ok(0);
        }
        let sent: Vec<String> = refused.iter().map(|e| e.id.clone()).collect();
        let answer = self
            .transport
            .push(&PushRequest { events: refused })
            .await?;
        let still: Vec<(String, String)> = answer
            .held
            .into_iter()
            .filter(|h| sent.contains(&h.id))
            .map(|h| (h.id, h.reason))
            .collect();
        let taken: Vec<String> = answer
            .acknowledged
            .into_iter()
            .filter(|id| sent.contains(id) && !still.iter().any(|(held, _)| held == id))
            .collect();
        self.store.settle_refused(&taken, &still)?;
        tracing::info!(
            taken = taken.len(),
            still_refused = still.len(),
            "refused events sent again"
        );
        Ok(taken.len())
    }

    /// Pulls one page since the cursor and applies it; `true` when more is waiting.
    pub async fn pull_one_page(&mut self, report: &mut RoundReport) -> Result<bool, SyncError> {
        let req = PullRequest {
            cursor: self.store.sync_cursor()?,
            limit: self.pull_limit,
            max_bytes: Some(self.page_bytes),
        };
        let page = self.transport.pull(&req).await?;
        if page.cursor.events < req.cursor.events || page.cursor.tracking < req.cursor.tracking {
            return Err(SyncError::Protocol("the pull cursor went backwards".into()));
        }
        let applied = self.store.apply_remote_page(
            (self.clock)(),
            &page.events,
            &page.tracking,
            page.cursor,
        )?;
        report.pulled += applied.applied;
        report.held += applied.held;
        report.tracking += page.tracking.len();
        Ok(page.more)
    }

    /// Pushes everything pending, then pulls until nothing more is waiting.
    pub async fn sync_once(&mut self) -> Result<RoundReport, SyncError> {
        let mut report = RoundReport::default();
        loop {
            let n = self.push_one_batch().await?;
            report.pushed += n;
            if n == 0 {
                break;
            }
        }
        while self.pull_one_page(&mut report).await? {}
        Ok(report)
    }
}

/// Where the worker finds the central store and how it paces itself.
#[derive(Clone)]
pub struct SyncConfig {
    /// e.g. `http://central.example:8787`.
    pub central_url: String,
    /// This device's bearer token (from `returnhub-central add-device`). Never logged.
    pub device_token: String,
    pub push_batch: u32,
    pub pull_limit: u32,
    /// Pause between rounds when everything is in sync.
    pub interval: Duration,
    /// Backoff after a failure: doubles from `min_backoff` up to `max_backoff`, with jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("central_url", &self.central_url)
            .field("push_batch", &self.push_batch)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl SyncConfig {
    pub fn new(central_url: impl Into<String>, device_token: impl Into<String>) -> Self {
        SyncConfig {
            central_url: central_url.into(),
            device_token: device_token.into(),
            push_batch: 500,
            pull_limit: 1000,
            interval: Duration::from_secs(5),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What the UI shows about sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The last round reached the central store.
    pub online: bool,
    /// Events waiting to be pushed.
    pub queue_depth: u64,
    /// RFC 3339 time of the last round that pushed and pulled everything.
    pub last_success_at: Option<String>,
    /// The last failure, as one sentence (cleared by the next success).
    pub last_error: Option<String>,
    pub pushed_total: u64,
    pub pulled_total: u64,
    /// Consecutive failed rounds (drives the backoff).
    pub failures: u32,
}

/// Delay before retry number `failures` (1-based): exponential, capped, with "equal jitter"
/// (half fixed, half random) so many hubs coming back at once do not stampede.
pub fn backoff_delay(failures: u32, min: Duration, max: Duration, random: u64) -> Duration {
    let exp = min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max);
    let half = exp / 2;
    let jitter_ms = (half.as_millis() as u64).max(1);
    half + Duration::from_millis(random % (jitter_ms + 1))
}

/// A small deterministic generator (SplitMix64) for jitter; seeded per worker.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

pub fn unix_now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The hub's background sync worker: a thread with its own single-threaded tokio runtime
/// and its own connection to the store file. Start it only when a central store is
/// configured.
pub struct SyncWorker {
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<tokio::sync::Notify>,
    /// Send the refused events again before the next round (set at start: once per open).
    resend: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyncWorker {
    /// Opens its own connection to the store at `store_path` and starts syncing. Fails only
    /// when the store cannot be opened or the config is unusable; being offline is normal
    /// and shows in [`SyncWorker::status`].
    pub fn start(store_path: &Path, config: SyncConfig) -> Result<SyncWorker, SyncError> {
        let store = Store::open(store_path)?;
        let transport = HttpTransport::new(
            &config.central_url,
            &config.device_token,
            config.request_timeout,
        )?;
        let status = Arc::new(Mutex::new(SyncStatus {
            queue_depth: store.sync_queue_depth()?,
            ..SyncStatus::default()
        }));
        let wake = Arc::new(tokio::sync::Notify::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seed = store
            .device_id()
            .bytes()
            .fold(unix_now_ms() as u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let path: PathBuf = store_path.to_path_buf();
        let resend = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (st, wk, sp, rs) = (status.clone(), wake.clone(), stop.clone(), resend.clone());
        let thread = std::thread::Builder::new()
            .name("returnhub-sync".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .enable_io()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "sync worker could not start its runtime");
                        return;
                    }
                };
                let syncer = Syncer {
                    store,
                    transport,
                    push_batch: config.push_batch,
                    pull_limit: config.pull_limit,
                    page_bytes: wire::MAX_PAGE_BYTES,
                    clock: Arc::new(unix_now_ms),
                };
                tracing::info!(store = %path.display(), central = %config.central_url, "sync worker started");
                let signals = Signals {
                    wake: wk,
                    stop: sp,
                    resend: rs,
                };
                runtime.block_on(run(syncer, config, st, signals, SplitMix64(seed)));
            })
            .map_err(|e| SyncError::Protocol(format!("cannot start the sync thread: {e}")))?;
        Ok(SyncWorker {
            status,
            wake,
            resend,
            stop,
            thread: Some(thread),
        })
    }

    /// A snapshot for the UI.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Starts a round now (e.g. right after the bench appended events, or "Sync now").
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// Sends this station's refused events again at the start of the next round (now).
    pub fn resend_refused(&self) {
        self.resend.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Stops after the current request and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the window's side tells the worker thread.
struct Signals {
    wake: Arc<tokio::sync::Notify>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    resend: Arc<std::sync::atomic::AtomicBool>,
}

async fn run(
    mut syncer: Syncer<HttpTransport>,
    config: SyncConfig,
    status: Arc<Mutex<SyncStatus>>,
    signals: Signals,
    mut rng: SplitMix64,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let Signals { wake, stop, resend } = signals;
    let stopped = || stop.load(SeqCst);
    while !stopped() {
        let mut result = syncer.sync_once().await;
        // After the round, whose pull may have brought the fix the refusal waited for.
        if result.is_ok() && resend.swap(false, SeqCst) {
            if let Err(e) = syncer.resend_refused().await {
                resend.store(true, SeqCst);
                result = Err(e);
            }
        }
        let depth = syncer.store.sync_queue_depth().unwrap_or(u64::MAX);
        let delay = {
            let mut s = match status.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            s.queue_depth = depth;
            match result {
                Ok(round) => {
                    s.online = true;
                    s.failures = 0;
                    s.last_error = None;
                    s.last_success_at = Some(rfc3339(unix_now_ms()));
                    s.pushed_total += round.pushed as u64;
                    s.pulled_total += round.pulled as u64;
                    config.interval
                }
                Err(e) => {
                    s.online = !matches!(e, SyncError::Unreachable(_));
                    s.failures = s.failures.saturating_add(1);
                    tracing::warn!(error = %e, failures = s.failures, "sync round failed");
                    s.last_error = Some(e.to_string());
                    backoff_delay(
                        s.failures,
                        config.min_backoff,
                        config.max_backoff,
                        rng.next_u64(),
                    )
                }
            }
        };
        if stopped() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wake.notified() => {}
        }
    }
    tracing::info!("sync worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = SplitMix64(7);
        for failures in 1..30 {
            let exp = (min * (1 << (failures - 1).min(20))).min(max);
            for _ in 0..50 {
                let d = backoff_delay(failures, min, max, rng.next_u64());
                assert!(d >= exp / 2 && d <= exp, "{failures}: {d:?} vs {exp:?}");
            }
        }
    }

    #[test]
    fn the_token_is_never_in_debug_output() {
        let t = HttpTransport::new("http://x", "secret-token", Duration::from_secs(1)).unwrap();
        assert!(!format!("{t:?}").contains("secret-token"));
        let c = SyncConfig::new("http://x", "secret-token");
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
