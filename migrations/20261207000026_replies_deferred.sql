-- Replies are recomputed after the write, not in it. Recomputing a chat's
-- replies inside every statement that wrote its messages halved webhook
-- processing and made a backfill 2.7x slower (sync_bench and webhook_bench
-- with BENCH_DASHBOARD_ROLLUPS=off/on). The messages' trigger now records
-- which chats changed between which instants; `dash_replies_flush` folds
-- many statements' records into one recompute per chat. It runs from the
-- application's housekeeping every few seconds and before every dashboard
-- read of the agency, so a page never shows replies behind the mirror.

CREATE TABLE dash_replies_pending (
    id        bigserial PRIMARY KEY,
    agency_id uuid NOT NULL,
    chat_id   uuid NOT NULL,
    from_at   timestamptz NOT NULL,
    to_at     timestamptz NOT NULL
);
CREATE INDEX dash_replies_pending_agency_idx ON dash_replies_pending (agency_id, id);

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
                               WHERE m.chat_id = n.chat_id AND m.sent_at > n.sent_at
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

-- Recomputes the replies of up to `p_limit` pending records (one agency's,
-- or any agency's when `p_agency` is null), merged per chat; returns how
-- many records it took. Flushes are serialised (a transaction-level
-- advisory lock) so two never recompute one chat at once; a record still
-- being written is not visible yet and waits for the next flush.
CREATE FUNCTION dash_replies_flush(p_agency uuid, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    c uuid[];
    f timestamptz[];
    t timestamptz[];
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dash_replies_pending
                   WHERE p_agency IS NULL OR agency_id = p_agency) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7204, 0);
    WITH taken AS (
        DELETE FROM dash_replies_pending p
        WHERE p.id IN (SELECT q.id FROM dash_replies_pending q
                       WHERE p_agency IS NULL OR q.agency_id = p_agency
                       ORDER BY q.id LIMIT p_limit)
        RETURNING p.chat_id, p.from_at, p.to_at
    )
    SELECT array_agg(chat_id), array_agg(from_at), array_agg(to_at), count(*)
    INTO c, f, t, n FROM taken;
    IF n > 0 THEN
        PERFORM dash_replies_refresh(c, f, t);
    END IF;
    RETURN n;
END $$;
