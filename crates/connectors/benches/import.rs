//! Importing 100,000 orders from a bulk operation's JSONL into a real hub store, beside a
//! baseline that only parses the same file with serde_json, and one that parses it and
//! writes the same rows with bare INSERTs (`child_bare`: the same work minus our layers).
//!
//! ```text
//! cargo bench -p returnhub-connectors --bench import
//! ```
//!
//! Each measurement runs in a child process (this binary again), so its peak memory (VmHWM)
//! is its own. The file is generated once into `$RETURNHUB_BENCH_DIR` (default
//! `target/bench-data`). Medians of 3 runs; the aim is at least 20,000 orders/s with peak
//! memory under 200 MB.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use returnhub_connectors::import::{ImportOptions, JsonlImport, BULK_STREAM};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::RetailerRecord;
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store};

const ORDERS: u64 = 100_000;
const RUNS: usize = 3;
const NOW: i64 = 1_795_461_900_000;

fn data_dir() -> PathBuf {
    std::env::var_os("RETURNHUB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data")
        })
}

fn money(minor: i64, currency: Currency) -> serde_json::Value {
    serde_json::json!({ "shopMoney": {
        "amount": Money::new(minor, currency).to_decimal_string(), "currencyCode": currency.code() } })
}

/// The bulk file: one line per order and one per line item with `__parentId`, as Shopify
/// writes it for `graphql/bulk_orders.graphql` without `groupObjects`: in no particular order
/// (each line goes through a pool of 50,000 and leaves at random, so a line item comes before
/// its order, after it, or tens of thousands of lines away).
fn generate(path: &Path) {
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
    let mut rng: u64 = 0x1B0_2026;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    const POOL: usize = 50_000;
    let mut pool: Vec<String> = Vec::with_capacity(POOL);
    for n in 0..ORDERS {
        let currency = if n % 11 == 0 {
            Currency::AUD
        } else {
            Currency::NZD
        };
        let lines = 1 + next() % 4;
        let mut subtotal = 0;
        let mut discount = 0;
        let mut items = Vec::new();
        for k in 0..lines {
            let quantity = 1 + (next() % 3) as i64;
            let price = 1_500 + (next() % 20_000) as i64;
            let off = if next() % 4 == 0 { price / 10 } else { 0 };
            subtotal += price * quantity;
            discount += off;
            items.push(serde_json::json!({
                "id": format!("gid://shopify/LineItem/{}", n * 10 + k),
                "sku": format!("SKU-{}-{}", next() % 5_000, k),
                "title": format!("Merino crew {} / size {}", next() % 90, ["S", "M", "L", "XL"][k as usize]),
                "quantity": quantity,
                "variant": { "id": format!("gid://shopify/ProductVariant/{}", next() % 50_000), "barcode": format!("94{:011}", next() % 100_000_000_000) },
                "image": { "url": format!("https://cdn.shopify.com/s/files/1/0000/{}/products/{}.jpg", n % 977, next() % 100_000) },
                "product": { "tags": ["merino", "winter"] },
                "originalUnitPriceSet": money(price, currency),
                "discountAllocations": if off > 0 { serde_json::json!([{ "allocatedAmountSet": money(off, currency) }]) } else { serde_json::json!([]) },
                "__parentId": format!("gid://shopify/Order/{}", 1_000_000 + n),
            }));
        }
        let day = n % 30;
        let order = serde_json::json!({
            "id": format!("gid://shopify/Order/{}", 1_000_000 + n),
            "name": format!("#{}", 100_000 + n),
            "email": format!("customer{}@example.com", next() % 60_000),
            "createdAt": format!("2026-10-{:02}T{:02}:{:02}:00Z", 25 + day % 6, n % 24, n % 60),
            "updatedAt": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + day % 22, n % 24, n % 60),
            "currencyCode": currency.code(),
            "tags": if n % 5 == 0 { vec!["vip", "wholesale"] } else { vec!["online"] },
            "discountCodes": if discount > 0 { vec!["WINTER10"] } else { vec![] },
            "customer": { "displayName": format!("Customer {}", next() % 60_000) },
            "shippingAddress": { "countryCodeV2": if currency == Currency::AUD { "AU" } else { "NZ" } },
            "subtotalPriceSet": money(subtotal, currency),
            "totalDiscountsSet": money(discount, currency),
            "totalPriceSet": money(subtotal - discount, currency),
        });
        for line in std::iter::once(order).chain(items) {
            pool.push(line.to_string());
            if pool.len() == POOL {
                let at = (next() % POOL as u64) as usize;
                writeln!(out, "{}", pool.swap_remove(at)).unwrap();
            }
        }
    }
    while !pool.is_empty() {
        let at = (next() % pool.len() as u64) as usize;
        writeln!(out, "{}", pool.swap_remove(at)).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    std::fs::rename(&tmp, path).unwrap();
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child: parse every line with serde_json and drop it.
fn child_parse(file: &Path) -> u64 {
    let mut orders = 0;
    let reader = BufReader::with_capacity(64 << 10, std::fs::File::open(file).unwrap());
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        if value.get("__parentId").is_none() {
            orders += 1;
        }
        std::hint::black_box(value);
    }
    orders
}

