-- Agency settings (the admin settings page): the lowest PPV price a send may
-- carry, beside time_zone, mark_read_on_open and the sales ledger's
-- platform_fee_bps and tip_window_minutes (migration 14). The bounds match the domain types
-- (PlatformFee, TipWindow, MinPpvPrice), so a row can never hold a value
-- the settings page would refuse.
ALTER TABLE agencies
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
