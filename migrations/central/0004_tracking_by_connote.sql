-- Tracking events by parcel, version 4. A partner notification that carries no event time
-- (Increff may leave eventTime out) is the same event when it is delivered again: it is found
-- by its parcel, code and source instead of by a time it does not have.
CREATE INDEX tracking_by_connote ON tracking_events (connote, code, source);
