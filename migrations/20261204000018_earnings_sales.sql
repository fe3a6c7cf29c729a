-- Earnings lines become sales (issue 14). Statement-level triggers on
-- `earnings_lines` turn what a line proved into the ledger, set-based, in
-- the walk's own statements (no extra round trip, no Fanvue request):
--   * a message line, once matched to its PPV, confirms that PPV's sale with
--     the feed's gross/net (net no longer estimated) and transaction id; a
--     line naming a message the mirror does not hold yet is the sale already
--     (unattributed until the message arrives, as a purchase webhook is);
--   * a tip line confirms the tip's sale, or is the sale when the tip's
--     webhook was lost (credited by the tip rules from the sale's own fields);
--   * subscription, renewal, post, referral and other lines are non-chat
--     revenue, credited to no chatter;
--   * a refund or chargeback linked to a line reverses exactly that line's
--     sale (a negative row), as soon as both the link and the sale exist —
--     whichever comes last (a reversal seen before its sale's line is
--     matched is applied on the walk that matches it).
-- Every statement is idempotent: replays, re-walks, the overlap and
-- rematches write nothing new.

-- The cross-check page: an agency's lines by time.
CREATE INDEX earnings_lines_agency_time_idx ON earnings_lines (agency_id, occurred_at);
CREATE INDEX earnings_lines_reverses_idx ON earnings_lines (reverses_line_id)
    WHERE reverses_line_id IS NOT NULL;
-- Tips the earnings feed made (no tip event): re-credited by message changes.
CREATE INDEX sales_feed_tip_idx ON sales (creator_id, fan_uuid, occurred_at)
    WHERE kind = 'tip' AND tip_id IS NULL;

-- A feed line's net, or the agency's estimate when Fanvue sent none (the
-- walk stores such a line at gross; the raw line tells).
CREATE FUNCTION earnings_line_net(e earnings_lines, fee_bps integer) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(e.raw -> 'net') = 'number' THEN e.net_cents
                ELSE sales_net_estimate(e.gross_cents, fee_bps / 100.0) END
$$;

CREATE FUNCTION earnings_line_net_estimated(e earnings_lines) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(e.raw -> 'net') IS DISTINCT FROM 'number'
$$;

-- The credit of tip sales that have no tip event (made from a feed line),
-- by the same rules as sales_refresh_tips: the tipped message's sender,
-- else the last human outbound message of the chat within the window,
-- else nobody. Writes only what changed (reversals follow by trigger).
CREATE FUNCTION sales_refresh_feed_tips(p_sales uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF p_sales IS NULL OR cardinality(p_sales) = 0 THEN
        RETURN;
    END IF;
    UPDATE sales s SET chat_id = COALESCE(y.chat_id, s.chat_id),
        tip_message_uuid = COALESCE(y.tip_message, s.tip_message_uuid),
        auto_basis = y.basis, auto_detail = y.detail, auto_staff_id = y.staff_id,
        team_member_uuid = y.team_member_uuid, credit_message_uuid = y.credit_message_uuid,
        updated_at = now()
    FROM (
        SELECT x.id, x.chat_id, x.tip_message,
            CASE WHEN x.tipped_known THEN 'tipped_message'
                 WHEN x.w_uuid IS NOT NULL THEN 'window_rule'
                 ELSE 'unattributed' END AS basis,
            CASE WHEN x.tipped_known THEN (x.tm).staff_id
                 WHEN x.w_uuid IS NOT NULL THEN (x.wc).staff_id END AS staff_id,
            CASE WHEN x.tipped_known THEN (x.tm).team_member_uuid
                 WHEN x.w_uuid IS NOT NULL THEN (x.wc).team_member_uuid END AS team_member_uuid,
            CASE WHEN x.tipped_known THEN (x.tm).message_uuid ELSE x.w_uuid END AS credit_message_uuid,
            CASE WHEN x.tipped_known THEN 'Tip on a message: ' || (x.tm).detail
                 WHEN x.w_uuid IS NOT NULL THEN 'Last human reply before the tip (window '
                      || x.window_minutes || ' min): ' || (x.wc).detail
                 ELSE 'No human reply within ' || x.window_minutes || ' min before the tip' END
                || ' (from the earnings feed)' AS detail
        FROM (
            SELECT t.id, c.id AS chat_id, a.tip_window_minutes AS window_minutes, tm.credit AS tm,
                (tm.credit).basis IS NOT NULL AND (tm.credit).basis <> 'unattributed' AS tipped_known,
                w.uuid AS w_uuid,
                CASE WHEN w.uuid IS NOT NULL THEN sale_credit_of(t.agency_id, t.creator_id, w.uuid) END AS wc,
                tmsg.uuid AS tip_message
            FROM sales t
            JOIN agencies a ON a.id = t.agency_id
            LEFT JOIN chats c ON c.creator_id = t.creator_id AND c.fan_uuid = t.fan_uuid
            LEFT JOIN LATERAL (
                SELECT sale_credit_of(t.agency_id, t.creator_id, t.message_uuid) AS credit
                WHERE t.message_uuid IS NOT NULL) tm ON true
            LEFT JOIN LATERAL (
                SELECT h.uuid FROM messages h
                WHERE h.chat_id = c.id AND h.kind NOT LIKE 'AUTOMATED\_%' AND h.deleted_at IS NULL
                  AND COALESCE(h.sent_at, h.first_seen_at) <= t.occurred_at
                  AND a.tip_window_minutes > 0
                  AND COALESCE(h.sent_at, h.first_seen_at) >= t.occurred_at - make_interval(mins => a.tip_window_minutes)
                  AND h.direction = 'out' AND h.kind NOT IN ('BROADCAST', 'TIP')
                ORDER BY COALESCE(h.sent_at, h.first_seen_at) DESC, h.uuid DESC LIMIT 1) w ON true
            LEFT JOIN LATERAL (
                SELECT h.uuid FROM messages h
                WHERE h.chat_id = c.id AND h.kind = 'TIP'
                  AND COALESCE(h.sent_at, h.first_seen_at) BETWEEN t.occurred_at - interval '10 seconds'
                                                              AND t.occurred_at + interval '10 seconds'
                ORDER BY abs(extract(epoch FROM COALESCE(h.sent_at, h.first_seen_at) - t.occurred_at)), h.uuid
                LIMIT 1) tmsg ON true
            WHERE t.id = ANY(p_sales) AND t.kind = 'tip' AND t.tip_id IS NULL
            ORDER BY t.id
        ) x
    ) y
    WHERE s.id = y.id
      AND (s.chat_id, s.tip_message_uuid, s.auto_basis, s.auto_detail, s.auto_staff_id, s.team_member_uuid,
           s.credit_message_uuid)
          IS DISTINCT FROM
          (COALESCE(y.chat_id, s.chat_id), COALESCE(y.tip_message, s.tip_message_uuid), y.basis, y.detail,
           y.staff_id, y.team_member_uuid, y.credit_message_uuid);
END $$;

-- Recomputation (mapping, tip window, send ledger) covers the feed's tips too.
CREATE OR REPLACE FUNCTION sales_recompute(p_sales uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
BEGIN
    IF p_sales IS NULL OR cardinality(p_sales) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(s.creator_id ORDER BY s.creator_id, s.message_uuid),
           array_agg(s.message_uuid ORDER BY s.creator_id, s.message_uuid) INTO c, u
    FROM sales s WHERE s.id = ANY(p_sales) AND s.kind = 'ppv';
    IF c IS NOT NULL THEN
        PERFORM sales_refresh_ppv(c, u);
    END IF;
    PERFORM sales_refresh_tips(ARRAY(
        SELECT s.tip_id FROM sales s WHERE s.id = ANY(p_sales) AND s.kind = 'tip' AND s.tip_id IS NOT NULL
        ORDER BY 1));
    PERFORM sales_refresh_feed_tips(ARRAY(
        SELECT s.id FROM sales s WHERE s.id = ANY(p_sales) AND s.kind = 'tip' AND s.tip_id IS NULL
        ORDER BY 1));
END $$;

-- messages: a message that decides a feed tip's credit (the tipped message,
-- a reply within the window before it, its TIP message) re-credits it. A
-- statement touching creators with no feed tips stops after one probe.
-- (Transition tables exist only for the trigger's own event, so insert and
-- update have a function each.)
CREATE FUNCTION sales_feed_tips_messages_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    ids uuid[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sales s
                   WHERE s.kind = 'tip' AND s.tip_id IS NULL
                     AND s.creator_id IN (SELECT DISTINCT n.creator_id FROM new_rows n)) THEN
        RETURN NULL;
    END IF;
    WITH n AS (
        SELECT m.creator_id, m.uuid, m.chat_id, m.direction, m.kind,
               COALESCE(m.sent_at, m.first_seen_at) AS at
        FROM new_rows m
        WHERE (m.direction = 'out' OR m.kind = 'TIP')
          AND EXISTS (
                SELECT 1 FROM old_rows o WHERE o.creator_id = m.creator_id AND o.uuid = m.uuid
                  AND (o.kind, o.sent_by_user_uuid, o.deleted_at, o.sent_at)
                      IS DISTINCT FROM (m.kind, m.sent_by_user_uuid, m.deleted_at, m.sent_at))
    )
    SELECT ARRAY(
        SELECT s.id FROM n JOIN sales s ON s.creator_id = n.creator_id AND s.message_uuid = n.uuid
        WHERE s.kind = 'tip' AND s.tip_id IS NULL
        UNION
        SELECT s.id FROM n
        JOIN chats c ON c.id = n.chat_id
        JOIN agencies a ON a.id = c.agency_id
        JOIN sales s ON s.creator_id = c.creator_id AND s.fan_uuid = c.fan_uuid AND s.kind = 'tip'
            AND s.tip_id IS NULL
            AND s.occurred_at >= n.at - interval '10 seconds'
            AND s.occurred_at <= n.at + CASE WHEN n.kind = 'TIP' THEN interval '10 seconds'
                                             ELSE make_interval(mins => a.tip_window_minutes) END
        ORDER BY 1) INTO ids;
    PERFORM sales_refresh_feed_tips(ids);
    RETURN NULL;
END $$;

CREATE FUNCTION sales_feed_tips_messages_inserted() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    ids uuid[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sales s
                   WHERE s.kind = 'tip' AND s.tip_id IS NULL
                     AND s.creator_id IN (SELECT DISTINCT n.creator_id FROM new_rows n)) THEN
        RETURN NULL;
    END IF;
    WITH n AS (
        SELECT m.creator_id, m.uuid, m.chat_id, m.direction, m.kind,
               COALESCE(m.sent_at, m.first_seen_at) AS at
        FROM new_rows m WHERE m.direction = 'out' OR m.kind = 'TIP'
    )
    SELECT ARRAY(
        SELECT s.id FROM n JOIN sales s ON s.creator_id = n.creator_id AND s.message_uuid = n.uuid
        WHERE s.kind = 'tip' AND s.tip_id IS NULL
        UNION
        SELECT s.id FROM n
        JOIN chats c ON c.id = n.chat_id
        JOIN agencies a ON a.id = c.agency_id
        JOIN sales s ON s.creator_id = c.creator_id AND s.fan_uuid = c.fan_uuid AND s.kind = 'tip'
            AND s.tip_id IS NULL
            AND s.occurred_at >= n.at - interval '10 seconds'
            AND s.occurred_at <= n.at + CASE WHEN n.kind = 'TIP' THEN interval '10 seconds'
                                             ELSE make_interval(mins => a.tip_window_minutes) END
        ORDER BY 1) INTO ids;
    PERFORM sales_refresh_feed_tips(ids);
    RETURN NULL;
END $$;

CREATE TRIGGER sales_feed_tips_messages_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_feed_tips_messages_inserted();
CREATE TRIGGER sales_feed_tips_messages_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_feed_tips_messages_changed();

-- What the given lines prove, applied to the ledger (idempotent).
CREATE FUNCTION sales_from_earnings(p_lines bigint[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    l record;
    sid uuid;
    made uuid[] := '{}';
BEGIN
    IF p_lines IS NULL OR cardinality(p_lines) = 0 THEN
        RETURN;
    END IF;

    -- Non-chat revenue: one sale per line.
    INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, chat_id, earnings_line_id, transaction_id,
        gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at, auto_basis, auto_detail)
    SELECT e.agency_id, e.creator_id, k.kind, e.fan_uuid, c.id, e.id, e.transaction_order_id, e.gross_cents,
        earnings_line_net(e, a.platform_fee_bps), earnings_line_net_estimated(e), 'earnings',
        COALESCE(e.currency, 'USD'), e.occurred_at, 'non_chat',
        'Creator revenue (' || e.source || '), credited to no chatter'
    FROM earnings_lines e
    JOIN agencies a ON a.id = e.agency_id
    CROSS JOIN LATERAL (SELECT CASE WHEN e.source IN ('subscription', 'renewal', 'post', 'referral')
                                    THEN e.source ELSE 'other' END AS kind) k
    LEFT JOIN chats c ON c.creator_id = e.creator_id AND c.fan_uuid = e.fan_uuid
    WHERE e.id = ANY(p_lines) AND e.feed = 'earnings' AND e.source NOT IN ('message', 'tip')
    ORDER BY e.id
    ON CONFLICT (earnings_line_id) DO NOTHING;

    -- PPV: the matched message's sale (or, for a named message not mirrored
    -- yet, the line is the sale) takes the feed's amounts. A sale another
    -- line already confirmed keeps that line.
    INSERT INTO sales AS s (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid, earnings_line_id,
        transaction_id, gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at,
        auto_basis, auto_detail, auto_staff_id, team_member_uuid, credit_message_uuid)
    SELECT x.agency_id, x.creator_id, 'ppv', x.fan_uuid, COALESCE(m.chat_id, c.id), x.msg, x.id,
        x.transaction_order_id, x.gross_cents, x.net, x.est, 'earnings', x.currency,
        COALESCE(m.purchased_at, x.occurred_at), (x.credit).basis, (x.credit).detail, (x.credit).staff_id,
        (x.credit).team_member_uuid, (x.credit).message_uuid
    FROM (
        SELECT DISTINCT ON (e.creator_id, k.msg) e.id, e.agency_id, e.creator_id, e.fan_uuid, k.msg,
            e.transaction_order_id, e.gross_cents, earnings_line_net(e, a.platform_fee_bps) AS net,
            earnings_line_net_estimated(e) AS est, COALESCE(e.currency, 'USD') AS currency, e.occurred_at,
            sale_credit_of(e.agency_id, e.creator_id, k.msg) AS credit
        FROM earnings_lines e
        JOIN agencies a ON a.id = e.agency_id
        CROSS JOIN LATERAL (SELECT COALESCE(e.matched_message_uuid,
                CASE WHEN e.unmatched_reason = 'not_mirrored' THEN e.message_uuid END) AS msg) k
        WHERE e.id = ANY(p_lines) AND e.feed = 'earnings' AND e.source = 'message' AND k.msg IS NOT NULL
        ORDER BY e.creator_id, k.msg, e.matched_message_uuid IS NULL, e.id
    ) x
    LEFT JOIN messages m ON m.creator_id = x.creator_id AND m.uuid = x.msg
    LEFT JOIN chats c ON c.creator_id = x.creator_id AND c.fan_uuid = x.fan_uuid
    ORDER BY x.creator_id, x.msg
    ON CONFLICT (creator_id, message_uuid) WHERE kind = 'ppv' DO UPDATE SET
        fan_uuid = COALESCE(s.fan_uuid, EXCLUDED.fan_uuid),
        chat_id = COALESCE(s.chat_id, EXCLUDED.chat_id),
        earnings_line_id = EXCLUDED.earnings_line_id,
        transaction_id = COALESCE(EXCLUDED.transaction_id, s.transaction_id),
        gross_cents = EXCLUDED.gross_cents,
        net_cents = EXCLUDED.net_cents,
        net_estimated = EXCLUDED.net_estimated,
        amount_source = 'earnings',
        currency = EXCLUDED.currency,
        updated_at = now()
    WHERE (s.earnings_line_id IS NULL OR s.earnings_line_id = EXCLUDED.earnings_line_id)
      AND (s.earnings_line_id, s.transaction_id, s.gross_cents, s.net_cents, s.net_estimated, s.amount_source,
           s.currency)
          IS DISTINCT FROM
          (EXCLUDED.earnings_line_id, COALESCE(EXCLUDED.transaction_id, s.transaction_id), EXCLUDED.gross_cents,
           EXCLUDED.net_cents, EXCLUDED.net_estimated, 'earnings', EXCLUDED.currency);

    -- Tips: adopt the tip event's sale (same fan and amount within two
    -- minutes, not confirmed by another line), else the line is the sale.
    -- Few per page, and each adoption must see the previous one: a loop.
    FOR l IN
        SELECT e.*, earnings_line_net(e, a.platform_fee_bps) AS net, earnings_line_net_estimated(e) AS est
        FROM earnings_lines e JOIN agencies a ON a.id = e.agency_id
        WHERE e.id = ANY(p_lines) AND e.feed = 'earnings' AND e.source = 'tip'
          AND NOT EXISTS (SELECT 1 FROM sales d WHERE d.earnings_line_id = e.id)
        ORDER BY e.occurred_at, e.id
    LOOP
        SELECT s.id INTO sid FROM sales s
        WHERE s.creator_id = l.creator_id AND s.kind = 'tip' AND s.fan_uuid = l.fan_uuid
          AND s.earnings_line_id IS NULL AND s.gross_cents = l.gross_cents
          AND s.occurred_at BETWEEN l.occurred_at - interval '2 minutes' AND l.occurred_at + interval '2 minutes'
        ORDER BY abs(extract(epoch FROM s.occurred_at - l.occurred_at)), s.id
        LIMIT 1;
        IF sid IS NOT NULL THEN
            UPDATE sales SET earnings_line_id = l.id,
                transaction_id = COALESCE(l.transaction_order_id, transaction_id),
                net_cents = l.net, net_estimated = l.est, amount_source = 'earnings',
                currency = COALESCE(l.currency, currency), updated_at = now()
            WHERE id = sid;
        ELSE
            INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, message_uuid, earnings_line_id,
                transaction_id, gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at,
                auto_basis, auto_detail)
            VALUES (l.agency_id, l.creator_id, 'tip', l.fan_uuid, l.message_uuid, l.id, l.transaction_order_id,
                l.gross_cents, l.net, l.est, 'earnings', COALESCE(l.currency, 'USD'), l.occurred_at,
                'unattributed', 'Tip from the earnings feed')
            RETURNING id INTO sid;
            made := made || sid;
        END IF;
    END LOOP;
    PERFORM sales_refresh_feed_tips(made);

    -- Reversals: a refund or chargeback whose line is linked and whose
    -- reversed line has its sale — the reversal's own line new or changed,
    -- or the reversed line's sale just made.
    INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid, earnings_line_id,
        transaction_id, gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at,
        auto_basis, auto_detail, auto_staff_id, reverses_sale_id)
    SELECT o.agency_id, o.creator_id, CASE WHEN r.source = 'chargeback' THEN 'chargeback' ELSE 'refund' END,
        o.fan_uuid, o.chat_id, o.message_uuid, r.id, r.transaction_order_id, -abs(r.gross_cents),
        CASE WHEN earnings_line_net_estimated(r) THEN -abs(o.net_cents) ELSE -abs(r.net_cents) END,
        earnings_line_net_estimated(r) AND o.net_estimated, 'earnings', o.currency, r.occurred_at,
        o.basis, 'Reverses a sale: ' || o.basis_detail, o.credited_staff_id, o.id
    FROM earnings_lines r
    JOIN sales o ON o.earnings_line_id = r.reverses_line_id AND o.agency_id = r.agency_id
        AND o.reverses_sale_id IS NULL
    WHERE r.feed = 'spending' AND r.reverses_line_id IS NOT NULL
      AND (r.id = ANY(p_lines) OR r.reverses_line_id = ANY(p_lines))
    ORDER BY r.id
    ON CONFLICT (earnings_line_id) DO NOTHING;
END $$;

CREATE FUNCTION sales_earnings_lines_inserted() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    -- Message and spending lines wait for the matcher (their update below).
    PERFORM sales_from_earnings(ARRAY(
        SELECT n.id FROM new_rows n
        WHERE n.feed = 'earnings' AND n.source <> 'message' ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE FUNCTION sales_earnings_lines_updated() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    PERFORM sales_from_earnings(ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (o.matched_message_uuid, o.reverses_line_id, o.unmatched_reason)
              IS DISTINCT FROM (n.matched_message_uuid, n.reverses_line_id, n.unmatched_reason)
        ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE TRIGGER sales_earnings_lines_insert AFTER INSERT ON earnings_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_earnings_lines_inserted();
CREATE TRIGGER sales_earnings_lines_update AFTER UPDATE ON earnings_lines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_earnings_lines_updated();

-- Lines already stored (an existing installation).
SELECT sales_from_earnings(ARRAY(SELECT id FROM earnings_lines ORDER BY id));
