//! Seeded fault-injection runs: several hub devices (each its own real SQLite store file) and
//! the central store (a real server on loopback over its own file), with requests dropped,
//! answers lost, requests duplicated, delayed and delivered out of order, partitions, the
//! server dying before or after a push's commit and restarting, and hubs killed between the
//! central store's acknowledgement and their own confirmation (their store file reopened).
//!
//! Every run ends by healing the network and syncing every device, then checks:
//! 1. every event a device recorded is at the central store exactly once, byte for byte, and
//!    every acknowledged event is confirmed at the hub (nothing lost, nothing twice);
//! 2. each hub's read model (connote → status) has the same digest at every device of the hub
//!    and at the central store;
//! 3. every action key has exactly one claim, a key claimed by two devices is flagged as a
//!    conflict, and the dispatcher sends each claim exactly once, across a restart and an
//!    unknown outcome that is reconciled instead of resent;
//! 4. the run is replayable: the seed is printed, and the same seed gives the same faults and
//!    the same digests (checked by running one seed twice).
//!
//! `RETURNHUB_SIM_SEED=<n>` replays one seed; `RETURNHUB_SIM_RUNS` / `RETURNHUB_SIM_STEPS`
//! make bigger runs.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use returnhub_central::dispatch::{dispatch_due, ActionDispatcher, ClaimContext, DispatchOutcome};
use returnhub_central::storage::{ActionClaim, CentralStorage};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::rules::Outcome;
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::wire::{
    self, ClaimState, ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse, TrackingIn,
};
use returnhub_store::Store;
use returnhub_sync::{SplitMix64, SyncError, Syncer, Transport};
use support::*;

#[derive(Default)]
struct Faults {
    rng: Option<SplitMix64>,
    counts: BTreeMap<&'static str, u64>,
    partition: HashMap<usize, u32>,
    stash: Vec<(String, PushRequest)>,
    restart_server: bool,
    enabled: bool,
}

impl Faults {
    fn rng(&mut self) -> &mut SplitMix64 {
        self.rng.as_mut().unwrap()
    }
    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Partitioned,
    DropRequest,
    DropResponse,
    Duplicate,
    Delay,
    CrashBeforeCommit,
    CrashAfterCommit,
}

/// A transport that decides each request's fate from the run's seeded generator.
struct FaultyTransport {
    dev: usize,
    base: String,
    token: String,
    client: reqwest::Client,
    faults: Arc<Mutex<Faults>>,
}

impl FaultyTransport {
    fn fate(&self, is_push: bool) -> Fate {
        let mut f = self.faults.lock().unwrap();
        if !f.enabled {
            return Fate::Deliver;
        }
        if let Some(left) = f.partition.get_mut(&self.dev) {
            if *left > 0 {
                *left -= 1;
                f.count("request refused by a partition");
                return Fate::Partitioned;
            }
        }
        let roll = f.rng().below(1000);
        let fate = match roll {
            0..60 => Fate::DropRequest,
            60..120 => Fate::DropResponse,
            120..170 => Fate::Duplicate,
            170..220 if is_push => Fate::Delay,
            220..245 if is_push => Fate::CrashBeforeCommit,
            245..270 if is_push => Fate::CrashAfterCommit,
            270..290 => {
                let n = 1 + f.rng().below(8) as u32;
                f.partition.insert(self.dev, n);
                f.count("partition started");
                Fate::Partitioned
            }
            _ => Fate::Deliver,
        };
        match fate {
            Fate::DropRequest => f.count("request dropped"),
            Fate::DropResponse => f.count("response dropped"),
            Fate::Duplicate => f.count("request duplicated"),
            Fate::Delay => f.count("push delayed (delivered later, out of order)"),
            Fate::CrashBeforeCommit => f.count("server killed mid-batch before commit"),
            Fate::CrashAfterCommit => f.count("server killed mid-batch after commit"),
            _ => {}
        }
        fate
    }

