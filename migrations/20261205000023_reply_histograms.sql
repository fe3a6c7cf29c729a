-- Response-time rollup: `reply_daily`, one row per agency, local day,
-- creator and credited staff member (NULL: nobody) with the number of
-- replies, the chat-days answered and a histogram of the waits. Reading a
-- month of exact percentiles from `message_replies` sorts every reply of
-- the period (about a second at 400,000 replies a month); the histogram
-- sums a few thousand rows instead.
--
-- Buckets: 0 holds waits under a second; bucket k (1..63) holds waits in
-- [2^((k-1)/3), 2^(k/3)) seconds, three per doubling (each about 26 %
-- wide), the last one open-ended (from about 15 days). The dashboard reads
-- each wait as its bucket's geometric middle (within 12.3 % of it) and
-- interpolates between ranks as percentile_cont does, so a median or p90
-- is within 12.3 % of the exact figure. A row keeps only its non-empty
-- buckets (`wait_buckets`, ascending, with `wait_counts` beside them): a
-- day's waits fill a handful of the 64, and a month of rows is sent to the
-- dashboard on every view, where 64 cells a row cost five times the time
-- of the rest of the read.
--
-- Chat-days: a chat counts once per local day for each staff member who
-- answered it that day, so days add up across a period with no distinct
-- count. That needs the reply's staff member when it is written (the send
-- ledger's, else the one mapped to its team-member uuid): so mapping a
-- uuid recounts the days its replies fall on (trigger on staff).
--
-- Kept from `message_replies` by statement-level triggers as delta rows
-- (+ new, − old), folded by `dashboard_rollups_compact()` like the others.

CREATE FUNCTION dash_wait_bucket(secs integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN secs < 1 THEN 0
                ELSE LEAST(63, 1 + floor(3 * ln(secs::float8) / ln(2::float8) + 1e-9)::integer) END
$$;

CREATE TABLE reply_daily (
    id          bigserial PRIMARY KEY,
    agency_id   uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id  uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    day         date NOT NULL,
    staff_id    uuid,
    replies     bigint NOT NULL,
    chat_days   bigint NOT NULL,
    -- The non-empty buckets (0..63) and their counts.
    wait_buckets integer[] NOT NULL,
    wait_counts  integer[] NOT NULL,
    CHECK (cardinality(wait_buckets) = cardinality(wait_counts))
);
CREATE INDEX reply_daily_day_idx ON reply_daily (agency_id, day)
    INCLUDE (creator_id, staff_id, replies, chat_days, wait_buckets, wait_counts);
CREATE INDEX reply_daily_cell_idx ON reply_daily (creator_id, day);

-- The staff member a reply is credited to: the send ledger's, else the one
-- carrying its team-member uuid.
CREATE FUNCTION dash_reply_staff(p_agency uuid, p_ledger uuid, p_tm text) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(p_ledger, (SELECT s.id FROM staff s
                               WHERE s.agency_id = p_agency AND s.fanvue_user_uuid::text = p_tm))
$$;

-- Applies signed reply rows (s = +1 inserted, -1 removed) to the rollup.
-- Called after the statement, so `message_replies` already holds its new
-- state: a chat-day is gained when it has rows now and had none before.
-- Keys are compared through `sk` (the staff id made total) so every join
-- is an equality.
CREATE FUNCTION dash_reply_deltas(
    p_agency uuid[], p_creator uuid[], p_chat uuid[], p_day date[], p_staff uuid[], p_tm text[],
    p_wait integer[], p_sign integer[]
) RETURNS void
LANGUAGE sql AS $$
    WITH x AS (
        SELECT v.*, COALESCE(v.staff_id, '00000000-0000-0000-0000-000000000000'::uuid) AS sk
        FROM (
            SELECT u.agency_id, u.creator_id, u.chat_id, u.day, u.wait, u.s,
                dash_reply_staff(u.agency_id, u.ledger, u.tm) AS staff_id
            FROM unnest(p_agency, p_creator, p_chat, p_day, p_staff, p_tm, p_wait, p_sign)
                AS u(agency_id, creator_id, chat_id, day, ledger, tm, wait, s)
            -- A creator removed in this statement takes its rollup rows with it.
            JOIN creators c ON c.id = u.creator_id
        ) v
    ), per_chat AS (
        SELECT x.agency_id, x.creator_id, x.chat_id, x.day, x.staff_id, x.sk, sum(x.s) AS net
        FROM x GROUP BY 1, 2, 3, 4, 5, 6
    ), keys AS (
        SELECT p.agency_id, p.creator_id, p.day, p.staff_id, p.sk, sum(p.net) AS replies,
            sum((q.n > 0)::int - ((q.n - p.net) > 0)::int) AS chat_days
        FROM per_chat p
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM message_replies r
            WHERE r.chat_id = p.chat_id AND r.day = p.day
              AND dash_reply_staff(r.agency_id, r.ledger_staff_id, r.team_member_uuid) IS NOT DISTINCT FROM p.staff_id
        ) q
        GROUP BY 1, 2, 3, 4, 5
    ), buckets AS (
        SELECT x.creator_id, x.day, x.sk, dash_wait_bucket(x.wait) AS b, sum(x.s) AS n
        FROM x GROUP BY 1, 2, 3, 4
    ), rows AS (
        SELECT k.agency_id, k.creator_id, k.day, k.staff_id, k.replies, k.chat_days,
            COALESCE(array_agg(b.b ORDER BY b.b) FILTER (WHERE b.n <> 0), '{}') AS wait_buckets,
            COALESCE(array_agg(b.n::integer ORDER BY b.b) FILTER (WHERE b.n <> 0), '{}') AS wait_counts
        FROM keys k
        LEFT JOIN buckets b ON b.creator_id = k.creator_id AND b.day = k.day AND b.sk = k.sk
        GROUP BY k.agency_id, k.creator_id, k.day, k.staff_id, k.sk, k.replies, k.chat_days
    )
    INSERT INTO reply_daily (agency_id, creator_id, day, staff_id, replies, chat_days, wait_buckets, wait_counts)
    SELECT r.agency_id, r.creator_id, r.day, r.staff_id, r.replies, r.chat_days, r.wait_buckets, r.wait_counts
    FROM rows r WHERE r.replies <> 0 OR r.chat_days <> 0 OR cardinality(r.wait_buckets) > 0
