-- Event payload versions and events held back.
-- Each event carries the version of its kind's payload (every event before this was
-- version 1). A pushed event this build cannot read is still acknowledged, so the device that
-- pushed it keeps syncing, and held here:
-- `needs_update`: a kind or version from a newer build. It is in `events` too, relayed to
--   the hub's other devices (a newer one applies it); this store projects it once updated.
-- `malformed`: a kind and version this build knows whose payload does not read as one. Kept
--   only here (never relayed, never projected) for whoever runs the central store to see.
-- `refused`: readable, but the pushing device may not do it (another hub's return, a retailer
--   its hub does not serve). Kept only here, never relayed or projected; the pushing hub is
--   told which and why.
ALTER TABLE events ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE held_events (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    hub_id       TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    station      TEXT,
    kind         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    aggregate_id TEXT,
    payload      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('needs_update', 'malformed', 'refused')),
    reason       TEXT NOT NULL,
    held_at      TEXT NOT NULL
);

-- The hubs that serve a retailer: only an admin of one of them may change its configuration
-- (or the central CLI). A retailer a hub creates lists that hub; `retailer-hubs` sets the list.
CREATE TABLE retailer_hubs (
    retailer_id TEXT NOT NULL,
    hub_id      TEXT NOT NULL,
    PRIMARY KEY (retailer_id, hub_id)
);
-- A store made before this lists every hub whose devices configured the retailer.
INSERT OR IGNORE INTO retailer_hubs (retailer_id, hub_id)
    SELECT DISTINCT json_extract(e.payload, '$.id'), d.hub_id
    FROM events e JOIN devices d ON d.bound_device_id = e.device_id
    WHERE e.kind = 'retailer_configured';

-- A tracking event for a connote no return has yet is kept with the retailer whose key sent
-- it; when a return of that retailer with the connote arrives, the event is linked to it (and
-- reaches its hub), and a first scan makes the return's actions due then, once.
ALTER TABLE tracking_events ADD COLUMN retailer_id TEXT;
CREATE INDEX tracking_unlinked ON tracking_events (connote) WHERE return_id IS NULL;

-- A claim whose outcome stays unknown is checked again later and later (`checks` so far,
-- the next not before `next_check_ms`), and ends failed, for a supervisor, after a cap.
ALTER TABLE action_claims ADD COLUMN checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE action_claims ADD COLUMN next_check_ms INTEGER NOT NULL DEFAULT 0;