    async fn send<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
        failpoint: Option<&str>,
    ) -> Result<A, SyncError> {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(fp) = failpoint {
            req = req.header("x-returnhub-failpoint", fp);
        }
        let r = req
            .send()
            .await
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        let status = r.status();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_default();
            return Err(SyncError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    async fn with_fate<Q: serde::Serialize + Clone, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
        fate: Fate,
        stash: impl FnOnce(&Q) -> Option<PushRequest>,
    ) -> Result<A, SyncError> {
        let lost = || Err(SyncError::Unreachable("fault injected".into()));
        match fate {
            Fate::Deliver => self.send(path, body, None).await,
            Fate::Partitioned | Fate::DropRequest => lost(),
            Fate::DropResponse => {
                let _ = self.send::<Q, A>(path, body, None).await;
                lost()
            }
            Fate::Duplicate => {
                let _ = self.send::<Q, A>(path, body, None).await;
                self.send(path, body, None).await
            }
            Fate::Delay => {
                if let Some(p) = stash(body) {
                    self.faults
                        .lock()
                        .unwrap()
                        .stash
                        .push((self.token.clone(), p));
                }
                lost()
            }
            Fate::CrashBeforeCommit | Fate::CrashAfterCommit => {
                let fp = if fate == Fate::CrashBeforeCommit {
                    "before_commit"
                } else {
                    "after_commit"
                };
                let _ = self.send::<Q, A>(path, body, Some(fp)).await;
                self.faults.lock().unwrap().restart_server = true;
                lost()
            }
        }
    }
}

impl Transport for FaultyTransport {
    async fn push(&self, req: &PushRequest) -> Result<PushResponse, SyncError> {
        let fate = self.fate(true);
        self.with_fate(wire::PUSH_PATH, req, fate, |r| Some(r.clone()))
            .await
    }
    async fn pull(&self, req: &PullRequest) -> Result<PullResponse, SyncError> {
        let fate = self.fate(false);
        self.with_fate(wire::PULL_PATH, req, fate, |_| None).await
    }
}

struct Device {
    hub: String,
    path: PathBuf,
    syncer: Syncer<FaultyTransport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    faults: BTreeMap<&'static str, u64>,
    digests: Vec<String>,
    events_at_central: i64,
    claims: usize,
    conflicts: usize,
}

const HUBS: [&str; 3] = ["h1", "h1", "h2"];

