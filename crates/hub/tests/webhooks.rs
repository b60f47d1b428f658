//! The tracking webhook out, end to end on a real store and real sockets: a first scan (RC)
//! and a processing (RP) queue one batch per URL in the same transaction as the status change,
//! the hub's worker thread posts them to loopback receivers, failures are retried with backoff
//! and raise the supervisor's alert after the budget without dropping anything, and only
//! admins change the URLs (passwords to the keyring, never to the log).

use returnhub_simulators::receiver;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use receiver::{Answer, Receiver};
use returnhub_connectors::tracking_out::RetrySchedule;
use returnhub_core::bench::Presence;
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_hub::{ErrorCode, ErrorView, Hub, HubOptions, InspectRequest, TrackingWebhookInput};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

/// A demo hub whose clock runs (from NOW) so the worker's backoff elapses in the test.
fn demo_hub(dir: &Path, schedule: RetrySchedule) -> Arc<Hub> {
    let mut options = HubOptions::demo(dir);
    options.webhook_schedule = schedule;
    let start = Instant::now();
    let hub = Hub::open_with_clock(
        options,
        Box::new(move || NOW + start.elapsed().as_millis() as i64),
    )
    .unwrap();
    Arc::new(hub)
}

fn quick() -> RetrySchedule {
    RetrySchedule {
        base: Duration::from_millis(1_000),
        max: Duration::from_millis(1_000),
        budget: 3,
    }
}

fn hook(url: &str, user: Option<&str>, password: Option<&str>) -> TrackingWebhookInput {
    TrackingWebhookInput {
        url: url.into(),
        username: user.map(str::to_owned),
        password: password.map(str::to_owned),
        clear_password: false,
        insecure: false,
    }
}

/// A kowhai return of this hub that is expected: (connote, item count).
fn expected_kowhai(hub: &Hub, skip: usize) -> String {
    hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.retailer_id = 'kowhai' AND r.hub_id = 'AKL' AND r.status = 'expected'
                   AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) >= 2
                 ORDER BY c.connote LIMIT 1 OFFSET ?1",
                [skip as i64],
                |r| r.get(0),
            )
            .unwrap()
    })
}

/// Scans, inspects (the last item missing, the rest passed) and processes one return; returns
/// (return id, items, items found).
fn scan_and_process(hub: &Hub, connote: &str) -> (String, usize, usize) {
    let scan = hub.scan(connote).unwrap();
    let ret = scan.ret.unwrap();
    let n = ret.items.len();
    for (i, item) in ret.items.iter().enumerate() {
        let missing = i == n - 1;
        hub.inspect_item(InspectRequest {
            return_id: ret.id.clone(),
            item_id: item.id.clone(),
            presence: if missing {
                Presence::Missing
            } else {
                Presence::Found
            },
            qc: (!missing).then_some(QcStatus::Pass),
            qc_reason: None,
            grade: (!missing).then_some(Grade::A),
            disposition: None,
            note: None,
            photos: vec![],
        })
        .unwrap();
    }
    hub.process_return(&ret.id).unwrap();
    (ret.id, n, n - 1)
}

