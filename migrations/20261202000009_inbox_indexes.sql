-- The shared inbox's reads: the chat list by activity per creator (keyset on
-- (activity, id)), its tabs, fan search, and a thread by time (keyset on
-- (time, uuid)). A chat's activity is its last message's time, or when the
-- chat was first seen if it has no message yet; a message's time is its
-- sentAt, or when the mirror first saw it if Fanvue gave none.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- List pages: one backward index scan per visible creator, merged.
CREATE INDEX chats_inbox_keyset_idx
    ON chats (creator_id, (COALESCE(last_message_at, created_at)), id);
-- The Unread tab, the same order over only the unread chats.
CREATE INDEX chats_inbox_unread_idx
    ON chats (creator_id, (COALESCE(last_message_at, created_at)), id)
    WHERE unread_count > 0 OR NOT is_read;
-- Search by display name, handle or nickname (substring, case-insensitive).
CREATE INDEX chats_fan_search_idx ON chats USING gin (
    (lower(COALESCE(fan_display_name, '') || ' ' || COALESCE(fan_handle, '') || ' '
           || COALESCE(fan_nickname, ''))) gin_trgm_ops);

-- A thread's messages (and the newest one for a list row's preview).
CREATE INDEX messages_chat_keyset_idx
    ON messages (chat_id, (COALESCE(sent_at, first_seen_at)), uuid);
-- Awaiting reply: the newest human (not automated), not unsent message.
CREATE INDEX messages_chat_human_idx
    ON messages (chat_id, (COALESCE(sent_at, first_seen_at)), uuid)
    INCLUDE (direction)
    WHERE kind NOT LIKE 'AUTOMATED\_%' AND deleted_at IS NULL;
-- PPV awaiting purchase, per chat.
CREATE INDEX messages_chat_open_ppv_idx ON messages (chat_id)
    WHERE price_cents IS NOT NULL AND purchased_at IS NULL AND deleted_at IS NULL;
-- Spend per chat: purchased PPVs.
CREATE INDEX messages_chat_purchased_idx ON messages (chat_id)
    INCLUDE (price_cents, purchased_at)
    WHERE purchased_at IS NOT NULL AND price_cents IS NOT NULL;
-- Spend per fan: tips (the Spenders tab, the fan panel, a TIP message's amount).
CREATE INDEX tips_fan_idx ON tips (creator_id, fan_uuid, tipped_at);