$$;

CREATE FUNCTION dash_replies_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    a uuid[]; c uuid[]; ch uuid[]; d date[]; st uuid[]; tm text[]; w integer[]; s integer[];
BEGIN
    -- A whole-agency rebuild recounts the rollup itself afterwards.
    IF current_setting('switchboard.reply_deltas_off', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.agency_id), array_agg(n.creator_id), array_agg(n.chat_id), array_agg(n.day),
            array_agg(n.ledger_staff_id), array_agg(n.team_member_uuid), array_agg(n.waited_seconds), array_agg(1)
        INTO a, c, ch, d, st, tm, w, s FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.agency_id), array_agg(o.creator_id), array_agg(o.chat_id), array_agg(o.day),
            array_agg(o.ledger_staff_id), array_agg(o.team_member_uuid), array_agg(o.waited_seconds), array_agg(-1)
        INTO a, c, ch, d, st, tm, w, s FROM old_rows o;
    ELSE
        SELECT array_agg(v.agency_id), array_agg(v.creator_id), array_agg(v.chat_id), array_agg(v.day),
            array_agg(v.ledger_staff_id), array_agg(v.team_member_uuid), array_agg(v.waited_seconds), array_agg(v.s)
        INTO a, c, ch, d, st, tm, w, s
        FROM (
            SELECT n.agency_id, n.creator_id, n.chat_id, n.day, n.ledger_staff_id, n.team_member_uuid,
                n.waited_seconds, 1 AS s
            FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.reply_uuid = n.reply_uuid
            WHERE (o.agency_id, o.chat_id, o.day, o.ledger_staff_id, o.team_member_uuid, o.waited_seconds)
                IS DISTINCT FROM (n.agency_id, n.chat_id, n.day, n.ledger_staff_id, n.team_member_uuid, n.waited_seconds)
            UNION ALL
            SELECT o.agency_id, o.creator_id, o.chat_id, o.day, o.ledger_staff_id, o.team_member_uuid,
                o.waited_seconds, -1
            FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.reply_uuid = n.reply_uuid
            WHERE (o.agency_id, o.chat_id, o.day, o.ledger_staff_id, o.team_member_uuid, o.waited_seconds)
                IS DISTINCT FROM (n.agency_id, n.chat_id, n.day, n.ledger_staff_id, n.team_member_uuid, n.waited_seconds)
        ) v;
    END IF;
    IF a IS NOT NULL THEN
        PERFORM dash_reply_deltas(a, c, ch, d, st, tm, w, s);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_replies_insert AFTER INSERT ON message_replies
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_replies_changed();
CREATE TRIGGER dash_replies_update AFTER UPDATE ON message_replies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_replies_changed();
CREATE TRIGGER dash_replies_delete AFTER DELETE ON message_replies
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_replies_changed();

