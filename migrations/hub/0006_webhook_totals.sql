-- The tracking webhook view, version 6. F5 reads every URL's queue each second: it must not
-- aggregate the whole (never-deleted) `webhook_deliveries` table to do it.
--
-- What is waiting is read through an index of the pending rows only (bounded by what is
-- waiting, not by what was ever sent); `webhook_deliveries_due` stays the worker's index.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (retailer_id, url)
    WHERE state = 'pending';

-- What was delivered, counted per retailer and URL as it happens. A trigger keeps the count
-- in the same transaction as the row's move to 'delivered', whoever moves it (rows only ever
-- go pending → delivered, and are never deleted), so the count cannot drift from the rows.
CREATE TABLE webhook_delivery_totals (
    retailer_id TEXT NOT NULL,
    url         TEXT NOT NULL,
    delivered   INTEGER NOT NULL,
    PRIMARY KEY (retailer_id, url)
) WITHOUT ROWID;

INSERT INTO webhook_delivery_totals (retailer_id, url, delivered)
    SELECT retailer_id, url, count(*) FROM webhook_deliveries
    WHERE state = 'delivered' GROUP BY retailer_id, url;

CREATE TRIGGER webhook_deliveries_count_delivered
AFTER UPDATE OF state ON webhook_deliveries
WHEN OLD.state = 'pending' AND NEW.state = 'delivered'
BEGIN
    INSERT INTO webhook_delivery_totals (retailer_id, url, delivered)
        VALUES (NEW.retailer_id, NEW.url, 1)
        ON CONFLICT (retailer_id, url) DO UPDATE SET delivered = delivered + 1;
END;
