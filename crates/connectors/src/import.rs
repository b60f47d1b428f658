//! Importing a shop's orders into the hub store as `OrdersImported` events (up to a thousand
//! new orders each): the last 30 days
//! (or, once a run has finished, what changed since it), by cursor pagination or by a bulk
//! operation whose JSONL is streamed line by line. Each batch of orders is written in one
//! transaction together with an `ImportCheckpoint`, so a resumed import starts where the
//! last committed batch ended. Orders are keyed by their Shopify GIDs (`orders.id` = Order
//! GID, `order_lines.id` = LineItem GID), so actions map back to Shopify.
//!
//! An order already in the store is compared with what the shop sent: unchanged, it is
//! skipped; changed, an `OrderUpdated` event brings the store up to date (lines updated or
//! added, never removed). Webhook deliveries are not ordered, but imports are (by
//! `updated_at`), so an older version never overwrites a newer one here.

use std::path::Path;
use std::time::Duration;

use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{OrderLineRecord, OrderRecord};
use returnhub_core::time::{parse_rfc3339, rfc3339, UnixMillis, MS_PER_DAY};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::graphql::{documents, GraphqlError, Repeat, ShopifyClient};

/// The page cache an importing connection should have ([`Store::set_cache_mb`]).
pub const IMPORT_CACHE_MB: u32 = 48;

/// New orders per `OrdersImported` event, and lines: an event stays around a megabyte or two,
/// so a sync page carries several and the central store's body limit is never near.
const ORDERS_PER_EVENT: usize = 1_000;
const LINES_PER_EVENT: usize = 5_000;

/// The stream names under which cursors are kept.
pub const PAGED_STREAM: &str = "shopify.orders";
pub const BULK_STREAM: &str = "shopify.orders.bulk";
/// Single orders fetched after a webhook (never moves the other streams' cursors).
pub const WEBHOOK_STREAM: &str = "shopify.orders.webhook";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Shopify(#[from] GraphqlError),
    #[error("import: {0}")]
    Store(#[from] StoreError),
    #[error("import: order {order}: {message}")]
    BadOrder { order: String, message: String },
    /// The scratch database where an ungrouped bulk file waits (a temporary file).
    #[error("import: the scratch file for the bulk output failed: {0}")]
    Scratch(String),
    #[error("import: bulk operation {id} ended {status}: {detail}")]
    Bulk {
        id: String,
        status: String,
        detail: String,
    },
}

/// Where an import stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportProgress {
    /// Orders written by this run.
    pub done: u64,
    /// Orders already in the store that the shop changed: brought up to date.
    pub updated: u64,
    /// Orders already in the store, unchanged.
    pub skipped: u64,
    /// What Shopify counted for the filter (may be an estimate).
    pub estimated_total: Option<u64>,
    /// Orders (done + skipped) per second so far.
    pub rate_per_s: f64,
    /// Seconds left at that rate, when the total is known.
    pub eta_s: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub retailer_id: String,
    /// How far back the first import reaches.
    pub days: u32,
    pub page_size: u32,
    /// Orders per transaction in the bulk path.
    pub batch: usize,
    /// Between two polls of a running bulk operation.
    pub poll_interval: Duration,
    pub actor: String,
}

impl ImportOptions {
    pub fn new(retailer_id: &str) -> ImportOptions {
        ImportOptions {
            retailer_id: retailer_id.to_owned(),
            days: 30,
            page_size: 50,
            // Orders per transaction in the bulk path: fewer, larger commits rewrite (and
            // checkpoint) the random-keyed index pages (SKU, EAN, email) less often; 8,000
            // keeps the import's peak memory near 150 MB with its 48 MB page cache
            // (IMPORT_CACHE_MB). Measured by benches/import.rs.
            batch: 8000,
            poll_interval: Duration::from_secs(5),
            actor: "system:shopify-import".into(),
        }
    }
}

// --- Shopify's order shape (the fields of graphql/order_fields.graphql) -------------------

#[derive(Debug, Deserialize)]
struct MoneyBag {
    #[serde(rename = "shopMoney")]
    shop_money: MoneyV2,
}

