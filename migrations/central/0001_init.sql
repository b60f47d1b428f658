-- The central return store, version 1 (SQLite; the PostgreSQL backend mirrors it).
-- `events` is every hub's event log, each event exactly as its device stored it, once (the
-- unique id makes a resent push a no-op). `seq` is the central order the hubs pull by.
-- Times are RFC 3339 UTC text; money stays inside the events' JSON in integer minor units.

-- A hub device's bearer token: `rhd_<id>_<secret>`; only SHA-256(secret) is stored. The
-- device's store id is bound on its first push; events of another device are refused.
CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    hub_id          TEXT NOT NULL,
    name            TEXT NOT NULL,
    secret_sha256   BLOB NOT NULL,
    bound_device_id TEXT UNIQUE,
    created_at      TEXT NOT NULL
);
CREATE INDEX devices_by_hub ON devices (hub_id);

-- A partner's API key: `rhk_<id>_<secret>`, for exactly one retailer name.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    retailer_name TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    device_id    TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    station      TEXT,
    kind         TEXT NOT NULL,
    aggregate_id TEXT,
    payload      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    -- Which hub sees it; NULL = every hub (retailer configuration).
    hub_id       TEXT,
    received_at  TEXT NOT NULL
);
CREATE INDEX events_feed ON events (hub_id, seq);
CREATE INDEX events_by_aggregate ON events (aggregate_id, kind, hlc);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

-- Read models, projections of `events` (the same rules as the hubs' stores).
CREATE TABLE retailers (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    -- The whole RetailerRecord JSON (policy, rules, reasons).
    record    TEXT NOT NULL
);

CREATE TABLE orders (
    id           TEXT PRIMARY KEY,
    retailer_id  TEXT NOT NULL,
    order_number TEXT NOT NULL,
    hub_id       TEXT,
    record       TEXT NOT NULL,
    UNIQUE (retailer_id, order_number)
);

CREATE TABLE returns (
    id          TEXT PRIMARY KEY,
    retailer_id TEXT NOT NULL,
    hub_id      TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX returns_by_hub ON returns (hub_id, id);

CREATE TABLE connotes (
    connote   TEXT PRIMARY KEY,
    return_id TEXT NOT NULL
) WITHOUT ROWID;

-- Carrier / partner tracking events; `id` is a digest of (consignment, code, time, item) so
-- a redelivered event is recorded once.
CREATE TABLE tracking_events (
    tseq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    hub_id      TEXT,
    return_id   TEXT,
    connote     TEXT NOT NULL,
    code        TEXT NOT NULL,
    status      TEXT NOT NULL,
    event_at    TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX tracking_feed ON tracking_events (hub_id, tseq);

-- Every action, claimed once under its idempotency key: the central store is its only
-- dispatcher. The first device's claim wins; later claims are answered with it.
CREATE TABLE action_claims (
    key          TEXT PRIMARY KEY,
    return_id    TEXT NOT NULL,
    retailer_id  TEXT NOT NULL,
    hub_id       TEXT,
    event_id     TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    action       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'claimed'
                   CHECK (state IN ('claimed', 'sent', 'confirmed', 'unknown', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    claimed_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX action_claims_due ON action_claims (state);

-- Two devices acting on the same return, for the supervisor.
CREATE TABLE conflicts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('duplicate_action', 'double_processing')),
    return_id     TEXT NOT NULL,
    hub_id        TEXT,
    action_key    TEXT NOT NULL DEFAULT '',
    first_device  TEXT NOT NULL,
    second_device TEXT NOT NULL,
    event_id      TEXT NOT NULL UNIQUE,
    detected_at   TEXT NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
