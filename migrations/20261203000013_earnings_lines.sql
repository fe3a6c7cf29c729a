-- Earnings reconcile (issue 14): every line of a creator's Fanvue earnings
-- feed (`/insights/earnings`) and spending feed (`/insights/spending`:
-- refunds and chargebacks), stored once on a natural key, with what the
-- line proved in the mirror. Revenue no longer depends on a webhook.

CREATE TABLE earnings_lines (
    id                       bigserial PRIMARY KEY,
    agency_id                uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id               uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    -- `transactionOrderId` when Fanvue sends one, else feed|source|date|fan|gross.
    natural_key              text NOT NULL,
    feed                     text NOT NULL CHECK (feed IN ('earnings', 'spending')),
    -- Raw EarningSource (message, tip, subscription, renewal, post, referral,
    -- …) or, on the spending feed, refund / chargeback. Open: Fanvue adds values.
    source                   text NOT NULL,
    fan_uuid                 uuid,
    -- As Fanvue reports them (cents); reversal lines carry the refunded amount.
    gross_cents              bigint NOT NULL,
    net_cents                bigint NOT NULL,
    currency                 text,
    occurred_at              timestamptz NOT NULL,
    message_uuid             uuid,
    post_uuid                uuid,
    transaction_order_id     text,
    transaction_order_status text,
    -- The mirrored PPV (or tipped message) this line is about, once known.
    matched_message_uuid     uuid,
    -- 'message_uuid' (exact) or 'fan_price_time' (unique candidate).
    match_basis              text,
    -- Why a message line (or a reversal) is not matched yet: 'not_mirrored',
    -- 'no_candidate', 'ambiguous'. Kept visible; rematched every walk.
    unmatched_reason         text,
    -- This line set `messages.purchased_at` (no webhook or refresh had).
    marked_purchase          boolean NOT NULL DEFAULT false,
    -- Reversal lines: the earnings line they reverse, when it can be told.
    reverses_line_id         bigint REFERENCES earnings_lines(id) ON DELETE SET NULL,
    raw                      jsonb NOT NULL,
    first_seen_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, natural_key)
);
CREATE INDEX earnings_lines_creator_time_idx ON earnings_lines (creator_id, occurred_at DESC);
CREATE INDEX earnings_lines_agency_idx ON earnings_lines (agency_id);
-- The rematch pass and the sync page's unmatched count.
CREATE INDEX earnings_lines_unmatched_idx ON earnings_lines (creator_id)
    WHERE unmatched_reason IS NOT NULL;
-- A mirrored message is proved by at most one earnings line.
CREATE UNIQUE INDEX earnings_lines_message_once_idx ON earnings_lines (creator_id, matched_message_uuid)
    WHERE matched_message_uuid IS NOT NULL AND feed = 'earnings';

-- Per creator and feed: the newest line date seen (the walk starts there
-- minus an overlap) and how the last walk went.
CREATE TABLE earnings_sync_state (
    creator_id     uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    feed           text NOT NULL CHECK (feed IN ('earnings', 'spending')),
    agency_id      uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    high_water_at  timestamptz,
    last_run_at    timestamptz,
    last_requests  integer NOT NULL DEFAULT 0,
    last_new_lines integer NOT NULL DEFAULT 0,
    last_error     text,
    PRIMARY KEY (creator_id, feed)
);
