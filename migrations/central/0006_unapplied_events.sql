-- A pushed event the device may push but that does not apply here (it breaks a rule of the
-- stored data: a retailer named like another, an order number taken twice) is held as
-- `unapplied` with the reason, instead of failing that device's every push. Like a refused
-- one it is kept only here; pushing it again after a fix, or `held-events --retry`, takes it.
-- SQLite cannot widen a CHECK in place: the table is rebuilt.
CREATE TABLE held_events_new (
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
    state        TEXT NOT NULL
                 CHECK (state IN ('needs_update', 'malformed', 'refused', 'unapplied')),
    reason       TEXT NOT NULL,
    held_at      TEXT NOT NULL
);
INSERT INTO held_events_new SELECT id, device_id, hub_id, hlc, actor, station, kind, version,
    aggregate_id, payload, recorded_at, state, reason, held_at FROM held_events;
DROP TABLE held_events;
ALTER TABLE held_events_new RENAME TO held_events;
