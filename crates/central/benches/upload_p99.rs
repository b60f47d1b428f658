//! Push latency of other hubs while a partner uploads a large return file, beside the same
//! pushes with nothing else going on, in one run.
//!
//! 10 hub devices push batches of 20 bench scans over HTTP, one after another each, and every
//! push's latency is kept. Phase 1: alone. Phase 2: while one partner's upload of
//! `RETURNHUB_BENCH_UPLOAD_ROWS` (default 64,000) rows is being checked and written. Prints the
//! median and p99 of each phase and their ratio; asserts nothing about time.
//!
//! Run: `cargo bench -p returnhub-central --bench upload_p99` (release).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_central::storage::{CentralStorage, Failpoint};
use returnhub_central::{AppState, SqliteStorage};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::record::{ReasonRecord, RetailerRecord, UserRecord};
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::rfc3339;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::hlc::HlcClock;
use returnhub_protocol::wire::{self, PushRequest, RemoteEvent, UploadResponse, UploadRow};
use returnhub_sync::unix_now_ms;

const HUBS: usize = 10;
const BATCH: usize = 20;

fn remote(clock: &mut HlcClock, device: &str, event: &DomainEvent) -> RemoteEvent {
    let now = unix_now_ms();
    RemoteEvent::new(
        event,
        uuid::Uuid::now_v7().to_string(),
        device,
        &clock.tick(now as u64),
        "u-bench",
        Some("bench-1"),
        rfc3339(now),
    )
    .unwrap()
}

/// A hub's next push: `BATCH` scans, serialised.
fn scans(clock: &mut HlcClock, device: &str, from: usize) -> Vec<u8> {
    let events: Vec<RemoteEvent> = (from..from + BATCH)
        .map(|i| {
            let connote = format!("{}-{i:09}", &device[..6]);
            remote(
                clock,
                device,
                &DomainEvent::ConnoteScanned {
                    raw: connote.clone(),
                    connote,
                    return_id: None,
                    station: "bench-1".into(),
                },
            )
        })
        .collect();
    serde_json::to_vec(&PushRequest { events }).unwrap()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Every hub pushes until `stop` (or `pushes` each, when given); the latencies of all pushes.
async fn push_phase(
    url: &str,
    tokens: &[String],
    devices: &[String],
    offset: usize,
    pushes: Option<usize>,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for (token, device) in tokens.iter().zip(devices) {
        let client = reqwest::Client::new();
        let url = format!("{url}{}", wire::PUSH_PATH);
        let token = token.clone();
        let device = device.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut clock = HlcClock::new(device.clone());
            let mut latencies = Vec::new();
            let mut n = 0;
            while pushes.map_or(!stop.load(Ordering::Relaxed), |p| n < p) {
                let body = scans(&mut clock, &device, offset + n * BATCH);
                let started = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                latencies.push(started.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn retailer() -> RetailerRecord {
    let aud = "AUD".parse().unwrap();
    RetailerRecord {
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
        reasons: vec![ReasonRecord {
            code: "too_small".into(),
            label: "Too small".into(),
            requires_evidence: false,
            sub_reasons: vec![],
        }],
        qc_reasons: vec![],
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: usize = std::env::var("RETURNHUB_BENCH_UPLOAD_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64_000);
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(tmp.path()).unwrap());
    // Hub h0's admin configures the retailer, as a station would.
    let setup_token = storage.create_device("h0", "setup", 0).unwrap();
    let setup = storage.authenticate_device(&setup_token).unwrap().unwrap();
    let setup_device = "5e".repeat(16);
    let mut clock = HlcClock::new(setup_device.clone());
    let admin = DomainEvent::UserEnrolled(UserRecord {
        id: "u-bench".into(),
        name: "Bench Admin".into(),
        badge: "AD-BENCH".into(),
        pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        role: returnhub_core::auth::Role::Admin,
        active: true,
        must_change_pin: false,
    });
    let events = vec![
        remote(&mut clock, &setup_device, &admin),
        remote(
            &mut clock,
            &setup_device,
            &DomainEvent::RetailerConfigured(retailer()),
        ),
    ];
    let pushed = storage
        .push(&setup, &events, unix_now_ms(), Failpoint::None)
        .unwrap();
    assert!(pushed.held.is_empty(), "{:?}", pushed.held);
    let key = storage.create_api_key("Acme Apparel", 0).unwrap();
    let tokens: Vec<String> = (0..HUBS)
        .map(|h| storage.create_device(&format!("h{h}"), "bench", 0).unwrap())
        .collect();
    let devices: Vec<String> = (0..HUBS).map(|h| format!("{:032x}", h + 0xb0)).collect();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState {
        storage: storage.clone(),
        clock: Arc::new(unix_now_ms),
        shop_secrets: None,
        shopify_client: Default::default(),
    };
    let server = tokio::spawn(returnhub_central::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // Phase 1: the pushes alone (and a warm-up first).
    let never = Arc::new(AtomicBool::new(false));
    push_phase(&url, &tokens, &devices, 0, Some(5), never.clone()).await;
    let alone = push_phase(&url, &tokens, &devices, 1_000, Some(40), never).await;

    // Phase 2: the same pushes while the upload is checked and written.
    let upload: Vec<UploadRow> = (0..rows)
        .map(|n| UploadRow {
            consignment_no: format!("UP{n:08}"),
            order_number: format!("#{n}"),
            sku: "SKU-1".into(),
            reason: "too_small".into(),
            return_action: "REFUND".into(),
            item_value: "49.95".into(),
            hub_id: "h0".into(),
            ..UploadRow::default()
        })
        .collect();
    let body = serde_json::to_vec(&upload).unwrap();
    let uploading = Arc::new(AtomicBool::new(false));
    let during = {
        let (url, tokens, devices, uploading) = (
            url.clone(),
            tokens.clone(),
            devices.clone(),
            uploading.clone(),
        );
        tokio::spawn(async move {
            push_phase(&url, &tokens, &devices, 1_000_000, None, uploading).await
        })
    };
    let started = Instant::now();
    let answer: UploadResponse = reqwest::Client::new()
        .post(format!("{url}{}", wire::UPLOAD_PATH))
        .header(wire::API_KEY_HEADER, &key)
        .header(wire::RETAILER_HEADER, "Acme Apparel")
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(600))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_took = started.elapsed();
    uploading.store(true, Ordering::Relaxed);
    let during = during.await.unwrap();
    assert_eq!(
        answer.returns_created, rows,
        "{} rows refused",
        answer.rejected_rows
    );
    let _ = stop_server.send(());
    server.await.unwrap().unwrap();

    let (a50, a99) = (
        percentile(alone.clone(), 0.5),
        percentile(alone.clone(), 0.99),
    );
    let (d50, d99) = (
        percentile(during.clone(), 0.5),
        percentile(during.clone(), 0.99),
    );
    println!("upload: {rows} rows in one request, answered in {upload_took:.2?}");
    println!(
        "pushes of {BATCH} events from {HUBS} hubs alone:        n = {:5}, median {a50:.2?}, p99 {a99:.2?}",
        alone.len()
    );
    println!(
        "the same pushes during the upload:          n = {:5}, median {d50:.2?}, p99 {d99:.2?}",
        during.len()
    );
    println!(
        "ratio during / alone: median {:.1}x, p99 {:.1}x",
        d50.as_secs_f64() / a50.as_secs_f64(),
        d99.as_secs_f64() / a99.as_secs_f64()
    );
}
