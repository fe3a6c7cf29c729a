-- Webhook intake: every accepted delivery is committed here before the 2xx;
-- processing applies it to the mirror afterwards. Rejections (bad signature,
-- malformed body) are logged separately, without the event.

CREATE TABLE webhook_events (
    id               bigserial PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    event_type       text NOT NULL,
    dedupe_key       text NOT NULL UNIQUE,
    event_id         text,
    creator_fanvue_uuid uuid,
    agency_id        uuid REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id       uuid REFERENCES creators(id) ON DELETE CASCADE,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'processing', 'processed', 'dead', 'unmatched')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    processed_at     timestamptz,
    error            text
);
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE status IN ('pending', 'processing');
CREATE INDEX webhook_events_agency_idx ON webhook_events (agency_id, event_type, received_at DESC);
CREATE INDEX webhook_events_creator_idx ON webhook_events (creator_id, received_at DESC);

CREATE TABLE webhook_rejections (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    event_type  text,
    reason      text NOT NULL,
    client_ip   text,
    -- Only for malformed bodies (diagnosis); never for bad signatures.
    body_excerpt text
);
CREATE INDEX webhook_rejections_time_idx ON webhook_rejections (received_at DESC);

ALTER TABLE chats ADD COLUMN followed_at timestamptz;
ALTER TABLE chats ADD COLUMN subscribed_at timestamptz;
ALTER TABLE sync_state ADD COLUMN last_webhook_at timestamptz;