#[derive(Debug, Deserialize)]
struct MoneyV2 {
    amount: String,
    #[serde(rename = "currencyCode")]
    currency_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShopOrder {
    id: String,
    name: String,
    email: Option<String>,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    tags: Vec<String>,
    customer: Option<Customer>,
    shipping_address: Option<Address>,
    subtotal_price_set: Option<MoneyBag>,
    total_discounts_set: Option<MoneyBag>,
    total_price_set: MoneyBag,
    line_items: Option<Nodes<ShopLine>>,
}

/// A page of a connection: its nodes, and whether more follow (and from where).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nodes<T> {
    nodes: Vec<T>,
    page_info: Option<PageInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// Every line item of `order`: the first page it came with, then the rest page by page
/// (`OrderLines`), so that an order of 250 lines is imported whole, never its first 50.
async fn all_lines(
    client: &ShopifyClient,
    order: &mut ShopOrder,
) -> Result<Vec<ShopLine>, ImportError> {
    let Some(first) = order.line_items.take() else {
        return Ok(Vec::new());
    };
    let mut lines = first.nodes;
    let mut next = first.page_info;
    while let Some(PageInfo {
        has_next_page: true,
        end_cursor,
    }) = next
    {
        let data = client
            .execute(
                &documents::ORDER_LINES,
                json!({ "id": order.id, "after": end_cursor }),
                Repeat::Safe,
            )
            .await?;
        let page: Nodes<ShopLine> = serde_json::from_value(data["order"]["lineItems"].clone())
            .map_err(|e| ImportError::BadOrder {
                order: order.id.clone(),
                message: format!("its line items: {e}"),
            })?;
        if page.nodes.is_empty() {
            // A page of nothing that says more follow would loop for ever.
            break;
        }
        lines.extend(page.nodes);
        next = page.page_info;
    }
    Ok(lines)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    country_code_v2: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShopLine {
    id: String,
    sku: Option<String>,
    title: String,
    quantity: u32,
    variant: Option<Variant>,
    image: Option<Image>,
    product: Option<Product>,
    original_unit_price_set: MoneyBag,
    #[serde(default)]
    discount_allocations: Vec<Allocation>,
}

#[derive(Debug, Deserialize)]
struct Variant {
    barcode: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Image {
    url: String,
}

#[derive(Debug, Deserialize)]
struct Product {
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Allocation {
    #[serde(rename = "allocatedAmountSet")]
    allocated_amount_set: MoneyBag,
}

fn money(order: &str, what: &str, m: &MoneyV2) -> Result<Money, ImportError> {
    let bad = |message: String| ImportError::BadOrder {
        order: order.to_owned(),
        message,
    };
    let currency: Currency = m
        .currency_code
        .parse()
        .map_err(|_| bad(format!("{what}: unknown currency {:?}", m.currency_code)))?;
    Money::parse(&m.amount, currency).map_err(|e| bad(format!("{what}: {e}")))
}

/// Turns Shopify's order and its line items into the hub's record.
fn order_record(
    retailer_id: &str,
    order: ShopOrder,
    lines: Vec<ShopLine>,
) -> Result<OrderRecord, ImportError> {
    let id = order.id.as_str();
    let total = money(id, "total", &order.total_price_set.shop_money)?;
    let zero = Money::new(0, total.currency);
    let opt = |what: &str, bag: &Option<MoneyBag>| -> Result<Money, ImportError> {
        bag.as_ref()
            .map_or(Ok(zero), |b| money(id, what, &b.shop_money))
    };
    let created_ms = parse_rfc3339(&order.created_at).ok_or_else(|| ImportError::BadOrder {
        order: order.id.clone(),
        message: format!("createdAt {:?} is not a time", order.created_at),
    })?;
    let mut records = Vec::with_capacity(lines.len());
    for line in lines {
        let mut discount = zero;
        for a in &line.discount_allocations {
            let part = money(id, "line discount", &a.allocated_amount_set.shop_money)?;
            discount = discount
                .checked_add(part)
                .map_err(|e| ImportError::BadOrder {
                    order: order.id.clone(),
                    message: format!("line {}: {e}", line.id),
                })?;
        }
        records.push(OrderLineRecord {
            sku: line.sku.unwrap_or_default(),
            ean: line
                .variant
                .and_then(|v| v.barcode)
                .filter(|b| !b.is_empty()),
            title: line.title,
            image: line.image.map(|i| i.url),
            quantity: line.quantity,
            unit_price: money(id, "unit price", &line.original_unit_price_set.shop_money)?,
            discount,
            product_tags: line.product.map(|p| p.tags).unwrap_or_default(),
            id: line.id,
        });
    }
    Ok(OrderRecord {
        retailer_id: retailer_id.to_owned(),
        order_number: order.name,
        customer_name: order
            .customer
            .and_then(|c| c.display_name)
            .unwrap_or_default(),
        email: order.email.unwrap_or_default(),
        created_at: rfc3339(created_ms),
        // "ZZ" (unknown) for orders with no shipping address, e.g. digital goods.
        country: order
            .shipping_address
            .and_then(|a| a.country_code_v2)
            .filter(|c| c.len() == 2)
            .unwrap_or_else(|| "ZZ".into()),
        tags: order.tags,
        subtotal: opt("subtotal", &order.subtotal_price_set)?,
        discount: opt("discount", &order.total_discounts_set)?,
        total,
        lines: records,
        id: order.id,
    })
}

/// Whether `new` (as the shop sent it) says something `stored` does not: a header field, or
/// a line that is new or different. Lines the shop no longer lists do not count (they stay).
/// Whether `new` (the shop's order now) differs from `stored` in anything the hub keeps.
pub fn changes(stored: &OrderRecord, new: &OrderRecord) -> bool {
    fn header(o: &OrderRecord) -> (&str, &str, &str, &str, &[String], [Money; 3]) {
        (
            &o.order_number,
            &o.customer_name,
            &o.email,
            &o.country,
            &o.tags,
            [o.subtotal, o.discount, o.total],
        )
    }
    header(stored) != header(new)
        || new
            .lines
            .iter()
            .any(|line| !stored.lines.iter().any(|s| s == line))
}

/// Counts of one written batch.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    new: u64,
    updated: u64,
    unchanged: u64,
}

/// Writes the batch's new orders, the changed ones as updates, and a checkpoint, in one
/// transaction.
fn write_batch(
    store: &mut Store,
    now: UnixMillis,
    options: &ImportOptions,
    stream: &str,
    orders: Vec<OrderRecord>,
    cursor: Option<String>,
    updated_since: Option<String>,
) -> Result<Written, ImportError> {
    let existing = {
        let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
        store.existing_orders(&ids)?
    };
    let mut events = Vec::with_capacity(orders.len());
    let mut new_orders = Vec::new();
    let mut counts = Written::default();
    for order in orders {
        if !existing.contains(&order.id) {
            counts.new += 1;
            new_orders.push(order);
            continue;
        }
        match store.order_record(&order.id)? {
            Some(stored) if stored.total.currency != order.total.currency => {
                return Err(ImportError::BadOrder {
                    order: order.id,
                    message: format!(
                        "its currency changed from {} to {}: not applied",
                        stored.total.currency, order.total.currency
                    ),
                })
            }
            Some(stored) if changes(&stored, &order) => {
                counts.updated += 1;
                events.push(DomainEvent::OrderUpdated(order));
            }
            _ => counts.unchanged += 1,
        }
    }
    // New orders go in a few large events rather than one each: the event log's per-event
    // cost (its row, indexes and sync outbox row) was most of an import's time.
    let mut chunks = Vec::new();
    let mut lines = 0;
    for order in new_orders {
        let full = chunks.last().is_none_or(|c: &Vec<OrderRecord>| {
            c.len() >= ORDERS_PER_EVENT || lines + order.lines.len() > LINES_PER_EVENT
        });
        if full {
            chunks.push(Vec::new());
            lines = 0;
        }
        lines += order.lines.len();
        chunks.last_mut().expect("pushed above").push(order);
    }
    let imported = chunks
        .into_iter()
        .map(|orders| DomainEvent::OrdersImported {
            retailer_id: options.retailer_id.clone(),
            orders,
        });
    let events: Vec<DomainEvent> = imported.chain(events).collect();
    store.write(now, |tx| {
        for event in events {
            tx.append(EventInput {
                event,
                actor: options.actor.clone(),
                station: None,
            })?;
        }
        tx.append(EventInput {
            event: DomainEvent::ImportCheckpoint {
                retailer_id: options.retailer_id.clone(),
                stream: stream.to_owned(),
                cursor,
                updated_since,
            },
            actor: options.actor.clone(),
            station: None,
        })
    })?;
    Ok(counts)
}

/// Rate and ETA bookkeeping.
#[derive(Debug)]
struct Meter {
    started: UnixMillis,
    progress: ImportProgress,
}

impl Meter {
    fn new(started: UnixMillis, estimated_total: Option<u64>) -> Meter {
        Meter {
            started,
            progress: ImportProgress {
                estimated_total,
                ..ImportProgress::default()
            },
        }
    }

    fn add(&mut self, now: UnixMillis, batch: Written) -> &ImportProgress {
        let p = &mut self.progress;
        p.done += batch.new;
        p.updated += batch.updated;
        p.skipped += batch.unchanged;
        let seen = (p.done + p.updated + p.skipped) as f64;
        let secs = (now - self.started).max(1) as f64 / 1000.0;
        p.rate_per_s = seen / secs;
        p.eta_s = p.estimated_total.map(|total| {
            if p.rate_per_s > 0.0 {
                (total as f64 - seen).max(0.0) / p.rate_per_s
            } else {
                0.0
            }
        });
        tracing::info!(
            done = p.done,
            updated = p.updated,
            skipped = p.skipped,
            estimated_total = p.estimated_total,
            rate_per_s = p.rate_per_s as u64,
            eta_s = p.eta_s.map(|s| s as u64),
            "order import progress"
        );
        p
    }
}

/// Assembles orders from bulk-operation JSONL (one line per order, one per line item with
/// `__parentId`) fed in arbitrary chunks, then writes them in batches.
///
/// With `groupObjects: false` (the default, and what [`documents::BULK_RUN`] asks for, since
/// grouping slows the operation down and makes it time out) Shopify writes the lines in any
/// order: a line item may come before its order, right after it or far from it. So every line
/// waits in a scratch database (a temporary file, deleted when the import ends) until the file
/// has been read, and the orders are then put together from there, by order id (each order's
/// lines in the file's order).
/// Memory holds one partial line, the scratch database's page cache and one batch.
pub struct JsonlImport<'o> {
    partial: Vec<u8>,
    scratch: Scratch,
    out: Assembler<'o>,
}

/// Where the file's lines wait: each under the order it belongs to (an order under its own
/// id), in the order they came.
struct Scratch {
    conn: rusqlite::Connection,
    orders: u64,
    lines: u64,
    /// Deleted when the import ends (dropped after `conn`, which is declared first).
    _file: tempfile::NamedTempFile,
}

/// What a scratch row is: an order, or one of its line items (sorted after it).
const ORDER_ROW: i64 = 0;
const LINE_ROW: i64 = 1;

impl Scratch {
    fn open(dir: &Path) -> Result<Scratch, ImportError> {
        remove_stale_scratch(dir);
        // A file of its own beside the store (not SQLite's temporary database, which grows
        // in memory first): nothing in it needs to survive a crash, since the bulk
        // operation's file is read again on resume, so it is written without a journal.
        let file = tempfile::Builder::new()
            .prefix(".bulk-import-")
            .suffix(".scratch")
            .tempfile_in(dir)
            .map_err(|e| ImportError::Scratch(format!("{}: {e}", dir.display())))?;
        let conn = rusqlite::Connection::open(file.path()).map_err(scratch_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA page_size = 8192;
             PRAGMA cache_size = -16384;
             PRAGMA threads = 2;
             CREATE TABLE rows (
                 parent TEXT NOT NULL, kind INTEGER NOT NULL, seq INTEGER NOT NULL,
                 json BLOB NOT NULL);
             BEGIN;",
        )
        .map_err(scratch_error)?;
        Ok(Scratch {
            conn,
            orders: 0,
            lines: 0,
            _file: file,
        })
    }

    fn keep(&mut self, line: &[u8]) -> Result<(), ImportError> {
        let (parent, kind) = if contains(line, b"\"__parentId\"") {
            self.lines += 1;
            (string_field(line, "__parentId")?, LINE_ROW)
        } else {
            self.orders += 1;
            (string_field(line, "id")?, ORDER_ROW)
        };
        let seq = self.orders + self.lines;
        self.conn
            .prepare_cached("INSERT INTO rows (parent, kind, seq, json) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(rusqlite::params![parent, kind, seq, line]))
            .map_err(scratch_error)?;
        Ok(())
    }

    /// Every row sorted by order, the order first and its line items after it in the file's
    /// order. The index carries the rows themselves, so building it is one sort of the file
    /// and reading it is one pass in index order (no lookup per order).
    fn sorted(&self) -> Result<rusqlite::Statement<'_>, ImportError> {
        self.conn
            .execute_batch(
                "CREATE INDEX by_order ON rows (parent, kind, seq, json);
                 COMMIT;",
            )
            .map_err(scratch_error)?;
        self.conn
            .prepare(
                "SELECT parent, kind, json FROM rows INDEXED BY by_order
                 ORDER BY parent, kind, seq",
            )
            .map_err(scratch_error)
    }
}

/// Scratch files a crashed import left behind (an import's own is deleted when it ends): any
/// older than a day is removed, so a store's directory never fills with them. A younger one
/// may be another import's, still running.
fn remove_stale_scratch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let day = Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(".bulk-import-") && name.ends_with(".scratch");
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if ours && stale {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %name, "removed a stale bulk import scratch file"),
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot remove a stale bulk import scratch file")
                }
            }
        }
    }
}

