//! A simulator of Increff's Returns Processing Update (`POST /usp/return`), for tests only. It
//! listens on a real TCP socket on 127.0.0.1 (one request per connection, like the Shopify
//! simulator), checks the three auth headers (`authUsername`, `authPassword`,
//! `authDomainName`: 401 otherwise), and keeps the return orders it knows: code → items (item
//! code, SKU, the history of every QC status received).
//!
//! The update sets each named item's QC state. What the tests count is *effects*: an update
//! of an item whose status, reason or images differ from what Increff holds. A repeat of the
//! same update is accepted (200) and is no effect — which is what makes resending the
//! connector's reconciliation.
//!
//! Refusals, as the connector must show them: an unknown return order or item code, an item
//! code whose SKU is not the one given, a qcStatus other than PASS/FAIL, a missing
//! returnOrderCode (400, with a JSON `message`; the body is checked after the credentials).
//!
//! Return orders the hub creates (`POST /return/return-orders`: 409 when the code exists) and
//! items it adds (`PUT /return/update-return-order/item`: an item code already there with the
//! same SKU changes nothing) follow the shapes the connector assumes (see `increff.rs`); the
//! ledger counts each return order created and each item added, so a test sees them happen
//! once.
//!
//! Faults, per request, from a seeded generator or forced for the next requests (the same as
//! the Shopify simulator's where they make sense): 429 (Increff rate-limits its APIs), a 502
//! before the effect, the connection dropped before or after the effect, the answer held past
//! the client's timeout after the effect, a slow answer, and the effect landing `hold` after
//! the connection dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpStream;

use super::receiver::{read_sim_request, Faults, SimRequest};
use super::simulator::{respond, Fault};

pub const USERNAME: &str = "hub-kowhai";
pub const PASSWORD: &str = "increff-pass-0123456789";
pub const DOMAIN: &str = "kowhai";

/// One QC state received for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcState {
    pub status: String,
    pub reason: Option<String>,
    pub image_urls: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct IncreffItem {
    pub item_code: String,
    pub sku: String,
    /// Every state received, in order (repeats included).
    pub history: Vec<QcState>,
    /// Updates that changed the item's state.
    pub effects: u32,
}

impl IncreffItem {
    pub fn current(&self) -> Option<&QcState> {
        self.history.last()
    }
}

#[derive(Debug, Default)]
pub struct IncreffLedger {
    /// Return order code → its items.
    pub returns: BTreeMap<String, Vec<IncreffItem>>,
    /// Every body accepted (answered or not), in order.
    pub accepted: Vec<Value>,
    /// Requests refused for their credentials.
    pub unauthorized: u64,
    /// Requests refused for their body, with the message.
    pub refused: Vec<String>,
    /// Return order code → how often a create made it (more than 1 would be a double).
    pub created: BTreeMap<String, u32>,
    /// Return order code → the create body that made it.
    pub create_bodies: BTreeMap<String, Value>,
    /// Items added to existing return orders (each a new item code).
    pub items_added: u64,
}

impl IncreffLedger {
    pub fn item(&self, code: &str, item_code: &str) -> &IncreffItem {
        self.returns[code]
            .iter()
            .find(|i| i.item_code == item_code)
            .unwrap()
    }

    pub fn effects(&self) -> u64 {
        self.returns
            .values()
            .flatten()
            .map(|i| u64::from(i.effects))
            .sum()
    }
}

#[derive(Debug, Clone, Copy)]
enum Api {
    ProcessingUpdate,
    Create,
    AddItems,
}

