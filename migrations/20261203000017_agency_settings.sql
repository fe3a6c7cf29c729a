-- Agency settings (the admin settings page): the platform fee used for net
-- estimates, the tip-attribution window and the lowest PPV price a send may
-- carry, beside the existing time_zone and mark_read_on_open columns. The
-- sales ledger reads platform_fee_bps and tip_window_minutes from here; no
-- other migration adds them. The bounds match the domain types
-- (PlatformFee, TipWindow, MinPpvPrice), so a row can never hold a value
-- the settings page would refuse.
ALTER TABLE agencies
    ADD COLUMN platform_fee_bps integer NOT NULL DEFAULT 2000
        CONSTRAINT agencies_platform_fee_bps_range CHECK (platform_fee_bps BETWEEN 0 AND 10000),
    ADD COLUMN tip_window_minutes integer NOT NULL DEFAULT 1440
        CONSTRAINT agencies_tip_window_minutes_range CHECK (tip_window_minutes BETWEEN 0 AND 10080),
    ADD COLUMN min_ppv_price_cents bigint NOT NULL DEFAULT 300
        CONSTRAINT agencies_min_ppv_price_cents_range CHECK (min_ppv_price_cents BETWEEN 200 AND 100000),
    -- The name is validated against the tz database by the application (and
    -- by Postgres when the settings page saves it); this only bounds it.
    ADD CONSTRAINT agencies_time_zone_shape CHECK (length(time_zone) BETWEEN 1 AND 64);

-- For /metrics, which samples these on every scrape: dead letters, and the
-- last hour of sends and sync runs, read by index instead of by scanning.
CREATE INDEX webhook_events_dead_idx ON webhook_events (id) WHERE status = 'dead';
CREATE INDEX outbound_sends_created_idx ON outbound_sends (created_at);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at);
