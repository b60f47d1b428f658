//! Every inbound endpoint of the central store, tried as a hostile or broken partner would:
//! no credentials, wrong ones, another retailer's, malformed bodies, forged or missing
//! signatures, oversized bodies. Each is refused with a 4xx (or, for an upload or tracking
//! batch, row by row), and nothing in the store changes; honest calls still work afterwards.

mod support;

use returnhub_central::storage::CentralStorage;
use returnhub_protocol::wire::{self, TrackingIn};
use returnhub_store::Store;
use support::*;

/// What a refused call must leave as it was.
fn snapshot(central: &Central) -> Vec<i64> {
    central
        .storage
        .with_conn(|c| {
            [
                "SELECT count(*) FROM events",
                "SELECT count(*) FROM returns",
                "SELECT count(*) FROM orders",
                "SELECT count(*) FROM tracking_events",
                "SELECT count(*) FROM action_claims",
                "SELECT count(*) FROM held_events",
            ]
            .iter()
            .map(|sql| c.query_row(sql, [], |r| r.get(0)))
            .collect()
        })
        .unwrap()
}

struct Call {
    what: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn call(what: &'static str, path: &str, headers: &[(&'static str, &str)], body: &[u8]) -> Call {
    Call {
        what,
        path: path.into(),
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inbound_endpoint_refuses_a_hostile_partner_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "h1", clock.now());
    let mut store = Store::open(&tmp.path().join("h1.sqlite3")).unwrap();
    configure(
        &mut store,
        clock.now(),
        &[
            retailer(
                "acme",
                "Acme Apparel",
                returnhub_core::trigger::Trigger::Processing,
            ),
            retailer(
                "bolt",
                "Bolt Outdoor",
                returnhub_core::trigger::Trigger::FirstScan,
            ),
        ],
    );
    let mut device = returnhub_sync::Syncer::new(
        store,
        returnhub_sync::HttpTransport::new(
            &central.url(),
            &token,
            std::time::Duration::from_secs(10),
        )
        .unwrap(),
        clock.as_fn(),
    );
    device.sync_once().await.unwrap();
    let acme_key = central
        .storage
        .create_api_key("Acme Apparel", clock.now())
        .unwrap();
    let bolt_key = central
        .storage
        .create_api_key("Bolt Outdoor", clock.now())
        .unwrap();
    let honest = Partner {
        client: plain_client(),
        base: central.url(),
        key: bolt_key.clone(),
        retailer: "Bolt Outdoor".into(),
    };
    assert_eq!(
        honest
            .upload(&[upload_row("BOLT1", "#1", "SKU-1", "h1", "REFUND")])
            .await
            .returns_created,
        1
    );
    let before = snapshot(&central);

    let row = serde_json::to_vec(&[upload_row("X1", "#9", "SKU-1", "h1", "REFUND")]).unwrap();
    let scan = serde_json::to_vec(&[TrackingIn {
        consignment_no: "BOLT1".into(),
        code: "RT".into(),
        status: "In transit".into(),
        event_dt: "2026-11-23T10:00:00+10:00".into(),
        ..TrackingIn::default()
    }])
    .unwrap();
    let huge = vec![b' '; 80 << 20];
    let order = br#"{"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1", "updated_at": "2026-11-23T10:00:00Z"}"#;
    let loop_hook = br#"{"topic": "return.closed", "return": {"id": "7001"}}"#;
    let increff_hook = br#"{"eventType": "RETURN_PICKED_UP", "awbNumber": "BOLT1"}"#;
    let upload = wire::UPLOAD_PATH;
    let tracking = wire::TRACKING_PATH;
    let calls = [
        call(
            "an upload with no key",
            upload,
            &[("x-retailer-name", "Acme Apparel")],
            &row,
        ),
        call(
            "an upload with a made-up key",
            upload,
            &[
                ("x-api-key", "rhk_nope_nope"),
                ("x-retailer-name", "Acme Apparel"),
            ],
            &row,
        ),
        call(
            "an upload with another retailer's key",
            upload,
            &[
                ("x-api-key", &acme_key),
                ("x-retailer-name", "Bolt Outdoor"),
            ],
            &row,
        ),
        call(
            "an upload that is not JSON",
            upload,
            &[
                ("x-api-key", &acme_key),
                ("x-retailer-name", "Acme Apparel"),
            ],
            b"ConsignmentNo,OrderNumber\nX1,#9",
        ),
        call(
            "an upload that is not a list",
            upload,
            &[
                ("x-api-key", &acme_key),
                ("x-retailer-name", "Acme Apparel"),
            ],
            br#"{"ConsignmentNo": "X1"}"#,
        ),
        call(
            "an upload over the size limit",
            upload,
            &[
                ("x-api-key", &acme_key),
                ("x-retailer-name", "Acme Apparel"),
            ],
            &huge,
        ),
        call("tracking with no key", tracking, &[], &scan),
        call(
            "tracking under another retailer's name",
            tracking,
            &[
                ("x-api-key", &acme_key),
                ("x-retailer-name", "Bolt Outdoor"),
            ],
            &scan,
        ),
        call(
            "tracking that is not JSON",
            tracking,
            &[
                ("x-api-key", &bolt_key),
                ("x-retailer-name", "Bolt Outdoor"),
            ],
            b"RT BOLT1",
        ),
        call(
            "a Shopify webhook with no signature",
            returnhub_central::api::SHOPIFY_ORDERS_UPDATED_PATH,
            &[("x-shopify-shop-domain", "acme.myshopify.com")],
            order,
        ),
        call(
            "a Shopify webhook with a forged signature",
            returnhub_central::api::SHOPIFY_ORDERS_UPDATED_PATH,
            &[
                ("x-shopify-shop-domain", "acme.myshopify.com"),
                ("x-shopify-hmac-sha256", "bm90IGEgc2lnbmF0dXJl"),
            ],
            order,
        ),
        call(
            "a Loop webhook with no signature",
            "/v1/loop/webhook/acme",
            &[],
            loop_hook,
        ),
        call(
            "a Loop webhook with a forged signature",
            "/v1/loop/webhook/acme",
            &[("x-loop-signature", "bm90IGEgc2lnbmF0dXJl")],
            loop_hook,
        ),
        call(
            "a Loop webhook for a retailer that is not there",
            "/v1/loop/webhook/nobody",
            &[("x-loop-signature", "bm90IGEgc2lnbmF0dXJl")],
            loop_hook,
        ),
        call(
            "an Increff notification with no signature",
            "/v1/increff/webhook/bolt",
            &[],
            increff_hook,
        ),
        call(
            "an Increff notification with a forged signature",
            "/v1/increff/webhook/bolt",
            &[("x-increff-signature", "bm90IGEgc2lnbmF0dXJl")],
            increff_hook,
        ),
        call(
            "a device push with a partner's key",
            wire::PUSH_PATH,
            &[
                ("x-api-key", &acme_key),
                ("authorization", &format!("Bearer {acme_key}")),
            ],
            br#"{"events": []}"#,
        ),
        call(
            "a device pull with a partner's key",
            wire::PULL_PATH,
            &[("authorization", &format!("Bearer {bolt_key}"))],
            br#"{"cursor": {"events": 0, "tracking": 0}, "limit": 10}"#,
        ),
    ];
    let client = plain_client();
    for c in &calls {
        let mut request = client
            .post(format!("{}{}", central.url(), c.path))
            .header("content-type", "application/json")
            .body(c.body.clone());
        for (k, v) in &c.headers {
            request = request.header(*k, v);
        }
        let status = match request.send().await {
            Ok(r) => r.status().as_u16(),
            // A body over the limit may be cut off mid-send: refused all the same.
            Err(e) => {
                assert!(c.what.contains("size limit"), "{}: {e}", c.what);
                413
            }
        };
        assert!(
            (400..500).contains(&status),
            "{} was answered {status}",
            c.what
        );
        assert_eq!(snapshot(&central), before, "{} changed the store", c.what);
    }

    // Row by row: a row naming another retailer's parcel, or a hub the retailer does not
    // use, is refused alone and creates nothing.
    let tracking_other = Partner {
        client: plain_client(),
        base: central.url(),
        key: acme_key.clone(),
        retailer: "Acme Apparel".into(),
    }
    .tracking(&[TrackingIn {
        consignment_no: "BOLT1".into(),
        code: "RT".into(),
        status: "In transit".into(),
        event_dt: "2026-11-23T10:00:00+10:00".into(),
        ..TrackingIn::default()
    }])
    .await;
    assert_eq!(tracking_other.recorded, 0);
    assert_eq!(tracking_other.rows[0].errors[0].field, "ConsignmentNo");
    assert_eq!(snapshot(&central), before);

    // The honest partner still gets through.
    let answer = honest
        .upload(&[upload_row("BOLT2", "#2", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(answer.returns_created, 1);
}
