-- Connectors (Shopify and partners), version 3.
-- Where an order import stands per retailer and stream, written by the ImportCheckpoint event
-- in the same transaction as the orders it covers: a resumed import starts at `cursor`, an
-- incremental one asks for orders updated since `updated_since`.
CREATE TABLE import_cursors (
    retailer_id   TEXT NOT NULL,
    stream        TEXT NOT NULL,
    cursor        TEXT,
    updated_since TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (retailer_id, stream)
) WITHOUT ROWID;

-- The target's id of a confirmed action's effect (a refund or gift card GID).
ALTER TABLE outbox ADD COLUMN reference TEXT;

-- Which retailers are connected to a Shopify shop (the access token is a secret: it is in the
-- keyring, never here). Written by ShopConnected / ShopDisconnected.
CREATE TABLE shop_connections (
    retailer_id  TEXT PRIMARY KEY REFERENCES retailers (id),
    shop_domain  TEXT NOT NULL,
    shop_name    TEXT NOT NULL,
    connected_at TEXT NOT NULL
) WITHOUT ROWID;
