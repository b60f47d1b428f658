-- Retailers connected to their Shopify shop: the central store sends their actions. The access
-- token is a secret (keyring, or a 0600 file under the data dir), never in this table.
CREATE TABLE shop_connections (
    retailer_id  TEXT PRIMARY KEY,
    shop_domain  TEXT NOT NULL,
    shop_name    TEXT NOT NULL,
    connected_at TEXT NOT NULL
) WITHOUT ROWID;
