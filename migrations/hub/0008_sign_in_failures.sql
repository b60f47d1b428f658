-- Wrong-PIN lockouts that survive a restart and reach the hub's other stations, version 8.
-- Each refused sign-in (a SignInRefused event, local or pulled) is a row; a sign-in, a
-- lifted lockout (UserUnlocked) or a new PIN for the badge's person clears that badge's rows.
-- The hub counts a badge's rows in the last few minutes to decide a lockout, so a person who
-- guessed wrong five times at one bench is not let in at the next one, or after a restart.
CREATE TABLE sign_in_failures (
    event_id TEXT PRIMARY KEY,
    -- As typed at the sign-in screen (trimmed): an unknown badge is counted too.
    badge    TEXT NOT NULL,
    at_ms    INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_badge ON sign_in_failures (badge, at_ms);
