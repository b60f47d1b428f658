//! Tracking webhook fan-out: 100,000 tracking events (arrays of 100) to 3 receivers on
//! loopback, beside a bare HTTP POST loop that sends the same arrays, already encoded, one
//! request after another, in the same run.
//!
//! ```text
//! cargo bench -p returnhub-connectors --bench fanout
//! ```
//!
//! Ours builds each array's events, encodes it once and posts it to the three URLs at once,
//! checking each answer is a 200. The receivers count the events they accepted: every event
//! must reach every URL exactly once per run. Medians of 3 runs. What is measured is the sender
//! alone: the durable per-URL queue in the hub store that will feed it is not built yet.

use returnhub_simulators::receiver;

use std::sync::atomic::Ordering;
use std::time::Instant;

use receiver::Receiver;
use returnhub_connectors::tracking_out::{
    fan_out, item_events, Delivery, Endpoint, ItemFacts, ReturnFacts, TrackingEventOut,
};

const EVENTS: usize = 100_000;
const PER_POST: usize = 100;
const RUNS: usize = 3;

/// 50,000 processed returns of two items: their RP events, in order.
fn returns() -> Vec<ReturnFacts> {
    (0..EVENTS / 2)
        .map(|n| ReturnFacts {
            connote: format!("LZ{n:09}NZ"),
            order_number: format!("#{}", 100_000 + n),
            carrier: Some("NZ Post".into()),
            hub: "AKL".into(),
            items: (0..2)
                .map(|k| ItemFacts {
                    sku: format!("SKU-{}-{k}", n % 5_000),
                    reason: Some("TOO_SMALL".into()),
                    action: Some(if k == 0 { "REFUND" } else { "CREDIT NOTE" }.into()),
                    removed: false,
                })
                .collect(),
        })
        .collect()
}

fn batches(returns: &[ReturnFacts]) -> Vec<Vec<TrackingEventOut>> {
    let events: Vec<TrackingEventOut> = returns
        .iter()
        .flat_map(|r| item_events("RP", "Processed at hub", "2026-12-02T09:05:00Z", r))
        .collect();
    events.chunks(PER_POST).map(<[_]>::to_vec).collect()
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

fn main() {
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::start(false)).collect();
    let endpoints: Vec<Endpoint> = receivers
        .iter()
        .map(|r| Endpoint {
            url: r.url(),
            username: Some("returnhub".into()),
            password: Some("bench-password".into()),
        })
        .collect();
    let returns = returns();
    let encoded: Vec<Vec<u8>> = batches(&returns)
        .iter()
        .map(|b| serde_json::to_vec(b).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    println!(
        "tracking webhook fan-out: {EVENTS} events in arrays of {PER_POST} to {} URLs on loopback, {RUNS} runs each",
        endpoints.len()
    );
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        // Ours: build, encode once, post to every URL at once, check every answer.
        let before = accepted(&receivers);
        let started = Instant::now();
        rt.block_on(async {
            for batch in batches(&returns) {
                for verdict in fan_out(&client, &endpoints, &batch).await {
                    assert_eq!(verdict, Delivery::Delivered);
                }
            }
        });
        ours.push(EVENTS as f64 / started.elapsed().as_secs_f64());
        let after = accepted(&receivers);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a - b, EVENTS as u64, "every event to every URL, once");
        }

        // Baseline: the same arrays, already encoded, one POST after another.
        let started = Instant::now();
        rt.block_on(async {
            for endpoint in &endpoints {
                for body in &encoded {
                    let answer = client
                        .post(&endpoint.url)
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 200);
                    answer.bytes().await.unwrap();
                }
            }
        });
        bare.push(EVENTS as f64 / started.elapsed().as_secs_f64());
        let again = accepted(&receivers);
        for (a, b) in after.iter().zip(&again) {
            assert_eq!(b - a, EVENTS as u64);
        }
    }
    let (ours, bare) = (median(ours), median(bare));
    println!("ours, fan-out to 3 URLs at once:     {ours:>9.0} events/s (each to all 3 URLs)");
    println!("baseline, bare POST loop, pre-encoded: {bare:>7.0} events/s (each to all 3 URLs)");
    println!("ratio ours / bare: {:.2}", ours / bare);
}
