-- A First-scan retailer's actions fire once per return, at whichever comes first: the
-- carrier's in-transit (RT) event or the hub's receipt scan. The return is listed here when
-- they fired (even if they came to nothing), so the later of the two fires nothing.
CREATE TABLE first_scans (
    return_id TEXT PRIMARY KEY,
    fired_by  TEXT NOT NULL CHECK (fired_by IN ('carrier', 'hub_receipt')),
    fired_at  TEXT NOT NULL
) WITHOUT ROWID;
-- Returns whose first-scan actions fired before this table (every claim of a First-scan
-- retailer's return came from its first scan).
INSERT OR IGNORE INTO first_scans (return_id, fired_by, fired_at)
    SELECT DISTINCT c.return_id, 'carrier', min(c.claimed_at)
    FROM action_claims c JOIN retailers r ON r.id = c.retailer_id
    WHERE json_extract(r.record, '$.policy.trigger') = 'first_scan'
    GROUP BY c.return_id;
