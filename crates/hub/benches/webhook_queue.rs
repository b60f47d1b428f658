//! The tracking webhook through its durable queue: 100,000 tracking events (arrays of 100)
//! for 3 URLs on loopback, queued in the hub store (one row per array and URL, as a scan or a
//! processing queues them) and posted by the hub's own webhook worker thread, each pass's
//! results recorded in one durable transaction — beside, in the same run, a bare HTTP POST
//! loop sending the same arrays, that loop plus a bare SQLite INSERT per POST at the same
//! durability (WAL, synchronous=FULL, one commit per pass of 200), and bare loops sending
//! to the URLs at once, as the worker does (the figure's baseline).
//!
//! ```text
//! cargo bench -p returnhub-hub --bench webhook_queue
//! ```
//!
//! Medians of 3 runs. The receivers count accepted events: every event must reach every URL
//! exactly once per run, or the run panics.

use returnhub_simulators::receiver;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use receiver::Receiver;
use returnhub_connectors::tracking_out::{item_events, ItemFacts, RetrySchedule, ReturnFacts};
use returnhub_hub::{Hub, HubOptions, TrackingWebhookInput};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store};

const EVENTS: usize = 100_000;
const PER_POST: usize = 100;
const RUNS: usize = 3;
const URLS: usize = 3;

fn bodies() -> Vec<String> {
    let events: Vec<_> = (0..EVENTS / 2)
        .flat_map(|n| {
            let facts = ReturnFacts {
                connote: format!("LZ{n:09}NZ"),
                order_number: format!("#{}", 100_000 + n),
                carrier: Some("NZ Post".into()),
                hub: "AKL".into(),
                items: (0..2)
                    .map(|k| ItemFacts {
                        sku: format!("SKU-{}-{k}", n % 5_000),
                        reason: Some("TOO_SMALL".into()),
                        action: Some("REFUND".into()),
                        removed: false,
                    })
                    .collect(),
            };
            item_events("RP", "Processed at hub", "2026-12-02T09:05:00Z", &facts)
        })
        .collect();
    events
        .chunks(PER_POST)
        .map(|c| serde_json::to_string(c).unwrap())
        .collect()
}