fn scratch_error(e: rusqlite::Error) -> ImportError {
    ImportError::Scratch(e.to_string())
}

/// The value of top-level string field `key` of a JSONL line (an order's `id`, a line item's
/// `__parentId`), read without parsing the rest where it stands plainly (the line is read
/// whole once, when its order is put together).
fn string_field(line: &[u8], key: &str) -> Result<String, ImportError> {
    let bad = |message: String| ImportError::BadOrder {
        order: "(bulk line)".into(),
        message,
    };
    let quoted = format!("\"{key}\"");
    // Shopify writes the fields in the query's order: an order's line starts with its id,
    // and `__parentId` comes last. Elsewhere (or escaped) it is read properly.
    let plain = if key == "id" {
        line.strip_prefix(b"{")
            .map(<[u8]>::trim_ascii_start)
            .and_then(|l| l.strip_prefix(quoted.as_bytes()))
    } else {
        line.windows(quoted.len())
            .rposition(|w| w == quoted.as_bytes())
            .map(|at| &line[at + quoted.len()..])
    };
    let value = plain
        .map(<[u8]>::trim_ascii_start)
        .and_then(|r| r.strip_prefix(b":"))
        .map(<[u8]>::trim_ascii_start)
        .and_then(|r| r.strip_prefix(b"\""))
        .and_then(|r| {
            let end = r.iter().position(|&b| b == b'"' || b == b'\\')?;
            (r[end] == b'"').then(|| &r[..end])
        })
        .and_then(|v| std::str::from_utf8(v).ok());
    if let Some(value) = value {
        return Ok(value.to_owned());
    }
    #[derive(Deserialize)]
    struct Keys {
        id: Option<String>,
        #[serde(rename = "__parentId")]
        parent: Option<String>,
    }
    let keys: Keys = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    match key {
        "id" => keys.id,
        _ => keys.parent,
    }
    .ok_or_else(|| bad(format!("no {key}")))
}

