//! Push throughput and fresh-hub pull time of the central store.
//!
//! 1. `RETURNHUB_BENCH_EVENTS` (default 1,000,000) events pushed over HTTP from 10 hub devices
//!    concurrently (batches of 1,000), into the SQLite backend (WAL, synchronous=FULL), beside
//!    two baselines in the same run: the same requests to a bare axum route that parses them
//!    and inserts their events into the central store's own `events` table, one transaction
//!    per request (the fair one: the same work minus our layers); and the same rows inserted
//!    into a table of that shape, 1,000 per transaction, no HTTP, no parsing.
//!    `RETURNHUB_BENCH_RUNS` (default 3) runs each; medians and the ratio are printed.
//! 2. A fresh hub device pulling `RETURNHUB_BENCH_RETURNS` (default 1,000,000) expected returns
//!    (each an order and a return event) into its own hub store, applying each as it would
//!    in production. Run once (it is minutes long).
//!
//! Run: `cargo bench -p returnhub-central --bench push` (release). Request bodies are
//! serialised before the clock starts so the 2 cores go to the server, not the clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_central::storage::{CentralStorage, DeviceIdentity, Failpoint};
use returnhub_central::{AppState, SqliteStorage};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::rfc3339;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::hlc::HlcClock;
use returnhub_protocol::wire::RemoteEvent;
use returnhub_protocol::wire::{self, PushRequest, PushResponse};
use returnhub_store::Store;
use returnhub_sync::{unix_now_ms, HttpTransport, Syncer};
use rusqlite::params;

const HUBS: usize = 10;
const BATCH: usize = 1_000;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn remote(clock: &mut HlcClock, device: &str, now: i64, event: &DomainEvent) -> RemoteEvent {
    let hlc = clock.tick(now as u64);
    let id = uuid::Uuid::now_v7().to_string();
    RemoteEvent::new(
        event,
        id,
        device,
        &hlc,
        "u-bench",
        Some("bench-1"),
        rfc3339(now),
    )
    .unwrap()
}

/// One hub device's events: bench scans, as a hub produces most.
fn hub_events(hub: usize, n: usize) -> (String, Vec<RemoteEvent>) {
    let device = format!("{:032x}", hub + 1);
    let mut clock = HlcClock::new(device.clone());
    let now = unix_now_ms();
    let events = (0..n)
        .map(|i| {
            let e = DomainEvent::ConnoteScanned {
                raw: format!("H{hub}C{i:09}"),
                connote: format!("H{hub}C{i:09}"),
                return_id: None,
                station: "bench-1".into(),
            };
            remote(&mut clock, &device, now + i as i64 / 50, &e)
        })
        .collect();
    (device, events)
}

type Server = tokio::task::JoinHandle<std::io::Result<()>>;

