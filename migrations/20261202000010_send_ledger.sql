-- The send ledger as the inbox uses it (DESIGN §11): when a row last changed
-- and when it was confirmed sent, the unknown row a "retry anyway" replaces,
-- the template a send used; one ledger row per Fanvue message at most; and
-- the index reconcile reads to resolve a creator's `unknown` sends.

ALTER TABLE outbound_sends
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN sent_at       timestamptz,
    ADD COLUMN retry_of      uuid REFERENCES outbound_sends(id) ON DELETE SET NULL,
    ADD COLUMN template_uuid uuid;

-- A Fanvue message is claimed by at most one ledger row (unknown resolution
-- relies on it).
DROP INDEX outbound_sends_message_idx;
CREATE UNIQUE INDEX outbound_sends_message_idx ON outbound_sends (creator_id, message_uuid)
    WHERE message_uuid IS NOT NULL;

CREATE INDEX outbound_sends_unknown_idx ON outbound_sends (creator_id, created_at)
    WHERE status = 'unknown';

-- A chat's sends, newest first (thread attribution, "recent sends").
CREATE INDEX outbound_sends_chat_idx ON outbound_sends (chat_id, created_at DESC);