/// Turns put-together orders into batches written to the store.
struct Assembler<'o> {
    options: &'o ImportOptions,
    stream: &'o str,
    cursor: Option<String>,
    batch: Vec<OrderRecord>,
    max_updated: Option<String>,
    meter: Meter,
}

impl Assembler<'_> {
    fn order(
        &mut self,
        store: &mut Store,
        now: UnixMillis,
        order: ShopOrder,
        lines: Vec<ShopLine>,
    ) -> Result<bool, ImportError> {
        if self.max_updated.as_deref() < Some(order.updated_at.as_str()) {
            self.max_updated = Some(order.updated_at.clone());
        }
        self.batch
            .push(order_record(&self.options.retailer_id, order, lines)?);
        if self.batch.len() < self.options.batch {
            return Ok(false);
        }
        self.flush(store, now, self.cursor.clone(), None)?;
        Ok(true)
    }

    fn flush(
        &mut self,
        store: &mut Store,
        now: UnixMillis,
        cursor: Option<String>,
        updated_since: Option<String>,
    ) -> Result<(), ImportError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.options.batch));
        let written = write_batch(
            store,
            now,
            self.options,
            self.stream,
            batch,
            cursor,
            updated_since,
        )?;
        self.meter.add(now, written);
        Ok(())
    }
}