/// One bare POST of an array, its answer read and checked.
async fn post(client: &reqwest::Client, url: &str, body: &str) {
    let answer = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn accepted(receivers: &[Receiver]) -> Vec<u64> {
    receivers
        .iter()
        .map(|r| r.accepted.load(Ordering::SeqCst))
        .collect()
}

fn pending(store: &Store) -> i64 {
    store
        .reader()
        .query_row(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = HubOptions::demo(dir.path());
    options.webhook_schedule = RetrySchedule {
        base: Duration::from_secs(1),
        max: Duration::from_secs(1),
        budget: 3,
    };
    let hub = Arc::new(Hub::open(options).unwrap());
    let receivers: Vec<Receiver> = (0..URLS).map(|_| Receiver::start(false)).collect();
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.save_tracking_webhooks(
        "kowhai",
        receivers
            .iter()
            .map(|r| TrackingWebhookInput {
                url: r.url(),
                username: Some("returnhub".into()),
                password: Some("bench-password".into()),
                clear_password: false,
                insecure: false,
            })
            .collect(),
    )
    .unwrap();
    let return_id: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT id FROM returns WHERE retailer_id = 'kowhai' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    let bodies = bodies();
    let urls: Vec<String> = receivers.iter().map(Receiver::url).collect();
    let mut store = Store::open(&dir.path().join("returnhub.db")).unwrap();
    Hub::start_webhook_worker(hub.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    // The bare baseline's bookkeeping table, at the same durability as the hub store.
    let bare_db = rusqlite::Connection::open(dir.path().join("bare.db")).unwrap();
    bare_db
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE sent (id INTEGER PRIMARY KEY, state TEXT NOT NULL);",
        )
        .unwrap();
    println!(
        "tracking webhook through the hub store: {EVENTS} events in arrays of {PER_POST} to {URLS} URLs on loopback, {RUNS} runs each"
    );
    let (mut ours, mut bare, mut bare_db_rate) = (Vec::new(), Vec::new(), Vec::new());
    let mut concurrent = Vec::new();
    for run in 0..RUNS {
        // Queued as the bench queues them: rows tied to an event of their transaction.
        store
            .write(returnhub_sync::unix_now_ms() - 1_000, |tx| {
                for (i, body) in bodies.iter().enumerate() {
                    let event = tx.append(EventInput {
                        event: DomainEvent::ReturnNoted {
                            return_id: return_id.clone(),
                            note: format!("bench run {run} batch {i}"),
                        },
                        actor: "bench".into(),
                        station: None,
                    })?;
                    for url in &urls {
                        tx.queue_delivery(&event.id, "kowhai", &return_id, "RP", url, body)?;
                    }
                }
                Ok(())
            })
            .unwrap();
        let before = accepted(&receivers);
        let started = Instant::now();
        hub.retry_tracking_webhooks("kowhai", None).unwrap(); // wakes the worker
        while pending(&store) > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        ours.push(EVENTS as f64 / started.elapsed().as_secs_f64());
        let after = accepted(&receivers);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a - b, EVENTS as u64, "every event to every URL, once");
        }

        // Baseline: the same arrays, one POST after another.
        let started = Instant::now();
        rt.block_on(async {
            for url in &urls {
                for body in &bodies {
                    post(&client, url, body).await;
                }
            }
        });
        bare.push(EVENTS as f64 / started.elapsed().as_secs_f64());

        // Baseline as ours sends: each URL's arrays one after another, the URLs at once.
        let started = Instant::now();
        rt.block_on(async {
            futures_util::future::join_all(urls.iter().map(|url| {
                let (client, bodies) = (&client, &bodies);
                async move {
                    for body in bodies {
                        post(client, url, body).await;
                    }
                }
            }))
            .await;
        });
        concurrent.push(EVENTS as f64 / started.elapsed().as_secs_f64());

        // Baseline with bookkeeping: the POST loop plus one row updated per POST, committed
        // every 200 POSTs (as the worker commits a pass).
        bare_db.execute("DELETE FROM sent", []).unwrap();
        let started = Instant::now();
        rt.block_on(async {
            let mut n = 0;
            bare_db.execute_batch("BEGIN").unwrap();
            for url in &urls {
                for body in &bodies {
                    post(&client, url, body).await;
                    bare_db
                        .execute("INSERT INTO sent (state) VALUES ('delivered')", [])
                        .unwrap();
                    n += 1;
                    if n % 200 == 0 {
                        bare_db.execute_batch("COMMIT; BEGIN").unwrap();
                    }
                }
            }
            bare_db.execute_batch("COMMIT").unwrap();
        });
        bare_db_rate.push(EVENTS as f64 / started.elapsed().as_secs_f64());
    }
    let (ours, bare, bare_db_rate) = (median(ours), median(bare), median(bare_db_rate));
    let concurrent = median(concurrent);
    println!(
        "ours, durable queue + worker (3 URLs at once): {ours:>9.0} events/s (each to all 3 URLs)"
    );
    println!("baseline, bare POST loop:                      {bare:>9.0} events/s");
    println!("baseline, bare POST loop + SQLite per POST:    {bare_db_rate:>9.0} events/s");
    println!("baseline, bare POST loops, the URLs at once:   {concurrent:>9.0} events/s");
    println!(
        "ratio ours / bare POST: {:.2}; ours / bare POST + SQLite: {:.2}",
        ours / bare,
        ours / bare_db_rate
    );
    // For scripts/bench: what | ours | baseline | ratio | goal.
    // Against the fastest bare sender: ours sends the URLs at once, so a sequential loop
    // alone would flatter it.
    println!(
        "figure: tracking webhook queue, {EVENTS} events to {URLS} URLs | {ours:.0} events/s | \
         bare POST loops, the URLs at once {concurrent:.0} events/s | {:.2}× | ≥ 0.5×",
        ours / concurrent
    );
}
