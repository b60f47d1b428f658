//! A simulator of Loop Returns' warehouse API, for tests only. It listens on a real TCP socket
//! on 127.0.0.1, speaks just enough HTTP/1.1 (one request per connection, like the Shopify
//! simulator) and follows the contract in `integrations.md` and the assumptions written in
//! `loop_returns.rs`:
//!
//! - every request needs `X-Authorization: <key>` (else 401 `NOT_AUTHORIZED`);
//! - `GET /api/v1/warehouse/return/details?return_id=` → `{id, state, processing, line_items}`;
//!   `GET /api/v1/warehouse/return/list` (paginated or not);
//! - `POST …/warehouse/return/{id}/remove?line_item_id=1,2`, `POST /dispositioning/grade`,
//!   `POST /dispositioning/assess`: state-setting (the same request twice, the same state),
//!   values checked against Loop's documented sets (else 422);
//! - `POST …/warehouse/return/{id}/process`: only an open return (or one whose processing
//!   failed) is queued — that is a process call that *took effect*; a flagged one is refused
//!   `UNPROCESSABLE_FLAGGED_RETURN`, anything else `UNPROCESSABLE_RETURN`. A queued return
//!   closes after the configured delay, or when the test says so ([`LoopSim::complete`],
//!   [`LoopSim::fail`]); then a signed `return.closed` / `return.processing.failed` webhook is
//!   POSTed to the configured URL.
//!
//! Faults are injected per request from a seeded generator, or forced for the next requests:
//! 429 and 5xx before the effect, a connection dropped before or after the effect, an answer
//! held past the client's timeout after the effect, a slow answer, and an effect that lands
//! `hold` after the connection dropped.

use super::receiver::{read_sim_request, Faults, SimRequest};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use returnhub_connectors::loop_returns::sign_webhook;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub const API_KEY: &str = "loop_sim_key_6f1d2c9a8b7e";
pub const WEBHOOK_SECRET: &[u8] = b"loop-sim-webhook-secret";

const CATEGORIES: [&str; 7] = [
    "grade_a",
    "grade_b",
    "grade_c",
    "grade_d",
    "incorrect_item",
    "missing",
    "junk",
];
const OUTCOMES: [&str; 5] = [
    "back_to_stock",
    "resale_hold",
    "recycle",
    "donate",
    "missing",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoopFault {
    /// 429 before the effect.
    Throttled,
    /// 503 before the effect.
    ServerError,
    DropBeforeCommit,
    DropAfterCommit,
    TimeoutAfterCommit,
    Slow,
    /// The connection drops at once; the effect lands `hold` later.
    LateCommit,
}

impl LoopFault {
    pub const ALL: [LoopFault; 7] = [
        LoopFault::Throttled,
        LoopFault::ServerError,
        LoopFault::DropBeforeCommit,
        LoopFault::DropAfterCommit,
        LoopFault::TimeoutAfterCommit,
        LoopFault::Slow,
        LoopFault::LateCommit,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimState {
    Open,
    /// Queued by a `process` call that took effect, at this RFC 3339 time.
    Processing(String),
    Closed,
    /// Processing failed with this reason.
    Failed(String),
    /// Flagged for review (`review`).
    Flagged,
}

#[derive(Debug, Clone)]
pub struct SimLoopReturn {
    pub id: String,
    pub state: SimState,
    /// (line item id, SKU).
    pub line_items: Vec<(String, String)>,
    pub removed: BTreeSet<String>,
    /// Line item id → the grade item as received.
    pub grades: BTreeMap<String, Value>,
    /// Line item id → disposition outcome.
    pub assessments: BTreeMap<String, String>,
    /// `process` calls that took effect (queued the return).
    pub processed: u32,
    /// `process` requests that reached the ledger, effective or refused.
    pub process_requests: u32,
    /// Loop's fraud rules flag it when processing is asked: the call is refused
    /// `UNPROCESSABLE_FLAGGED_RETURN` and the return is flagged from then on.
    pub flag_on_process: bool,
    /// Someone else queues it just before the next `process` request is served (an earlier
    /// try that lands late, or the merchant pressing Process in Loop's admin), so that request
    /// is refused `UNPROCESSABLE_RETURN` though the return is queued.
    pub queued_by_another: bool,
}

/// A webhook the simulator POSTed: (trigger, return id, HTTP status or the error).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub trigger: String,
    pub return_id: String,
    pub answer: Result<u16, String>,
}

#[derive(Debug, Default)]
pub struct LoopLedger {
    pub returns: BTreeMap<String, SimLoopReturn>,
    /// "METHOD path" of every authenticated request, in order of arrival.
    pub requests: Vec<String>,
    pub unauthorized: u64,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone)]
struct Settings {
    /// Queued returns close after this; `None`: only [`LoopSim::complete`] closes them.
    close_after: Option<Duration>,
    /// Where webhooks go, signed with the secret.
    webhook: Option<(String, Vec<u8>)>,
}

#[derive(Clone)]
pub struct LoopSim {
    pub addr: SocketAddr,
    ledger: Arc<Mutex<LoopLedger>>,
    faults: Faults<LoopFault>,
    settings: Arc<Mutex<Settings>>,
}
fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    returnhub_core::time::rfc3339(ms)
}