/// Shopify's decimal amount ("105.99") in minor units, for the bare baseline.
fn minor(money: &BareMoney<'_>) -> i64 {
    let text = money.shop_money.amount;
    let (whole, cents) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i64>().unwrap() * 100 + format!("{cents:0<2}")[..2].parse::<i64>().unwrap()
}

// The bare baseline's lines, typed and borrowed from the line as serde_json reads them: the
// fastest parse of what it writes.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareMoney<'a> {
    #[serde(borrow)]
    shop_money: BareAmount<'a>,
}
#[derive(serde::Deserialize)]
struct BareAmount<'a> {
    amount: &'a str,
}
#[derive(serde::Deserialize)]
struct BareUrl<'a> {
    url: &'a str,
}
#[derive(serde::Deserialize)]
struct BareVariant<'a> {
    barcode: Option<&'a str>,
}
#[derive(serde::Deserialize)]
struct BareProduct<'a> {
    #[serde(borrow)]
    tags: Vec<&'a str>,
}
#[derive(serde::Deserialize)]
struct BareName<'a> {
    #[serde(rename = "displayName")]
    display_name: &'a str,
}
#[derive(serde::Deserialize)]
struct BareAddress<'a> {
    #[serde(rename = "countryCodeV2")]
    country: &'a str,
}
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareLine<'a> {
    id: &'a str,
    /// A line item's order; none on an order's own line.
    #[serde(rename = "__parentId")]
    parent: Option<&'a str>,
    // A line item's fields.
    sku: Option<&'a str>,
    title: Option<&'a str>,
    quantity: Option<i64>,
    #[serde(borrow)]
    variant: Option<BareVariant<'a>>,
    #[serde(borrow)]
    image: Option<BareUrl<'a>>,
    #[serde(borrow)]
    product: Option<BareProduct<'a>>,
    #[serde(borrow)]
    original_unit_price_set: Option<BareMoney<'a>>,
    // An order's fields.
    name: Option<&'a str>,
    email: Option<&'a str>,
    created_at: Option<&'a str>,
    currency_code: Option<&'a str>,
    #[serde(borrow)]
    tags: Option<Vec<&'a str>>,
    #[serde(borrow)]
    customer: Option<BareName<'a>>,
    #[serde(borrow)]
    shipping_address: Option<BareAddress<'a>>,
    #[serde(borrow)]
    subtotal_price_set: Option<BareMoney<'a>>,
    #[serde(borrow)]
    total_discounts_set: Option<BareMoney<'a>>,
    #[serde(borrow)]
    total_price_set: Option<BareMoney<'a>>,
}

