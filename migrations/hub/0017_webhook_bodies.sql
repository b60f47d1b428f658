-- A tracking webhook delivery's body (a JSON array of up to a hundred events, tens of
-- kilobytes) apart from its row. SQLite rewrites a whole row on UPDATE, overflow pages and
-- all, so each attempt recorded on a row that held its body wrote the body again: most of
-- what the webhook worker spent. The row keeps the bookkeeping; the body is written once.
-- Rows are never deleted, so on a hub with a long history this upgrade copies every body
-- once, in its one transaction: the WAL grows by about their size, and the file keeps the
-- space the column held (for reuse) until a VACUUM.
CREATE TABLE webhook_bodies (
    delivery_id INTEGER PRIMARY KEY REFERENCES webhook_deliveries (id),
    body        TEXT NOT NULL
);
INSERT INTO webhook_bodies (delivery_id, body) SELECT id, body FROM webhook_deliveries;
ALTER TABLE webhook_deliveries DROP COLUMN body;
