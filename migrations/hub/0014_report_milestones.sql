-- What the supervisors' reports read, kept by the projection (local and synced events alike)
-- so a report over a million returns reads a few thousand rows instead of the event log.
--
-- return_milestones: one row per return: when the hub first received it, when it was first
-- processed and by whom at which station, and when its latest action was confirmed (the
-- earliest event wins, so the order events arrive in does not matter).
CREATE TABLE return_milestones (
    return_id         TEXT PRIMARY KEY,
    retailer_id       TEXT,
    received_at       TEXT,
    received_by       TEXT,
    received_station  TEXT,
    processed_at      TEXT,
    processed_by      TEXT,
    processed_station TEXT,
    -- Items of the return when it was processed.
    items             INTEGER,
    confirmed_at      TEXT
) WITHOUT ROWID;
-- Dock-to-stock reads every column it needs from this index, in time order.
CREATE INDEX return_milestones_by_processed ON return_milestones
    (processed_at, received_at, confirmed_at, retailer_id, processed_by, processed_station)
    WHERE processed_at IS NOT NULL;

-- report_counts: counters by measure, hour (YYYY-MM-DDTHH, UTC: a station's local day is a
-- range of whole hours in every zone but a few half-hour ones), retailer, person and station.
-- Measures and their keys:
--   expected   k1 source, k2 hub: n returns             when the return was made (no person)
--   received   n parcels                                 at the receipt, by who received it
--   processed  n returns, amount = their items           } at the processing (or the close of
--   reason     k1 reason, k2 sub-reason: n items,        } a return never processed), by who
--              amount = quantity                         } did it
--   qc         k1 qc, k2 presence, k3 QC reason: n items (each item's latest inspection)
--   grade      k1 grade, k2 disposition: n items found   (each item's latest inspection)
--   due        k1 action kind, k2 currency: n actions, amount in minor units
--   confirmed  k1 action kind, k2 currency: n actions, amount; at the confirmation, no person
-- A return's share is taken out and put back whenever what it counts changes (a later
-- inspection synced, an earlier processing, a new action), so the counters always equal a
-- count over the rows.
CREATE TABLE report_counts (
    measure     TEXT NOT NULL,
    period      TEXT NOT NULL,
    retailer_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    station     TEXT NOT NULL,
    k1          TEXT NOT NULL DEFAULT '',
    k2          TEXT NOT NULL DEFAULT '',
    k3          TEXT NOT NULL DEFAULT '',
    n           INTEGER NOT NULL,
    amount      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (measure, period, retailer_id, actor, station, k1, k2, k3)
) WITHOUT ROWID;

-- report_actions: every action made due for this hub's returns, by any of its devices or the
-- central store (the outbox holds only this device's own): what the money counters count.
CREATE TABLE report_actions (
    key          TEXT PRIMARY KEY,
    return_id    TEXT NOT NULL,
    retailer_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    currency     TEXT NOT NULL DEFAULT '',
    minor        INTEGER NOT NULL DEFAULT 0,
    confirmed_at TEXT
) WITHOUT ROWID;
CREATE INDEX report_actions_by_return ON report_actions (return_id);

-- Stores made before this migration: the same rows, from the event log and the read models.
INSERT OR IGNORE INTO report_actions (key, return_id, retailer_id, kind, currency, minor)
SELECT json_extract(payload, '$.key'), json_extract(payload, '$.return_id'),
       json_extract(payload, '$.retailer_id'), json_extract(payload, '$.kind'),
       coalesce(json_extract(payload, '$.amount.currency'), ''),
       coalesce(json_extract(payload, '$.amount.minor'), 0)
FROM events WHERE kind = 'action_due' ORDER BY seq;
-- One pass over the log, not one per action.
UPDATE report_actions SET confirmed_at = c.at
FROM (SELECT json_extract(payload, '$.key') AS key, min(recorded_at) AS at FROM events
      WHERE kind = 'action_confirmed' GROUP BY 1) AS c
WHERE c.key = report_actions.key;

-- From the log, so a return whose own record is held (not applied here) has its row too.
INSERT INTO return_milestones (return_id, retailer_id)
SELECT ids.id, (SELECT retailer_id FROM returns WHERE returns.id = ids.id)
FROM (SELECT aggregate_id AS id FROM events WHERE kind = 'return_status_changed'
        AND json_extract(payload, '$.to') IN ('received', 'processed', 'closed')
      UNION
      SELECT id FROM returns
      WHERE id IN (SELECT aggregate_id FROM events WHERE kind = 'return_expected'
                     AND json_extract(payload, '$.status') IN ('received', 'processed', 'closed'))
     ) AS ids;

UPDATE return_milestones SET
    received_at = (SELECT e.recorded_at FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') = 'received'
                   ORDER BY e.recorded_at LIMIT 1),
    received_by = (SELECT e.actor FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') = 'received'
                   ORDER BY e.recorded_at LIMIT 1),
    received_station = (SELECT e.station FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') = 'received'
                   ORDER BY e.recorded_at LIMIT 1),
    processed_at = (SELECT e.recorded_at FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') IN ('processed', 'closed')
                   ORDER BY e.recorded_at LIMIT 1),
    processed_by = (SELECT e.actor FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') IN ('processed', 'closed')
                   ORDER BY e.recorded_at LIMIT 1),
    processed_station = (SELECT e.station FROM events e
                   WHERE e.aggregate_id = return_milestones.return_id
                     AND e.kind = 'return_status_changed'
                     AND json_extract(e.payload, '$.to') IN ('processed', 'closed')
                   ORDER BY e.recorded_at LIMIT 1),
    confirmed_at = NULL;

-- A return created already received (an orphan parcel opened at the bench) counts from then.
UPDATE return_milestones SET
    received_at = (SELECT json_extract(e.payload, '$.created_at') FROM events e
                   WHERE e.aggregate_id = return_id AND e.kind = 'return_expected'
                   ORDER BY e.seq LIMIT 1),
    received_by = (SELECT e.actor FROM events e
                   WHERE e.aggregate_id = return_id AND e.kind = 'return_expected'
                   ORDER BY e.seq LIMIT 1),
    received_station = (SELECT e.station FROM events e
                   WHERE e.aggregate_id = return_id AND e.kind = 'return_expected'
                   ORDER BY e.seq LIMIT 1)
WHERE received_at IS NULL
  AND (SELECT json_extract(e.payload, '$.status') FROM events e
       WHERE e.aggregate_id = return_id AND e.kind = 'return_expected'
       ORDER BY e.seq LIMIT 1) IN ('received', 'processed', 'closed');

UPDATE return_milestones SET items = (SELECT count(*) FROM return_items WHERE return_id = return_milestones.return_id)
WHERE processed_at IS NOT NULL;

INSERT INTO return_milestones (return_id, retailer_id, confirmed_at)
SELECT return_id, retailer_id, max(confirmed_at) FROM report_actions
WHERE confirmed_at IS NOT NULL AND kind != '' GROUP BY return_id
ON CONFLICT (return_id) DO UPDATE SET confirmed_at = excluded.confirmed_at;

-- @counters: the counters from the rows above (the benchmarks' bulk stores run this part too).
INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
SELECT 'expected', substr(created_at, 1, 13), retailer_id, '', '', source, hub_id, count(*)
FROM returns GROUP BY 2, 3, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, n)
SELECT 'received', substr(received_at, 1, 13), coalesce(retailer_id, ''),
       coalesce(received_by, ''), coalesce(received_station, ''), count(*)
FROM return_milestones WHERE received_at IS NOT NULL GROUP BY 2, 3, 4, 5;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, n, amount)
SELECT 'processed', substr(processed_at, 1, 13), coalesce(retailer_id, ''),
       coalesce(processed_by, ''), coalesce(processed_station, ''), count(*), sum(items)
FROM return_milestones WHERE processed_at IS NOT NULL GROUP BY 2, 3, 4, 5;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'reason', substr(m.processed_at, 1, 13), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), i.reason_code,
       coalesce(i.sub_reason_code, ''), count(*), sum(i.quantity)
FROM return_milestones m JOIN return_items i ON i.return_id = m.return_id
WHERE m.processed_at IS NOT NULL GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, k3, n)
SELECT 'qc', substr(m.processed_at, 1, 13), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.qc, ''),
       n.presence, coalesce(n.qc_reason, ''), count(*)
FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND n.undone_by IS NULL
  AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                 WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL) GROUP BY 2, 3, 4, 5, 6, 7, 8;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
SELECT 'grade', substr(m.processed_at, 1, 13), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.grade, ''),
       coalesce(n.disposition, ''), count(*)
FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND n.undone_by IS NULL
  AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                 WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL) AND n.presence = 'found'
GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'due', substr(m.processed_at, 1, 13), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''),
       a.kind, a.currency, count(*), sum(a.minor)
FROM return_milestones m JOIN report_actions a ON a.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND a.kind != '' GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'confirmed', substr(confirmed_at, 1, 13), retailer_id, '', '', kind, currency, count(*),
       sum(minor)
FROM report_actions WHERE confirmed_at IS NOT NULL AND kind != '' GROUP BY 2, 3, 6, 7;