/// Child: the same work minus our layers — each line parsed into typed, borrowed structs and
/// written straight into the same tables of a fresh store (the order; an event per thousand
/// orders, as the importer groups them, with their lines as its payload, and its sync outbox
/// row; each line item to `order_lines` as it comes), in
/// transactions of the app's batch size at the same durability and page cache, the store
/// closed inside the timing. What it leaves out: putting line items with their orders (so
/// it writes them in the file's order, and with foreign keys off, since a line item may come
/// before its order), checking them, the event's own JSON, the projection's dispatch, the HLC.
fn child_bare(file: &Path, store_dir: &Path) -> u64 {
    let path = store_dir.join("hub.db");
    drop(Store::open(&path).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -{};
         INSERT INTO retailers (id, name, currency, policy_json)
           VALUES ('kowhai', 'Kowhai Apparel', 'NZD', '{{\"trigger\":\"processing\"}}');",
        returnhub_connectors::import::IMPORT_CACHE_MB * 1024
    ))
    .unwrap();
    let batch = ImportOptions::new("kowhai").batch as u64;
    let mut orders = 0u64;
    let reader = BufReader::with_capacity(64 << 10, std::fs::File::open(file).unwrap());
    let mut tx = conn.transaction().unwrap();
    let mut payload = String::new();
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        let v: BareLine<'_> = serde_json::from_slice(&line).unwrap();
        if let Some(parent) = v.parent {
            tx.prepare_cached(
                "INSERT INTO order_lines (id, order_id, sku, ean, title, image, quantity,
                   unit_price_minor, discount_minor, product_tags_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
            )
            .unwrap()
            .execute(rusqlite::params![
                v.id,
                parent,
                v.sku,
                v.variant.and_then(|x| x.barcode),
                v.title,
                v.image.map(|x| x.url),
                v.quantity,
                minor(v.original_unit_price_set.as_ref().unwrap()),
                serde_json::to_string(&v.product.map(|p| p.tags).unwrap_or_default()).unwrap(),
            ])
            .unwrap();
            continue;
        }
        orders += 1;
        tx.prepare_cached(
            "INSERT INTO orders (id, retailer_id, order_number, customer_name, email, created_at,
               country, currency, tags_json, subtotal_minor, discount_minor, total_minor)
             VALUES (?1, 'kowhai', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .unwrap()
        .execute(rusqlite::params![
            v.id,
            v.name,
            v.customer.map(|c| c.display_name),
            v.email,
            v.created_at,
            v.shipping_address.map(|a| a.country),
            v.currency_code,
            serde_json::to_string(&v.tags.unwrap_or_default()).unwrap(),
            minor(v.subtotal_price_set.as_ref().unwrap()),
            minor(v.total_discounts_set.as_ref().unwrap()),
            minor(v.total_price_set.as_ref().unwrap()),
        ])
        .unwrap();
        // The orders' event, as the importer groups them: one per ORDERS_PER_EVENT.
        payload.push(if payload.is_empty() { '[' } else { ',' });
        payload.push_str(std::str::from_utf8(&line).unwrap());
        if orders.is_multiple_of(ORDERS_PER_EVENT) {
            bare_event(&tx, orders, &mut payload);
        }
        if orders.is_multiple_of(batch) {
            tx.commit().unwrap();
            tx = conn.transaction().unwrap();
        }
    }
    if !payload.is_empty() {
        bare_event(&tx, orders, &mut payload);
    }
    tx.commit().unwrap();
    drop(conn);
    orders
}

/// The importer's orders per event (`ORDERS_PER_EVENT` in its module).
const ORDERS_PER_EVENT: u64 = 1_000;

/// The bare baseline's event for the orders in `payload` (a JSON array begun, not closed),
/// and its sync outbox row; empties `payload`.
fn bare_event(tx: &rusqlite::Transaction<'_>, orders: u64, payload: &mut String) {
    payload.push(']');
    let event_id = format!("{:08x}-0000-7000-8000-{orders:012x}", NOW / 1000);
    tx.prepare_cached(
        "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id, payload,
           recorded_at, version)
         VALUES (?1, 'd', ?1, 'bench', NULL, 'orders_imported', NULL, ?2,
           '2026-11-23T09:00:00.000Z', 1)",
    )
    .unwrap()
    .execute(rusqlite::params![event_id, payload.as_str()])
    .unwrap();
    tx.prepare_cached(
        "INSERT INTO outbox (topic, dedupe_key, event_id, payload, created_at, updated_at)
         VALUES ('sync', ?1, ?1, '{}', '2026-11-23T09:00:00.000Z', '2026-11-23T09:00:00.000Z')",
    )
    .unwrap()
    .execute([&event_id])
    .unwrap();
    payload.clear();
}