async fn local_op(dev: &mut Device, rng: &mut SplitMix64, now: i64) -> bool {
    let rows: Vec<(String, String, String, String, String)> = {
        let mut stmt = dev
            .syncer
            .store
            .reader()
            .prepare(
                "SELECT r.id, r.status, c.connote, r.retailer_id, t.trigger_stage
                 FROM returns r JOIN connotes c ON c.return_id = r.id
                 JOIN retailers t ON t.id = r.retailer_id
                 WHERE r.hub_id = ?1 ORDER BY c.connote",
            )
            .unwrap();
        stmt.query_map([&dev.hub], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    if rows.is_empty() {
        return false;
    }
    let (return_id, status, connote, retailer_id, trigger) =
        rows[rng.below(rows.len() as u64) as usize].clone();
    let status = ReturnStatus::parse(&status).unwrap();
    let change = |from, to| DomainEvent::ReturnStatusChanged {
        return_id: return_id.clone(),
        from,
        to,
    };
    let mut events = vec![DomainEvent::ConnoteScanned {
        raw: connote.clone(),
        connote: connote.clone(),
        return_id: Some(return_id.clone()),
        station: "bench-1".into(),
    }];
    match status {
        ReturnStatus::Expected | ReturnStatus::InTransit => {
            events.push(change(status, ReturnStatus::Received))
        }
        ReturnStatus::Received => {
            events.push(change(status, ReturnStatus::Processed));
            let items: Vec<String> = {
                let mut stmt = dev
                    .syncer
                    .store
                    .reader()
                    .prepare("SELECT id FROM return_items WHERE return_id = ?1 ORDER BY id")
                    .unwrap();
                stmt.query_map([&return_id], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            };
            let outcomes: Vec<ItemOutcome> = items
                .into_iter()
                .map(|item_id| ItemOutcome {
                    item_id,
                    outcome: Outcome::Refund,
                    amount: Some(Money::new(4995, aud())),
                })
                .collect();
            let trigger = Trigger::parse(&trigger).unwrap();
            for due in actions_due(
                trigger,
                ReturnEvent::Processed,
                &retailer_id,
                &return_id,
                &outcomes,
            ) {
                events.push(DomainEvent::ActionDue(due));
            }
        }
        ReturnStatus::Processed => events.push(change(status, ReturnStatus::Closed)),
        _ => {}
    }
    append(&mut dev.syncer.store, now, events);
    true
}

async fn run(seed: u64, steps: usize, verbose: bool) -> Summary {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let mut central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let faults = Arc::new(Mutex::new(Faults {
        rng: Some(SplitMix64(seed)),
        ..Faults::default()
    }));
    let mut rng = SplitMix64(seed ^ 0x5eed);
    let client = plain_client();

    // Devices: two at hub h1 (they can process the same return), one at h2.
    let mut devices = Vec::new();
    for (i, hub) in HUBS.iter().enumerate() {
        let path = tmp.path().join(format!("hub-{i}.sqlite3"));
        let token = create_device(&central.storage, hub, clock.now());
        let transport = FaultyTransport {
            dev: i,
            base: central.url(),
            token,
            client: client.clone(),
            faults: faults.clone(),
        };
        let mut syncer = Syncer::new(Store::open(&path).unwrap(), transport, clock.as_fn());
        syncer.push_batch = 1 + rng.below(40) as u32;
        syncer.pull_limit = 1 + rng.below(60) as u32;
        devices.push(Device {
            hub: hub.to_string(),
            path,
            syncer,
        });
    }
    let retailers = [
        retailer("acme", "Acme Apparel", Trigger::Processing),
        retailer("bolt", "Bolt Outdoor", Trigger::FirstScan),
    ];
    configure(&mut devices[0].syncer.store, clock.now(), &retailers);
    devices[0].syncer.sync_once().await.unwrap();
    let mut partners = Vec::new();
    let mut connotes: Vec<(usize, String)> = Vec::new();
    for (p, r) in retailers.iter().enumerate() {
        let key = central
            .storage
            .create_api_key(&r.name, clock.now())
            .unwrap();
        let partner = Partner {
            client: client.clone(),
            base: central.url(),
            key,
            retailer: r.name.clone(),
        };
        let mut rows = Vec::new();
        for n in 0..16 {
            let c = format!("{}{:04}", r.id.to_uppercase(), n);
            let hub = ["h1", "h2"][n % 2];
            let action = ["REFUND", "CREDIT NOTE"][n % 2];
            rows.push(upload_row(
                &c,
                &format!("#{}{n}", r.id),
                "SKU-1",
                hub,
                action,
            ));
            if n % 3 == 0 {
                rows.push(upload_row(
                    &c,
                    &format!("#{}{n}", r.id),
                    "SKU-2",
                    hub,
                    action,
                ));
            }
            connotes.push((p, c));
        }
        let answer = partner.upload(&rows).await;
        assert_eq!(answer.rejected_rows, 0, "{answer:?}");
        partners.push(partner);
    }
    for d in devices.iter_mut() {
        d.syncer.sync_once().await.unwrap();
    }
    faults.lock().unwrap().enabled = true;

    let count = |what: &'static str| faults.lock().unwrap().count(what);
    for _ in 0..steps {
        clock.advance(1 + rng.below(5_000) as i64);
        let d = rng.below(devices.len() as u64) as usize;
        match rng.below(100) {
            0..40 => {
                local_op(&mut devices[d], &mut rng, clock.now()).await;
            }
            40..72 => {
                let _ = devices[d].syncer.sync_once().await;
            }
            72..78 => {
                // Killed after the central store acknowledged but before the hub confirmed:
                // the push goes out, the answer is never recorded, the store file reopens.
                let batch = devices[d].syncer.push_batch;
                let pending = devices[d].syncer.store.pending_sync(batch).unwrap();
                if !pending.is_empty() {
                    let req = PushRequest {
                        events: pending.into_iter().map(|p| p.event).collect(),
                    };
                    let _ = devices[d].syncer.transport.push(&req).await;
                    devices[d].syncer.store = Store::open(&devices[d].path).unwrap();
                    count("hub killed mid-push and restarted");
                }
            }
            78..82 => {
                central.restart().await;
                count("server restarted between requests");
            }
            82..88 => {
                let stash = std::mem::take(&mut faults.lock().unwrap().stash);
                for _ in 0..deliver_late(&client, &central, stash).await {
                    count("delayed push delivered late");
                }
            }
            _ => {
                let (p, c) = connotes[rng.below(connotes.len() as u64) as usize].clone();
                let t = TrackingIn {
                    consignment_no: c,
                    code: "RT".into(),
                    status: "In transit".into(),
                    event_dt: "2026-11-23T10:00:00Z".into(),
                    ..TrackingIn::default()
                };
                partners[p].tracking(&[t]).await;
                count("carrier first-scan event (some repeated)");
            }
        }
        let restart = std::mem::take(&mut faults.lock().unwrap().restart_server);
        if restart {
            central.restart().await;
        }
    }

    // Heal: no more faults, late requests delivered, one more restart, then sync to a fixpoint.
    let stash = {
        let mut f = faults.lock().unwrap();
        f.enabled = false;
        std::mem::take(&mut f.stash)
    };
    deliver_late(&client, &central, stash).await;
    central.restart().await;
    for _round in 0..2 {
        for d in devices.iter_mut() {
            d.syncer.sync_once().await.unwrap();
        }
    }

    // 1. Every event exactly once at the central store, byte for byte; all confirmed.
    let mut own_total = 0;
    for d in &devices {
        own_total += assert_all_pushed_exactly_once(&d.syncer.store, &central.storage);
    }
    let at_central = assert_central_ids_unique(&central.storage);
    let central_own: i64 = central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT count(*) FROM events WHERE device_id = 'central'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(at_central, own_total as i64 + central_own);

    // 2. Read models agree: every device of a hub and the central store.
    let mut digests = Vec::new();
    for hub in ["h1", "h2"] {
        let central_digest = digest(&central_view(&central.storage, hub));
        for d in devices.iter().filter(|d| d.hub == hub) {
            let view = hub_view(&d.syncer.store, hub);
            assert_eq!(view.len(), 16, "hub {hub} sees all its returns");
            assert_eq!(
                digest(&view),
                central_digest,
                "hub {hub}, device {}: read model differs from the central store's\nhub: {:?}\ncentral: {:?}",
                d.syncer.store.device_id(),
                view,
                central_view(&central.storage, hub)
            );
        }
        digests.push(central_digest);
    }

    // 3. One claim per action key; duplicate keys from two devices are flagged.
    let (keys, emitters) = central
        .storage
        .with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT json_extract(payload, '$.key'), device_id FROM events WHERE kind = 'action_due'",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut keys = HashSet::new();
            let mut emitters: HashMap<String, HashSet<String>> = HashMap::new();
            for row in rows {
                let (k, d) = row?;
                keys.insert(k.clone());
                emitters.entry(k).or_default().insert(d);
            }
            Ok((keys, emitters))
        })
        .unwrap();
    let claims: Vec<(String, i64)> = central
        .storage
        .with_conn(|c| {
            let mut stmt = c.prepare("SELECT key, count(*) FROM action_claims GROUP BY key")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(claims.len(), keys.len(), "one claim per action key");
    assert!(claims.iter().all(|(k, n)| *n == 1 && keys.contains(k)));
    let conflicts = central.storage.conflicts(None).unwrap();
    for (key, devs) in &emitters {
        if devs.len() > 1 {
            assert!(
                conflicts
                    .iter()
                    .any(|c| c.action_key.as_deref() == Some(key.as_str())),
                "key {key} claimed by {devs:?} but not flagged"
            );
        }
    }
    // Every claimed key dispatched exactly once, across a restart and an unknown outcome.
    let dispatcher = CountingDispatcher::default();
    let now = clock.now();
    dispatch_due(central.storage.as_ref(), &dispatcher, now, 7).unwrap();
    central.restart().await;
    for _ in 0..20 {
        dispatch_due(central.storage.as_ref(), &dispatcher, now, 7).unwrap();
    }
    let sent = dispatcher.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), keys.len(), "every claim dispatched");
    assert!(sent.values().all(|n| *n == 1), "a claim was sent twice");
    for state in [ClaimState::Claimed, ClaimState::Sent, ClaimState::Unknown] {
        assert!(central
            .storage
            .claims_in_state(state, None, 10)
            .unwrap()
            .is_empty());
    }

    let summary = Summary {
        faults: faults.lock().unwrap().counts.clone(),
        digests,
        events_at_central: at_central,
        claims: claims.len(),
        conflicts: conflicts.len(),
    };
    if verbose {
        println!(
            "seed {seed}: {steps} steps, {} events at the central store, {} action claims, {} conflicts flagged",
            summary.events_at_central, summary.claims, summary.conflicts
        );
        for (what, n) in &summary.faults {
            println!("  {n:5}  {what}");
        }
    }
    central.stop().await;
    summary
}

/// Delivers delayed pushes newest first (out of order); their answers go nowhere.
async fn deliver_late(
    client: &reqwest::Client,
    central: &Central,
    mut stash: Vec<(String, PushRequest)>,
) -> usize {
    stash.reverse();
    let n = stash.len();
    for (token, req) in stash {
        let _ = client
            .post(format!("{}{}", central.url(), wire::PUSH_PATH))
            .bearer_auth(token)
            .json(&req)
            .send()
            .await;
    }
    n
}

/// Sends each claim once; every third send times out after leaving (Unknown), and the
/// reconciliation then finds it applied instead of sending it again.
#[derive(Default)]
struct CountingDispatcher {
    sent: Mutex<HashMap<String, u32>>,
}

impl ActionDispatcher for CountingDispatcher {
    fn dispatch(&self, claim: &ActionClaim, _: &ClaimContext<'_>) -> DispatchOutcome {
        let mut sent = self.sent.lock().unwrap();
        *sent.entry(claim.key.clone()).or_default() += 1;
        if sent.len().is_multiple_of(3) {
            DispatchOutcome::Unknown("timeout after send".into())
        } else {
            DispatchOutcome::Confirmed(format!("ref-{}", claim.key).into())
        }
    }
    fn reconcile(&self, claim: &ActionClaim, _: &ClaimContext<'_>) -> DispatchOutcome {
        if self.sent.lock().unwrap().contains_key(&claim.key) {
            DispatchOutcome::Confirmed(format!("ref-{}", claim.key).into())
        } else {
            DispatchOutcome::NotApplied
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_runs_converge_with_nothing_lost_or_doubled() {
    let steps = env_u64("RETURNHUB_SIM_STEPS").unwrap_or(1000) as usize;
    let seeds: Vec<u64> = match env_u64("RETURNHUB_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let base = returnhub_sync::unix_now_ms() as u64;
            let runs = env_u64("RETURNHUB_SIM_RUNS").unwrap_or(3);
            (0..runs).map(|i| base.wrapping_add(i * 7919)).collect()
        }
    };
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in seeds {
        println!("fault run seed {seed} (replay: RETURNHUB_SIM_SEED={seed})");
        let s = run(seed, steps, true).await;
        for (k, v) in s.faults {
            *total.entry(k).or_default() += v;
        }
    }
    println!("faults injected over all runs:");
    for (what, n) in &total {
        println!("  {n:5}  {what}");
    }
    for must in [
        "request dropped",
        "response dropped",
        "request duplicated",
        "hub killed mid-push and restarted",
    ] {
        assert!(
            total.get(must).copied().unwrap_or(0) > 0,
            "no '{must}' injected"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_replays_from_its_seed() {
    let a = run(20_261_123, 120, false).await;
    let b = run(20_261_123, 120, false).await;
    assert_eq!(a, b, "the same seed gave a different run");
}