/// A JSON line item id (number or string) as the ledger keeps it.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(path: &str) -> HashMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({ "errors": { "message": message, "code": code } }),
    )
}

impl SimLoopReturn {
    fn details(&self) -> Value {
        let (state, processing) = match &self.state {
            SimState::Open => ("open", Value::Null),
            SimState::Processing(at) => ("open", json!({ "status": "queued", "queued_at": at })),
            SimState::Failed(reason) => ("open", json!({ "status": "failed", "error": reason })),
            SimState::Closed => ("closed", Value::Null),
            SimState::Flagged => ("review", Value::Null),
        };
        json!({
            "id": self.id,
            "state": state,
            "processing": processing,
            "line_items": self.line_items.iter().map(|(id, sku)| json!({
                "line_item_id": id,
                "sku": sku,
                "removed": self.removed.contains(id),
            })).collect::<Vec<_>>(),
        })
    }
}

impl LoopSim {
    /// Starts the simulator on its own thread and runtime; it runs until the process ends.
    pub fn start() -> LoopSim {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let sim = LoopSim {
            addr: listener.local_addr().unwrap(),
            ledger: Arc::default(),
            faults: Faults::new(&LoopFault::ALL),
            settings: Arc::new(Mutex::new(Settings {
                close_after: None,
                webhook: None,
            })),
        };
        let server = sim.clone();
        super::receiver::serve_forever("loop-simulator", listener, Some(2), move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        sim
    }

    /// The API root the target is configured with.
    pub fn base(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, LoopLedger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> SimLoopReturn {
        self.ledger().returns[id].clone()
    }

    /// An open return with these (line item id, SKU) lines.
    pub fn add_return(&self, id: &str, lines: &[(&str, &str)]) {
        self.ledger().returns.insert(
            id.to_owned(),
            SimLoopReturn {
                id: id.to_owned(),
                state: SimState::Open,
                line_items: lines
                    .iter()
                    .map(|(l, s)| ((*l).to_owned(), (*s).to_owned()))
                    .collect(),
                removed: BTreeSet::new(),
                grades: BTreeMap::new(),
                assessments: BTreeMap::new(),
                processed: 0,
                process_requests: 0,
                flag_on_process: false,
                queued_by_another: false,
            },
        );
    }

    /// The merchant flags the return in Loop's admin.
    pub fn flag(&self, id: &str) {
        self.ledger().returns.get_mut(id).unwrap().state = SimState::Flagged;
    }

    pub fn flag_on_process(&self, id: &str) {
        self.ledger().returns.get_mut(id).unwrap().flag_on_process = true;
    }

    pub fn queue_before_next_process(&self, id: &str) {
        self.ledger().returns.get_mut(id).unwrap().queued_by_another = true;
    }

    /// Queued returns close `after` being queued (`None`: only when told).
    pub fn close_after(&self, after: Option<Duration>) {
        self.settings.lock().unwrap().close_after = after;
    }

    /// Webhooks go to `url`, signed with `secret`.
    pub fn webhook_to(&self, url: &str, secret: &[u8]) {
        self.settings.lock().unwrap().webhook = Some((url.to_owned(), secret.to_vec()));
    }

    /// Faults on a `rate` share of requests, drawn from `seed`.
    pub fn inject(&self, rate: f64, seed: u64, hold: Duration, slow: Duration) {
        self.faults.inject(rate, seed, hold, slow);
    }

    /// The next requests, in order, get these faults or (`None`) none.
    pub fn force_sequence(&self, faults: &[Option<LoopFault>]) {
        self.faults.force_sequence(faults);
    }

    pub fn injected(&self) -> BTreeMap<LoopFault, u64> {
        self.faults.injected()
    }

    /// Loop finishes processing a queued return: closed, `return.closed` sent. `false` when
    /// the return was not queued.
    pub fn complete(&self, id: &str) -> bool {
        {
            let mut ledger = self.ledger();
            let r = ledger.returns.get_mut(id).unwrap();
            if !matches!(r.state, SimState::Processing(_)) {
                return false;
            }
            r.state = SimState::Closed;
        }
        self.deliver(json!({
            "topic": "return", "trigger": "return.closed", "id": id, "state": "closed",
        }));
        true
    }

    /// Loop's processing of a queued return fails with `reason`.
    pub fn fail(&self, id: &str, reason: &str) -> bool {
        {
            let mut ledger = self.ledger();
            let r = ledger.returns.get_mut(id).unwrap();
            if !matches!(r.state, SimState::Processing(_)) {
                return false;
            }
            r.state = SimState::Failed(reason.to_owned());
        }
        self.deliver(json!({
            "topic": "return", "trigger": "return.processing.failed", "id": id,
            "state": "open", "reason": reason,
        }));
        true
    }

    /// Posts a signed webhook from a thread of its own (blocking I/O, any caller).
    fn deliver(&self, body: Value) {
        let Some((url, secret)) = self.settings.lock().unwrap().webhook.clone() else {
            return;
        };
        let trigger = body["trigger"].as_str().unwrap_or_default().to_owned();
        let return_id = body["id"].as_str().unwrap_or_default().to_owned();
        let bytes = body.to_string().into_bytes();
        let signature = sign_webhook(&secret, &bytes);
        let answer = post_blocking(&url, &[("X-Loop-Signature", &signature)], &bytes);
        self.ledger().deliveries.push(Delivery {
            trigger,
            return_id,
            answer,
        });
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(SimRequest {
            line: request_line,
            headers,
            body,
        }) = read_sim_request(&mut stream).await
        else {
            return;
        };
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        if headers.get("x-authorization").map(String::as_str) != Some(API_KEY) {
            self.ledger().unauthorized += 1;
            let (status, body) = error(
                401,
                "NOT_AUTHORIZED",
                "The request couldn't be processed because authorization failed.",
            );
            return respond(&mut stream, status, &body).await;
        }
        self.ledger().requests.push(format!(
            "{method} {}",
            path.split('?').next().unwrap_or_default()
        ));
        let fault = self.faults.next();
        match fault {
            Some(LoopFault::Throttled) => {
                let (s, b) = error(429, "TOO_MANY_REQUESTS", "Too many requests.");
                return respond(&mut stream, s, &b).await;
            }
            Some(LoopFault::ServerError) => {
                let (s, b) = error(503, "UNEXPECTED_ERROR", "An unexpected error occurred.");
                return respond(&mut stream, s, &b).await;
            }
            Some(LoopFault::DropBeforeCommit) => return drop(stream),
            Some(LoopFault::Slow) => {
                let slow = self.faults.slow();
                tokio::time::sleep(slow).await;
            }
            Some(LoopFault::LateCommit) => {
                drop(stream);
                let hold = self.faults.hold();
                tokio::time::sleep(hold).await;
                self.answer(&method, &path, &body);
                return;
            }
            _ => {}
        }
        let (status, answer) = self.answer(&method, &path, &body);
        match fault {
            Some(LoopFault::DropAfterCommit) => drop(stream),
            Some(LoopFault::TimeoutAfterCommit) => {
                let hold = self.faults.hold();
                tokio::time::sleep(hold).await;
                drop(stream);
            }
            _ => respond(&mut stream, status, &answer).await,
        }
    }

    /// Runs one request against the ledger: (status, JSON answer).
    fn answer(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let route = path.split('?').next().unwrap_or_default();
        let Some(route) = route.strip_prefix("/api/v1") else {
            return error(404, "NOT_FOUND", "The resource requested was not found");
        };
        let q = query(path);
        let request: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return error(400, "VALIDATION_FAILED", "The body is not JSON."),
            }
        };
        let segments: Vec<&str> = route.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["warehouse", "return", "details"]) => {
                let id = q.get("return_id").cloned().unwrap_or_default();
                match self.ledger().returns.get(&id) {
                    Some(r) => (200, r.details()),
                    None => error(404, "NOT_FOUND", "The resource requested was not found"),
                }
            }
            ("GET", ["warehouse", "return", "list"]) => {
                let ledger = self.ledger();
                let size: usize = q
                    .get("pageSize")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100);
                let returns: Vec<Value> = ledger
                    .returns
                    .values()
                    .take(size)
                    .map(SimLoopReturn::details)
                    .collect();
                if q.get("paginate").map(String::as_str) == Some("true") {
                    (
                        200,
                        json!({ "returns": returns, "nextPageUrl": null, "previousPageUrl": null }),
                    )
                } else {
                    (200, json!(returns))
                }
            }
            ("POST", ["warehouse", "return", id, "remove"]) => {
                let id = percent_decode(id);
                let mut ledger = self.ledger();
                let Some(r) = ledger.returns.get_mut(&id) else {
                    return error(404, "NOT_FOUND", "The resource requested was not found");
                };
                let ids: Vec<String> = q
                    .get("line_item_id")
                    .map(|s| s.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                if ids.is_empty()
                    || ids
                        .iter()
                        .any(|l| !r.line_items.iter().any(|(x, _)| x == l))
                {
                    return error(422, "VALIDATION_FAILED", "Unknown line item.");
                }
                if !matches!(r.state, SimState::Open | SimState::Failed(_)) {
                    return error(422, "UNPROCESSABLE_RETURN", "The return is not open.");
                }
                r.removed.extend(ids);
                (200, json!({ "id": id }))
            }
            ("POST", ["warehouse", "return", id, "process"]) => {
                let id = percent_decode(id);
                let close_after = self.settings.lock().unwrap().close_after;
                let mut ledger = self.ledger();
                let Some(r) = ledger.returns.get_mut(&id) else {
                    return error(404, "NOT_FOUND", "The resource requested was not found");
                };
                r.process_requests += 1;
                if r.flag_on_process {
                    r.state = SimState::Flagged;
                }
                if std::mem::take(&mut r.queued_by_another) {
                    r.state = SimState::Processing(now_rfc3339());
                    r.processed += 1;
                }
                match r.state {
                    SimState::Flagged => {
                        return error(
                            422,
                            "UNPROCESSABLE_FLAGGED_RETURN",
                            "Return is open and therefore cannot be processed.",
                        )
                    }
                    SimState::Open | SimState::Failed(_) => {}
                    _ => {
                        return error(
                            422,
                            "UNPROCESSABLE_RETURN",
                            "The return cannot be processed because it is in a state that keeps it from being processed.",
                        )
                    }
                }
                r.state = SimState::Processing(now_rfc3339());
                r.processed += 1;
                drop(ledger);
                if let Some(after) = close_after {
                    let sim = self.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(after);
                        sim.complete(&id);
                    });
                }
                (200, json!({}))
            }
            ("POST", ["dispositioning", kind @ ("grade" | "assess")]) => {
                let Some(items) = request["items"].as_array().filter(|i| !i.is_empty()) else {
                    return error(422, "VALIDATION_FAILED", "items is required.");
                };
                let mut ledger = self.ledger();
                // Check everything before changing anything.
                let mut changes = Vec::new();
                for item in items {
                    let Some(line) = id_text(&item["line_item_id"]) else {
                        return error(422, "VALIDATION_FAILED", "line_item_id is required.");
                    };
                    let Some(owner) = ledger
                        .returns
                        .values()
                        .find(|r| r.line_items.iter().any(|(l, _)| *l == line))
                        .map(|r| r.id.clone())
                    else {
                        return error(404, "NOT_FOUND", "Line item not found.");
                    };
                    if *kind == "grade" {
                        let category = item["condition_category"].as_str().unwrap_or_default();
                        if !CATEGORIES.contains(&category) {
                            return error(422, "VALIDATION_FAILED", "Invalid condition_category.");
                        }
                        if item["inspected_at"].as_str().is_none() || !item["images"].is_array() {
                            return error(
                                422,
                                "VALIDATION_FAILED",
                                "inspected_at and images are required.",
                            );
                        }
                    } else {
                        let outcome = item["disposition_outcome"].as_str().unwrap_or_default();
                        if !OUTCOMES.contains(&outcome) {
                            return error(422, "VALIDATION_FAILED", "Invalid disposition_outcome.");
                        }
                    }
                    changes.push((owner, line, item.clone()));
                }
                for (owner, line, item) in changes {
                    let r = ledger.returns.get_mut(&owner).unwrap();
                    if *kind == "grade" {
                        r.grades.insert(line, item);
                    } else {
                        let outcome = item["disposition_outcome"].as_str().unwrap().to_owned();
                        r.assessments.insert(line, outcome);
                    }
                }
                (200, json!({ "success": true }))
            }
            _ => error(404, "NOT_FOUND", "The resource requested was not found"),
        }
    }
}