/// A demo hub (signed in as an admin) whose retailer kowhai has one URL, a receiver that
/// answers 200.
fn hub_with_one_url(dir: &Path) -> (Arc<Hub>, Receiver) {
    let hub = demo_hub(dir, quick());
    let receiver = Receiver::start(true);
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.save_tracking_webhooks("kowhai", vec![hook(&receiver.url(), None, None)])
        .unwrap();
    (hub, receiver)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn accepted(r: &Receiver) -> u64 {
    r.accepted.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn rc_and_rp_reach_every_url_once_per_item_with_the_headers() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), quick());
    let (a, b) = (Receiver::start(true), Receiver::start(true));
    hub.sign_in("AD-3001", "3333").unwrap();
    let views = hub
        .save_tracking_webhooks(
            "kowhai",
            vec![
                hook(&a.url(), Some("akl-hub"), Some("s3cret-pw-for-a")),
                hook(&b.url(), None, None),
            ],
        )
        .unwrap();
    assert_eq!(
        views.iter().filter(|v| v.retailer_id == "kowhai").count(),
        2
    );
    assert!(views.iter().any(|v| v.url == a.url() && v.has_password));

    // Queued with the scan and the processing, before any worker runs.
    let (return_id, items, found) = scan_and_process(&hub, &expected_kowhai(&hub, 0));
    let rows = hub.with_store(|s| s.deliveries_of(&return_id).unwrap());
    assert_eq!(rows.len(), 4, "RC and RP, each to both URLs: {rows:?}");
    let rc: Vec<serde_json::Value> = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(rc.len(), items, "RC: one event per line item");
    let rp_row = rows.iter().find(|r| r.code == "RP").unwrap();
    let rp: Vec<serde_json::Value> = serde_json::from_str(&rp_row.body).unwrap();
    assert_eq!(rp.len(), found, "RP leaves out the item found missing");
    assert_eq!(rp[0]["Code"], "RP");
    assert_eq!(
        rp[0]["ReturnAction"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    assert!(rows.iter().all(|r| !r.delivered));

    Hub::start_webhook_worker(hub.clone());
    let expected = (items + found) as u64;
    wait_until("both URLs have RC and RP", || {
        accepted(&a) == expected && accepted(&b) == expected
    });
    let got = a.received();
    assert_eq!(got.len(), 2, "one POST per batch");
    for request in &got {
        assert!(request
            .headers
            .iter()
            .any(|(k, v)| k == "username" && v == "akl-hub"));
        assert!(request
            .headers
            .iter()
            .any(|(k, v)| k == "password" && v == "s3cret-pw-for-a"));
    }
    assert!(b
        .received()
        .iter()
        .all(|r| r.headers.iter().all(|(k, _)| k != "password")));
    wait_until("every row is marked delivered", || {
        hub.with_store(|s| s.deliveries_of(&return_id).unwrap())
            .iter()
            .all(|r| r.delivered)
    });
    // Never posted twice.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(accepted(&a), expected);

    // The password is in the keyring (or its file fallback), never in the event log.
    let leaked: i64 = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT count(*) FROM events WHERE payload LIKE '%s3cret-pw-for-a%'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(leaked, 0);
}

/// Tracking events the central store recorded for this hub's returns (a carrier's, or
/// Increff's RETURN_PICKED_UP / RTO) arrive with the pulled feed: each is kept once (a page
/// pulled again changes nothing) and forwarded once to every URL of the return's retailer; an
/// event of a return this hub does not have is marked forwarded with no delivery.
#[test]
fn tracking_events_pulled_from_the_central_store_are_forwarded_once() {
    use returnhub_protocol::wire::{SyncCursor, TrackingRecord};
    use returnhub_store::Store;
    let dir = tempfile::tempdir().unwrap();
    let (hub, a) = hub_with_one_url(dir.path());
    let connote = expected_kowhai(&hub, 0);
    let ret = hub.with_store(|s| s.return_by_connote(&connote).unwrap().unwrap());
    let record = |id: &str, return_id: Option<&str>, connote: &str, code: &str| TrackingRecord {
        id: id.into(),
        return_id: return_id.map(str::to_owned),
        connote: connote.into(),
        code: code.into(),
        status: "Return picked up (Increff)".into(),
        event_at: "2026-11-23T10:00:00.000Z".into(),
        source: "increff/Delhivery".into(),
    };
    let page = vec![
        record("t-1", Some(&ret.id), &connote, "RT"),
        record("t-2", Some("ret-not-at-this-hub"), "ELSEWHERE1", "RTO"),
    ];
    // The sync worker's own connection, as it applies a pulled page.
    let mut store = Store::open(&HubOptions::demo(dir.path()).store_path()).unwrap();
    let cursor = SyncCursor {
        events: 0,
        tracking: 2,
    };
    store.apply_remote_page(NOW, &[], &page, cursor).unwrap();
    store.apply_remote_page(NOW, &[], &page, cursor).unwrap();
    assert_eq!(store.unforwarded_tracking(10).unwrap().len(), 2);
    assert_eq!(store.sync_cursor().unwrap(), cursor);

    Hub::start_webhook_worker(hub.clone());
    wait_until("the pick-up reached the URL", || accepted(&a) == 1);
    wait_until("both events are marked forwarded", || {
        store.unforwarded_tracking(10).unwrap().is_empty()
    });
    let rows = hub.with_store(|s| s.deliveries_of(&ret.id).unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].code, "RT");
    let events: Vec<serde_json::Value> = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(events.len(), 1, "one event per consignment");
    assert_eq!(events[0]["ConsignmentNo"], connote.as_str());
    assert_eq!(events[0]["OrderNo"], ret.order_number.as_str());
    assert_eq!(events[0]["Code"], "RT");
    assert_eq!(events[0]["Carrier"], "increff/Delhivery");
    assert_eq!(events[0]["EventDT"], "2026-11-23T10:00:00.000Z");
    // Pulled again after forwarding: still nothing new to send.
    store.apply_remote_page(NOW, &[], &page, cursor).unwrap();
    assert!(store.unforwarded_tracking(10).unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(accepted(&a), 1, "forwarded once");
}

/// A retailer whose receipt notice goes at the first scan: the carrier's first scan (RT,
/// pulled from the central store) of a return not yet here brings its RC forward, per item,
/// and the hub's receipt scan later sends no second RC; a return the hub receives before any
/// carrier scan sends its RC at the receipt as usual. Only admins change the setting.
#[test]
fn the_receipt_notice_goes_at_the_first_scan_when_the_retailer_says_so() {
    use returnhub_core::partner::ReceiptNotice;
    use returnhub_protocol::wire::{SyncCursor, TrackingRecord};
    use returnhub_store::Store;
    let dir = tempfile::tempdir().unwrap();
    let (hub, a) = hub_with_one_url(dir.path());
    let views = hub
        .save_receipt_notice("kowhai", ReceiptNotice::FirstScan)
        .unwrap();
    assert!(views
        .iter()
        .all(|v| v.receipt_notice == ReceiptNotice::FirstScan));
    let carried = expected_kowhai(&hub, 0);
    let walked_in = expected_kowhai(&hub, 1);
    let ret = hub.with_store(|s| s.return_by_connote(&carried).unwrap().unwrap());
    // Two in-transit events (carriers send more than one): one RC.
    let rt = |id: &str, at: &str| TrackingRecord {
        id: id.into(),
        return_id: Some(ret.id.clone()),
        connote: carried.clone(),
        code: "RT".into(),
        status: "In transit".into(),
        event_at: at.into(),
        source: "nzpost".into(),
    };
    let page = vec![
        rt("t-rt", "2026-11-23T10:00:00.000Z"),
        rt("t-rt-2", "2026-11-23T14:00:00.000Z"),
    ];
    let mut store = Store::open(&HubOptions::demo(dir.path()).store_path()).unwrap();
    store
        .apply_remote_page(
            NOW,
            &[],
            &page,
            SyncCursor {
                events: 0,
                tracking: 2,
            },
        )
        .unwrap();
    Hub::start_webhook_worker(hub.clone());
    wait_until("the RT and its RC reached the URL", || {
        let rows = hub.with_store(|s| s.deliveries_of(&ret.id).unwrap());
        rows.len() == 3 && rows.iter().all(|r| r.delivered)
    });
    assert_eq!(
        accepted(&a) as usize,
        2 + ret.items.len(),
        "both RTs, and RC per item once"
    );
    let rows = hub.with_store(|s| s.deliveries_of(&ret.id).unwrap());
    let codes: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["RT", "RC", "RT"], "{rows:?}");
    let rc: Vec<serde_json::Value> = serde_json::from_str(&rows[1].body).unwrap();
    assert_eq!(rc.len(), ret.items.len(), "one RC event per item");
    assert_eq!(rc[0]["Code"], "RC");
    assert_eq!(rc[0]["EventDT"], "2026-11-23T10:00:00.000Z");
    // The hub's receipt of that parcel: no second RC.
    hub.scan(&carried).unwrap();
    let rows = hub.with_store(|s| s.deliveries_of(&ret.id).unwrap());
    assert_eq!(
        rows.iter().filter(|r| r.code == "RC").count(),
        1,
        "{rows:?}"
    );
    // A parcel with no carrier scan before it: RC at the hub's receipt.
    let other = hub.scan(&walked_in).unwrap().ret.unwrap();
    let rows = hub.with_store(|s| s.deliveries_of(&other.id).unwrap());
    assert_eq!(
        rows.iter().filter(|r| r.code == "RC").count(),
        1,
        "{rows:?}"
    );
    // Supervisors and operators do not change it.
    hub.sign_out().unwrap();
    hub.sign_in("SV-2001", "2222").unwrap();
    let e = ErrorView::from(
        hub.save_receipt_notice("kowhai", ReceiptNotice::HubReceipt)
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorCode::Forbidden);
}

