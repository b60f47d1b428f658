-- Event payload versions and events held back, version 9.
-- Each event carries the version of its kind's payload (every event before this was
-- version 1). A pulled event that this build cannot read is not put in the log, whose every
-- row this build can project: it waits here, whole, as it came. `needs_update`: a kind or a
-- version newer than this build, applied on the first pull after an update. `malformed`: a
-- kind and version this build knows whose payload does not read as one; kept and shown,
-- never applied. `unapplied`: readable, but its effects could not be applied here (it needs
-- an event this station holds, such as an order of a retailer from a newer build); retried,
-- oldest first, with the events that need an update. `refused`: one of this station's own
-- events that the central store keeps without applying it (this hub may not do that: another
-- hub's return, a retailer it does not serve); a copy, for the supervisors, with the reason.
ALTER TABLE events ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE held_events (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    station      TEXT,
    kind         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    aggregate_id TEXT,
    payload      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('needs_update', 'malformed', 'unapplied', 'refused')),
    reason       TEXT NOT NULL,
    held_at      TEXT NOT NULL
);
