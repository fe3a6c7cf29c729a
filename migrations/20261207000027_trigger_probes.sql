-- Three statement-trigger paths on messages read far more than they need
-- once their plans were made with the tables' estimates of the moment.
-- webhook_bench's drain spent most of its Postgres time in them, and
-- sync_bench's ingest two thirds of its own:
--   * the chat check looked each chat up through chats_agency_idx, i.e. it
--     read every chat of the agency per distinct chat of the statement (a
--     plan cached per connection, made while chats was small);
--   * the pending-replies probe ("is there a human reply after this fan
--     message?") read every human message of the chat, since its condition
--     on sent_at did not bound the index it chose;
--   * the inbox flags' refresh, planned per call with the chat ids as an
--     unknown array, hashed the whole chats table and turned its EXISTS
--     tests into hashed subplans over every open PPV, every purchased
--     message and every tip of the mirror: about 20 ms per statement on
--     sync_bench's 500,000 messages, and growing with the mirror.
-- Each now says what bounds its index: the chat by primary key alone (its
-- creator and agency compared after the probe); the later reply by the
-- chat's (chat_id, COALESCE(sent_at, first_seen_at)) key, which equals
-- sent_at whenever sent_at is set; the refreshed chats by their ids, and
-- each flag by a LATERAL probe with LIMIT 1, which runs per chat.
--
-- And the statement triggers that compare a statement's old and new rows
-- (old_rows JOIN new_rows on the key) joined them by nested loop: their
-- plans are cached from the first statement, whose transition tables held
-- a row or two, so a 500-row statement compared 250,000 pairs (webhook
-- rounds of 500 ran at half the speed of rounds of 100). These functions
-- join nothing but their transition tables (and the small agencies table),
-- so they plan without nested loops: a hash or merge join, linear in the
-- statement's rows. The sales trigger calls functions that probe large
-- tables by index, which must keep their nested loops: its two old/new
-- comparisons are planned per statement instead (EXECUTE), with the
-- transition tables' real sizes.

CREATE OR REPLACE FUNCTION messages_check_chats() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    wanted bigint;
    found bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE l.creator_id = n.creator_id AND l.agency_id = n.agency_id)
    INTO wanted, found
    FROM (SELECT DISTINCT chat_id, creator_id, agency_id FROM new_messages) n
    LEFT JOIN LATERAL (
        SELECT c.creator_id, c.agency_id FROM chats c
        WHERE c.id = n.chat_id
        FOR KEY SHARE OF c
    ) l ON true;
    IF found <> wanted THEN
        RAISE EXCEPTION 'insert on table "messages" names a chat that does not exist for its creator and agency'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dash_messages_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO activity_daily (agency_id, creator_id, day, ledger_staff_id, team_member_uuid,
            messages_sent, ppvs_sent, ppvs_unlocked)
        SELECT x.agency_id, x.creator_id, dash_local_day(x.at, a.time_zone), x.ledger_staff_id, x.tm,
            count(*), count(*) FILTER (WHERE x.price_cents IS NOT NULL),
            count(*) FILTER (WHERE x.price_cents IS NOT NULL AND x.purchased_at IS NOT NULL)
        FROM (
            SELECT n.agency_id, n.creator_id, COALESCE(n.sent_at, n.first_seen_at) AS at, lower(n.sent_by_user_uuid) AS tm,
                n.price_cents, n.purchased_at,
                (SELECT o.staff_id FROM outbound_sends o WHERE o.creator_id = n.creator_id AND o.message_uuid = n.uuid
                 ORDER BY o.created_at LIMIT 1) AS ledger_staff_id
            FROM new_rows n WHERE dash_is_human_out(n.direction, n.kind, n.deleted_at)
        ) x JOIN agencies a ON a.id = x.agency_id
        GROUP BY 1, 2, 3, 4, 5;

        -- A fan message with no human reply after it changes no reply yet:
        -- the reply that ends its wait, when it comes, marks its own range.
        INSERT INTO dash_replies_pending (agency_id, chat_id, from_at, to_at)
        SELECT n.agency_id, n.chat_id, min(n.sent_at), max(n.sent_at)
        FROM new_rows n
        WHERE n.sent_at IS NOT NULL
          AND (dash_is_human_out(n.direction, n.kind, n.deleted_at)
               OR (dash_is_fan_message(n.direction, n.kind, n.deleted_at)
                   AND EXISTS (SELECT 1 FROM messages m
                               WHERE m.chat_id = n.chat_id
                                 AND COALESCE(m.sent_at, m.first_seen_at) > n.sent_at AND m.sent_at > n.sent_at
                                 AND dash_is_human_out(m.direction, m.kind, m.deleted_at))))
        GROUP BY 1, 2;
    ELSE
        INSERT INTO activity_daily (agency_id, creator_id, day, ledger_staff_id, team_member_uuid,
            messages_sent, ppvs_sent, ppvs_unlocked)
        SELECT x.agency_id, x.creator_id, dash_local_day(x.at, a.time_zone), x.ledger_staff_id, x.tm,
            sum(x.s), COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL), 0),
            COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL AND x.purchased_at IS NOT NULL), 0)
        FROM (
            SELECT v.*,
                (SELECT o.staff_id FROM outbound_sends o WHERE o.creator_id = v.creator_id AND o.message_uuid = v.uuid
                 ORDER BY o.created_at LIMIT 1) AS ledger_staff_id
            FROM (
                SELECT n.agency_id, n.creator_id, n.uuid, COALESCE(n.sent_at, n.first_seen_at) AS at,
                    lower(n.sent_by_user_uuid) AS tm, n.price_cents, n.purchased_at, 1 AS s
                FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
                WHERE dash_is_human_out(n.direction, n.kind, n.deleted_at)
                  AND (o.direction, o.kind, o.deleted_at, o.sent_at, o.first_seen_at, o.sent_by_user_uuid,
                       o.price_cents IS NULL, o.purchased_at IS NULL)
                      IS DISTINCT FROM
                      (n.direction, n.kind, n.deleted_at, n.sent_at, n.first_seen_at, n.sent_by_user_uuid,
                       n.price_cents IS NULL, n.purchased_at IS NULL)
                UNION ALL
                SELECT o.agency_id, o.creator_id, o.uuid, COALESCE(o.sent_at, o.first_seen_at),
                    lower(o.sent_by_user_uuid), o.price_cents, o.purchased_at, -1
                FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
                WHERE dash_is_human_out(o.direction, o.kind, o.deleted_at)
                  AND (o.direction, o.kind, o.deleted_at, o.sent_at, o.first_seen_at, o.sent_by_user_uuid,
                       o.price_cents IS NULL, o.purchased_at IS NULL)
                      IS DISTINCT FROM
                      (n.direction, n.kind, n.deleted_at, n.sent_at, n.first_seen_at, n.sent_by_user_uuid,
                       n.price_cents IS NULL, n.purchased_at IS NULL)
            ) v
        ) x JOIN agencies a ON a.id = x.agency_id
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(x.s) <> 0 OR COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL), 0) <> 0
            OR COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL AND x.purchased_at IS NOT NULL), 0) <> 0;

        INSERT INTO dash_replies_pending (agency_id, chat_id, from_at, to_at)
        SELECT n.agency_id, n.chat_id, min(LEAST(n.sent_at, o.sent_at)), max(GREATEST(n.sent_at, o.sent_at))
        FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
        WHERE COALESCE(n.sent_at, o.sent_at) IS NOT NULL
          AND (o.direction, o.kind, o.deleted_at, o.sent_at, o.sent_by_user_uuid)
              IS DISTINCT FROM (n.direction, n.kind, n.deleted_at, n.sent_at, n.sent_by_user_uuid)
          AND (dash_is_human_out(n.direction, n.kind, n.deleted_at)
               OR dash_is_fan_message(n.direction, n.kind, n.deleted_at)
               OR dash_is_human_out(o.direction, o.kind, o.deleted_at)
               OR dash_is_fan_message(o.direction, o.kind, o.deleted_at))
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END $$;

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
            op.yes IS NOT NULL AS open_ppv,
            (bp.yes IS NOT NULL OR tp.yes IS NOT NULL) AS spend,
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
        LEFT JOIN LATERAL (
            SELECT true AS yes FROM messages p
            WHERE p.chat_id = k.id AND p.price_cents IS NOT NULL AND p.purchased_at IS NULL
              AND p.deleted_at IS NULL AND p.direction = 'out' AND p.kind <> 'TIP'
            LIMIT 1) op ON true
        LEFT JOIN LATERAL (
            SELECT true AS yes FROM messages b
            WHERE b.chat_id = k.id AND b.purchased_at IS NOT NULL AND b.price_cents IS NOT NULL
              AND b.kind <> 'TIP'
            LIMIT 1) bp ON true
        LEFT JOIN LATERAL (
            SELECT true AS yes FROM tips t
            WHERE t.creator_id = k.creator_id AND t.fan_uuid = k.fan_uuid
            LIMIT 1) tp ON true
        WHERE k.id = ANY(ids)) f
    WHERE c.id = ANY(ids) AND c.id = f.id
      AND (c.awaiting_reply, c.has_open_ppv, c.has_spend, c.preview_uuid, c.preview_at,
           c.preview_direction, c.preview_kind, c.preview_text, c.preview_media_type,
           c.preview_media_count, c.preview_has_media, c.preview_price_cents, c.preview_purchased,
           c.preview_deleted)
          IS DISTINCT FROM
          (f.awaiting, f.open_ppv, f.spend, f.lm_uuid, f.lm_at, f.lm_direction, f.lm_kind, f.lm_text,
           f.lm_media_type, f.lm_media_count, f.lm_has_media, f.lm_price_cents, f.lm_purchased,
           f.lm_deleted)
