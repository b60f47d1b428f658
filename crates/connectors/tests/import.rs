//! Importing a shop's last 30 days from the simulator into a real hub store, page by page and
//! through a bulk operation: the store ends up holding exactly the ledger's orders of those
//! days (lines, money in minor units, discounts, tags, country, currency, images, barcodes);
//! an interrupted import resumes from its cursor; a later run brings in what changed.

use returnhub_simulators as support;

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::clock::{Clock, Sleep};
use returnhub_connectors::import::{ImportOptions, Importer, BULK_STREAM, PAGED_STREAM};
use returnhub_connectors::{ClientOptions, ShopCredentials, ShopifyClient};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::money::Currency;
use returnhub_core::record::RetailerRecord;
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::UnixMillis;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store};
use support::simulator::{Fault, SimLine, SimOrder, Simulator, TOKEN};

const RETAILER: &str = "kowhai";
/// 2026-11-23T19:25:00Z: 30 days back is 2026-10-24T19:25:00Z.
const NOW: UnixMillis = 1_795_461_900_000;
const ORDERS: u32 = 240;

struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> UnixMillis {
        NOW
    }
    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

fn created(n: u32) -> String {
    // One order every 6 hours back from the 23rd: 240 orders span 60 days.
    let at = NOW - i64::from(n) * 6 * 3_600_000;
    returnhub_core::time::rfc3339(at)[..19].to_owned() + "Z"
}

fn sim_order(n: u32) -> SimOrder {
    let currency = if n.is_multiple_of(7) {
        Currency::JPY
    } else {
        Currency::NZD
    };
    let lines = (0..(1 + n % 3))
        .map(|k| SimLine {
            id: format!("gid://shopify/LineItem/{}", 10_000 * n + k),
            sku: format!("SKU-{n}-{k}"),
            title: format!("Item {k} of order {n}"),
            barcode: (k.is_multiple_of(2)).then(|| format!("94{:011}", 1000 * n + k)),
            image: Some(format!("https://cdn.shopify.com/s/files/{n}-{k}.jpg")),
            product_tags: vec!["summer".into()],
            quantity: 1 + k,
            unit_price: if currency == Currency::JPY {
                4_900
            } else {
                5_995 + i64::from(k) * 100
            },
            discount: if n.is_multiple_of(5) { 250 } else { 0 },
        })
        .collect();
    SimOrder {
        id: format!("gid://shopify/Order/{}", 1_000 + n),
        name: format!("#{}", 1_000 + n),
        email: format!("c{n}@example.com"),
        customer: format!("Customer {n}"),
        created_at: created(n),
        updated_at: created(n),
        currency,
        country: if n.is_multiple_of(3) {
            "AU".into()
        } else {
            "NZ".into()
        },
        tags: vec![format!("batch-{}", n % 4)],
        discount_codes: vec![],
        lines,
        payment: (
            format!("gid://shopify/OrderTransaction/{n}"),
            "shopify_payments".into(),
            0,
        ),
        refunds: vec![],
        fulfillment_orders: vec![],
    }
}

fn store(dir: &std::path::Path) -> Store {
    let mut store = Store::open(&dir.join("hub.db")).unwrap();
    store
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(RetailerRecord {
                    id: RETAILER.into(),
                    name: "Kōwhai Apparel".into(),
                    currency: Currency::NZD,
                    country: None,
                    policy: RetailerPolicy {
                        trigger: Trigger::Processing,
                        customers_choose: true,
                        exchange_enabled: false,
                        rules_override_customer_choice: false,
                        default_outcome: Outcome::Refund,
                        qc_fail: QcFailPolicy::HoldForReview,
                        credit_note_expiry_days: None,
                        currency: None,
                        shopify: Default::default(),
                        partners: Default::default(),
                    },
                    rules: RuleSet { rules: vec![] },
                    reasons: vec![],
                    qc_reasons: vec![],
                }),
                actor: "test".into(),
                station: None,
            })
        })
        .unwrap();
    store
}