/// Serves `storage` on a loopback port: (base url, stop switch, server task).
async fn start_server(
    storage: Arc<SqliteStorage>,
) -> (String, tokio::sync::oneshot::Sender<()>, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState {
        storage,
        clock: Arc::new(unix_now_ms),
        shop_secrets: None,
        shopify_client: Default::default(),
    };
    let server = tokio::spawn(returnhub_central::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (url, stop, server)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn push_run(per_hub: usize, data: &[(String, Vec<RemoteEvent>)]) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(tmp.path()).unwrap());
    let tokens: Vec<String> = (0..HUBS)
        .map(|h| storage.create_device(&format!("h{h}"), "bench", 0).unwrap())
        .collect();
    let (url, stop, server) = start_server(storage.clone()).await;
    let bodies = push_bodies(data);
    let started = Instant::now();
    send_all(&url, bodies, &tokens).await;
    let secs = started.elapsed().as_secs_f64();
    let stored: i64 = storage
        .with_conn(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(stored as usize, per_hub * HUBS);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    (per_hub * HUBS) as f64 / secs
}

/// Each hub's batches, one after another over its own client, the hubs at once; every
/// answer must acknowledge its whole batch.
async fn send_all(url: &str, bodies: Vec<Vec<Vec<u8>>>, tokens: &[String]) {
    let mut tasks = Vec::new();
    for (h, batches) in bodies.into_iter().enumerate() {
        let client = reqwest::Client::new();
        let url = format!("{url}{}", wire::PUSH_PATH);
        let token = tokens[h].clone();
        tasks.push(tokio::spawn(async move {
            for body in batches {
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let a: PushResponse = r.json().await.unwrap();
                assert_eq!(a.new as usize, BATCH.min(a.acknowledged.len()));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn push_bodies(data: &[(String, Vec<RemoteEvent>)]) -> Vec<Vec<Vec<u8>>> {
    data.iter()
        .map(|(_, events)| {
            events
                .chunks(BATCH)
                .map(|c| serde_json::to_vec(&PushRequest { events: c.to_vec() }).unwrap())
                .collect()
        })
        .collect()
}

/// The fair baseline: the same bodies from the same clients over HTTP to a bare axum route
/// that parses each into a `PushRequest` and INSERTs its events into the central store's
/// own `events` table (its schema, its indexes; WAL, synchronous=FULL), one transaction per
/// request, answering with the acknowledged ids. What it leaves out is ours: the device's
/// token, the trust checks, decoding each event, the dedupe probe, scoping, projecting.
async fn bare_http_run(per_hub: usize, data: &[(String, Vec<RemoteEvent>)]) -> f64 {
    use axum::routing::post;
    let tmp = tempfile::tempdir().unwrap();
    drop(SqliteStorage::open(tmp.path()).unwrap());
    let conn = rusqlite::Connection::open(tmp.path().join("central.sqlite3")).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .unwrap();
    let conn = Arc::new(std::sync::Mutex::new(conn));
    let db = conn.clone();
    let app = axum::Router::new().route(
        wire::PUSH_PATH,
        post(move |body: axum::body::Bytes| {
            let db = db.clone();
            async move {
                let answer = tokio::task::spawn_blocking(move || {
                    let request: PushRequest = serde_json::from_slice(&body).unwrap();
                    let mut conn = db.lock().unwrap();
                    let tx = conn.transaction().unwrap();
                    let mut answer = PushResponse {
                        acknowledged: Vec::with_capacity(request.events.len()),
                        new: 0,
                        duplicates: 0,
                        claims: Vec::new(),
                        held: Vec::new(),
                    };
                    {
                        let mut insert = tx
                            .prepare_cached(
                                "INSERT OR IGNORE INTO events (id, device_id, hlc, actor, station,
                                   kind, aggregate_id, payload, recorded_at, hub_id, received_at,
                                   version)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'h', ?9, ?10)",
                            )
                            .unwrap();
                        for e in request.events {
                            answer.new += insert
                                .execute(params![
                                    e.id,
                                    e.device_id,
                                    e.hlc,
                                    e.actor,
                                    e.station,
                                    e.kind,
                                    e.aggregate_id,
                                    e.payload,
                                    e.recorded_at,
                                    e.version
                                ])
                                .unwrap() as u32;
                            answer.acknowledged.push(e.id);
                        }
                    }
                    tx.commit().unwrap();
                    answer
                })
                .await
                .unwrap();
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let bodies = push_bodies(data);
    let tokens = vec![String::from("bare"); HUBS];
    let started = Instant::now();
    send_all(&url, bodies, &tokens).await;
    let secs = started.elapsed().as_secs_f64();
    let stored: i64 = conn
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as usize, per_hub * HUBS);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    (per_hub * HUBS) as f64 / secs
}

fn baseline_run(data: &[(String, Vec<RemoteEvent>)]) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let mut conn = rusqlite::Connection::open(tmp.path().join("bare.sqlite3")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
           device_id TEXT NOT NULL, hlc TEXT NOT NULL, actor TEXT NOT NULL, station TEXT,
           kind TEXT NOT NULL, aggregate_id TEXT, payload TEXT NOT NULL, recorded_at TEXT NOT NULL,
           hub_id TEXT, received_at TEXT NOT NULL);
         CREATE INDEX events_feed ON events (hub_id, seq);",
    )
    .unwrap();
    let started = Instant::now();
    let mut n = 0;
    for (h, (_, events)) in data.iter().enumerate() {
        let hub = format!("h{h}");
        for chunk in events.chunks(BATCH) {
            let tx = conn.transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id,
                           payload, recorded_at, hub_id, received_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)",
                    )
                    .unwrap();
                for e in chunk {
                    stmt.execute(params![
                        e.id,
                        e.device_id,
                        e.hlc,
                        e.actor,
                        e.station,
                        e.kind,
                        e.aggregate_id,
                        e.payload,
                        e.recorded_at,
                        hub
                    ])
                    .unwrap();
                    n += 1;
                }
            }
            tx.commit().unwrap();
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn currency() -> Currency {
    "AUD".parse().unwrap()
}

/// Seeds the central store with `n` expected returns for hub "fresh" (as an importing device
/// of that hub would push them), then times a new device of the hub pulling them all.
async fn pull_run(n: usize) -> (Duration, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&tmp.path().join("central")).unwrap());
    let importer_token = storage.create_device("fresh", "importer", 0).unwrap();
    let importer = storage
        .authenticate_device(&importer_token)
        .unwrap()
        .unwrap();
    let device = "f".repeat(32);
    let mut clock = HlcClock::new(device.clone());
    let now = unix_now_ms();
    let aud = currency();
    let retailer = RetailerRecord {
        id: "acme".into(),
        name: "Acme Apparel".into(),
        currency: aud,
        country: None,
        policy: RetailerPolicy {
            trigger: Trigger::Processing,
            customers_choose: true,
            exchange_enabled: false,
            rules_override_customer_choice: false,
            default_outcome: Outcome::Refund,
            qc_fail: QcFailPolicy::RuleDriven,
            credit_note_expiry_days: None,
            currency: Some(aud),
            shopify: Default::default(),
            partners: Default::default(),
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![],
        qc_reasons: vec![],
    };
    let seed_started = Instant::now();
    // The importing station's admin ("u-bench", the actor of every event here) is enrolled
    // first: the central store takes a retailer's configuration only from an admin.
    let admin = DomainEvent::UserEnrolled(returnhub_core::record::UserRecord {
        id: "u-bench".into(),
        name: "Bench Admin".into(),
        badge: "AD-BENCH".into(),
        pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        role: returnhub_core::auth::Role::Admin,
        active: true,
        must_change_pin: false,
    });
    let mut batch = vec![
        remote(&mut clock, &device, now, &admin),
        remote(
            &mut clock,
            &device,
            now,
            &DomainEvent::RetailerConfigured(retailer),
        ),
    ];
    let mut ident = DeviceIdentity {
        bound_device_id: None,
        ..importer
    };
    for i in 0..n {
        // Never more than 1,000 stamps in one millisecond (the HLC counter has 6 digits).
        let now = now + (i / 500) as i64;
        let price = Money::new(4995, aud);
        let order = OrderRecord {
            id: format!("o{i}"),
            retailer_id: "acme".into(),
            order_number: format!("#{i}"),
            customer_name: "Customer".into(),
            email: "c@example.com".into(),
            created_at: rfc3339(now),
            country: "AU".into(),
            tags: vec![],
            subtotal: price,
            discount: Money::zero(aud),
            total: price,
            lines: vec![OrderLineRecord {
                id: format!("o{i}-1"),
                sku: "SKU-1".into(),
                ean: None,
                title: "Shirt".into(),
                image: None,
                quantity: 1,
                unit_price: price,
                discount: Money::zero(aud),
                product_tags: vec![],
            }],
        };
        let ret = ReturnRecord {
            external_id: None,
            id: format!("r{i}"),
            retailer_id: "acme".into(),
            hub_id: "fresh".into(),
            order_id: order.id.clone(),
            source: "partner_upload".into(),
            status: ReturnStatus::Expected,
            created_at: rfc3339(now),
            connotes: vec![format!("C{i:09}")],
            items: vec![ReturnItemRecord {
                external_id: None,
                id: format!("r{i}-1"),
                order_line_id: format!("o{i}-1"),
                quantity: 1,
                reason_code: "too_small".into(),
                sub_reason_code: None,
                comment: None,
                chosen_option: None,
            }],
        };
        batch.push(remote(
            &mut clock,
            &device,
            now,
            &DomainEvent::OrderImported(order),
        ));
        batch.push(remote(
            &mut clock,
            &device,
            now,
            &DomainEvent::ReturnExpected(ret),
        ));
        if batch.len() >= 5_000 || i + 1 == n {
            storage.push(&ident, &batch, now, Failpoint::None).unwrap();
            ident.bound_device_id = Some(device.clone());
            batch.clear();
        }
    }
    eprintln!(
        "  (seeded {n} expected returns at the central store in {:.1?})",
        seed_started.elapsed()
    );
    let (url, stop, server) = start_server(storage.clone()).await;
    let token = storage.create_device("fresh", "new bench", 0).unwrap();
    let store = Store::open(&tmp.path().join("hub.sqlite3")).unwrap();
    let transport = HttpTransport::new(&url, &token, Duration::from_secs(120)).unwrap();
    let mut syncer = Syncer::new(store, transport, Arc::new(unix_now_ms));
    syncer.pull_limit = 5_000;
    let started = Instant::now();
    let report = syncer.sync_once().await.unwrap();
    let took = started.elapsed();
    let returns: i64 = syncer
        .store
        .reader()
        .query_row("SELECT count(*) FROM returns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(returns as usize, n);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    (took, report.pulled)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let events = env("RETURNHUB_BENCH_EVENTS", 1_000_000);
    let runs = env("RETURNHUB_BENCH_RUNS", 3);
    let returns = env("RETURNHUB_BENCH_RETURNS", 1_000_000);
    let per_hub = events / HUBS;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data: Vec<(String, Vec<RemoteEvent>)> = (0..HUBS).map(|h| hub_events(h, per_hub)).collect();
    println!(
        "push: {} events from {HUBS} hubs concurrently, batches of {BATCH}, {runs} runs",
        per_hub * HUBS
    );
    let mut central = Vec::new();
    let mut bare = Vec::new();
    let mut bare_http = Vec::new();
    for run in 0..runs.max(1) {
        let c = runtime.block_on(push_run(per_hub, &data));
        let h = runtime.block_on(bare_http_run(per_hub, &data));
        let b = baseline_run(&data);
        println!(
            "  run {run}: central {c:>10.0} events/s   bare HTTP + SQLite {h:>10.0} events/s   \
             bare SQLite {b:>10.0} events/s"
        );
        central.push(c);
        bare_http.push(h);
        bare.push(b);
    }
    let (c, b, h) = (median(central), median(bare), median(bare_http));
    println!(
        "push median: central store {c:.0} events/s, bare batched SQLite inserts {b:.0} events/s, ratio {:.2}",
        c / b
    );
    println!(
        "push median: bare HTTP route parsing and inserting into the same table {h:.0} events/s, \
         ratio {:.2}",
        c / h
    );
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: central ingest (SQLite), {HUBS} hubs × {per_hub} events over HTTP | {c:.0} \
         events/s | the same requests to a bare route inserting into the same table {h:.0} \
         events/s | {:.2}× | ≥ 0.5×",
        c / h
    );
    println!(
        "figure: central ingest (SQLite) against bare batched inserts without HTTP | {c:.0} \
         events/s | {b:.0} events/s | {:.2}× | —",
        c / b
    );
    if returns > 0 {
        let (took, pulled) = runtime.block_on(pull_run(returns));
        println!(
            "pull: a fresh hub pulled {returns} expected returns ({pulled} events: orders, returns) in {:.1} s ({:.0} returns/s)",
            took.as_secs_f64(),
            returns as f64 / took.as_secs_f64()
        );
        println!(
            "figure: a fresh hub pulls {returns} expected returns | {:.1} s | — | — | < 30 s",
            took.as_secs_f64()
        );
    }
}
