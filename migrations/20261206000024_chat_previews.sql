-- The list row's preview of a chat's newest message, kept on the chat.
-- Reading it at list time was one probe of `messages` per row (50 per page,
-- the largest part of a list view after the tab counts were kept). The
-- statement-level triggers on `messages` that keep the tab flags already
-- recompute each touched chat once per statement; they now recompute the
-- preview in the same pass, so a new message, an unsend (deleted_at) and a
-- purchase (purchased_at) all reach it.
--
-- The newest message is the thread's order: COALESCE(sent_at, first_seen_at),
-- then uuid. The text is kept to its first 1,000 characters: the preview
-- shows 120 after folding whitespace. `preview_at` is the message's time,
-- which a TIP's amount is matched by (tips arrive apart from the message).

ALTER TABLE chats
    ADD COLUMN preview_uuid        uuid,
    ADD COLUMN preview_at          timestamptz,
    ADD COLUMN preview_direction   text,
    ADD COLUMN preview_kind        text,
    ADD COLUMN preview_text        text,
    ADD COLUMN preview_media_type  text,
    ADD COLUMN preview_media_count int4,
    ADD COLUMN preview_has_media   boolean,
    ADD COLUMN preview_price_cents bigint,
    ADD COLUMN preview_purchased   boolean,
    ADD COLUMN preview_deleted     boolean;

CREATE OR REPLACE FUNCTION chats_refresh_inbox_flags(ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE chats c
    SET awaiting_reply = f.awaiting, has_open_ppv = f.open_ppv, has_spend = f.spend,
        preview_uuid = f.lm_uuid, preview_at = f.lm_at, preview_direction = f.lm_direction,
        preview_kind = f.lm_kind, preview_text = f.lm_text, preview_media_type = f.lm_media_type,
        preview_media_count = f.lm_media_count, preview_has_media = f.lm_has_media,
        preview_price_cents = f.lm_price_cents, preview_purchased = f.lm_purchased,
        preview_deleted = f.lm_deleted
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
                        WHERE t.creator_id = k.creator_id AND t.fan_uuid = k.fan_uuid)) AS spend,
            lm.uuid AS lm_uuid, lm.at AS lm_at, lm.direction AS lm_direction, lm.kind AS lm_kind,
            left(lm.text, 1000) AS lm_text, lm.media_type AS lm_media_type,
            cardinality(lm.media_uuids)::int4 AS lm_media_count, lm.has_media AS lm_has_media,
            lm.price_cents AS lm_price_cents, (lm.purchased_at IS NOT NULL) AS lm_purchased,
            (lm.deleted_at IS NOT NULL) AS lm_deleted
        FROM chats k
        LEFT JOIN LATERAL (
            SELECT m.uuid, COALESCE(m.sent_at, m.first_seen_at) AS at, m.direction, m.kind, m.text,
                m.media_type, m.media_uuids, m.has_media, m.price_cents, m.purchased_at, m.deleted_at
            FROM messages m WHERE m.chat_id = k.id
            ORDER BY COALESCE(m.sent_at, m.first_seen_at) DESC, m.uuid DESC LIMIT 1) lm ON true
        WHERE k.id = ANY(ids)) f
    WHERE c.id = f.id
      AND (c.awaiting_reply, c.has_open_ppv, c.has_spend, c.preview_uuid, c.preview_at,
           c.preview_direction, c.preview_kind, c.preview_text, c.preview_media_type,
           c.preview_media_count, c.preview_has_media, c.preview_price_cents, c.preview_purchased,
           c.preview_deleted)
          IS DISTINCT FROM
          (f.awaiting, f.open_ppv, f.spend, f.lm_uuid, f.lm_at, f.lm_direction, f.lm_kind, f.lm_text,
           f.lm_media_type, f.lm_media_count, f.lm_has_media, f.lm_price_cents, f.lm_purchased,
           f.lm_deleted)
$$;

-- The backfill: every chat's preview (and, unchanged, its flags).
SELECT chats_refresh_inbox_flags(ARRAY(SELECT id FROM chats));
