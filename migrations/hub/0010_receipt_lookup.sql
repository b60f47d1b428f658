-- Whether a return's receipt notice (RC) was queued is asked at every receipt scan (and for
-- every carrier first scan forwarded): by return, not by reading the whole delivery queue.
CREATE INDEX webhook_deliveries_by_return ON webhook_deliveries (return_id, code);