fn client(sim: &Simulator, retries: u32) -> ShopifyClient {
    ShopifyClient::new(
        &ShopCredentials::new(&sim.base(), TOKEN).unwrap(),
        Arc::new(FixedClock),
        ClientOptions {
            timeout: Duration::from_secs(5),
            max_retries: retries,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn options() -> ImportOptions {
    ImportOptions {
        page_size: 25,
        batch: 40,
        poll_interval: Duration::from_millis(10),
        ..ImportOptions::new(RETAILER)
    }
}

/// One row per order and line as the store holds it, to compare with the ledger.
fn stored(store: &Store) -> Vec<String> {
    let mut stmt = store
        .reader()
        .prepare(
            "SELECT o.id, o.order_number, o.customer_name, o.email, o.created_at, o.country,
                    o.currency, o.tags_json, o.subtotal_minor, o.discount_minor, o.total_minor,
                    l.id, l.sku, coalesce(l.ean, ''), l.title, coalesce(l.image, ''), l.quantity,
                    l.unit_price_minor, l.discount_minor, l.product_tags_json
             FROM orders o JOIN order_lines l ON l.order_id = o.id ORDER BY o.id, l.id",
        )
        .unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok((0..20)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

/// The store holds exactly the ledger's rows (the first difference is shown, not 300 rows).
fn assert_same(store: &Store, sim: &Simulator) {
    let (have, want) = (stored(store), expected(sim));
    if let Some(i) = (0..have.len().max(want.len())).find(|&i| have.get(i) != want.get(i)) {
        panic!(
            "store and ledger differ at row {i} ({} vs {} rows):\n store:  {:?}\n ledger: {:?}",
            have.len(),
            want.len(),
            have.get(i),
            want.get(i)
        );
    }
}

/// The same rows from the ledger, for orders created in the last 30 days.
fn expected(sim: &Simulator) -> Vec<String> {
    let since = returnhub_core::time::rfc3339(NOW - 30 * 86_400_000)[..19].to_owned() + "Z";
    let ledger = sim.ledger();
    let mut rows = Vec::new();
    for o in ledger.orders.values().filter(|o| o.created_at >= since) {
        let created = returnhub_core::time::rfc3339(
            returnhub_core::time::parse_rfc3339(&o.created_at).unwrap(),
        );
        for l in &o.lines {
            rows.push(
                [
                    o.id.clone(),
                    o.name.clone(),
                    o.customer.clone(),
                    o.email.clone(),
                    created.clone(),
                    o.country.clone(),
                    o.currency.code().to_owned(),
                    serde_json::to_string(&o.tags).unwrap(),
                    o.subtotal().to_string(),
                    o.discount().to_string(),
                    o.total().to_string(),
                    l.id.clone(),
                    l.sku.clone(),
                    l.barcode.clone().unwrap_or_default(),
                    l.title.clone(),
                    l.image.clone().unwrap_or_default(),
                    l.quantity.to_string(),
                    l.unit_price.to_string(),
                    l.discount.to_string(),
                    serde_json::to_string(&l.product_tags).unwrap(),
                ]
                .join("|"),
            );
        }
    }
    rows.sort();
    rows
}

fn shop() -> Simulator {
    let sim = Simulator::start("Kōwhai Apparel");
    for n in 0..ORDERS {
        sim.add_order(sim_order(n));
    }
    sim
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn thirty_days_by_pages_match_the_ledger_and_a_later_run_brings_the_changes() {
    let sim = shop();
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(dir.path());
    let client = client(&sim, 3);
    let importer = Importer::new(&client, options());
    let rt = runtime();
    let mut reports = 0;
    let progress = rt
        .block_on(importer.import_paginated(&mut store, |_| reports += 1))
        .unwrap();
    let want = expected(&sim);
    assert!(want.len() > 150, "{}", want.len());
    assert_same(&store, &sim);
    assert_eq!(
        progress.estimated_total,
        Some(121),
        "orders of the last 30 days (both ends)"
    );
    assert_eq!(progress.done, 121);
    assert!(reports >= 5, "progress after every page ({reports})");
    let pages = sim
        .ledger()
        .operations
        .iter()
        .filter(|o| *o == "OrdersPage")
        .count();
    assert_eq!(pages, 5, "121 orders in pages of 25");
    let cursor = store
        .import_cursor(RETAILER, PAGED_STREAM)
        .unwrap()
        .unwrap();
    assert_eq!(cursor.cursor, None, "finished: no cursor left");
    assert!(cursor.updated_since.is_some());

    // Two new orders arrive; the next run asks only for what was updated since the newest
    // order it saw (inclusive: that one comes again and is skipped).
    for n in [9_001, 9_002] {
        let mut o = sim_order(n);
        o.created_at = "2026-11-23T20:00:00Z".into();
        o.updated_at = "2026-11-23T20:00:00Z".into();
        sim.add_order(o);
    }
    // And the shop changes an order already imported: new tags and e-mail, a line added.
    {
        let mut ledger = sim.ledger();
        let order = ledger.orders.get_mut("gid://shopify/Order/1001").unwrap();
        order.tags = vec!["vip".into()];
        order.email = "new-address@example.com".into();
        order.updated_at = "2026-11-23T20:10:00Z".into();
        let mut added = order.lines[0].clone();
        added.id = "gid://shopify/LineItem/555".into();
        added.sku = "SKU-ADDED".into();
        order.lines.push(added);
    }
    let progress = rt
        .block_on(importer.import_paginated(&mut store, |_| {}))
        .unwrap();
    assert_eq!(progress.done, 2, "{progress:?}");
    assert_eq!(progress.updated, 1, "{progress:?}");
    assert_eq!(
        progress.skipped, 1,
        "the newest order seen last time, unchanged: {progress:?}"
    );
    let updates: i64 = store
        .reader()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'order_updated'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(updates, 1);
    assert_same(&store, &sim);
}

#[test]
fn an_interrupted_import_resumes_from_its_cursor() {
    let sim = shop();
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(dir.path());
    // No retries: the third page's 502 stops the run.
    let client = client(&sim, 0);
    let importer = Importer::new(&client, options());
    let rt = runtime();
    // Requests: OrdersCount, page 1, page 2, then page 3 fails.
    sim.force(&[]);
    let before = sim.ledger().operations.len();
    assert_eq!(before, 0);
    let result = {
        let sim = sim.clone();
        let mut seen = 0;
        rt.block_on(importer.import_paginated(&mut store, move |_| {
            seen += 1;
            if seen == 2 {
                sim.force(&[Fault::ServerError]);
            }
        }))
    };
    assert!(result.is_err(), "{result:?}");
    let written = store
        .reader()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(written, 50, "two pages committed");
    let cursor = store
        .import_cursor(RETAILER, PAGED_STREAM)
        .unwrap()
        .unwrap();
    assert!(
        cursor.cursor.is_some(),
        "the cursor of the last committed page"
    );

    // A new run (as after a restart) continues from there: three more pages, no page twice.
    drop(store);
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let progress = rt
        .block_on(importer.import_paginated(&mut store, |_| {}))
        .unwrap();
    assert_eq!(progress.done, 71);
    assert_same(&store, &sim);
    let pages = sim
        .ledger()
        .operations
        .iter()
        .filter(|o| *o == "OrdersPage")
        .count();
    assert_eq!(
        pages, 5,
        "2 before the failure + 3 after it: nothing fetched twice"
    );
}

#[test]
fn thirty_days_by_a_bulk_operation_match_the_ledger() {
    let sim = shop();
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(dir.path());
    let client = client(&sim, 3);
    let importer = Importer::new(&client, options());
    let rt = runtime();
    let progress = rt
        .block_on(importer.import_bulk(&mut store, |_| {}))
        .unwrap();
    assert_same(&store, &sim);
    assert_eq!(progress.done, 121);
    let ops = sim.ledger().operations.clone();
    assert_eq!(ops.iter().filter(|o| *o == "BulkRun").count(), 1);
    assert!(
        ops.iter().filter(|o| *o == "BulkStatus").count() >= 2,
        "polled until COMPLETED"
    );
    assert!(!ops.iter().any(|o| o == "OrdersPage"));
    let cursor = store.import_cursor(RETAILER, BULK_STREAM).unwrap().unwrap();
    assert_eq!(cursor.cursor, None, "the finished operation is forgotten");
    assert!(cursor.updated_since.is_some());
}

/// Ungrouped bulk output fed in awkward chunks: a line item before its order, one far after
/// it, a `__parentId` with spaces around its colon, and one whose order is not in the file
/// (left out, not fatal). Every order is written whole, in one run.
#[test]
fn ungrouped_bulk_lines_in_any_order_make_whole_orders() {
    use returnhub_connectors::import::JsonlImport;
    let money =
        |amount: &str| format!(r#"{{"shopMoney":{{"amount":"{amount}","currencyCode":"NZD"}}}}"#);
    let order = |n: u32| {
        format!(
            r##"{{"id":"gid://shopify/Order/{n}","name":"#{n}","email":"c{n}@example.com","createdAt":"2026-11-20T00:00:00Z","updatedAt":"2026-11-2{n}T00:00:00Z","currencyCode":"NZD","tags":[],"discountCodes":[],"customer":{{"displayName":"C {n}"}},"shippingAddress":{{"countryCodeV2":"NZ"}},"subtotalPriceSet":{m},"totalDiscountsSet":{z},"totalPriceSet":{m}}}"##,
            m = money("20.00"),
            z = money("0.00"),
        )
    };
    let line = |n: u32, k: u32, colon: &str| {
        format!(
            r#"{{"id":"gid://shopify/LineItem/{n}{k}","sku":"SKU-{n}-{k}","title":"T","quantity":1,"variant":null,"image":null,"product":null,"originalUnitPriceSet":{m},"discountAllocations":[],"__parentId"{colon}"gid://shopify/Order/{n}"}}"#,
            m = money("10.00"),
        )
    };
    let file = [
        line(1, 1, ":"),
        order(2),
        line(2, 1, " : "),
        order(1),
        line(9, 1, ":"),
        line(3, 1, ":"),
        order(3),
        line(2, 2, ":"),
        line(1, 2, ":"),
    ]
    .join("\n")
        + "\n";
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(dir.path());
    let options = ImportOptions {
        batch: 2,
        ..ImportOptions::new(RETAILER)
    };
    // A crashed import's scratch file of two days ago is removed; a fresh one is not.
    let stale = dir.path().join(".bulk-import-crashed.scratch");
    let fresh = dir.path().join(".bulk-import-running.scratch");
    for file in [&stale, &fresh] {
        std::fs::write(file, b"left over").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 86_400))
        .unwrap();
    let mut import = JsonlImport::new(
        &options,
        BULK_STREAM,
        Some("op-1".into()),
        NOW,
        None,
        dir.path(),
    )
    .unwrap();
    for chunk in file.as_bytes().chunks(7) {
        import.push(chunk).unwrap();
    }
    assert_eq!(import.orders_read(), 3);
    let scratch = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".scratch")
            })
            .count()
    };
    assert!(!stale.exists(), "a crashed import's file is removed");
    std::fs::remove_file(&fresh).unwrap();
    assert_eq!(scratch(dir.path()), 1, "the lines wait beside the store");
    let mut reports = 0;
    let progress = import
        .finish(&mut store, &|| NOW, &mut |_| reports += 1)
        .unwrap();
    assert_eq!(progress.done, 3);
    assert_eq!(scratch(dir.path()), 0, "and the scratch file is gone");
    assert!(reports >= 2, "told after each batch and at the end");
    let lines = |order: &str| -> Vec<String> {
        let mut stmt = store
            .reader()
            .prepare("SELECT id FROM order_lines WHERE order_id = ?1 ORDER BY id")
            .unwrap();
        stmt.query_map([order], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        lines("gid://shopify/Order/1"),
        ["gid://shopify/LineItem/11", "gid://shopify/LineItem/12"]
    );
    assert_eq!(
        lines("gid://shopify/Order/2"),
        ["gid://shopify/LineItem/21", "gid://shopify/LineItem/22"]
    );
    assert_eq!(
        lines("gid://shopify/Order/3"),
        ["gid://shopify/LineItem/31"]
    );
    let cursor = store.import_cursor(RETAILER, BULK_STREAM).unwrap().unwrap();
    assert_eq!(
        cursor.updated_since.as_deref(),
        Some("2026-11-23T00:00:00Z")
    );
}

/// An order of 250 lines (Shopify gives 50 a page in `OrdersPage`, 250 in `OrderById`): every
/// line is imported, by pages and by id, its lines read page by page after the first.
#[test]
fn an_order_of_250_lines_is_imported_whole() {
    let sim = Simulator::start("Kōwhai");
    let mut long = sim_order(1);
    long.lines = (0..250)
        .map(|k| SimLine {
            id: format!("gid://shopify/LineItem/9{k:04}"),
            sku: format!("SKU-L-{k}"),
            title: format!("Line {k}"),
            barcode: None,
            image: None,
            product_tags: vec![],
            quantity: 1,
            unit_price: 1_000 + i64::from(k),
            discount: 0,
        })
        .collect();
    long.id = "gid://shopify/Order/777".into();
    sim.add_order(long.clone());
    let mut longer = long.clone();
    longer.id = "gid://shopify/Order/778".into();
    longer.name = "#778".into();
    longer.lines = (0..260)
        .map(|k| SimLine {
            id: format!("gid://shopify/LineItem/8{k:04}"),
            sku: format!("SKU-L-{k}"),
            ..long.lines[0].clone()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(dir.path());
    let client = client(&sim, 3);
    let rt = runtime();
    rt.block_on(Importer::new(&client, options()).import_paginated(&mut store, |_| {}))
        .unwrap();
    let count = |store: &Store, order: &str| -> i64 {
        store
            .reader()
            .query_row(
                "SELECT count(*) FROM order_lines WHERE order_id = ?1",
                [order],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(count(&store, "gid://shopify/Order/777"), 250);
    // By id (as after an orders/updated webhook): 250 on the first page, the rest after.
    sim.add_order(longer);
    let written = rt
        .block_on(
            Importer::new(&client, options()).import_order(&mut store, "gid://shopify/Order/778"),
        )
        .unwrap();
    assert!(written);
    assert_eq!(count(&store, "gid://shopify/Order/778"), 260);
    let ops = sim.ledger().operations.clone();
    assert!(ops.iter().any(|o| o == "OrderLines"), "{ops:?}");
    assert_eq!(sim.ledger().invalid_documents, 0);
}
