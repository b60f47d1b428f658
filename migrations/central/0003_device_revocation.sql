-- Device tokens that can be taken back, version 3. A stolen or retired bench PC's token is
-- revoked from the central CLI (`device-revoke`): it stops authenticating at once, and the
-- row stays (its hub, name and the store it was bound to remain in the record). Rotating a
-- token replaces its secret in place (`device-rotate`), keeping its binding.
ALTER TABLE devices ADD COLUMN revoked_at TEXT;
