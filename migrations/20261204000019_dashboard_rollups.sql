-- Dashboard rollups (DESIGN §6): what the dashboard reads instead of the
-- raw sales and messages. Kept by statement-level triggers, so no writer can
-- forget them and a rolled-back write leaves nothing behind.
--
-- * sales_daily: per agency, local day, creator, credited staff member
--   (NULL: nobody), kind and basis — gross, net and a count. Each statement
--   on `sales` appends its deltas (+new, -old); rows are folded by
--   `dashboard_rollups_compact()` (housekeeping). Appending means concurrent
--   writers never wait on (or deadlock over) a shared counter row.
-- * activity_daily: per agency, local day, creator and sender — messages
--   sent, PPVs sent, PPVs of those unlocked. The sender is kept as the send
--   ledger's staff member and the team-member uuid; the dashboard maps the
--   uuid to staff when it reads, so a mapping change needs no rewrite.
-- * message_replies: one row per human reply that answered a waiting fan
--   (the response-time definition below), so a period's median and p90 are
--   exact.
--
-- The local day is computed at write time in the agency's time zone
-- (`AT TIME ZONE`, Postgres's tz database: DST days are 23 or 25 hours long,
-- +05:45 zones cut at 18:15 UTC); changing the zone rebuilds the agency's
-- rollups (trigger on agencies).

