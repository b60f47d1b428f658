-- Rows the Upload API refused, kept as they came with the reasons given to the uploader:
-- unappliable input is kept and shown (`returnhub-central upload-refusals`), never only
-- answered and forgotten.
CREATE TABLE upload_refusals (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at    TEXT NOT NULL,
    retailer_id    TEXT NOT NULL,
    -- The uploading key's id and its source.
    key_id         TEXT NOT NULL,
    source         TEXT NOT NULL,
    -- Zero-based index in the upload.
    row_index      INTEGER NOT NULL,
    consignment_no TEXT NOT NULL,
    order_number   TEXT NOT NULL,
    hub_id         TEXT NOT NULL,
    errors_json    TEXT NOT NULL CHECK (json_valid(errors_json)),
    row_json       TEXT NOT NULL CHECK (json_valid(row_json))
);
CREATE INDEX upload_refusals_by_time ON upload_refusals (received_at, id);
