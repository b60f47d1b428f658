//! Shared harness for the central store's tests: a real server on loopback over a real
//! SQLite file (restartable on the same port), hub devices with their own real store files,
//! and the partner calls that feed it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use returnhub_central::storage::CentralStorage;
use returnhub_central::{AppState, SqliteStorage};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::money::Currency;
use returnhub_core::record::{ReasonRecord, RetailerRecord, UserRecord};
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::UnixMillis;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::{DomainEvent, KnownEvents};
use returnhub_protocol::wire::{self, TrackingIn, TrackingResponse, UploadResponse, UploadRow};
use returnhub_store::{EventInput, Store};
use sha2::{Digest, Sha256};

/// 2026-11-23T00:00:00Z: the simulated clock starts here.
pub const T0: UnixMillis = 1_795_392_000_000;

#[derive(Clone)]
pub struct SimClock(pub Arc<AtomicI64>);

impl SimClock {
    pub fn new() -> Self {
        SimClock(Arc::new(AtomicI64::new(T0)))
    }
    pub fn now(&self) -> UnixMillis {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn as_fn(&self) -> Arc<dyn Fn() -> UnixMillis + Send + Sync> {
        let c = self.0.clone();
        Arc::new(move || c.load(Ordering::SeqCst))
    }
}

/// The central store served on a fixed loopback port; [`Central::restart`] stops it (after
/// the requests in flight) and opens the same data dir again, as a process restart would.
pub struct Central {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub storage: Arc<SqliteStorage>,
    clock: SimClock,
    /// The event kinds the store projects: fewer plays an older build of it.
    pub known: KnownEvents,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Central {
    pub async fn start(dir: &Path, clock: SimClock) -> Central {
        Central::start_as(dir, clock, KnownEvents::this_build()).await
    }

    /// A central store that projects only the event kinds in `known` (an older build).
    pub async fn start_as(dir: &Path, clock: SimClock, known: KnownEvents) -> Central {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut c = Central {
            dir: dir.to_path_buf(),
            addr,
            storage: Arc::new(SqliteStorage::open_as(dir, known.clone()).unwrap()),
            clock,
            known,
            stop: None,
            task: None,
        };
        c.serve(listener);
        c
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState {
            storage: self.storage.clone(),
            clock: self.clock.as_fn(),
            shop_secrets: Some(Arc::new(returnhub_central::shopify::vault(&self.dir))),
            shopify_client: Default::default(),
        };
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            returnhub_central::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        // Drop our handle on the old storage before opening the file again.
        self.storage = Arc::new(SqliteStorage::open_as(&self.dir, self.known.clone()).unwrap());
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn aud() -> Currency {
    "AUD".parse().unwrap()
}

pub fn retailer(id: &str, name: &str, trigger: Trigger) -> RetailerRecord {
    RetailerRecord {
        id: id.into(),
        name: name.into(),
        currency: aud(),
        country: None,
        policy: RetailerPolicy {
            trigger,
            customers_choose: true,
            exchange_enabled: false,
            rules_override_customer_choice: false,
            default_outcome: Outcome::Refund,
            qc_fail: QcFailPolicy::RuleDriven,
            credit_note_expiry_days: None,
            currency: Some(aud()),
            shopify: Default::default(),
            partners: Default::default(),
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![ReasonRecord {
            code: "too_small".into(),
            label: "Too small".into(),
            requires_evidence: false,
            sub_reasons: vec![],
        }],
        qc_reasons: vec![],
    }
}

pub fn append(store: &mut Store, now: UnixMillis, events: Vec<DomainEvent>) {
    store
        .write(now, |w| {
            for event in events {
                w.append(EventInput {
                    event,
                    actor: "u-test".into(),
                    station: Some("bench-1".into()),
                })?;
            }
            Ok(())
        })
        .unwrap();
}

/// An upload row for consignment `c` of order `o` at `hub`.
pub fn upload_row(c: &str, order: &str, sku: &str, hub: &str, action: &str) -> UploadRow {
    UploadRow {
        consignment_no: c.into(),
        order_number: order.into(),
        sku: sku.into(),
        reason: "too_small".into(),
        return_action: action.into(),
        item_value: "49.95".into(),
        hub_id: hub.into(),
        ..UploadRow::default()
    }
}

pub struct Partner {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
    pub retailer: String,
}

impl Partner {
    /// A partner of the retailer named `retailer`, with an API key of its own.
    pub fn with_new_key(central: &Central, retailer: &str, now: UnixMillis) -> Partner {
        Partner {
            client: plain_client(),
            base: central.url(),
            key: central.storage.create_api_key(retailer, now).unwrap(),
            retailer: retailer.into(),
        }
    }

    pub async fn post_raw<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
        key: &str,
        retailer: &str,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .header(wire::API_KEY_HEADER, key)
            // As bytes: a retailer name need not be ASCII ("Kōwhai Apparel").
            .header(
                wire::RETAILER_HEADER,
                reqwest::header::HeaderValue::from_bytes(retailer.as_bytes()).unwrap(),
            )
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn upload(&self, rows: &[UploadRow]) -> UploadResponse {
        let (status, body) = self
            .post_raw(wire::UPLOAD_PATH, &rows, &self.key, &self.retailer)
            .await;
        assert!(status == 200 || status == 422, "{status}: {body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn tracking(&self, events: &[TrackingIn]) -> TrackingResponse {
        let (status, body) = self
            .post_raw(wire::TRACKING_PATH, &events, &self.key, &self.retailer)
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// SHA-256 over "connote=status" lines of a hub's returns, sorted by connote.
pub fn digest(rows: &[(String, String)]) -> String {
    let mut rows = rows.to_vec();
    rows.sort();
    let mut h = Sha256::new();
    for (c, s) in rows {
        h.update(c.as_bytes());
        h.update(b"=");
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

/// (connote, status) of the returns of `hub` in a hub store.
pub fn hub_view(store: &Store, hub: &str) -> Vec<(String, String)> {
    let mut stmt = store
        .reader()
        .prepare(
            "SELECT c.connote, r.status FROM returns r JOIN connotes c ON c.return_id = r.id
             WHERE r.hub_id = ?1",
        )
        .unwrap();
    stmt.query_map([hub], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// (connote, status) of the returns of `hub` at the central store.
pub fn central_view(central: &SqliteStorage, hub: &str) -> Vec<(String, String)> {
    central
        .with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT c.connote, r.status FROM returns r JOIN connotes c ON c.return_id = r.id
                 WHERE r.hub_id = ?1",
            )?;
            let rows = stmt.query_map([hub], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .unwrap()
}

/// Checks that every event of `store`'s own device is at the central store exactly once,
/// byte for byte, and that every one of them is confirmed in the hub's outbox. Returns how
/// many it checked.
pub fn assert_all_pushed_exactly_once(store: &Store, central: &SqliteStorage) -> usize {
    assert_eq!(store.sync_queue_depth().unwrap(), 0, "events left unpushed");
    let own: Vec<(String, String, String, String)> = {
        let mut stmt = store
            .reader()
            .prepare("SELECT id, device_id, hlc, payload FROM events WHERE device_id = ?1")
            .unwrap();
        stmt.query_map([store.device_id()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let at_central: Vec<(String, String, String, String)> = central
        .with_conn(|c| {
            let mut stmt =
                c.prepare("SELECT id, device_id, hlc, payload FROM events WHERE device_id = ?1")?;
            let rows = stmt.query_map([store.device_id()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect()
        })
        .unwrap();
    let mut a = own.clone();
    let mut b = at_central;
    a.sort();
    b.sort();
    assert_eq!(
        a.len(),
        b.len(),
        "event count differs for {}",
        store.device_id()
    );
    assert!(a == b, "events differ for device {}", store.device_id());
    let unconfirmed: i64 = store
        .reader()
        .query_row(
            "SELECT count(*) FROM outbox WHERE topic = 'sync' AND state != 'confirmed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unconfirmed, 0);
    own.len()
}

/// No event id twice at the central store (the UNIQUE constraint says so; check anyway).
pub fn assert_central_ids_unique(central: &SqliteStorage) -> i64 {
    let (n, distinct): (i64, i64) = central
        .with_conn(|c| {
            c.query_row("SELECT count(*), count(DISTINCT id) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    assert_eq!(n, distinct);
    n
}

pub fn create_device(central: &SqliteStorage, hub: &str, now: UnixMillis) -> String {
    central.create_device(hub, hub, now).unwrap()
}

/// Retailer configuration reaches the central store the way it does in production: a hub
/// device saves it (a RetailerConfigured event) and pushes it.
/// Configures `retailers` as the hub's admin would: the admin ("u-test", who appends every
/// event here) is enrolled first, since the central store takes a retailer's configuration
/// only from an admin of a hub that serves it.
pub fn configure(store: &mut Store, now: UnixMillis, retailers: &[RetailerRecord]) {
    let mut events = vec![DomainEvent::UserEnrolled(UserRecord {
        id: "u-test".into(),
        name: "Test Admin".into(),
        badge: "AD-TEST".into(),
        pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        role: returnhub_core::auth::Role::Admin,
        active: true,
        must_change_pin: false,
    })];
    events.extend(
        retailers
            .iter()
            .cloned()
            .map(DomainEvent::RetailerConfigured),
    );
    append(store, now, events);
}

/// `n` scans of made-up parcels: events a bench appends, about no return.
pub fn scan(n: usize) -> Vec<DomainEvent> {
    (0..n)
        .map(|i| DomainEvent::ConnoteScanned {
            raw: format!("S{i}"),
            connote: format!("S{i}"),
            return_id: None,
            station: "bench-1".into(),
        })
        .collect()
}

/// A station of hub `hub` with its own store under `dir`, syncing with `central`.
pub fn station(
    central: &Central,
    dir: &Path,
    hub: &str,
    clock: &SimClock,
) -> returnhub_sync::Syncer<returnhub_sync::HttpTransport> {
    let token = create_device(&central.storage, hub, clock.now());
    let store = Store::open(&dir.join(format!("{hub}.sqlite3"))).unwrap();
    let transport = returnhub_sync::HttpTransport::new(
        &central.url(),
        &token,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    returnhub_sync::Syncer::new(store, transport, clock.as_fn())
}

/// Runs the `returnhub-central` binary's `args` on the data dir `dir`, `input` on its
/// standard input (where it reads secrets).
pub fn cli_with_stdin(dir: &Path, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_returnhub-central"))
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the `returnhub-central` binary's `args` on the data dir `dir`.
pub fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_returnhub-central"))
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap()])
        .output()
        .unwrap()
}
