//! Partners and the tracking webhook in the real window: an admin connects Kōwhai to Loop on
//! the shops screen (F5; a refused key keeps nothing, the right one is tested and kept) and
//! tests the connection again; adds a tracking webhook URL with a username and password and
//! tests it; a first scan at the bench queues RC for it; the URL
//! refuses past the retry budget and the supervisor's F5 shows the alert naming it; the batch
//! is kept and still retried, and once the URL answers 200 it is delivered and the alert
//! clears. The receiver is a real socket on loopback.

mod support;

use returnhub_simulators::loop_sim;
use returnhub_simulators::receiver;

use std::path::Path;
use std::sync::atomic::Ordering;

use receiver::{Answer, Receiver};
use support::{one, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const F1: char = '\u{E031}';
const F5: char = '\u{E035}';

fn webhook_row(driver: &Driver, url: &str) -> String {
    driver
        .execute(&format!(
            "const r = [...document.querySelectorAll('#webhooks-table tr')].find(t => t.dataset.url === '{url}'); return r ? r.innerText : ''"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn open_shops(driver: &Driver) {
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the shops screen", |d| {
        let screen = d.find("#shops-screen")?;
        d.attribute(&screen, "hidden").is_none().then_some(())
    });
}

#[test]
fn partners_connect_on_f5_and_an_alerted_tracking_webhook_delivers_once_the_url_answers() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    // The demo hub, with quick retries: 1 s apart, the alert after 2 failures.
    std::fs::write(
        dir.join("hub.toml"),
        "[hub]\nid = \"AKL\"\nname = \"Auckland returns hub (demo)\"\ndemo = true\n\n\
         [webhooks]\nretry_base_seconds = 1\nretry_max_seconds = 1\nretry_budget = 2\n",
    )
    .unwrap();
    let hook = Receiver::start(true);
    let url = hook.url();
    let driver = Driver::launch(Path::new(APP), dir);

    // An admin adds the URL with its headers, and tests it (an empty array, answered 200).
    driver.sign_in("AD-3001", "3333");
    open_shops(&driver);
    driver.wait_for(10, "the webhook form", |d| {
        let form = d.find("#webhook-form")?;
        (d.attribute(&form, "hidden").is_none()
            && d.execute("return document.getElementById('webhook-retailer').options.length")
                .as_u64()
                .unwrap_or(0)
                > 0)
        .then_some(())
    });
    // Loop, through the partner form: a refused key first, then the right one.
    let sim = loop_sim::LoopSim::start();
    driver.execute("document.getElementById('partner-retailer').value = 'kowhai'");
    driver.execute("document.getElementById('partner-target').value = 'loop'");
    driver.type_into(&driver.find("#partner-url").unwrap(), &sim.base());
    driver.type_into(&driver.find("#partner-secret").unwrap(), "loop_wrong_key");
    driver.click(&driver.find("#partner-connect").unwrap());
    driver.wait_for(20, "the refusal", |d| {
        d.text_of("#partners-status")?
            .contains("did not accept")
            .then_some(())
    });
    let kept: i64 = one(
        dir,
        "SELECT count(*) FROM retailers WHERE json_array_length(policy_json, '$.partners.connections') > 0",
    );
    assert_eq!(kept, 0, "a refused key keeps nothing");
    driver.execute("document.getElementById('partner-secret').value = ''");
    driver.type_into(&driver.find("#partner-secret").unwrap(), loop_sim::API_KEY);
    driver.click(&driver.find("#partner-connect").unwrap());
    driver.wait_for(20, "connected", |d| {
        d.text_of("#partners-status")?
            .contains("Connected to Loop Returns")
            .then_some(())
    });
    let secret = driver.execute("return document.getElementById('partner-secret').value");
    assert_eq!(secret.as_str(), Some(""), "the key does not stay on screen");
    driver.execute(
        "document.querySelector('#partners-table tr[data-target=\"loop\"] button.test').click()",
    );
    driver.wait_for(20, "the test's answer", |d| {
        d.text_of("#partners-status")?
            .contains("works")
            .then_some(())
    });

    // A source bound away from its default: Clickpost returns straight to Shopify.
    driver.execute("document.getElementById('route-retailer').value = 'kowhai'");
    driver.type_into(&driver.find("#route-source").unwrap(), "clickpost");
    driver.execute("document.getElementById('route-target').value = 'shopify'");
    driver.click(&driver.find("#route-add").unwrap());
    driver.wait_for(10, "the binding listed", |d| {
        let row = d.execute(
            "const r = document.querySelector('#routes-table tr[data-source=\"clickpost\"]'); return r ? r.innerText : ''",
        );
        let row = row.as_str().unwrap_or_default().to_owned();
        (row.contains("Shopify") && row.contains("Increff")).then_some(())
    });
    let bound: String = one(
        dir,
        "SELECT json_extract(policy_json, '$.partners.routes[0].target') FROM retailers WHERE id = 'kowhai'",
    );
    assert_eq!(bound, "shopify");

    driver.execute("document.getElementById('webhook-retailer').value = 'kowhai'");
    driver.type_into(&driver.find("#webhook-url").unwrap(), "ftp://nope");
    driver.click(&driver.find("#webhook-add").unwrap());
    driver.wait_for(10, "the refusal", |d| {
        d.text_of("#webhooks-status")?
            .contains("https://")
            .then_some(())
    });
    driver.execute("document.getElementById('webhook-url').value = ''");
    driver.type_into(&driver.find("#webhook-url").unwrap(), &url);
    driver.type_into(&driver.find("#webhook-username").unwrap(), "akl-hub");
    driver.type_into(&driver.find("#webhook-password").unwrap(), "pw-e2e-secret");
    driver.click(&driver.find("#webhook-add").unwrap());
    driver.wait_for(10, "the URL listed", |d| {
        webhook_row(d, &url).contains("password set").then_some(())
    });
    let shown = driver.execute("return document.getElementById('webhook-password').value");
    assert_eq!(
        shown.as_str(),
        Some(""),
        "the password does not stay on screen"
    );
    let test = driver
        .execute(&format!(
            "const r = [...document.querySelectorAll('#webhooks-table tr')].find(t => t.dataset.url === '{url}'); r.querySelector('button.test').click(); return 1"
        ));
    assert_eq!(test.as_u64(), Some(1));
    driver.wait_for(20, "the test's answer", |d| {
        d.text_of("#webhooks-status")?
            .contains("answered 200")
            .then_some(())
    });
    let test_request = &hook.received()[0];
    assert_eq!(test_request.events, 0);
    assert!(test_request
        .headers
        .iter()
        .any(|(k, v)| k == "password" && v == "pw-e2e-secret"));
    driver.click(&driver.find("#sign-out").unwrap());

    // The URL goes down; an operator's first scan queues RC for it.
    hook.script(&[
        Answer::Status(503),
        Answer::Status(503),
        Answer::Status(502),
    ]);
    let connote: String = one(
        dir,
        "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
         WHERE r.retailer_id = 'kowhai' AND r.hub_id = 'AKL' AND r.status = 'expected'
         ORDER BY c.connote LIMIT 1",
    );
    let items: i64 = one(
        dir,
        &format!(
            "SELECT count(*) FROM return_items WHERE return_id =
               (SELECT return_id FROM connotes WHERE connote = '{connote}')"
        ),
    );
    driver.sign_in("OP-1001", "1111");
    driver.type_into(
        &driver.find("#scan-input").unwrap(),
        &format!("{connote}{ENTER}"),
    );
    driver.wait_for(10, "the return on the bench", |d| {
        (d.execute("return document.getElementById('verdict').dataset.verdict")
            .as_str()
            == Some("expected"))
        .then_some(())
    });
    let queued: i64 = one(
        dir,
        "SELECT count(*) FROM webhook_deliveries WHERE code = 'RC'",
    );
    assert_eq!(queued, 1, "RC queued with the scan");
    driver.click(&driver.find("#sign-out").unwrap());

    // The supervisor sees the alert naming the URL, then sees it clear once delivered.
    driver.sign_in("SV-2001", "2222");
    open_shops(&driver);
    driver.wait_for(30, "the alert", |d| {
        let alert = d.find("#webhook-alert")?;
        (d.attribute(&alert, "hidden").is_none() && d.text(&alert).contains(&url)).then_some(())
    });
    if let Some(png) = std::env::var_os("RETURNHUB_SCREENSHOT_WEBHOOKS") {
        std::fs::write(png, driver.screenshot_png()).unwrap();
    }
    driver.wait_for(30, "delivered after all", |d| {
        (hook.accepted.load(Ordering::Relaxed) == items as u64
            && webhook_row(d, &url).contains("\t1\t0"))
        .then_some(())
    });
    driver.wait_for(10, "the alert cleared", |d| {
        let alert = d.find("#webhook-alert")?;
        d.attribute(&alert, "hidden").is_some().then_some(())
    });
    let delivered: i64 = one(
        dir,
        "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'",
    );
    assert_eq!(delivered, 1);
    let leaked: i64 = one(
        dir,
        "SELECT count(*) FROM events WHERE payload LIKE '%pw-e2e-secret%'",
    );
    assert_eq!(leaked, 0, "the password never reaches the event log");
    let leaked: i64 = one(
        dir,
        &format!(
            "SELECT count(*) FROM events WHERE payload LIKE '%{}%'",
            loop_sim::API_KEY
        ),
    );
    assert_eq!(leaked, 0, "nor the Loop key");
}

/// A partner that takes the connection and never answers: testing the connection waits on it
/// (up to the client's timeout), and the window goes on answering meanwhile, because the
/// command runs off the window's thread. Were it run on that thread, every key and every
/// WebDriver call would wait behind it and the first `wait_for` below would run out.
#[test]
fn the_window_answers_while_a_partner_does_not() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let (taken_tx, taken) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Held open, never answered; dropped (a reset) when the test says so.
        if let Ok((socket, _)) = silent.accept() {
            let (release_tx, release) = std::sync::mpsc::channel::<()>();
            taken_tx.send(release_tx).unwrap();
            let _ = release.recv();
            drop(socket);
        }
    });
    let driver = Driver::launch(Path::new(APP), dir);
    driver.sign_in("AD-3001", "3333");
    open_shops(&driver);
    driver.wait_for(10, "the partner form", |d| {
        (d.execute("return document.getElementById('partner-retailer').options.length")
            .as_u64()
            .unwrap_or(0)
            > 0)
        .then_some(())
    });
    driver.execute("document.getElementById('partner-retailer').value = 'kowhai'");
    driver.execute("document.getElementById('partner-target').value = 'loop'");
    driver.type_into(&driver.find("#partner-url").unwrap(), &url);
    driver.type_into(&driver.find("#partner-secret").unwrap(), "loop_any_key");
    driver.click(&driver.find("#partner-connect").unwrap());
    let release = taken
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the hub never called the partner");

    // The call hangs; the operator moves to the bench, and the window follows.
    driver.keys(&F1.to_string(), 0);
    driver.wait_for(5, "the bench while the partner hangs", |d| {
        let screen = d.find("#bench-screen")?;
        d.attribute(&screen, "hidden").is_none().then_some(())
    });
    let status = |d: &Driver| {
        d.execute("return document.getElementById('partners-status').textContent")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let waiting = status(&driver);
    assert!(
        waiting.contains("Testing the connection"),
        "still waiting: {waiting}"
    );

    // The partner drops the connection: the call ends with a reason, and nothing is kept.
    release.send(()).unwrap();
    let said = driver.wait_for(40, "the failed test", |d| {
        let now = status(d);
        (!now.contains("Testing the connection")).then_some(now)
    });
    assert!(!said.contains("Connected"), "{said}");
    let kept: i64 = one(
        dir,
        "SELECT count(*) FROM retailers WHERE json_array_length(policy_json, '$.partners.connections') > 0",
    );
    assert_eq!(kept, 0);
}

