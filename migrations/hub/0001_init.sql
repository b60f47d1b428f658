-- The hub's local store, version 1.
-- Read models (retailers … decisions) are projections of the event log; the event log is the
-- record. Every write goes through one IMMEDIATE transaction that appends an event and applies
-- its effects here, so a read model can never be ahead of or behind its events.
-- Times are RFC 3339 UTC text with milliseconds ("2026-11-23T19:25:00.000Z"): they sort as text.
-- Money is integer minor units in *_minor columns beside a currency column; never REAL.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE hubs (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE retailers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    currency    TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
    -- The decision policy (trigger, customer choice, exchange, default outcome, QC-fail policy,
    -- credit-note expiry) as the domain's RetailerPolicy JSON; validated before it is stored.
    policy_json TEXT NOT NULL CHECK (json_valid(policy_json)),
    -- Derived from the policy, so it cannot disagree with it; indexed queries use it.
    trigger_stage TEXT GENERATED ALWAYS AS (json_extract(policy_json, '$.trigger')) VIRTUAL
                  CHECK (trigger_stage IN ('first_scan', 'processing', 'manual')),
    -- The rule set as the rules engine's RuleSet JSON.
    rules_json  TEXT NOT NULL DEFAULT '{"rules":[]}' CHECK (json_valid(rules_json))
);

CREATE TABLE return_reasons (
    retailer_id       TEXT NOT NULL REFERENCES retailers (id),
    code              TEXT NOT NULL,
    label             TEXT NOT NULL,
    requires_evidence INTEGER NOT NULL DEFAULT 0 CHECK (requires_evidence IN (0, 1)),
    -- The admin's order, as the operator sees the list.
    position          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (retailer_id, code)
) WITHOUT ROWID;

CREATE TABLE return_sub_reasons (
    retailer_id TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    code        TEXT NOT NULL,
    label       TEXT NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (retailer_id, reason_code, code),
    FOREIGN KEY (retailer_id, reason_code) REFERENCES return_reasons (retailer_id, code)
) WITHOUT ROWID;

-- QC failure reasons: the standard list (retailer_id '') extended per retailer.
CREATE TABLE qc_reasons (
    retailer_id    TEXT NOT NULL DEFAULT '',
    code           TEXT NOT NULL,
    label          TEXT NOT NULL,
    requires_photo INTEGER NOT NULL DEFAULT 0 CHECK (requires_photo IN (0, 1)),
    position       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (retailer_id, code)
) WITHOUT ROWID;

CREATE TABLE users (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    badge    TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string of the PIN; never the PIN.
    pin_hash TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
    active   INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    retailer_id     TEXT NOT NULL REFERENCES retailers (id),
    order_number    TEXT NOT NULL,
    customer_name   TEXT NOT NULL,
    email           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    country         TEXT NOT NULL CHECK (length(country) = 2),
    currency        TEXT NOT NULL CHECK (length(currency) = 3),
    tags_json       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags_json)),
    subtotal_minor  INTEGER NOT NULL,
    discount_minor  INTEGER NOT NULL DEFAULT 0,
    total_minor     INTEGER NOT NULL,
    UNIQUE (retailer_id, order_number)
);
CREATE INDEX orders_by_email ON orders (retailer_id, email);
CREATE INDEX orders_by_created ON orders (retailer_id, created_at);

CREATE TABLE order_lines (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL REFERENCES orders (id),
    sku                TEXT NOT NULL,
    ean                TEXT,
    title              TEXT NOT NULL,
    image              TEXT,
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor   INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    discount_minor     INTEGER NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    product_tags_json  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(product_tags_json))
);
CREATE INDEX order_lines_by_order ON order_lines (order_id);
CREATE INDEX order_lines_by_sku ON order_lines (sku);
CREATE INDEX order_lines_by_ean ON order_lines (ean) WHERE ean IS NOT NULL;