impl<'o> JsonlImport<'o> {
    /// `cursor` is recorded with each batch (for the bulk path: the operation's id); the
    /// lines wait in a scratch file in `scratch_dir` (the store's directory).
    pub fn new(
        options: &'o ImportOptions,
        stream: &'o str,
        cursor: Option<String>,
        now: UnixMillis,
        estimated_total: Option<u64>,
        scratch_dir: &Path,
    ) -> Result<JsonlImport<'o>, ImportError> {
        Ok(JsonlImport {
            partial: Vec::new(),
            scratch: Scratch::open(scratch_dir)?,
            out: Assembler {
                options,
                stream,
                cursor,
                batch: Vec::with_capacity(options.batch),
                max_updated: None,
                meter: Meter::new(now, estimated_total),
            },
        })
    }

    pub fn progress(&self) -> &ImportProgress {
        &self.out.meter.progress
    }

    /// Orders read from the file so far (they are written once it has been read).
    pub fn orders_read(&self) -> u64 {
        self.scratch.orders
    }

    /// Feeds the next chunk of the file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ImportError> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole)?;
                whole.clear();
                self.partial = whole;
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ImportError> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(());
        }
        self.scratch.keep(line)
    }

    /// Ends the file: puts every order together with its line items (wherever they were in
    /// the file), writes them in batches (`now` is read for each, and `on_progress` told after
    /// each) and moves the stream's high-water mark.
    pub fn finish(
        mut self,
        store: &mut Store,
        now: &dyn Fn() -> UnixMillis,
        on_progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<ImportProgress, ImportError> {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.line(&last)?;
        }
        let JsonlImport {
            scratch, mut out, ..
        } = self;
        let bad = |e: serde_json::Error| ImportError::BadOrder {
            order: "(bulk line)".into(),
            message: e.to_string(),
        };
        let mut sorted = scratch.sorted()?;
        let mut rows = sorted.query([]).map_err(scratch_error)?;
        let mut current: Option<(ShopOrder, Vec<ShopLine>)> = None;
        let mut unplaced: u64 = 0;
        while let Some(row) = rows.next().map_err(scratch_error)? {
            let kind: i64 = row.get(1).map_err(scratch_error)?;
            let json = row
                .get_ref(2)
                .map_err(scratch_error)?
                .as_blob()
                .map_err(|e| ImportError::Scratch(e.to_string()))?;
            if kind == ORDER_ROW {
                if let Some((order, lines)) = current.take() {
                    if out.order(store, now(), order, lines)? {
                        on_progress(&out.meter.progress);
                    }
                }
                current = Some((serde_json::from_slice(json).map_err(bad)?, Vec::new()));
                continue;
            }
            let parent = row.get_ref(0).map_err(scratch_error)?.as_str().ok();
            match &mut current {
                Some((order, lines)) if parent == Some(order.id.as_str()) => {
                    lines.push(serde_json::from_slice(json).map_err(bad)?)
                }
                _ => unplaced += 1,
            }
        }
        if let Some((order, lines)) = current.take() {
            out.order(store, now(), order, lines)?;
        }
        if unplaced > 0 {
            // Shopify's file names only orders it lists: a line item whose order is not in
            // the file cannot be put anywhere. Said, not fatal to the rest of the import.
            tracing::warn!(
                stream = out.stream,
                unplaced,
                "bulk file: line items whose order is not in the file were left out"
            );
        }
        let high_water = out.max_updated.clone();
        out.flush(store, now(), None, high_water)?;
        on_progress(&out.meter.progress);
        Ok(out.meter.progress)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Imports a shop's orders for one retailer.
pub struct Importer<'c> {
    client: &'c ShopifyClient,
    options: ImportOptions,
}