/// A blocking HTTP/1.1 POST of JSON to `url` (`http://host:port/path`): the status, or why
/// there is none.
fn post_blocking(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(body).map_err(|e| e.to_string())?;
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer[..n]);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))
}

/// What a [`HookSink`] received: header names in lower case, and the raw body.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hook {
    pub fn signature(&self) -> Option<&str> {
        self.headers.get("x-loop-signature").map(String::as_str)
    }
}

/// Receives Loop's webhooks on loopback and keeps them whole (the raw body is what the
/// signature covers). Answers 200.
#[derive(Clone, Default)]
pub struct HookSink {
    pub addr: Option<SocketAddr>,
    hooks: Arc<Mutex<Vec<Hook>>>,
}

impl HookSink {
    pub fn start() -> HookSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let sink = HookSink {
            addr: Some(listener.local_addr().unwrap()),
            ..HookSink::default()
        };
        let server = sink.clone();
        super::receiver::serve_forever("loop-hook-sink", listener, None, move |mut stream| {
            let server = server.clone();
            async move {
                let Some(SimRequest { headers, body, .. }) = read_sim_request(&mut stream).await
                else {
                    return;
                };
                server.hooks.lock().unwrap().push(Hook { headers, body });
                respond(&mut stream, 200, &json!({})).await;
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("http://{}/webhooks/loop", self.addr.unwrap())
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }
}

async fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