-- Recounts an agency's reply rollup from `message_replies`: every cell, or
-- the (creator, day) cells given. Locks the rollup against concurrent
-- appends while it runs, as the other rebuilds do.
CREATE FUNCTION dash_reply_daily_recount(p_agency uuid, p_creators uuid[], p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE reply_daily IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM reply_daily t
    WHERE t.agency_id = p_agency
      AND (p_creators IS NULL
           OR (t.creator_id, t.day) IN (SELECT * FROM unnest(p_creators, p_days)));
    -- The same credit as dash_reply_staff, as one join rather than a
    -- lookup per reply (a whole agency's replies in a rebuild).
    WITH r AS (
        SELECT m.creator_id, m.chat_id, m.day, m.waited_seconds,
            COALESCE(m.ledger_staff_id, s.id) AS staff_id
        FROM message_replies m
        LEFT JOIN staff s ON m.ledger_staff_id IS NULL AND s.agency_id = m.agency_id
            AND s.fanvue_user_uuid::text = m.team_member_uuid
        WHERE m.agency_id = p_agency
          AND (p_creators IS NULL
               OR (m.creator_id, m.day) IN (SELECT * FROM unnest(p_creators, p_days)))
    ), keys AS (
        SELECT r.creator_id, r.day, r.staff_id, count(*) AS replies, count(DISTINCT r.chat_id) AS chat_days
        FROM r GROUP BY 1, 2, 3
    ), buckets AS (
        SELECT r.creator_id, r.day, r.staff_id, dash_wait_bucket(r.waited_seconds) AS b, count(*) AS n
        FROM r GROUP BY 1, 2, 3, 4
    )
    INSERT INTO reply_daily (agency_id, creator_id, day, staff_id, replies, chat_days, wait_buckets, wait_counts)
    SELECT p_agency, k.creator_id, k.day, k.staff_id, k.replies, k.chat_days,
        array_agg(b.b ORDER BY b.b), array_agg(b.n::integer ORDER BY b.b)
    FROM keys k
    JOIN buckets b ON b.creator_id = k.creator_id AND b.day = k.day
        AND b.staff_id IS NOT DISTINCT FROM k.staff_id
    GROUP BY k.creator_id, k.day, k.staff_id, k.replies, k.chat_days;
END $$;

CREATE FUNCTION dash_reply_daily_rebuild(p_agency uuid) RETURNS void
LANGUAGE sql AS $$ SELECT dash_reply_daily_recount(p_agency, NULL, NULL) $$;

-- Mapping a team-member uuid to a staff member (or unmapping it) moves the
-- replies it sent without the ledger: recount the days they fall on.
CREATE FUNCTION dash_replies_staff_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ag uuid;
    cs uuid[];
    ds date[];
BEGIN
    FOR ag IN SELECT DISTINCT n.agency_id FROM new_rows n ORDER BY 1 LOOP
        IF TG_OP = 'INSERT' THEN
            SELECT array_agg(m.creator_id), array_agg(m.day) INTO cs, ds
            FROM (SELECT DISTINCT r.creator_id, r.day FROM new_rows n
                  JOIN message_replies r ON r.agency_id = n.agency_id AND r.ledger_staff_id IS NULL
                      AND r.team_member_uuid = n.fanvue_user_uuid::text
                  WHERE n.agency_id = ag AND n.fanvue_user_uuid IS NOT NULL) m;
        ELSE
            SELECT array_agg(m.creator_id), array_agg(m.day) INTO cs, ds
            FROM (SELECT DISTINCT r.creator_id, r.day FROM new_rows n JOIN old_rows o ON o.id = n.id
                  CROSS JOIN LATERAL (VALUES (o.fanvue_user_uuid), (n.fanvue_user_uuid)) AS v(tm)
                  JOIN message_replies r ON r.agency_id = n.agency_id AND r.ledger_staff_id IS NULL
                      AND r.team_member_uuid = v.tm::text
                  WHERE n.agency_id = ag AND v.tm IS NOT NULL
                    AND o.fanvue_user_uuid IS DISTINCT FROM n.fanvue_user_uuid) m;
        END IF;
        IF cs IS NOT NULL THEN
            PERFORM dash_reply_daily_recount(ag, cs, ds);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER dash_replies_staff_insert AFTER INSERT ON staff
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_replies_staff_changed();
CREATE TRIGGER dash_replies_staff_update AFTER UPDATE ON staff
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_replies_staff_changed();

-- The agency rebuild (a zone change) moves every reply's day in one
-- statement; the reply rollup is then recounted once instead of through
-- the per-statement deltas.
ALTER FUNCTION dashboard_rollups_rebuild(uuid) RENAME TO dash_rollups_rebuild_counts;
CREATE FUNCTION dashboard_rollups_rebuild(p_agency uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('switchboard.reply_deltas_off', 'on', true);
    PERFORM dash_rollups_rebuild_counts(p_agency);
    PERFORM set_config('switchboard.reply_deltas_off', 'off', true);
    PERFORM dash_reply_daily_rebuild(p_agency);
END $$;

-- Compaction folds the reply rollup's delta rows too.
ALTER FUNCTION dashboard_rollups_compact() RENAME TO dash_rollups_compact_counts;
CREATE FUNCTION dashboard_rollups_compact() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    WITH many AS (
        SELECT agency_id, creator_id, day, staff_id FROM reply_daily
        GROUP BY 1, 2, 3, 4 HAVING count(*) > 1
    ), gone AS (
        DELETE FROM reply_daily t USING many
        WHERE t.agency_id = many.agency_id AND t.creator_id = many.creator_id AND t.day = many.day
          AND t.staff_id IS NOT DISTINCT FROM many.staff_id
        RETURNING t.*
    ), totals AS (
        SELECT g.agency_id, g.creator_id, g.day, g.staff_id,
            sum(g.replies) AS replies, sum(g.chat_days) AS chat_days
        FROM gone g GROUP BY 1, 2, 3, 4
    ), cells AS (
        SELECT g.agency_id, g.creator_id, g.day, g.staff_id, e.b, sum(e.v) AS v
        FROM gone g CROSS JOIN LATERAL unnest(g.wait_buckets, g.wait_counts) AS e(b, v)
        GROUP BY 1, 2, 3, 4, 5
    ), keyed AS (
        SELECT t.agency_id, t.creator_id, t.day, t.staff_id, t.replies, t.chat_days,
            COALESCE(array_agg(c.b ORDER BY c.b) FILTER (WHERE c.v <> 0), '{}') AS wait_buckets,
            COALESCE(array_agg(c.v::integer ORDER BY c.b) FILTER (WHERE c.v <> 0), '{}') AS wait_counts
        FROM totals t
        LEFT JOIN cells c ON c.agency_id = t.agency_id AND c.creator_id = t.creator_id AND c.day = t.day
            AND c.staff_id IS NOT DISTINCT FROM t.staff_id
        GROUP BY 1, 2, 3, 4, 5, 6
    ), folded AS (
        INSERT INTO reply_daily (agency_id, creator_id, day, staff_id, replies, chat_days, wait_buckets, wait_counts)
        SELECT k.agency_id, k.creator_id, k.day, k.staff_id, k.replies, k.chat_days, k.wait_buckets, k.wait_counts
        FROM keyed k
        WHERE k.replies <> 0 OR k.chat_days <> 0 OR cardinality(k.wait_buckets) > 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO n;
    RETURN dash_rollups_compact_counts() + n;
END $$;

-- The rollup of what is already stored.
SELECT dash_reply_daily_rebuild(id) FROM agencies ORDER BY id;