#[derive(Clone)]
pub struct IncreffSim {
    pub addr: SocketAddr,
    ledger: Arc<Mutex<IncreffLedger>>,
    faults: Faults<Fault>,
}
impl IncreffSim {
    pub fn start() -> IncreffSim {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let sim = IncreffSim {
            addr: listener.local_addr().unwrap(),
            ledger: Arc::new(Mutex::new(IncreffLedger::default())),
            faults: Faults::new(&Fault::ALL),
        };
        let server = sim.clone();
        super::receiver::serve_forever("increff-simulator", listener, Some(2), move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        sim
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, IncreffLedger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A return order Increff knows, with its items (item code, SKU).
    pub fn add_return(&self, code: &str, items: &[(&str, &str)]) {
        self.ledger().returns.insert(
            code.to_owned(),
            items
                .iter()
                .map(|(item_code, sku)| IncreffItem {
                    item_code: (*item_code).to_owned(),
                    sku: (*sku).to_owned(),
                    history: vec![],
                    effects: 0,
                })
                .collect(),
        );
    }

    pub fn inject(&self, rate: f64, seed: u64, hold: Duration, slow: Duration) {
        self.faults.inject(rate, seed, hold, slow);
    }

    pub fn force(&self, faults: &[Fault]) {
        self.faults.force(faults);
    }

    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.faults.injected()
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
        let json_answer = |status: u16, message: &str| {
            (
                status,
                json!({ "code": status, "message": message }).to_string(),
            )
        };
        let api = if request_line.starts_with("POST /usp/return ") {
            Api::ProcessingUpdate
        } else if request_line.starts_with("POST /return/return-orders ") {
            Api::Create
        } else if request_line.starts_with("PUT /return/update-return-order/item ") {
            Api::AddItems
        } else {
            let (status, body) = json_answer(404, "No such API");
            return respond(&mut stream, status, "application/json", body.as_bytes()).await;
        };
        let authorised = headers.get("authusername").map(String::as_str) == Some(USERNAME)
            && headers.get("authpassword").map(String::as_str) == Some(PASSWORD)
            && headers.get("authdomainname").map(String::as_str) == Some(DOMAIN);
        if !authorised {
            self.ledger().unauthorized += 1;
            let (status, body) = json_answer(401, "Invalid authentication credentials");
            return respond(&mut stream, status, "application/json", body.as_bytes()).await;
        }
        let fault = self.faults.next();
        match fault {
            Some(Fault::Throttled) => {
                let (status, body) = json_answer(429, "Too many requests");
                return respond(&mut stream, status, "application/json", body.as_bytes()).await;
            }
            Some(Fault::ServerError) => {
                return respond(&mut stream, 502, "text/html", b"<h1>502 Bad Gateway</h1>").await
            }
            Some(Fault::DropBeforeCommit) => return drop(stream),
            Some(Fault::Slow) => {
                let slow = self.faults.slow();
                tokio::time::sleep(slow).await;
            }
            _ => {}
        }
        let request: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let (status, body) = json_answer(400, &format!("Invalid JSON: {e}"));
                return respond(&mut stream, status, "application/json", body.as_bytes()).await;
            }
        };
        if fault == Some(Fault::LateCommit) {
            drop(stream);
            let hold = self.faults.hold();
            tokio::time::sleep(hold).await;
            let _ = self.handle(api, &request);
            return;
        }
        let outcome = self.handle(api, &request);
        match fault {
            Some(Fault::DropAfterCommit) => drop(stream),
            Some(Fault::TimeoutAfterCommit) => {
                let hold = self.faults.hold();
                tokio::time::sleep(hold).await;
                drop(stream);
            }
            _ => match outcome {
                Ok(()) => respond(&mut stream, 200, "application/json", b"").await,
                Err((status, message)) => {
                    let (status, body) = json_answer(status, &message);
                    respond(&mut stream, status, "application/json", body.as_bytes()).await
                }
            },
        }
    }

    fn handle(&self, api: Api, request: &Value) -> Result<(), (u16, String)> {
        match api {
            Api::ProcessingUpdate => self.apply(request).map_err(|m| (400, m)),
            Api::Create => self.create(request),
            Api::AddItems => self.add_items(request).map_err(|m| (400, m)),
        }
    }

    /// The items of a create or add body, checked: (item code, SKU).
    fn order_items(request: &Value) -> Result<Vec<(String, String)>, String> {
        let items = request["items"]
            .as_array()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| "items is mandatory".to_owned())?;
        items
            .iter()
            .map(|item| {
                let code = item["itemCode"].as_str().filter(|c| !c.is_empty());
                let sku = item["channelSkuCode"].as_str().filter(|c| !c.is_empty());
                let quantity = item["quantity"].as_u64().filter(|q| *q > 0);
                match (code, sku, quantity) {
                    (Some(code), Some(sku), Some(_)) => Ok((code.to_owned(), sku.to_owned())),
                    _ => Err(format!("Invalid item {item}: itemCode, channelSkuCode and a positive quantity are mandatory")),
                }
            })
            .collect()
    }

    fn create(&self, request: &Value) -> Result<(), (u16, String)> {
        let mut ledger = self.ledger();
        let checked = (|| {
            let code = request["returnOrderCode"]
                .as_str()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| "returnOrderCode is mandatory".to_owned())?;
            let order_type = request["orderType"].as_str().unwrap_or_default();
            if !["SELF_SHIP", "CUSTOMER_RETURN", "RETURN_TO_ORIGIN"].contains(&order_type) {
                return Err(format!("Invalid orderType {order_type:?}"));
            }
            Ok((code.to_owned(), Self::order_items(request)?))
        })();
        let (code, items) = match checked {
            Ok(ok) => ok,
            Err(message) => {
                ledger.refused.push(message.clone());
                return Err((400, message));
            }
        };
        if ledger.returns.contains_key(&code) {
            return Err((409, format!("Return order {code} already exists")));
        }
        ledger.returns.insert(
            code.clone(),
            items
                .into_iter()
                .map(|(item_code, sku)| IncreffItem {
                    item_code,
                    sku,
                    history: vec![],
                    effects: 0,
                })
                .collect(),
        );
        *ledger.created.entry(code.clone()).or_default() += 1;
        ledger.create_bodies.insert(code, request.clone());
        Ok(())
    }

    fn add_items(&self, request: &Value) -> Result<(), String> {
        let mut ledger = self.ledger();
        let code = request["returnOrderCode"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let items = Self::order_items(request)?;
        let Some(known) = ledger.returns.get(&code) else {
            return Err(format!("Return order {code} does not exist"));
        };
        let mut new = Vec::new();
        for (item_code, sku) in items {
            match known.iter().find(|i| i.item_code == item_code) {
                Some(i) if i.sku == sku => {}
                Some(i) => {
                    return Err(format!(
                        "Item {item_code} of return order {code} is {}, not {sku}",
                        i.sku
                    ))
                }
                None => new.push(IncreffItem {
                    item_code,
                    sku,
                    history: vec![],
                    effects: 0,
                }),
            }
        }
        ledger.items_added += new.len() as u64;
        ledger.returns.get_mut(&code).unwrap().extend(new);
        Ok(())
    }

    /// Validates the whole update, then sets each item's QC state (all or nothing).
    fn apply(&self, request: &Value) -> Result<(), String> {
        let mut ledger = self.ledger();
        let result = (|| -> Result<(String, Vec<(usize, QcState)>), String> {
            let code = request["returnOrderCode"]
                .as_str()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| "returnOrderCode is mandatory".to_owned())?;
            let items = request["orderItems"]
                .as_array()
                .ok_or_else(|| "orderItems is mandatory".to_owned())?;
            let known = ledger
                .returns
                .get(code)
                .ok_or_else(|| format!("Return order {code} does not exist"))?;
            let mut updates = Vec::new();
            for item in items {
                let item_code = item["itemCode"].as_str().unwrap_or_default();
                let found = known
                    .iter()
                    .position(|i| i.item_code == item_code)
                    .ok_or_else(|| {
                        format!("Item {item_code} does not exist in return order {code}")
                    })?;
                let sku = item["channelSkuCode"].as_str().unwrap_or_default();
                if known[found].sku != sku {
                    return Err(format!(
                        "channelSkuCode {sku} does not match item {item_code} of return order {code}"
                    ));
                }
                let status = item["qcStatus"].as_str().unwrap_or_default();
                if status != "PASS" && status != "FAIL" {
                    return Err(format!("Invalid qcStatus {status:?}: PASS or FAIL"));
                }
                updates.push((
                    found,
                    QcState {
                        status: status.to_owned(),
                        reason: item["qcReason"].as_str().map(str::to_owned),
                        image_urls: item["imageUrls"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                    },
                ));
            }
            Ok((code.to_owned(), updates))
        })();
        let (code, updates) = match result {
            Ok(ok) => ok,
            Err(message) => {
                ledger.refused.push(message.clone());
                return Err(message);
            }
        };
        let items = ledger.returns.get_mut(&code).unwrap();
        for (index, state) in updates {
            let item = &mut items[index];
            if item.current() != Some(&state) {
                item.effects += 1;
            }
            item.history.push(state);
        }
        ledger.accepted.push(request.clone());
        Ok(())
    }
}
