-- Going live without the demo, version 7. A hub is now set up by people through the app, so
-- the read models keep what their forms set:
--
-- * users.must_change_pin: an admin set the PIN (enrolment, CSV import or reset); the person
--   must choose their own at the next sign-in before doing anything else.
-- * retailers.country: the retailer's home country (ISO 3166 alpha-2), asked on the retailer
--   form. Null for configurations recorded before it was asked for.
--
-- Both are projections of the event log (UserEnrolled, RetailerConfigured) like every other
-- column; older events simply carry neither.
ALTER TABLE users ADD COLUMN must_change_pin INTEGER NOT NULL DEFAULT 0
    CHECK (must_change_pin IN (0, 1));
ALTER TABLE retailers ADD COLUMN country TEXT
    CHECK (country IS NULL OR (length(country) = 2 AND country = upper(country)));