CREATE TABLE returns (
    id          TEXT PRIMARY KEY,
    retailer_id TEXT NOT NULL REFERENCES retailers (id),
    hub_id      TEXT NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    source      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('expected', 'in_transit', 'received', 'processed', 'closed', 'cancelled')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX returns_by_order ON returns (order_id);
CREATE INDEX returns_by_status ON returns (hub_id, status);

CREATE TABLE return_items (
    id              TEXT PRIMARY KEY,
    return_id       TEXT NOT NULL REFERENCES returns (id),
    order_line_id   TEXT NOT NULL REFERENCES order_lines (id),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    reason_code     TEXT NOT NULL,
    sub_reason_code TEXT,
    comment         TEXT,
    chosen_option   TEXT CHECK (chosen_option IS NULL OR chosen_option IN ('refund', 'credit_note', 'exchange'))
);
CREATE INDEX return_items_by_return ON return_items (return_id);

-- A return can have several connotes; a connote (normalised) belongs to one return.
CREATE TABLE connotes (
    connote   TEXT PRIMARY KEY,
    return_id TEXT NOT NULL REFERENCES returns (id)
) WITHOUT ROWID;
CREATE INDEX connotes_by_return ON connotes (return_id);

CREATE TABLE tracking_events (
    id         TEXT PRIMARY KEY,
    return_id  TEXT REFERENCES returns (id),
    connote    TEXT NOT NULL,
    code       TEXT NOT NULL,
    status     TEXT NOT NULL,
    event_at   TEXT NOT NULL,
    source     TEXT NOT NULL,
    event_id   TEXT NOT NULL
);
CREATE INDEX tracking_events_by_return ON tracking_events (return_id);

CREATE TABLE inspections (
    id             TEXT PRIMARY KEY,
    return_item_id TEXT NOT NULL REFERENCES return_items (id),
    event_id       TEXT NOT NULL,
    presence       TEXT NOT NULL CHECK (presence IN ('found', 'missing', 'extra')),
    qc             TEXT CHECK (qc IS NULL OR qc IN ('pass', 'fail')),
    qc_reason      TEXT,
    grade          TEXT CHECK (grade IS NULL OR grade IN ('A', 'B', 'C', 'D')),
    disposition    TEXT CHECK (disposition IS NULL OR disposition IN
                     ('back_to_stock', 'resale_hold', 'refurbish', 'recycle', 'donate', 'destroy', 'return_to_vendor')),
    note           TEXT,
    photos_json    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(photos_json)),
    inspected_by   TEXT NOT NULL,
    inspected_at   TEXT NOT NULL
);
CREATE INDEX inspections_by_item ON inspections (return_item_id);

CREATE TABLE decisions (
    id               TEXT PRIMARY KEY,
    return_item_id   TEXT NOT NULL REFERENCES return_items (id),
    event_id         TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    amount_minor     INTEGER,
    currency         TEXT,
    source           TEXT NOT NULL,
    rule_id          TEXT,
    explanation_json TEXT NOT NULL CHECK (json_valid(explanation_json)),
    decided_at       TEXT NOT NULL
);
CREATE INDEX decisions_by_item ON decisions (return_item_id);

-- The append-only event log. `seq` is this device's local order; `hlc` orders across devices.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,          -- UUIDv7
    device_id    TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    station      TEXT,
    kind         TEXT NOT NULL,
    aggregate_id TEXT,
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    recorded_at  TEXT NOT NULL
);
CREATE INDEX events_by_aggregate ON events (aggregate_id, seq);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

-- Work that must leave this device: events to sync, actions to fire, labels to print.
-- A row is written in the same transaction as the event that makes it due.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT NOT NULL CHECK (topic IN ('sync', 'action', 'label')),
    -- Unique per topic: the idempotency key of an action, the event id for sync.
    dedupe_key      TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id),
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    state           TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sent', 'confirmed', 'unknown', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (topic, dedupe_key)
);
CREATE INDEX outbox_due ON outbox (topic, state, next_attempt_at);

-- The standard QC failure reasons every retailer starts with (codes as Increff names them).
INSERT INTO qc_reasons (retailer_id, code, label, requires_photo, position) VALUES
    ('', 'STAIN_DAMAGE', 'Stain / damage', 1, 1),
    ('', 'TAG_MISSING', 'Tag missing', 0, 2),
    ('', 'USED_WORN', 'Used / worn', 1, 3),
    ('', 'WRONG_ITEM', 'Wrong item', 1, 4),
    ('', 'MISSING', 'Missing from parcel', 0, 5),
    ('', 'NEEDS_IRONING', 'Needs ironing', 0, 6);