/// A parcel attached at the orphan intake is received like a scanned one: its RC is queued
/// for every URL in the same write.
#[test]
fn a_parcel_attached_at_the_orphan_intake_queues_its_rc() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, a) = hub_with_one_url(dir.path());
    let order_id: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT id FROM orders WHERE retailer_id = 'kowhai' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    let linked = hub.link_orphan("ORPHAN0001", &order_id).unwrap();
    let ret = linked.ret.unwrap();
    let rows = hub.with_store(|s| s.deliveries_of(&ret.id).unwrap());
    let rc: Vec<&returnhub_store::DeliveryRow> = rows.iter().filter(|r| r.code == "RC").collect();
    assert_eq!(rc.len(), 1, "{rows:?}");
    let events: Vec<serde_json::Value> = serde_json::from_str(&rc[0].body).unwrap();
    assert_eq!(events.len(), ret.items.len(), "one event per line item");
    assert!(events.iter().all(|e| e["Code"] == "RC"));
    Hub::start_webhook_worker(hub.clone());
    wait_until("the RC reached the URL", || {
        accepted(&a) == ret.items.len() as u64
    });
}

#[test]
fn a_failing_url_is_retried_then_alerts_the_supervisor_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), quick());
    let flaky = Receiver::start(true);
    // Refused five times in a row (past the budget of 3), then accepted.
    flaky.script(&[
        Answer::Status(503),
        Answer::Drop,
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(503),
    ]);
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.save_tracking_webhooks("kowhai", vec![hook(&flaky.url(), None, None)])
        .unwrap();
    let connote = expected_kowhai(&hub, 1);
    let scan = hub.scan(&connote).unwrap();
    let items = scan.ret.unwrap().items.len() as u64;
    Hub::start_webhook_worker(hub.clone());

    hub.sign_out().unwrap();
    hub.sign_in("SV-2001", "2222").unwrap();
    wait_until("the supervisor sees the alert", || {
        hub.tracking_webhooks()
            .unwrap()
            .iter()
            .any(|v| v.url == flaky.url() && v.alerted == 1)
    });
    let view = hub
        .tracking_webhooks()
        .unwrap()
        .into_iter()
        .find(|v| v.url == flaky.url())
        .unwrap();
    assert_eq!(view.pending, 1, "kept, still to deliver");
    let error = view.last_error.unwrap();
    assert!(error.contains(&flaky.url()), "names the URL: {error}");
    assert_eq!(accepted(&flaky), 0);

    // Still retried after the alert (never disabled): delivered once the URL answers 200.
    wait_until("the batch is delivered after all", || {
        accepted(&flaky) == items
    });
    wait_until("the alert clears", || {
        hub.tracking_webhooks()
            .unwrap()
            .iter()
            .any(|v| v.url == flaky.url() && v.alerted == 0 && v.pending == 0 && v.delivered == 1)
    });
}

