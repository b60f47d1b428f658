-- A supervisor's search for past returns: every key is an exact match on an index, and pages
-- come newest change first. What each costs per write: `orders_by_number` and
-- `orders_by_email_nocase` one entry per imported order, `return_items_by_line` one per
-- returned item, `returns_by_updated` one per return and one move per status change (the scan
-- path's receipt among them).
CREATE INDEX orders_by_number ON orders (order_number);
CREATE INDEX orders_by_email_nocase ON orders (email COLLATE NOCASE);
CREATE INDEX return_items_by_line ON return_items (order_line_id);
CREATE INDEX returns_by_updated ON returns (updated_at, id);
-- A return's timeline reads the carrier events relayed for it (one entry per relayed event).
CREATE INDEX tracking_in_by_return ON tracking_in (return_id);