impl<'c> Importer<'c> {
    pub fn new(client: &'c ShopifyClient, options: ImportOptions) -> Importer<'c> {
        Importer { client, options }
    }

    /// The search filter of a run: the last `days` days on the first import, then what was
    /// updated since the last finished run.
    fn filter(&self, updated_since: Option<&str>) -> String {
        match updated_since {
            Some(since) => format!("updated_at:>='{since}'"),
            None => {
                let from = self.client.clock().now_ms() - i64::from(self.options.days) * MS_PER_DAY;
                let from = rfc3339(from);
                format!("created_at:>='{}Z'", &from[..19])
            }
        }
    }

    async fn estimate(&self, filter: &str) -> Option<u64> {
        let data = self
            .client
            .execute(
                &documents::ORDERS_COUNT,
                json!({ "query": filter }),
                Repeat::Safe,
            )
            .await
            .ok()?;
        data.pointer("/ordersCount/count").and_then(Value::as_u64)
    }

    /// Page by page (cursor), resuming from the stored cursor.
    pub async fn import_paginated(
        &self,
        store: &mut Store,
        mut on_progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportProgress, ImportError> {
        let state = store.import_cursor(&self.options.retailer_id, PAGED_STREAM)?;
        let mut cursor = state.as_ref().and_then(|s| s.cursor.clone());
        let filter = self.filter(state.as_ref().and_then(|s| s.updated_since.as_deref()));
        let clock = self.client.clock();
        let mut meter = Meter::new(clock.now_ms(), self.estimate(&filter).await);
        tracing::info!(retailer = %self.options.retailer_id, filter = %filter, resuming = cursor.is_some(), "order import (pages) started");
        loop {
            let data = self
                .client
                .execute(
                    &documents::ORDERS_PAGE,
                    json!({ "first": self.options.page_size, "after": cursor, "query": filter }),
                    Repeat::Safe,
                )
                .await?;
            let connection = &data["orders"];
            let has_next = connection
                .pointer("/pageInfo/hasNextPage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let end = connection
                .pointer("/pageInfo/endCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let nodes: Vec<ShopOrder> = serde_json::from_value(connection["nodes"].clone())
                .map_err(|e| ImportError::BadOrder {
                    order: "(page)".into(),
                    message: e.to_string(),
                })?;
            let mut high_water: Option<String> = None;
            let mut records = Vec::with_capacity(nodes.len());
            for mut order in nodes {
                if high_water.as_deref() < Some(order.updated_at.as_str()) {
                    high_water = Some(order.updated_at.clone());
                }
                let lines = all_lines(self.client, &mut order).await?;
                records.push(order_record(&self.options.retailer_id, order, lines)?);
            }
            let (next_cursor, updated_since) = if has_next {
                (end.clone(), None)
            } else {
                (None, high_water)
            };
            let now = clock.now_ms();
            let written = write_batch(
                store,
                now,
                &self.options,
                PAGED_STREAM,
                records,
                next_cursor,
                updated_since,
            )?;
            on_progress(meter.add(now, written));
            if !has_next {
                return Ok(meter.progress);
            }
            cursor = end;
        }
    }

    /// Through a bulk operation: start it (or resume the one recorded), wait for it, and
    /// stream its JSONL into the store.
    pub async fn import_bulk(
        &self,
        store: &mut Store,
        mut on_progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportProgress, ImportError> {
        let state = store.import_cursor(&self.options.retailer_id, BULK_STREAM)?;
        let filter = self.filter(state.as_ref().and_then(|s| s.updated_since.as_deref()));
        let clock = self.client.clock().clone();
        let estimate = self.estimate(&filter).await;
        let operation = match state.and_then(|s| s.cursor) {
            Some(id) => id,
            None => {
                let query = documents::BULK_ORDERS
                    .text
                    .replace("__FILTER__", &filter.replace('"', "\\\""));
                let data = self
                    .client
                    .execute(
                        &documents::BULK_RUN,
                        json!({ "query": query }),
                        Repeat::Unsafe,
                    )
                    .await?;
                let payload = &data["bulkOperationRunQuery"];
                if let Some(errors) = crate::graphql::user_errors(payload) {
                    return Err(ImportError::Bulk {
                        id: "-".into(),
                        status: "REFUSED".into(),
                        detail: errors,
                    });
                }
                let id = payload
                    .pointer("/bulkOperation/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                // Remember the operation, so a crash resumes it rather than starting another.
                write_batch(
                    store,
                    clock.now_ms(),
                    &self.options,
                    BULK_STREAM,
                    Vec::new(),
                    Some(id.clone()),
                    None,
                )?;
                id
            }
        };
        tracing::info!(retailer = %self.options.retailer_id, operation = %operation, "bulk order import running");
        let url = loop {
            let data = self
                .client
                .execute(
                    &documents::BULK_STATUS,
                    json!({ "id": operation }),
                    Repeat::Safe,
                )
                .await?;
            let op = &data["bulkOperation"];
            let status = op["status"].as_str().unwrap_or("UNKNOWN");
            match status {
                "COMPLETED" => break op["url"].as_str().map(str::to_owned),
                "CREATED" | "RUNNING" => clock.sleep(self.options.poll_interval).await,
                other => {
                    // Forget the operation so the next run starts a new one.
                    write_batch(
                        store,
                        clock.now_ms(),
                        &self.options,
                        BULK_STREAM,
                        Vec::new(),
                        None,
                        None,
                    )?;
                    return Err(ImportError::Bulk {
                        id: operation.clone(),
                        status: other.to_owned(),
                        detail: op["errorCode"].to_string(),
                    });
                }
            }
        };
        let mut jsonl = JsonlImport::new(
            &self.options,
            BULK_STREAM,
            Some(operation.clone()),
            clock.now_ms(),
            estimate,
            &store.directory(),
        )?;
        if let Some(url) = url {
            let mut failure: Option<ImportError> = None;
            self.client
                .download(&url, |chunk| {
                    let result = jsonl.push(chunk);
                    result.map_err(|e| {
                        let message = e.to_string();
                        failure = Some(e);
                        message
                    })
                })
                .await
                .map_err(|e| failure.take().unwrap_or(ImportError::Shopify(e)))?;
        }
        // No URL: the operation matched no orders.
        jsonl.finish(store, &|| clock.now_ms(), &mut on_progress)
    }

    /// Fetches one order (e.g. after an `orders/updated` webhook) and imports it if the
    /// store does not have it yet. Returns whether it was written.
    pub async fn import_order(
        &self,
        store: &mut Store,
        order_id: &str,
    ) -> Result<bool, ImportError> {
        let record = fetch_order(self.client, &self.options.retailer_id, order_id).await?;
        let written = write_batch(
            store,
            self.client.clock().now_ms(),
            &self.options,
            WEBHOOK_STREAM,
            vec![record],
            None,
            None,
        )?;
        Ok(written.new + written.updated == 1)
    }
}

/// One order as the shop has it now (`OrderById`), as the hub's record for `retailer_id`.
pub async fn fetch_order(
    client: &ShopifyClient,
    retailer_id: &str,
    order_id: &str,
) -> Result<OrderRecord, ImportError> {
    let data = client
        .execute(
            &documents::ORDER_BY_ID,
            json!({ "id": order_id }),
            Repeat::Safe,
        )
        .await?;
    if data["order"].is_null() {
        return Err(ImportError::BadOrder {
            order: order_id.to_owned(),
            message: "not found on Shopify".into(),
        });
    }
    let mut order: ShopOrder =
        serde_json::from_value(data["order"].clone()).map_err(|e| ImportError::BadOrder {
            order: order_id.to_owned(),
            message: e.to_string(),
        })?;
    let lines = all_lines(client, &mut order).await?;
    order_record(retailer_id, order, lines)
}