-- A human outbound message: not automated, not a mass message, not a tip
-- notice, not unsent. Inlined by the planner (a plain SQL expression).
CREATE FUNCTION dash_is_human_out(direction text, kind text, deleted_at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT direction = 'out' AND kind NOT LIKE 'AUTOMATED\_%' AND kind NOT IN ('BROADCAST', 'TIP')
        AND deleted_at IS NULL
$$;

-- A fan message that starts a wait: inbound, not automated, not unsent.
CREATE FUNCTION dash_is_fan_message(direction text, kind text, deleted_at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT direction = 'in' AND kind NOT LIKE 'AUTOMATED\_%' AND deleted_at IS NULL
$$;

CREATE TABLE sales_daily (
    id          bigserial PRIMARY KEY,
    agency_id   uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id  uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    day         date NOT NULL,
    -- The credited staff member (no foreign key: the sales trigger moves a
    -- removed member's figures itself, as `sales` sets its column NULL).
    staff_id    uuid,
    kind        text NOT NULL,
    basis       text NOT NULL,
    gross_cents bigint NOT NULL,
    net_cents   bigint NOT NULL,
    sales       bigint NOT NULL
);
-- Every dashboard read is an agency and a day range: index-only.
CREATE INDEX sales_daily_day_idx ON sales_daily (agency_id, day)
    INCLUDE (creator_id, staff_id, kind, basis, gross_cents, net_cents, sales);

CREATE TABLE activity_daily (
    id              bigserial PRIMARY KEY,
    agency_id       uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id      uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    day             date NOT NULL,
    -- The send ledger's staff member, when sent through Switchboard.
    ledger_staff_id uuid,
    -- lower(sentByUserId), mapped to staff when read.
    team_member_uuid text,
    messages_sent   bigint NOT NULL,
    ppvs_sent       bigint NOT NULL,
    ppvs_unlocked   bigint NOT NULL
);
CREATE INDEX activity_daily_day_idx ON activity_daily (agency_id, day)
    INCLUDE (creator_id, ledger_staff_id, team_member_uuid, messages_sent, ppvs_sent, ppvs_unlocked);

-- Response time: from the first fan message after the last human outbound
-- message to the next human outbound message, credited to that reply's
-- sender. A human message that follows no waiting fan message is no reply.
CREATE TABLE message_replies (
    creator_id       uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    reply_uuid       uuid NOT NULL,
    agency_id        uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    chat_id          uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    replied_at       timestamptz NOT NULL,
    day              date NOT NULL,
    waited_seconds   integer NOT NULL,
    ledger_staff_id  uuid,
    team_member_uuid text,
    PRIMARY KEY (creator_id, reply_uuid)
);
CREATE INDEX message_replies_day_idx ON message_replies (agency_id, day)
    INCLUDE (creator_id, chat_id, ledger_staff_id, team_member_uuid, waited_seconds);
CREATE INDEX message_replies_chat_idx ON message_replies (chat_id, replied_at);

-- The local day of an instant in an agency's zone.
CREATE FUNCTION dash_local_day(at timestamptz, zone text) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT (at AT TIME ZONE zone)::date $$;

-- === sales → sales_daily ===

CREATE FUNCTION dash_sales_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sales_daily (agency_id, creator_id, day, staff_id, kind, basis, gross_cents, net_cents, sales)
        SELECT n.agency_id, n.creator_id, dash_local_day(n.occurred_at, a.time_zone), n.credited_staff_id,
               n.kind, n.basis, sum(n.gross_cents), sum(n.net_cents), count(*)
        FROM new_rows n JOIN agencies a ON a.id = n.agency_id
        GROUP BY 1, 2, 3, 4, 5, 6;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO sales_daily (agency_id, creator_id, day, staff_id, kind, basis, gross_cents, net_cents, sales)
        SELECT d.agency_id, d.creator_id, d.day, d.staff_id, d.kind, d.basis, sum(d.g), sum(d.n), sum(d.c)
        FROM (
            SELECT x.agency_id, x.creator_id, dash_local_day(x.occurred_at, a.time_zone) AS day,
                   x.credited_staff_id AS staff_id, x.kind, x.basis, x.s * x.gross_cents AS g,
                   x.s * x.net_cents AS n, x.s AS c
            FROM (
                SELECT n.agency_id, n.creator_id, n.occurred_at, n.credited_staff_id, n.kind, n.basis,
                       n.gross_cents, n.net_cents, 1 AS s
                FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE (o.creator_id, o.occurred_at, o.credited_staff_id, o.kind, o.basis, o.gross_cents, o.net_cents)
                      IS DISTINCT FROM
                      (n.creator_id, n.occurred_at, n.credited_staff_id, n.kind, n.basis, n.gross_cents, n.net_cents)
                UNION ALL
                SELECT o.agency_id, o.creator_id, o.occurred_at, o.credited_staff_id, o.kind, o.basis,
                       o.gross_cents, o.net_cents, -1
                FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE (o.creator_id, o.occurred_at, o.credited_staff_id, o.kind, o.basis, o.gross_cents, o.net_cents)
                      IS DISTINCT FROM
                      (n.creator_id, n.occurred_at, n.credited_staff_id, n.kind, n.basis, n.gross_cents, n.net_cents)
            ) x JOIN agencies a ON a.id = x.agency_id
        ) d
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(d.g) <> 0 OR sum(d.n) <> 0 OR sum(d.c) <> 0;
    ELSE
        -- A creator or agency deleted in the same statement (a cascade) has
        -- no rollup left to keep.
        INSERT INTO sales_daily (agency_id, creator_id, day, staff_id, kind, basis, gross_cents, net_cents, sales)
        SELECT o.agency_id, o.creator_id, dash_local_day(o.occurred_at, a.time_zone), o.credited_staff_id,
               o.kind, o.basis, -sum(o.gross_cents), -sum(o.net_cents), -count(*)
        FROM old_rows o JOIN agencies a ON a.id = o.agency_id
        WHERE EXISTS (SELECT 1 FROM creators cr WHERE cr.id = o.creator_id)
        GROUP BY 1, 2, 3, 4, 5, 6;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_sales_insert AFTER INSERT ON sales
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_sales_changed();
CREATE TRIGGER dash_sales_update AFTER UPDATE ON sales
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_sales_changed();
CREATE TRIGGER dash_sales_delete AFTER DELETE ON sales
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_sales_changed();

-- === messages → activity_daily and message_replies ===

-- Recomputes the replies of chats around changed instants. A change at t
-- can only alter the reply that ends t's wait and, for a human message, the
-- next one: so per chat, the replies after the last human outbound message
-- before the earliest change (lo) up to the first one after the latest
-- change (hi) are deleted and recomputed from the messages in [lo, hi].
CREATE FUNCTION dash_replies_refresh(p_chats uuid[], p_from timestamptz[], p_to timestamptz[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    ch uuid[];
    los timestamptz[];
    his timestamptz[];
BEGIN
    SELECT array_agg(b.chat_id ORDER BY b.chat_id), array_agg(b.lo ORDER BY b.chat_id),
           array_agg(b.hi ORDER BY b.chat_id)
    INTO ch, los, his
    FROM (
        SELECT k.chat_id,
            (SELECT m.sent_at FROM messages m
             WHERE m.chat_id = k.chat_id AND m.sent_at < k.tmin
               AND dash_is_human_out(m.direction, m.kind, m.deleted_at)
             ORDER BY m.sent_at DESC LIMIT 1) AS lo,
            (SELECT m.sent_at FROM messages m
             WHERE m.chat_id = k.chat_id AND m.sent_at > k.tmax
               AND dash_is_human_out(m.direction, m.kind, m.deleted_at)
             ORDER BY m.sent_at LIMIT 1) AS hi
        FROM (SELECT u.chat_id, min(u.t0) AS tmin, max(u.t1) AS tmax
              FROM unnest(p_chats, p_from, p_to) AS u(chat_id, t0, t1)
              WHERE u.chat_id IS NOT NULL AND u.t0 IS NOT NULL
              GROUP BY u.chat_id) k
    ) b;
    IF ch IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM message_replies r
    USING unnest(ch, los, his) AS b(chat_id, lo, hi)
    WHERE r.chat_id = b.chat_id
      AND (b.lo IS NULL OR r.replied_at > b.lo)
      AND (b.hi IS NULL OR r.replied_at <= b.hi);

    INSERT INTO message_replies (creator_id, reply_uuid, agency_id, chat_id, replied_at, day, waited_seconds,
        ledger_staff_id, team_member_uuid)
    SELECT w.creator_id, w.uuid, w.agency_id, w.chat_id, w.sent_at, dash_local_day(w.sent_at, a.time_zone),
        GREATEST(0, round(extract(epoch FROM w.sent_at - w.wait_from)))::integer,
        (SELECT o.staff_id FROM outbound_sends o
         WHERE o.creator_id = w.creator_id AND o.message_uuid = w.uuid ORDER BY o.created_at LIMIT 1),
        lower(w.sent_by_user_uuid)
    FROM (
        SELECT g.*, min(g.sent_at) FILTER (WHERE g.fan) OVER (PARTITION BY g.chat_id, g.k) AS wait_from
        FROM (
            SELECT s.*,
                count(*) FILTER (WHERE s.human) OVER (PARTITION BY s.chat_id ORDER BY s.sent_at, s.uuid
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - s.human::int AS k
            FROM (
                SELECT m.creator_id, m.uuid, m.agency_id, m.chat_id, m.sent_at, m.sent_by_user_uuid,
                    dash_is_human_out(m.direction, m.kind, m.deleted_at) AS human,
                    dash_is_fan_message(m.direction, m.kind, m.deleted_at) AS fan,
                    b.lo
                FROM unnest(ch, los, his) AS b(chat_id, lo, hi)
                JOIN messages m ON m.chat_id = b.chat_id AND m.sent_at IS NOT NULL
                    AND (b.lo IS NULL OR m.sent_at >= b.lo) AND (b.hi IS NULL OR m.sent_at <= b.hi)
            ) s
        ) g
    ) w
    JOIN agencies a ON a.id = w.agency_id
    WHERE w.human AND w.wait_from IS NOT NULL AND (w.lo IS NULL OR w.sent_at > w.lo)
    ON CONFLICT (creator_id, reply_uuid) DO UPDATE SET
        chat_id = EXCLUDED.chat_id, replied_at = EXCLUDED.replied_at, day = EXCLUDED.day,
        waited_seconds = EXCLUDED.waited_seconds, ledger_staff_id = EXCLUDED.ledger_staff_id,
        team_member_uuid = EXCLUDED.team_member_uuid;
END $$;

-- One message's activity figures, as deltas (s = +1 for the new version,
-- -1 for the old): only human outbound messages count; a PPV is a message
-- with a price, unlocked once purchased (counted on its send day, so the
-- unlock rate is "of the PPVs sent in the period, how many sold").
CREATE FUNCTION dash_messages_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    f timestamptz[];
    t timestamptz[];
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

        SELECT array_agg(n.chat_id), array_agg(n.sent_at), array_agg(n.sent_at) INTO c, f, t
        FROM new_rows n
        WHERE n.sent_at IS NOT NULL
          AND (dash_is_human_out(n.direction, n.kind, n.deleted_at)
               OR dash_is_fan_message(n.direction, n.kind, n.deleted_at));
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

        SELECT array_agg(n.chat_id), array_agg(LEAST(n.sent_at, o.sent_at)), array_agg(GREATEST(n.sent_at, o.sent_at))
        INTO c, f, t
        FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
        WHERE COALESCE(n.sent_at, o.sent_at) IS NOT NULL
          AND (o.direction, o.kind, o.deleted_at, o.sent_at, o.sent_by_user_uuid)
              IS DISTINCT FROM (n.direction, n.kind, n.deleted_at, n.sent_at, n.sent_by_user_uuid)
          AND (dash_is_human_out(n.direction, n.kind, n.deleted_at)
               OR dash_is_fan_message(n.direction, n.kind, n.deleted_at)
               OR dash_is_human_out(o.direction, o.kind, o.deleted_at)
               OR dash_is_fan_message(o.direction, o.kind, o.deleted_at));
    END IF;
    IF c IS NOT NULL THEN
        PERFORM dash_replies_refresh(c, f, t);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_messages_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_messages_changed();
CREATE TRIGGER dash_messages_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_messages_changed();

-- === outbound_sends: a ledger row naming a message moves its activity and
-- its reply to the staff member who sent it through Switchboard ===

-- The moved messages: each one's deciding ledger staff before (another
-- ledger row's, else none) and after this statement (the first row's).
CREATE FUNCTION dash_sends_moved(p_creators uuid[], p_messages uuid[], p_rows uuid[])
RETURNS TABLE (creator_id uuid, uuid uuid, old_staff uuid, new_staff uuid)
LANGUAGE sql STABLE AS $$
    SELECT k.creator_id, k.uuid,
        (SELECT e.staff_id FROM outbound_sends e WHERE e.creator_id = k.creator_id AND e.message_uuid = k.uuid
           AND e.id <> ALL(p_rows) ORDER BY e.created_at LIMIT 1),
        (SELECT e.staff_id FROM outbound_sends e WHERE e.creator_id = k.creator_id AND e.message_uuid = k.uuid
           ORDER BY e.created_at LIMIT 1)
    FROM (SELECT DISTINCT u.creator_id, u.uuid FROM unnest(p_creators, p_messages) AS u(creator_id, uuid)) k
$$;

CREATE FUNCTION dash_sends_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
    r uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.creator_id), array_agg(n.message_uuid), array_agg(n.id) INTO c, u, r
        FROM new_rows n WHERE n.message_uuid IS NOT NULL;
    ELSE
        SELECT array_agg(n.creator_id), array_agg(n.message_uuid), array_agg(n.id) INTO c, u, r
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.message_uuid IS NOT NULL AND o.message_uuid IS NULL;
    END IF;
    IF c IS NULL THEN
        RETURN NULL;
    END IF;

    INSERT INTO activity_daily (agency_id, creator_id, day, ledger_staff_id, team_member_uuid,
        messages_sent, ppvs_sent, ppvs_unlocked)
    SELECT x.agency_id, x.creator_id, dash_local_day(x.at, a.time_zone), x.staff, x.tm,
        sum(x.s), COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL), 0),
        COALESCE(sum(x.s) FILTER (WHERE x.price_cents IS NOT NULL AND x.purchased_at IS NOT NULL), 0)
    FROM (
        SELECT m.agency_id, m.creator_id, COALESCE(m.sent_at, m.first_seen_at) AS at,
            lower(m.sent_by_user_uuid) AS tm, m.price_cents, m.purchased_at, v.staff, v.s
        FROM dash_sends_moved(c, u, r) d
        JOIN messages m ON m.creator_id = d.creator_id AND m.uuid = d.uuid
        CROSS JOIN LATERAL (VALUES (d.old_staff, -1), (d.new_staff, 1)) AS v(staff, s)
        WHERE dash_is_human_out(m.direction, m.kind, m.deleted_at) AND d.old_staff IS DISTINCT FROM d.new_staff
    ) x JOIN agencies a ON a.id = x.agency_id
    GROUP BY 1, 2, 3, 4, 5;

    UPDATE message_replies mr SET ledger_staff_id = d.new_staff
    FROM dash_sends_moved(c, u, r) d
    WHERE mr.creator_id = d.creator_id AND mr.reply_uuid = d.uuid
      AND mr.ledger_staff_id IS DISTINCT FROM d.new_staff;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_sends_insert AFTER INSERT ON outbound_sends
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_sends_changed();
CREATE TRIGGER dash_sends_update AFTER UPDATE ON outbound_sends
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_sends_changed();

-- === rebuild and compaction ===

-- Recounts one agency's rollups from the raw tables (a new time zone; a
-- bulk load that bypassed the triggers). Locks the rollups against
-- concurrent appends for the agency while it runs.
CREATE FUNCTION dashboard_rollups_rebuild(p_agency uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE sales_daily, activity_daily IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM sales_daily WHERE agency_id = p_agency;
    INSERT INTO sales_daily (agency_id, creator_id, day, staff_id, kind, basis, gross_cents, net_cents, sales)
    SELECT s.agency_id, s.creator_id, dash_local_day(s.occurred_at, a.time_zone), s.credited_staff_id,
           s.kind, s.basis, sum(s.gross_cents), sum(s.net_cents), count(*)
    FROM sales s JOIN agencies a ON a.id = s.agency_id
    WHERE s.agency_id = p_agency
    GROUP BY 1, 2, 3, 4, 5, 6;

    DELETE FROM activity_daily WHERE agency_id = p_agency;
    INSERT INTO activity_daily (agency_id, creator_id, day, ledger_staff_id, team_member_uuid,
        messages_sent, ppvs_sent, ppvs_unlocked)
    SELECT m.agency_id, m.creator_id, dash_local_day(COALESCE(m.sent_at, m.first_seen_at), a.time_zone),
        o.staff_id, lower(m.sent_by_user_uuid),
        count(*), count(*) FILTER (WHERE m.price_cents IS NOT NULL),
        count(*) FILTER (WHERE m.price_cents IS NOT NULL AND m.purchased_at IS NOT NULL)
    FROM messages m JOIN agencies a ON a.id = m.agency_id
    LEFT JOIN LATERAL (SELECT e.staff_id FROM outbound_sends e
                       WHERE e.creator_id = m.creator_id AND e.message_uuid = m.uuid
                       ORDER BY e.created_at LIMIT 1) o ON true
    WHERE m.agency_id = p_agency AND dash_is_human_out(m.direction, m.kind, m.deleted_at)
    GROUP BY 1, 2, 3, 4, 5;

    UPDATE message_replies r SET day = dash_local_day(r.replied_at, a.time_zone)
    FROM agencies a
    WHERE a.id = p_agency AND r.agency_id = p_agency AND r.day <> dash_local_day(r.replied_at, a.time_zone);
END $$;

CREATE FUNCTION dash_agencies_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ag uuid;
BEGIN
    FOR ag IN SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
              WHERE o.time_zone IS DISTINCT FROM n.time_zone ORDER BY n.id LOOP
        PERFORM dashboard_rollups_rebuild(ag);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_agencies_update AFTER UPDATE ON agencies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_agencies_changed();

-- Folds each key's delta rows into one (housekeeping). Rows appended by a
-- concurrent, uncommitted statement are not seen and stay; keys whose sum
-- is zero disappear. Returns the rows removed.
CREATE FUNCTION dashboard_rollups_compact() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n1 bigint;
    n2 bigint;
BEGIN
    WITH many AS (
        SELECT agency_id, creator_id, day, staff_id, kind, basis FROM sales_daily
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING count(*) > 1
    ), gone AS (
        DELETE FROM sales_daily t USING many
        WHERE t.agency_id = many.agency_id AND t.creator_id = many.creator_id AND t.day = many.day
          AND t.staff_id IS NOT DISTINCT FROM many.staff_id AND t.kind = many.kind AND t.basis = many.basis
        RETURNING t.*
    ), folded AS (
        INSERT INTO sales_daily (agency_id, creator_id, day, staff_id, kind, basis, gross_cents, net_cents, sales)
        SELECT agency_id, creator_id, day, staff_id, kind, basis, sum(gross_cents), sum(net_cents), sum(sales)
        FROM gone GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(gross_cents) <> 0 OR sum(net_cents) <> 0 OR sum(sales) <> 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO n1;

    WITH many AS (
        SELECT agency_id, creator_id, day, ledger_staff_id, team_member_uuid FROM activity_daily
        GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1
    ), gone AS (
        DELETE FROM activity_daily t USING many
        WHERE t.agency_id = many.agency_id AND t.creator_id = many.creator_id AND t.day = many.day
          AND t.ledger_staff_id IS NOT DISTINCT FROM many.ledger_staff_id
          AND t.team_member_uuid IS NOT DISTINCT FROM many.team_member_uuid
        RETURNING t.*
    ), folded AS (
        INSERT INTO activity_daily (agency_id, creator_id, day, ledger_staff_id, team_member_uuid,
            messages_sent, ppvs_sent, ppvs_unlocked)
        SELECT agency_id, creator_id, day, ledger_staff_id, team_member_uuid, sum(messages_sent),
            sum(ppvs_sent), sum(ppvs_unlocked)
        FROM gone GROUP BY 1, 2, 3, 4, 5
        HAVING sum(messages_sent) <> 0 OR sum(ppvs_sent) <> 0 OR sum(ppvs_unlocked) <> 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO n2;
    RETURN n1 + n2;
END $$;

-- Rollups of what is already stored (an existing installation).
DO $$
DECLARE
    ag uuid;
BEGIN
    FOR ag IN SELECT id FROM agencies ORDER BY id LOOP
        PERFORM dashboard_rollups_rebuild(ag);
    END LOOP;
END $$;
SELECT dash_replies_refresh(
    ARRAY(SELECT id FROM chats ORDER BY id),
    ARRAY(SELECT '-infinity'::timestamptz FROM chats ORDER BY id),
    ARRAY(SELECT 'infinity'::timestamptz FROM chats ORDER BY id));
