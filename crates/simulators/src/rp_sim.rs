//! A simulator of Returns Prime's API, for tests only, on a real TCP socket on 127.0.0.1 (one
//! HTTP/1.1 request per connection, so faults are fully under control).
//!
//! It speaks the documented contract: the `x-rp-token` header (401 otherwise), `GET
//! /return-exchange/v2` with the filters `awb`, `request_number`, `order_name` and `page`
//! (answer `{status, data: {list, hasNextPage}}`, a few requests a page so lookups must
//! follow pages), `GET /return-exchange/v2/{id}` (`{status, data: request}`, 404 unknown).
//! And the undocumented processing update as the connector assumes it: a POST to the QC
//! path (set per simulator, `{id}` the request id) with Increff's body; it checks every item
//! before applying any (all or nothing), then records one effect per item, sets the line
//! item's `qc.status` and the request's `received.status`.
//!
//! A repeated update is applied again and counted again (the worst case: no idempotency at
//! Returns Prime), so a test that counts effects catches any blind resend. With
//! `refuse_repeats` it is refused instead (409), as a platform that inspects an item once
//! would.
//!
//! Faults, per request, drawn from a seed or forced: 429 (before the effect), a 502 before
//! the effect, a dropped connection before or after the effect, an answer held past the
//! client's timeout after the effect, a slow answer. Not LateCommit: with no idempotency key
//! an effect that lands after a reconciliation found nothing is a double effect whatever the
//! client does, so that fault would test the simulator, not the connector.

use super::receiver::{read_sim_request, Faults, SimRequest};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub use super::simulator::Fault;

pub const TOKEN: &str = "rp_sim_token_0123456789abcdef";

/// The faults Returns Prime is given (see the module doc for LateCommit).
pub const FAULTS: [Fault; 6] = [
    Fault::Throttled,
    Fault::ServerError,
    Fault::DropBeforeCommit,
    Fault::DropAfterCommit,
    Fault::TimeoutAfterCommit,
    Fault::Slow,
];

#[derive(Debug, Clone)]
pub struct RpLine {
    pub id: String,
    pub sku: String,
    pub quantity: u32,
    pub awbs: Vec<String>,
    pub refund_status: String,
    /// (qcStatus, qcReason) as last applied.
    pub qc: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct RpRequestSim {
    pub id: String,
    pub request_number: String,
    pub order_name: String,
    pub status: String,
    pub received: bool,
    pub rejected: bool,
    pub lines: Vec<RpLine>,
}

/// One item's QC applied by one processing update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcEffect {
    pub request_id: String,
    pub line_item_id: String,
    pub sku: String,
    pub qc_status: String,
    pub qc_reason: Option<String>,
    pub image_urls: Vec<String>,
}

#[derive(Debug)]
pub struct RpLedger {
    pub requests: BTreeMap<String, RpRequestSim>,
    /// Every effect, in the order applied.
    pub effects: Vec<QcEffect>,
    /// Requests a list page holds.
    pub page_size: usize,
    /// The path the processing update is served at (`{id}`: the request id).
    pub qc_path: String,
    pub refuse_repeats: bool,
    /// Raw bodies served (200) instead of a request object, by request id.
    pub raw: HashMap<String, String>,
    /// Every request line received ("GET /return-exchange/v2?page=1"), in order.
    pub requests_seen: Vec<String>,
    /// Requests refused for their token.
    pub refused_tokens: u64,
}

#[derive(Clone)]
pub struct RpSim {
    pub addr: SocketAddr,
    ledger: Arc<Mutex<RpLedger>>,
    faults: Faults<Fault>,
}
fn request_json(r: &RpRequestSim) -> Value {
    json!({
        "id": r.id.parse::<u64>().map_or_else(|_| json!(r.id), |n| json!(n)),
        "request_number": r.request_number,
        "order_name": r.order_name,
        "status": r.status,
        "received": { "status": r.received },
        "rejected": { "status": r.rejected },
        "line_items": r.lines.iter().map(|l| json!({
            "id": l.id.parse::<u64>().map_or_else(|_| json!(l.id), |n| json!(n)),
            "original_product": { "sku": l.sku, "title": "Tee" },
            "shop_price": { "return_quantity": l.quantity },
            "shipping": l.awbs.iter().map(|awb| json!({ "awb": awb })).collect::<Vec<_>>(),
            "refund": { "status": l.refund_status },
            "qc": l.qc.as_ref().map(|(status, reason)| json!({ "status": status, "reason": reason })),
        })).collect::<Vec<_>>(),
    })
}