#[test]
fn only_admins_change_webhooks_and_bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), quick());
    let code = |e: returnhub_hub::HubError| {
        let v = ErrorView::from(e);
        (v.code, v.message)
    };
    hub.sign_in("OP-1001", "1111").unwrap();
    let (c, _) = code(hub.tracking_webhooks().unwrap_err());
    assert_eq!(c, ErrorCode::Forbidden);
    let (c, _) = code(
        hub.save_tracking_webhooks("kowhai", vec![hook("https://x.example/h", None, None)])
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Forbidden);
    hub.sign_out().unwrap();

    hub.sign_in("SV-2001", "2222").unwrap();
    assert!(hub.tracking_webhooks().unwrap().is_empty());
    let (c, _) = code(
        hub.save_tracking_webhooks("kowhai", vec![hook("https://x.example/h", None, None)])
            .unwrap_err(),
    );
    assert_eq!(
        c,
        ErrorCode::Forbidden,
        "supervisors see and retry, admins configure"
    );
    hub.sign_out().unwrap();

    hub.sign_in("AD-3001", "3333").unwrap();
    let (c, message) = code(
        hub.save_tracking_webhooks(
            "kowhai",
            vec![
                hook("ftp://x.example/h", None, None),
                hook("https://u:p@x.example/h", None, None),
                hook("https://ok.example/h", None, Some("pw-without-user")),
            ],
        )
        .unwrap_err(),
    );
    assert_ne!(c, ErrorCode::Forbidden);
    assert!(message.contains("webhook 1"), "{message}");
    assert!(message.contains("credentials"), "{message}");
    assert!(message.contains("needs a username"), "{message}");
    assert!(
        !message.contains("pw-without-user"),
        "never echoes a password: {message}"
    );
    assert!(hub.tracking_webhooks().unwrap().is_empty(), "nothing kept");

    // Plain http leaves this machine only to an address an admin marked insecure.
    let (c, message) = code(
        hub.save_tracking_webhooks("kowhai", vec![hook("http://10.0.0.7/h", None, None)])
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Invalid);
    assert!(message.contains("is not encrypted"), "{message}");
    let marked = TrackingWebhookInput {
        insecure: true,
        ..hook("http://10.0.0.7/h", None, None)
    };
    let saved = hub.save_tracking_webhooks("kowhai", vec![marked]).unwrap();
    assert!(saved
        .iter()
        .any(|v| v.url == "http://10.0.0.7/h" && v.insecure));
    hub.save_tracking_webhooks("kowhai", vec![]).unwrap();

    // The test button: a 200 from a live receiver, a clear sentence from a closed port.
    let live = Receiver::start(true);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    hub.save_tracking_webhooks(
        "kowhai",
        vec![hook(&live.url(), None, None), hook(&closed, None, None)],
    )
    .unwrap();
    let ok = hub.test_tracking_webhook("kowhai", &live.url()).unwrap();
    assert!(ok.contains("200"), "{ok}");
    assert_eq!(
        live.received()[0].events,
        0,
        "the test posts an empty array"
    );
    let (_, why) = code(hub.test_tracking_webhook("kowhai", &closed).unwrap_err());
    assert!(why.contains("could not connect"), "{why}");
}

