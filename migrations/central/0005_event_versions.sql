-- Event payload versions and events held back.
-- Each event carries the version of its kind's payload (every event before this was
-- version 1). A pushed event this build cannot read is still acknowledged, so the device that
-- pushed it keeps syncing, and held here:
-- `needs_update`: a kind or version from a newer build. It is in `events` too, relayed to
--   the hub's other devices (a newer one applies it); this store projects it once updated.
-- `malformed`: a kind and version this build knows whose payload does not read as one. Kept
--   only here (never relayed, never projected) for whoever runs the central store to see.
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
    state        TEXT NOT NULL CHECK (state IN ('needs_update', 'malformed')),
    reason       TEXT NOT NULL,
    held_at      TEXT NOT NULL
);