/// A path's query parameters, percent-decoded.
fn query_params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the simulator answers: a status and a JSON body.
type Answer = (u16, Value);

impl RpSim {
    /// Starts the simulator on its own thread and runtime; it runs until the process ends.
    pub fn start() -> RpSim {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let sim = RpSim {
            addr: listener.local_addr().unwrap(),
            ledger: Arc::new(Mutex::new(RpLedger {
                requests: BTreeMap::new(),
                effects: Vec::new(),
                page_size: 3,
                qc_path: returnhub_connectors::returns_prime::DEFAULT_QC_PATH.into(),
                refuse_repeats: false,
                raw: HashMap::new(),
                requests_seen: Vec::new(),
                refused_tokens: 0,
            })),
            faults: Faults::new(&FAULTS),
        };
        let server = sim.clone();
        super::receiver::serve_forever("rp-simulator", listener, Some(2), move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        sim
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, RpLedger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_request(&self, request: RpRequestSim) {
        self.ledger().requests.insert(request.id.clone(), request);
    }

    /// Faults on a `rate` share of requests, drawn from `seed`.
    pub fn inject(&self, rate: f64, seed: u64, hold: Duration, slow: Duration) {
        self.faults.inject(rate, seed, hold, slow);
    }

    /// The next requests get these faults, in order.
    pub fn force(&self, faults: &[Fault]) {
        self.faults.force(faults);
    }

    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.faults.injected()
    }

    /// Effects applied to one line item.
    pub fn effects_on(&self, line_item_id: &str) -> Vec<QcEffect> {
        self.ledger()
            .effects
            .iter()
            .filter(|e| e.line_item_id == line_item_id)
            .cloned()
            .collect()
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
        let target = parts.next().unwrap_or_default().to_owned();
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        let (path, query) = (path.to_owned(), query_params(query));
        self.ledger()
            .requests_seen
            .push(format!("{method} {target}"));
        if headers.get("x-rp-token").map(String::as_str) != Some(TOKEN) {
            self.ledger().refused_tokens += 1;
            let body = json!({ "status": false, "message": "Unauthorized: invalid x-rp-token" });
            return respond(&mut stream, 401, &body.to_string()).await;
        }
        let fault = self.faults.next();
        match fault {
            Some(Fault::Throttled) => {
                let body = json!({ "status": false, "message": "Too many requests" });
                return respond(&mut stream, 429, &body.to_string()).await;
            }
            Some(Fault::ServerError) => {
                return respond(&mut stream, 502, "<h1>502 Bad Gateway</h1>").await
            }
            Some(Fault::DropBeforeCommit) => return drop(stream),
            Some(Fault::Slow) => {
                let slow = self.faults.slow();
                tokio::time::sleep(slow).await;
            }
            Some(Fault::LateCommit) => {
                panic!("LateCommit is not a Returns Prime fault (see the module doc)")
            }
            _ => {}
        }
        let answer = self.answer(&method, &path, &query, &body);
        match fault {
            Some(Fault::DropAfterCommit) => drop(stream),
            Some(Fault::TimeoutAfterCommit) => {
                let hold = self.faults.hold();
                tokio::time::sleep(hold).await;
                drop(stream);
            }
            _ => match answer {
                Raw::Json((status, body)) => respond(&mut stream, status, &body.to_string()).await,
                Raw::Text(text) => respond(&mut stream, 200, &text).await,
            },
        }
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Raw {
        let mut ledger = self.ledger();
        let list_path = "/return-exchange/v2";
        if method == "GET" && path == list_path {
            return Raw::Json(list(&ledger, query));
        }
        if method == "GET" {
            if let Some(id) = path.strip_prefix("/return-exchange/v2/") {
                let id = decode(id);
                if let Some(raw) = ledger.raw.get(&id) {
                    return Raw::Text(raw.clone());
                }
                return Raw::Json(match ledger.requests.get(&id) {
                    Some(r) => (200, json!({ "status": true, "data": request_json(r) })),
                    None => (
                        404,
                        json!({ "status": false, "message": "Request not found" }),
                    ),
                });
            }
        }
        if method == "POST" {
            if let Some(id) = match_template(&ledger.qc_path, path) {
                return Raw::Json(apply_qc(&mut ledger, id.as_deref(), body));
            }
        }
        Raw::Json((404, json!({ "status": false, "message": "Not Found" })))
    }
}

enum Raw {
    Json(Answer),
    Text(String),
}

/// `Some(Some(id))` when `path` matches `template` with `{id}`; `Some(None)` for a template
/// without `{id}` that matches exactly.
fn match_template(template: &str, path: &str) -> Option<Option<String>> {
    match template.split_once("{id}") {
        None => (template == path).then_some(None),
        Some((before, after)) => {
            let rest = path.strip_prefix(before)?;
            let id = rest.strip_suffix(after)?;
            (!id.is_empty() && !id.contains('/')).then(|| Some(decode(id)))
        }
    }
}

fn list(ledger: &RpLedger, query: &HashMap<String, String>) -> Answer {
    let page: usize = match query.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => {
            return (
                400,
                json!({ "status": false, "message": "page must be a positive number" }),
            )
        }
    };
    let matching: Vec<&RpRequestSim> = ledger
        .requests
        .values()
        .filter(|r| {
            query
                .get("awb")
                .is_none_or(|awb| r.lines.iter().any(|l| l.awbs.contains(awb)))
                && query
                    .get("request_number")
                    .is_none_or(|n| &r.request_number == n)
                && query.get("order_name").is_none_or(|n| &r.order_name == n)
        })
        .collect();
    let start = (page - 1) * ledger.page_size;
    let list: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(ledger.page_size)
        .map(|r| request_json(r))
        .collect();
    let more = start + ledger.page_size < matching.len();
    (
        200,
        json!({ "status": true, "data": { "list": list, "hasNextPage": more, "page": page } }),
    )
}

fn apply_qc(ledger: &mut RpLedger, path_id: Option<&str>, body: &[u8]) -> Answer {
    let refuse =
        |status: u16, message: String| (status, json!({ "status": false, "message": message }));
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return refuse(400, "the body is not JSON".into());
    };
    let Some(code) = body["returnOrderCode"].as_str() else {
        return refuse(422, "returnOrderCode is required".into());
    };
    if path_id.is_some_and(|id| id != code) {
        return refuse(
            422,
            format!("returnOrderCode {code} does not match the request in the path"),
        );
    }
    let refuse_repeats = ledger.refuse_repeats;
    let Some(request) = ledger.requests.get_mut(code) else {
        return refuse(404, format!("Request {code} not found"));
    };
    let Some(items) = body["orderItems"].as_array().filter(|i| !i.is_empty()) else {
        return refuse(422, "orderItems must list at least one item".into());
    };
    // Check everything before applying anything.
    let mut updates = Vec::new();
    for item in items {
        let Some(item_code) = item["itemCode"].as_str() else {
            return refuse(422, "every item needs an itemCode".into());
        };
        let Some(line) = request.lines.iter().find(|l| l.id == item_code) else {
            return refuse(
                422,
                format!("line item {item_code} is not part of request {code}"),
            );
        };
        if item["channelSkuCode"].as_str() != Some(line.sku.as_str()) {
            return refuse(
                422,
                format!(
                    "channelSkuCode of line item {item_code} is not {}",
                    line.sku
                ),
            );
        }
        let status = item["qcStatus"].as_str().unwrap_or_default();
        if status != "PASS" && status != "FAIL" {
            return refuse(
                422,
                format!("qcStatus must be PASS or FAIL, not {status:?}"),
            );
        }
        if refuse_repeats && line.qc.is_some() {
            return refuse(
                409,
                format!("line item {item_code} already has a QC result"),
            );
        }
        let image_urls = item["imageUrls"]
            .as_array()
            .map(|urls| {
                urls.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        updates.push(QcEffect {
            request_id: code.to_owned(),
            line_item_id: item_code.to_owned(),
            sku: line.sku.clone(),
            qc_status: status.to_owned(),
            qc_reason: item["qcReason"].as_str().map(str::to_owned),
            image_urls,
        });
    }
    for effect in &updates {
        if let Some(line) = request
            .lines
            .iter_mut()
            .find(|l| l.id == effect.line_item_id)
        {
            line.qc = Some((effect.qc_status.clone(), effect.qc_reason.clone()));
        }
    }
    request.received = true;
    request.status = "received".into();
    ledger.effects.extend(updates);
    (200, json!({ "status": true, "message": "QC updated" }))
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Bad Gateway",
    };
    let content_type = if body.starts_with('{') || body.starts_with('[') {
        "application/json"
    } else {
        "text/html"
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