/// Plain http off this machine: refused unless the admin ticks "insecure", then listed in red.
#[test]
fn plain_http_needs_the_insecure_box_and_then_shows_in_red() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let driver = Driver::launch(Path::new(APP), data.path());
    driver.sign_in("AD-3001", "3333");
    open_shops(&driver);
    driver.wait_for(10, "the webhook form", |d| {
        let form = d.find("#webhook-form")?;
        (d.attribute(&form, "hidden").is_none()
            && d.execute("return document.getElementById('webhook-retailer').options.length")
                .as_u64()
                .unwrap_or(0)
                > 0)
        .then_some(())
    });
    let url = "http://10.0.0.7/hook";
    driver.execute("document.getElementById('webhook-retailer').value = 'kowhai'");
    driver.type_into(&driver.find("#webhook-url").unwrap(), url);
    driver.click(&driver.find("#webhook-add").unwrap());
    driver.wait_for(10, "the refusal", |d| {
        d.text_of("#webhooks-status")?
            .contains("is not encrypted")
            .then_some(())
    });
    assert_eq!(webhook_row(&driver, url), "", "nothing kept");
    driver.click(&driver.find("#webhook-insecure").unwrap());
    driver.click(&driver.find("#webhook-add").unwrap());
    let row = driver.wait_for(10, "the URL listed", |d| {
        let row = webhook_row(d, url);
        (!row.is_empty()).then_some(row)
    });
    assert!(row.contains("insecure: plain http"), "{row}");
    let red = driver.execute(&format!(
        "return [...document.querySelectorAll('#webhooks-table tr')].find(t => t.dataset.url === '{url}').children[1].classList.contains('bad')"
    ));
    assert_eq!(red.as_bool(), Some(true), "shown in red");
    let kept: String = one(
        data.path(),
        "SELECT policy_json FROM retailers WHERE id = 'kowhai'",
    );
    assert!(kept.contains("\"insecure\":true"), "{kept}");
}
