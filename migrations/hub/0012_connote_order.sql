-- The order a return's connotes were recorded in (its own, then those attached at the bench):
-- partners are told the first as the return's AWB. Rows from before this migration keep NULL
-- and sort first, by connote.
ALTER TABLE connotes ADD COLUMN position INTEGER;
