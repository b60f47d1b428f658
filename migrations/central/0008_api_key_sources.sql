-- Which partner an Upload API key belongs to, and so the source of the returns it uploads:
-- `partner_upload` (a portal or carrier: the retailer's routes decide where actions go) or
-- `loop_upload` (Loop, which credits the customer itself when the hub's tracking events reach
-- it: nothing is sent anywhere else for those returns, which would pay twice).
ALTER TABLE api_keys ADD COLUMN source TEXT NOT NULL DEFAULT 'partner_upload'
    CHECK (source IN ('partner_upload', 'loop_upload'));
