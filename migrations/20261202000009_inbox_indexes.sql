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

-- Three tabs ask something of a chat's messages (Awaiting reply: the newest
-- human, not unsent message is the fan's; PPV awaiting purchase; Spenders: a
-- purchased PPV or a tip). Asked per chat at read time, a sparse tab made the
-- list probe every chat of a creator and sort them, and the tab counts probed
-- every chat of the agency. So each chat carries the three answers, kept by
-- statement-level triggers (one recomputation per touched chat per
-- statement, however many messages a batch upserts), and the tabs read
-- partial indexes in list order.
ALTER TABLE chats
    ADD COLUMN awaiting_reply boolean NOT NULL DEFAULT false,
    ADD COLUMN has_open_ppv   boolean NOT NULL DEFAULT false,
    ADD COLUMN has_spend      boolean NOT NULL DEFAULT false;

CREATE FUNCTION chats_refresh_inbox_flags(ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE chats c
    SET awaiting_reply = f.awaiting, has_open_ppv = f.open_ppv, has_spend = f.spend
    FROM (
        SELECT k.id,
            COALESCE((SELECT h.direction = 'in' FROM messages h
                      WHERE h.chat_id = k.id AND h.kind NOT LIKE 'AUTOMATED\_%' AND h.deleted_at IS NULL
                      ORDER BY COALESCE(h.sent_at, h.first_seen_at) DESC, h.uuid DESC LIMIT 1), false) AS awaiting,
            EXISTS (SELECT 1 FROM messages p
                    WHERE p.chat_id = k.id AND p.price_cents IS NOT NULL AND p.purchased_at IS NULL
                      AND p.deleted_at IS NULL AND p.direction = 'out' AND p.kind <> 'TIP') AS open_ppv,
            (EXISTS (SELECT 1 FROM messages b
                     WHERE b.chat_id = k.id AND b.purchased_at IS NOT NULL AND b.price_cents IS NOT NULL
                       AND b.kind <> 'TIP')
             OR EXISTS (SELECT 1 FROM tips t
                        WHERE t.creator_id = k.creator_id AND t.fan_uuid = k.fan_uuid)) AS spend
        FROM chats k WHERE k.id = ANY(ids)) f
    WHERE c.id = f.id
      AND (c.awaiting_reply, c.has_open_ppv, c.has_spend) IS DISTINCT FROM (f.awaiting, f.open_ppv, f.spend)
$$;

-- Chats are locked in id order first (as the writers' own chat updates
-- are), so two batches touching the same chats cannot deadlock here. As for
-- the messages' chat check, the cached plans must never scan chats whole.
CREATE FUNCTION messages_inbox_flags() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    ids uuid[];
BEGIN
    ids := ARRAY(SELECT DISTINCT chat_id FROM changed_messages ORDER BY 1);
    IF cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM chats WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    PERFORM chats_refresh_inbox_flags(ids);
    RETURN NULL;
END $$;

CREATE TRIGGER messages_inbox_flags_insert
    AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_inbox_flags();

CREATE TRIGGER messages_inbox_flags_update
    AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_inbox_flags();

CREATE FUNCTION tips_inbox_flags() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    UPDATE chats c SET has_spend = true
    FROM (SELECT DISTINCT creator_id, fan_uuid FROM new_tips WHERE fan_uuid IS NOT NULL) t
    WHERE c.creator_id = t.creator_id AND c.fan_uuid = t.fan_uuid AND NOT c.has_spend;
    RETURN NULL;
END $$;

CREATE TRIGGER tips_inbox_flags
    AFTER INSERT ON tips
    REFERENCING NEW TABLE AS new_tips
    FOR EACH STATEMENT EXECUTE FUNCTION tips_inbox_flags();

-- A tip can arrive before its fan's chat exists. (Cached plans of these
-- small functions, too, must not remember a scan from when tips was empty.)
CREATE FUNCTION chats_spend_on_insert() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    NEW.has_spend := NEW.has_spend OR EXISTS (
        SELECT 1 FROM tips t WHERE t.creator_id = NEW.creator_id AND t.fan_uuid = NEW.fan_uuid);
    RETURN NEW;
END $$;

CREATE TRIGGER chats_spend_on_insert
    BEFORE INSERT ON chats
    FOR EACH ROW EXECUTE FUNCTION chats_spend_on_insert();

SELECT chats_refresh_inbox_flags(ARRAY(SELECT id FROM chats));

CREATE INDEX chats_inbox_awaiting_idx
    ON chats (creator_id, (COALESCE(last_message_at, created_at)), id) WHERE awaiting_reply;
CREATE INDEX chats_inbox_open_ppv_idx
    ON chats (creator_id, (COALESCE(last_message_at, created_at)), id) WHERE has_open_ppv;
CREATE INDEX chats_inbox_spend_idx
    ON chats (creator_id, (COALESCE(last_message_at, created_at)), id) WHERE has_spend;
