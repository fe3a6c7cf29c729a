-- Throttled sign-in attempts are audited at most once a minute per account
-- or address; that check looks up recent rows by action, which anonymous
-- clients can trigger at will, so it must not scan the whole log.
CREATE INDEX audit_log_action_at_idx ON audit_log (action, at DESC);
