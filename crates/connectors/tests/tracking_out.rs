//! The tracking webhook out, against real receivers on loopback: the same JSON array to every
//! URL at once, the optional Username / Password headers only where configured, only a 200
//! counted as delivered (a 5xx or a dropped connection is a retry, with its reason).

use returnhub_simulators as support;

use support::rt;

use std::time::Duration;

use returnhub_connectors::tracking_out::{
    deliver, fan_out, item_events, Delivery, Endpoint, ItemFacts, ReturnFacts,
};
use support::receiver::{Answer, Receiver};

fn events() -> Vec<returnhub_connectors::tracking_out::TrackingEventOut> {
    let facts = ReturnFacts {
        connote: "LZ482131160NZ".into(),
        order_number: "#1001".into(),
        carrier: Some("NZ Post".into()),
        hub: "AKL".into(),
        items: vec![
            ItemFacts {
                sku: "TEE-M".into(),
                reason: Some("TOO_SMALL".into()),
                action: Some("REFUND".into()),
                removed: false,
            },
            ItemFacts {
                sku: "CAP".into(),
                reason: None,
                action: Some("NO ACTION".into()),
                removed: false,
            },
        ],
    };
    item_events("RP", "Processed at hub", "2026-12-02T09:05:00Z", &facts)
}

#[test]
fn every_url_gets_the_array_and_only_a_200_counts() {
    let loop_hook = Receiver::start(true);
    let retailer = Receiver::start(true);
    let down = Receiver::start(true);
    down.script(&[Answer::Status(503), Answer::Drop]);
    let endpoints = vec![
        Endpoint {
            url: loop_hook.url(),
            username: Some("returnhub".into()),
            password: Some("s3cret-pass".into()),
        },
        Endpoint {
            url: retailer.url(),
            username: None,
            password: None,
        },
        Endpoint {
            url: down.url(),
            username: None,
            password: None,
        },
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let rt = rt();
    let events = events();
    let verdicts = rt.block_on(fan_out(&client, &endpoints, &events));
    assert_eq!(verdicts[0], Delivery::Delivered);
    assert_eq!(verdicts[1], Delivery::Delivered);
    match &verdicts[2] {
        Delivery::Retry(why) => assert!(why.contains("503"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Dropped without an answer: a retry too, with a reason that names the endpoint.
    match rt.block_on(deliver(&client, &endpoints[2], &events)) {
        Delivery::Retry(why) => assert!(why.contains(&down.url()), "{why}"),
        other => panic!("{other:?}"),
    }
    // Back up: the same events go through.
    assert_eq!(
        rt.block_on(deliver(&client, &endpoints[2], &events)),
        Delivery::Delivered
    );

    let got = loop_hook.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].events, 2, "one event per line item, in one array");
    let header = |r: &support::receiver::Received, name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(&got[0], "username").as_deref(), Some("returnhub"));
    assert_eq!(header(&got[0], "password").as_deref(), Some("s3cret-pass"));
    assert_eq!(
        header(&got[0], "content-type").as_deref(),
        Some("application/json")
    );
    let plain = retailer.received();
    assert_eq!(plain.len(), 1);
    assert_eq!(header(&plain[0], "username"), None, "no headers unless set");
    assert_eq!(header(&plain[0], "password"), None);
    assert_eq!(down.received().len(), 1, "counted once it answered 200");
}

#[test]
fn an_endpoint_nobody_listens_on_is_a_retry_not_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = Endpoint {
        url: format!("http://127.0.0.1:{port}/hook"),
        username: None,
        password: None,
    };
    let client = reqwest::Client::new();
    match rt().block_on(deliver(&client, &endpoint, &events())) {
        Delivery::Retry(why) => assert!(why.contains("could not connect"), "{why}"),
        other => panic!("{other:?}"),
    }
}
