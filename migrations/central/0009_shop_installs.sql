-- Installs of the Shopify app on a retailer's shop under way (the authorization code grant):
-- each is a `state` the merchant's browser must bring back from Shopify, good once and for an
-- hour. Only the state's SHA-256 is kept, so this table alone cannot complete an install.
CREATE TABLE shop_installs (
    state_sha256 TEXT PRIMARY KEY,
    retailer_id  TEXT NOT NULL REFERENCES retailers (id),
    shop_domain  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- Set when the callback takes it: a state is never taken twice.
    used_at      INTEGER
) WITHOUT ROWID;

CREATE INDEX shop_installs_by_shop ON shop_installs (shop_domain, expires_at);