#[test]
fn the_password_flag_follows_every_save_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), quick());
    hub.sign_in("AD-3001", "3333").unwrap();
    let url = "https://a.example/hook";
    let has_password = |views: Vec<returnhub_hub::TrackingWebhookView>| {
        views
            .iter()
            .find(|v| v.url == url)
            .map(|v| v.has_password)
            .unwrap()
    };
    let save = |input: TrackingWebhookInput| hub.save_tracking_webhooks("kowhai", vec![input]);

    assert!(!has_password(save(hook(url, Some("u"), None)).unwrap()));
    assert!(!has_password(hub.tracking_webhooks().unwrap()));
    assert!(has_password(
        save(hook(url, Some("u"), Some("pw-1"))).unwrap()
    ));
    assert!(has_password(hub.tracking_webhooks().unwrap()));
    // Saved again without a password: the stored one is kept.
    assert!(has_password(save(hook(url, Some("u"), None)).unwrap()));
    let cleared = TrackingWebhookInput {
        clear_password: true,
        ..hook(url, Some("u"), None)
    };
    assert!(!has_password(save(cleared).unwrap()));
    assert!(!has_password(hub.tracking_webhooks().unwrap()));
    assert!(has_password(
        save(hook(url, Some("u"), Some("pw-2"))).unwrap()
    ));
    assert!(has_password(hub.tracking_webhooks().unwrap()));
}

/// The worker keeps each URL's password between passes (a keyring read is a D-Bus round
/// trip on a desktop); a saved new password is what the next post carries.
#[test]
fn a_changed_password_goes_with_the_next_post() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), quick());
    let receiver = Receiver::start(true);
    hub.sign_in("AD-3001", "3333").unwrap();
    let url = receiver.url();
    hub.save_tracking_webhooks("kowhai", vec![hook(&url, Some("u"), Some("pw-first"))])
        .unwrap();
    Hub::start_webhook_worker(hub.clone());
    let passwords = || -> Vec<String> {
        receiver
            .received()
            .iter()
            .filter_map(|r| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == "password")
                    .map(|(_, v)| v.clone())
            })
            .collect()
    };
    let (_, items, found) = scan_and_process(&hub, &expected_kowhai(&hub, 0));
    let first = (items + found) as u64;
    wait_until("the first return's RC and RP", || {
        accepted(&receiver) == first
    });
    assert!(
        passwords().iter().all(|p| p == "pw-first"),
        "{:?}",
        passwords()
    );

    hub.save_tracking_webhooks("kowhai", vec![hook(&url, Some("u"), Some("pw-second"))])
        .unwrap();
    let (_, items, found) = scan_and_process(&hub, &expected_kowhai(&hub, 1));
    wait_until("the second return's RC and RP", || {
        accepted(&receiver) == first + (items + found) as u64
    });
    let all = passwords();
    assert_eq!(all.len(), 4, "RC and RP of each return: {all:?}");
    assert_eq!(all[2..], ["pw-second", "pw-second"], "{all:?}");
}
