-- What a confirmed action paid the customer in the currency they paid, when that is not the
-- action's own (a Shopify order paid in its presentment currency): Money as JSON, shown on the
-- bench beside the amount in the shop's currency. NULL for every other action.
ALTER TABLE outbox ADD COLUMN paid_json TEXT;
