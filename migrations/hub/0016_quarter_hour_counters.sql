-- Counters by the quarter hour: `period` is YYYY-MM-DDTHH:MM (UTC, MM one of 00 15 30 45).
-- By the hour, a station's local day was a range of whole hours only where its offset is a
-- whole number of hours; in India (+5:30), Nepal (+5:45) or Adelaide (+9:30) the day's first
-- and last half hour went with the neighbouring day. Every offset kept on Earth is a whole
-- number of quarter hours. The counters are counted again from the rows.
DELETE FROM report_counts;

-- @counters: the counters from the rows (the benchmarks' bulk stores run this part too).
INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
SELECT 'expected', (substr(created_at, 1, 14) || printf('%02d', CAST(substr(created_at, 15, 2) AS INTEGER) / 15 * 15)), retailer_id, '', '', source, hub_id, count(*)
FROM returns GROUP BY 2, 3, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, n)
SELECT 'received', (substr(received_at, 1, 14) || printf('%02d', CAST(substr(received_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(retailer_id, ''),
       coalesce(received_by, ''), coalesce(received_station, ''), count(*)
FROM return_milestones WHERE received_at IS NOT NULL GROUP BY 2, 3, 4, 5;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, n, amount)
SELECT 'processed', (substr(processed_at, 1, 14) || printf('%02d', CAST(substr(processed_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(retailer_id, ''),
       coalesce(processed_by, ''), coalesce(processed_station, ''), count(*), sum(items)
FROM return_milestones WHERE processed_at IS NOT NULL GROUP BY 2, 3, 4, 5;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'reason', (substr(m.processed_at, 1, 14) || printf('%02d', CAST(substr(m.processed_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), i.reason_code,
       coalesce(i.sub_reason_code, ''), count(*), sum(i.quantity)
FROM return_milestones m JOIN return_items i ON i.return_id = m.return_id
WHERE m.processed_at IS NOT NULL GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, k3, n)
SELECT 'qc', (substr(m.processed_at, 1, 14) || printf('%02d', CAST(substr(m.processed_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.qc, ''),
       n.presence, coalesce(n.qc_reason, ''), count(*)
FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND n.undone_by IS NULL
  AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                 WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL) GROUP BY 2, 3, 4, 5, 6, 7, 8;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
SELECT 'grade', (substr(m.processed_at, 1, 14) || printf('%02d', CAST(substr(m.processed_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.grade, ''),
       coalesce(n.disposition, ''), count(*)
FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND n.undone_by IS NULL
  AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                 WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL) AND n.presence = 'found'
GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'due', (substr(m.processed_at, 1, 14) || printf('%02d', CAST(substr(m.processed_at, 15, 2) AS INTEGER) / 15 * 15)), coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''),
       a.kind, a.currency, count(*), sum(a.minor)
FROM return_milestones m JOIN report_actions a ON a.return_id = m.return_id
WHERE m.processed_at IS NOT NULL AND a.kind != '' GROUP BY 2, 3, 4, 5, 6, 7;

INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
SELECT 'confirmed', (substr(confirmed_at, 1, 14) || printf('%02d', CAST(substr(confirmed_at, 15, 2) AS INTEGER) / 15 * 15)), retailer_id, '', '', kind, currency, count(*),
       sum(minor)
FROM report_actions WHERE confirmed_at IS NOT NULL AND kind != '' GROUP BY 2, 3, 6, 7;
