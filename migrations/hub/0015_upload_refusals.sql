-- Rows of partners' uploads that the central store refused for this hub's retailers, as it
-- sent them (an `upload_rows_refused` event): what supervisors see on the reports screen.
CREATE TABLE upload_refusals (
    event_id       TEXT NOT NULL,
    row_index      INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    retailer_id    TEXT NOT NULL,
    source         TEXT NOT NULL,
    consignment_no TEXT NOT NULL,
    order_number   TEXT NOT NULL,
    sku            TEXT NOT NULL,
    hub_id         TEXT NOT NULL,
    errors_json    TEXT NOT NULL CHECK (json_valid(errors_json)),
    PRIMARY KEY (event_id, row_index)
) WITHOUT ROWID;
CREATE INDEX upload_refusals_by_time ON upload_refusals (received_at);