$$;

ALTER FUNCTION chats_tab_tallies_updated() SET enable_nestloop = off;
ALTER FUNCTION live_chats_updated() SET enable_nestloop = off;
ALTER FUNCTION live_messages_updated() SET enable_nestloop = off;
ALTER FUNCTION dash_messages_changed() SET enable_nestloop = off;

CREATE OR REPLACE FUNCTION sales_messages_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.creator_id ORDER BY n.creator_id, n.uuid), array_agg(n.uuid ORDER BY n.creator_id, n.uuid)
        INTO c, u FROM new_rows n WHERE n.purchased_at IS NOT NULL AND n.direction = 'out';
    ELSE
        EXECUTE 'SELECT array_agg(n.creator_id ORDER BY n.creator_id, n.uuid), array_agg(n.uuid ORDER BY n.creator_id, n.uuid)
            FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
            WHERE n.purchased_at IS NOT NULL AND n.direction = ''out''
              AND (o.purchased_at, o.price_cents, o.kind, o.sent_by_user_uuid)
                  IS DISTINCT FROM (n.purchased_at, n.price_cents, n.kind, n.sent_by_user_uuid)'
        INTO c, u;
    END IF;
    IF c IS NOT NULL THEN
        PERFORM sales_refresh_ppv(c, u);
    END IF;

    IF NOT EXISTS (SELECT 1 FROM sales s
                   WHERE s.kind = 'tip' AND s.creator_id IN (SELECT DISTINCT n.creator_id FROM new_rows n)) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.creator_id), array_agg(n.uuid) INTO c, u
        FROM new_rows n WHERE n.direction = 'out' OR n.kind = 'TIP';
    ELSE
        EXECUTE 'SELECT array_agg(n.creator_id), array_agg(n.uuid)
            FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
            WHERE (n.direction = ''out'' OR n.kind = ''TIP'')
              AND (o.kind, o.sent_by_user_uuid, o.deleted_at, o.sent_at)
                  IS DISTINCT FROM (n.kind, n.sent_by_user_uuid, n.deleted_at, n.sent_at)'
        INTO c, u;
    END IF;
    IF c IS NOT NULL THEN
        PERFORM sales_refresh_tips(sales_tips_touched_by(c, u));
    END IF;
    RETURN NULL;
END $$;
