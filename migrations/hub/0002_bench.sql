-- The bench: inspections that can be undone, items found that the return did not list, the
-- supervisor's exception queue, who decided an item, and each station's device settings.

-- The StepUndone event that undid this inspection, if any. The row stays: the log and this
-- table keep every step, and the latest row not undone is the item's inspection.
ALTER TABLE inspections ADD COLUMN undone_by TEXT;
ALTER TABLE inspections ADD COLUMN return_id TEXT REFERENCES returns (id);
CREATE INDEX inspections_by_return ON inspections (return_id);

CREATE TABLE extra_items (
    id            TEXT PRIMARY KEY,
    return_id     TEXT NOT NULL REFERENCES returns (id),
    code          TEXT NOT NULL,
    order_line_id TEXT REFERENCES order_lines (id),
    note          TEXT,
    photos_json   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(photos_json)),
    event_id      TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    undone_by     TEXT
);
CREATE INDEX extra_items_by_return ON extra_items (return_id);

-- decisions.source is 'rule', 'customer_choice', 'retailer_default', 'qc_fail_policy' or
-- 'supervisor'; explanation_json holds the engine's explanation or the supervisor's reason.
-- The latest row per item is its decision; earlier rows are what was overridden.
ALTER TABLE decisions ADD COLUMN return_id TEXT REFERENCES returns (id);
ALTER TABLE decisions ADD COLUMN decided_by TEXT;
CREATE INDEX decisions_by_return ON decisions (return_id);

CREATE TABLE exceptions (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('unknown_parcel', 'mismatch', 'qc_hold', 'duplicate_processing')),
    return_id   TEXT REFERENCES returns (id),
    connote     TEXT,
    note        TEXT NOT NULL,
    photos_json TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(photos_json)),
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    raised_by   TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    station     TEXT,
    resolution  TEXT,
    resolved_by TEXT,
    resolved_at TEXT
);
CREATE INDEX exceptions_open ON exceptions (state, raised_at);
-- One open exception of a kind per return: scanning a processed parcel five times is one
-- duplicate for the supervisor, not five.
CREATE UNIQUE INDEX exceptions_open_once ON exceptions (kind, return_id)
    WHERE state = 'open' AND return_id IS NOT NULL;

CREATE INDEX exceptions_by_return ON exceptions (return_id, state);

-- The bench reads a return's labels and actions from the outbox by return id.
CREATE INDEX outbox_by_return ON outbox (topic, json_extract(payload, '$.return_id'));

CREATE TABLE stations (
    id          TEXT PRIMARY KEY,
    config_json TEXT NOT NULL CHECK (json_valid(config_json)),
    updated_at  TEXT NOT NULL
);
