-- The mirror: chats and messages of connected creators, Switchboard's own
-- send ledger, sync scheduling state and run history, and purchase/tip
-- events not (yet) joined to a message.

CREATE TABLE chats (
    id                uuid PRIMARY KEY,
    agency_id         uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id        uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    fan_uuid          uuid NOT NULL,
    fan_handle        text,
    fan_display_name  text,
    fan_nickname      text,
    fan_avatar_url    text,
    fan_registered_at timestamptz,
    is_top_spender    boolean NOT NULL DEFAULT false,
    is_read           boolean NOT NULL DEFAULT true,
    is_muted          boolean NOT NULL DEFAULT false,
    unread_count      integer NOT NULL DEFAULT 0,
    last_message_at   timestamptz,
    last_message_uuid uuid,
    -- Older history beyond the first batch: fetched page by page, newest first.
    history_complete  boolean NOT NULL DEFAULT false,
    history_pages     integer NOT NULL DEFAULT 1,
    assigned_staff_id uuid REFERENCES staff(id) ON DELETE SET NULL,
    claimed_until     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, fan_uuid)
);
-- Inbox: a creator's chats by most recent message.
CREATE INDEX chats_inbox_idx ON chats (creator_id, last_message_at DESC NULLS LAST);
CREATE INDEX chats_agency_idx ON chats (agency_id);

CREATE TABLE messages (
    creator_id        uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    uuid              uuid NOT NULL,
    agency_id         uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    chat_id           uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    sender_uuid       uuid,
    recipient_uuid    uuid,
    direction         text NOT NULL CHECK (direction IN ('in', 'out')),
    text              text,
    sent_at           timestamptz,
    kind              text NOT NULL,
    has_media         boolean,
    media_type        text,
    media_uuids       uuid[] NOT NULL DEFAULT '{}',
    price_cents       bigint,
    purchased_at      timestamptz,
    sent_by_user_uuid text,
    is_read           boolean NOT NULL DEFAULT false,
    deleted_at        timestamptz,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    source            text NOT NULL,
    PRIMARY KEY (creator_id, uuid)
);
-- A chat's messages by time (inbox thread, cursor choice).
CREATE INDEX messages_chat_time_idx ON messages (chat_id, sent_at DESC);
CREATE INDEX messages_creator_time_idx ON messages (creator_id, sent_at DESC);
-- Attribution: sales by creator and purchase time; messages by team member.
CREATE INDEX messages_purchases_idx ON messages (creator_id, purchased_at) WHERE purchased_at IS NOT NULL;
CREATE INDEX messages_sent_by_idx ON messages (sent_by_user_uuid) WHERE sent_by_user_uuid IS NOT NULL;
-- Purchase refresh: PPVs still waiting to be bought.
CREATE INDEX messages_open_ppv_idx ON messages (creator_id, sent_at)
    WHERE price_cents IS NOT NULL AND purchased_at IS NULL AND deleted_at IS NULL;

-- Switchboard's own ledger of what staff sent through it (filled by the inbox).
CREATE TABLE outbound_sends (
    id              uuid PRIMARY KEY,
    agency_id       uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id      uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    chat_id         uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    staff_id        uuid REFERENCES staff(id) ON DELETE SET NULL,
    idempotency_key text NOT NULL UNIQUE,
    body            text,
    price_cents     bigint,
    media_uuids     uuid[] NOT NULL DEFAULT '{}',
    status          text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unknown')),
    message_uuid    uuid,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_sends_message_idx ON outbound_sends (creator_id, message_uuid) WHERE message_uuid IS NOT NULL;

-- Per-creator sync scheduling: what is due, and who holds the lease.
CREATE TABLE sync_state (
    creator_id            uuid PRIMARY KEY REFERENCES creators(id) ON DELETE CASCADE,
    agency_id             uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    backfill_done_at      timestamptz,
    history_done_at       timestamptz,
    high_water_at         timestamptz,
    last_reconcile_at     timestamptz,
    next_reconcile_at     timestamptz NOT NULL DEFAULT now(),
    reconcile_requested_at timestamptz,
    lease_owner           text,
    lease_expires_at      timestamptz
);
CREATE INDEX sync_state_due_idx ON sync_state (next_reconcile_at);

CREATE TABLE sync_runs (
    id                bigserial PRIMARY KEY,
    agency_id         uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id        uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    kind              text NOT NULL,
    worker            text NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL DEFAULT now(),
    api_requests      integer NOT NULL DEFAULT 0,
    rate_limited      integer NOT NULL DEFAULT 0,
    messages_upserted integer NOT NULL DEFAULT 0,
    chats_touched     integer NOT NULL DEFAULT 0,
    skipped           jsonb NOT NULL DEFAULT '[]'::jsonb,
    error             text
);
CREATE INDEX sync_runs_creator_idx ON sync_runs (creator_id, id DESC);

-- Purchases and tips reported by webhooks, kept until (and after) they are
-- joined to the message they concern.
CREATE TABLE purchase_events (
    id            bigserial PRIMARY KEY,
    agency_id     uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id    uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    message_uuid  uuid NOT NULL,
    fan_uuid      uuid,
    price_cents   bigint,
    purchased_at  timestamptz NOT NULL,
    dedupe_key    text NOT NULL UNIQUE,
    joined_at     timestamptz,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchase_events_open_idx ON purchase_events (creator_id, message_uuid) WHERE joined_at IS NULL;

CREATE TABLE tips (
    id                 bigserial PRIMARY KEY,
    agency_id          uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id         uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    fan_uuid           uuid,
    amount_cents       bigint NOT NULL,
    tipped_at          timestamptz NOT NULL,
    context            text NOT NULL,
    tipped_message_uuid uuid,
    dedupe_key         text NOT NULL UNIQUE,
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tips_creator_idx ON tips (creator_id, tipped_at);
