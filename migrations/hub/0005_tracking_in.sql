-- Carrier and partner tracking events the central store recorded for this hub's returns (a
-- carrier's RT, Increff's RETURN_PICKED_UP / RTO, …), pulled with the event feed and stored in
-- the same transaction as the pull cursor, so each is kept once. The hub forwards each to
-- its retailer's tracking webhook URLs: `forwarded_at` is set in the transaction that queues
-- its deliveries (or finds it needs none: no such return here, or no URL).
CREATE TABLE tracking_in (
    id           TEXT PRIMARY KEY,
    return_id    TEXT,
    connote      TEXT NOT NULL,
    code         TEXT NOT NULL,
    status       TEXT NOT NULL,
    event_at     TEXT NOT NULL,
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    forwarded_at TEXT
) WITHOUT ROWID;
CREATE INDEX tracking_in_unforwarded ON tracking_in (received_at) WHERE forwarded_at IS NULL;
