-- Partners, version 4.
-- A partner's own ids for a return that came from it (Loop's return id, Increff's return order
-- code, Returns Prime's request number) and for its items: what an action to it must name.
ALTER TABLE returns ADD COLUMN external_id TEXT;
CREATE INDEX returns_by_external_id ON returns (retailer_id, external_id)
    WHERE external_id IS NOT NULL;
ALTER TABLE return_items ADD COLUMN external_id TEXT;

-- The tracking webhook out: one row per tracking event batch (an RC on first scan, an RP on
-- processing; `body` is the JSON array as it is sent) and per URL the retailer configured,
-- written in the same transaction as the event that produced it (`event_id`). A row is never
-- deleted or given up: after the retry budget it is flagged (`alerted_at`, shown on the
-- supervisor's screen) and still retried at the longest interval until a 200.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL,
    retailer_id     TEXT NOT NULL,
    return_id       TEXT NOT NULL,
    code            TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    alerted_at      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (event_id, url)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