/// Child: our import, into a fresh store file (WAL, synchronous=FULL, one transaction per
/// batch with its checkpoint; the app's batch size and page cache), fed 64 KiB at a time as
/// the download arrives. The store is closed (its WAL checkpointed) inside the timing.
fn child_import(file: &Path, store_dir: &Path) -> u64 {
    let mut store = Store::open(&store_dir.join("hub.db")).unwrap();
    store
        .set_cache_mb(returnhub_connectors::import::IMPORT_CACHE_MB)
        .unwrap();
    store
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(RetailerRecord {
                    id: "kowhai".into(),
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
                actor: "bench".into(),
                station: None,
            })
        })
        .unwrap();
    let mut options = ImportOptions::new("kowhai");
    if let Ok(b) = std::env::var("BATCH") {
        options.batch = b.parse().unwrap();
    }
    let mut import = JsonlImport::new(
        &options,
        BULK_STREAM,
        Some("gid://shopify/BulkOperation/1".into()),
        NOW,
        Some(ORDERS),
        store_dir,
    )
    .unwrap();
    let mut file = std::fs::File::open(file).unwrap();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        import.push(&chunk[..n]).unwrap();
    }
    let progress = import.finish(&mut store, &|| NOW, &mut |_| {}).unwrap();
    let stored: u64 = store
        .reader()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, progress.done);
    progress.done
}

fn run_child(mode: &str, file: &Path) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", mode])
        .arg(file)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no {name} in {text:?}"))
    };
    let orders = field("orders");
    assert_eq!(orders as u64, ORDERS, "{mode} saw every order");
    (orders / field("secs"), field("peak_kb") as u64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let (mode, file, dir) = (&args[2], Path::new(&args[3]), Path::new(&args[4]));
        let started = Instant::now();
        let orders = match mode.as_str() {
            "parse" => child_parse(file),
            "bare" => child_bare(file, dir),
            _ => child_import(file, dir),
        };
        let secs = started.elapsed().as_secs_f64();
        println!("orders={orders} secs={secs} peak_kb={}", peak_kb());
        return;
    }
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("bulk-orders-ungrouped-{ORDERS}.jsonl"));
    if !file.exists() {
        eprintln!("generating {} …", file.display());
        generate(&file);
    }
    let bytes = std::fs::metadata(&file).unwrap().len();
    println!(
        "import of {ORDERS} orders from a bulk JSONL file ({} MB), {RUNS} runs each",
        bytes >> 20
    );
    let mut parse = (Vec::new(), Vec::new());
    let mut import = (Vec::new(), Vec::new());
    let mut bare = Vec::new();
    for _ in 0..RUNS {
        let (rate, peak) = run_child("parse", &file);
        parse.0.push(rate);
        parse.1.push(peak as f64);
        bare.push(run_child("bare", &file).0);
        let (rate, peak) = run_child("import", &file);
        import.0.push(rate);
        import.1.push(peak as f64);
    }
    let (parse_rate, parse_peak) = (median(parse.0), median(parse.1) / 1024.0);
    let (import_rate, import_peak) = (median(import.0), median(import.1) / 1024.0);
    let bare_rate = median(bare);
    println!(
        "baseline, serde_json parse only: {parse_rate:>10.0} orders/s   peak {parse_peak:>6.1} MB"
    );
    println!("baseline, parse + bare inserts:  {bare_rate:>10.0} orders/s");
    println!("import into the store:           {import_rate:>10.0} orders/s   peak {import_peak:>6.1} MB");
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: Shopify bulk import, {ORDERS} orders | {import_rate:.0} orders/s, peak \
         {import_peak:.0} MB | parse only {parse_rate:.0} orders/s | {:.2}× | ≥ 0.33× parse-only, \
         < 200 MB",
        import_rate / parse_rate
    );
    println!(
        "figure: Shopify bulk import, {ORDERS} orders, against the same rows written bare | \
         {import_rate:.0} orders/s | parse + bare inserts into the same tables {bare_rate:.0} \
         orders/s | {:.2}× | —",
        import_rate / bare_rate
    );
    println!(
        "ratio import / parse: {:.3}  (aim: >= 20,000 orders/s and < 200 MB peak: {})",
        import_rate / parse_rate,
        if import_rate >= 20_000.0 && import_peak < 200.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
