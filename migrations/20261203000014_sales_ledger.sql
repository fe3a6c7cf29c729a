-- The sales ledger (DESIGN §6): one row per sale — a PPV purchase, a tip,
-- non-chat revenue from the earnings feed — with who is credited and on
-- what basis. Rows are kept by database triggers on the tables the writers
-- fill (messages, purchase_events, tips, outbound_sends, staff, agencies),
-- so no writer can forget them, whatever Rust function wrote the mirror.
-- Exactly once: a PPV sale is keyed by (creator, message uuid), whichever of
-- webhook, reconcile or earnings saw it first; a tip sale by its tip event
-- (the chat's TIP message, which carries no amount, only links to it).
-- The computed credit (auto_*) is recomputed freely; a manual reassignment
-- is kept apart (manual_*) and wins until it is reverted.

ALTER TABLE agencies
    -- Net estimate when the feed has not given the net: gross less this fee
    -- (basis points; set on the agency settings page).
    ADD COLUMN platform_fee_bps integer NOT NULL DEFAULT 2000
        CONSTRAINT agencies_platform_fee_bps_range CHECK (platform_fee_bps BETWEEN 0 AND 10000),
    -- Tips without a named message go to the last human reply this long
    -- before (0: the window rule is off).
    ADD COLUMN tip_window_minutes integer NOT NULL DEFAULT 1440
        CONSTRAINT agencies_tip_window_minutes_range CHECK (tip_window_minutes BETWEEN 0 AND 10080);

CREATE TABLE sales (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id           uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id          uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('ppv', 'tip', 'subscription', 'renewal', 'post',
                                                      'referral', 'other', 'refund', 'chargeback')),
    fan_uuid            uuid,
    -- The fan's chat (for a link to the inbox); no foreign key: a purged
    -- chat does not take its revenue with it.
    chat_id             uuid,
    -- PPV: the purchased message. Tip: the tipped message, if named.
    message_uuid        uuid,
    tip_id              bigint UNIQUE REFERENCES tips(id) ON DELETE SET NULL,
    -- The chat's TIP message for this tip, once mirrored.
    tip_message_uuid    uuid,
    transaction_id      text,
    -- The earnings-feed line that confirmed or created this sale (no foreign
    -- key here: the earnings table comes with the earnings reconcile).
    earnings_line_id    bigint UNIQUE,
    gross_cents         bigint NOT NULL,
    net_cents           bigint NOT NULL,
    net_estimated       boolean NOT NULL,
    -- Where the amounts came from; amounts from the feed are never replaced.
    amount_source       text NOT NULL CHECK (amount_source IN ('mirror', 'webhook', 'earnings')),
    currency            text NOT NULL DEFAULT 'USD',
    -- The purchase (or tip, or reversal) time, never the send time.
    occurred_at         timestamptz NOT NULL,
    -- The computed credit.
    auto_basis          text NOT NULL CHECK (auto_basis IN ('ledger', 'sent_by_user_id', 'creator_direct',
                            'unmapped_team_member', 'mass_message', 'tipped_message', 'window_rule',
                            'unattributed', 'non_chat', 'manual')),
    auto_detail         text NOT NULL,
    auto_staff_id       uuid REFERENCES staff(id) ON DELETE SET NULL,
    -- The sentByUserId that decided the credit (mapping it re-credits).
    team_member_uuid    text,
    -- The message whose sender is credited (the PPV, the tipped message or
    -- the window's last reply).
    credit_message_uuid uuid,
    -- The manual reassignment in force, if any (sale_reassignments).
    manual_id           uuid,
    manual_staff_id     uuid REFERENCES staff(id) ON DELETE SET NULL,
    manual_reason       text,
    basis               text GENERATED ALWAYS AS
                            (CASE WHEN manual_id IS NULL THEN auto_basis ELSE 'manual' END) STORED,
    credited_staff_id   uuid GENERATED ALWAYS AS
                            (CASE WHEN manual_id IS NULL THEN auto_staff_id ELSE manual_staff_id END) STORED,
    basis_detail        text GENERATED ALWAYS AS
                            (CASE WHEN manual_id IS NULL THEN auto_detail ELSE manual_reason END) STORED,
    -- A refund or chargeback: a negative row linked to the sale it reverses,
    -- credited as that sale is (the original stays as it was).
    reverses_sale_id    uuid REFERENCES sales(id) ON DELETE CASCADE,
    -- Natural key of a feed line (reversals, non-chat revenue) for replays.
    dedupe_key          text UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('refund', 'chargeback')) = (reverses_sale_id IS NOT NULL))
);
-- One PPV sale per purchased message (the arbiter of every PPV upsert).
CREATE UNIQUE INDEX sales_ppv_key ON sales (creator_id, message_uuid) WHERE kind = 'ppv';
-- Tips naming a message, re-credited when that message is mirrored.
CREATE INDEX sales_message_idx ON sales (creator_id, message_uuid) WHERE message_uuid IS NOT NULL;
CREATE INDEX sales_credit_message_idx ON sales (creator_id, credit_message_uuid)
    WHERE credit_message_uuid IS NOT NULL;
-- Tips of a chat by time (window rule, TIP message link, earnings matching).
CREATE INDEX sales_tip_fan_idx ON sales (creator_id, fan_uuid, occurred_at) WHERE kind = 'tip';
-- Re-credit on a mapping change; revenue per unmapped team member.
CREATE INDEX sales_team_member_idx ON sales (agency_id, team_member_uuid) WHERE team_member_uuid IS NOT NULL;
CREATE INDEX sales_reverses_idx ON sales (reverses_sale_id) WHERE reverses_sale_id IS NOT NULL;
-- Lists and dashboards: an agency's sales by time, a staff member's.
CREATE INDEX sales_agency_time_idx ON sales (agency_id, occurred_at DESC);
CREATE INDEX sales_credited_idx ON sales (agency_id, credited_staff_id, occurred_at DESC);
-- A purchase event by its message (the PPV sale reads the first one).
CREATE INDEX purchase_events_message_idx ON purchase_events (creator_id, message_uuid);

-- Manual reassignments: append-only history. `reassign` credits `staff_id`
-- (NULL: nobody) with a reason; `revert` returns the sale to its computed
-- credit. The sale row carries the one in force.
CREATE TABLE sale_reassignments (
    id         uuid PRIMARY KEY,
    agency_id  uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    sale_id    uuid NOT NULL REFERENCES sales(id) ON DELETE CASCADE,
    action     text NOT NULL CHECK (action IN ('reassign', 'revert')),
    staff_id   uuid REFERENCES staff(id) ON DELETE SET NULL,
    -- The credit before this entry, shown in the history.
    from_basis text NOT NULL,
    from_staff_id uuid REFERENCES staff(id) ON DELETE SET NULL,
    reason     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    actor_id   uuid REFERENCES staff(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sale_reassignments_sale_idx ON sale_reassignments (sale_id, created_at);
ALTER TABLE sales ADD FOREIGN KEY (manual_id) REFERENCES sale_reassignments(id);

CREATE FUNCTION sale_reassignments_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sale_reassignments is append-only';
END $$;
CREATE TRIGGER sale_reassignments_append_only BEFORE UPDATE ON sale_reassignments
    FOR EACH ROW EXECUTE FUNCTION sale_reassignments_append_only();

-- Net from gross by the agency's fee (rounded half away from zero, so a
-- reversal's estimate is exactly the negative of its sale's).
CREATE FUNCTION sales_net_estimate(gross bigint, fee numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT gross - round(gross * fee / 100)::bigint $$;

-- Who sent a message, by the PPV rules: the send ledger, a mass message,
-- the creator (no sentByUserId), the staff member mapped to the team
-- member, or an unmapped team member.
CREATE TYPE sale_credit AS (
    basis            text,
    staff_id         uuid,
    team_member_uuid text,
    message_uuid     uuid,
    detail           text
);

CREATE FUNCTION sale_credit_of(p_agency uuid, p_creator uuid, p_message uuid) RETURNS sale_credit
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN m.uuid IS NULL THEN
            ROW('unattributed', NULL, NULL, NULL, 'The message is not mirrored yet')::sale_credit
        WHEN o.id IS NOT NULL THEN
            ROW('ledger', o.staff_id, NULL, m.uuid,
                'Sent through Switchboard by ' || COALESCE(os.display_name, 'a removed staff member'))::sale_credit
        WHEN m.kind = 'BROADCAST' THEN
            ROW('mass_message', NULL, NULL, m.uuid, 'Mass message')::sale_credit
        WHEN m.sent_by_user_uuid IS NULL THEN
            ROW('creator_direct', NULL, NULL, m.uuid, 'Sent by the creator (direct)')::sale_credit
        WHEN st.id IS NOT NULL THEN
            ROW('sent_by_user_id', st.id, lower(m.sent_by_user_uuid), m.uuid,
                'Team member ' || lower(m.sent_by_user_uuid) || ' is ' || st.display_name)::sale_credit
        ELSE
            ROW('unmapped_team_member', NULL, lower(m.sent_by_user_uuid), m.uuid,
                'Team member ' || lower(m.sent_by_user_uuid) || ' is not mapped to staff')::sale_credit
    END
    FROM (SELECT 1) one
    LEFT JOIN messages m ON m.creator_id = p_creator AND m.uuid = p_message AND m.agency_id = p_agency
    LEFT JOIN outbound_sends o ON o.creator_id = p_creator AND o.message_uuid = p_message
        AND o.agency_id = p_agency
    LEFT JOIN staff os ON os.id = o.staff_id
    LEFT JOIN staff st ON st.agency_id = p_agency AND m.sent_by_user_uuid IS NOT NULL
        AND st.fanvue_user_uuid::text = lower(m.sent_by_user_uuid)
$$;

-- Creates or re-credits the PPV sales of (creator, message) pairs from what
-- the mirror knows now: the message (price, purchasedAt, sender) and the
-- first purchase event for it. A purchase seen by the webhook before its
-- message is mirrored is a sale already, unattributed until the message
-- arrives. Idempotent; writes only what changed; amounts confirmed by the
-- earnings feed are kept.
CREATE FUNCTION sales_refresh_ppv(p_creators uuid[], p_messages uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO sales AS s (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid,
        gross_cents, net_cents, net_estimated, amount_source, occurred_at,
        auto_basis, auto_detail, auto_staff_id, team_member_uuid, credit_message_uuid)
    SELECT x.agency_id, x.creator_id, 'ppv', x.fan_uuid, x.chat_id, x.message_uuid,
        x.gross, sales_net_estimate(x.gross, a.platform_fee_bps / 100.0), true, x.amount_source, x.occurred_at,
        (x.credit).basis, (x.credit).detail, (x.credit).staff_id, (x.credit).team_member_uuid,
        (x.credit).message_uuid
    FROM (
        SELECT k.creator_id, k.message_uuid,
            COALESCE(m.agency_id, pe.agency_id) AS agency_id,
            COALESCE(c.fan_uuid, pe.fan_uuid) AS fan_uuid,
            COALESCE(m.chat_id, pc.id) AS chat_id,
            COALESCE(pe.price_cents, m.price_cents) AS gross,
            CASE WHEN pe.price_cents IS NOT NULL THEN 'webhook' ELSE 'mirror' END AS amount_source,
            COALESCE(m.purchased_at, pe.purchased_at) AS occurred_at,
            sale_credit_of(COALESCE(m.agency_id, pe.agency_id), k.creator_id, k.message_uuid) AS credit,
            (m.purchased_at IS NOT NULL AND m.direction = 'out' AND m.kind <> 'TIP') AS m_sold,
            m.uuid IS NOT NULL AS mirrored,
            pe.purchased_at IS NOT NULL AS pe_seen
        FROM (SELECT DISTINCT u.creator_id, u.message_uuid
              FROM unnest(p_creators, p_messages) AS u(creator_id, message_uuid)
              WHERE u.creator_id IS NOT NULL AND u.message_uuid IS NOT NULL
              ORDER BY 1, 2) k
        LEFT JOIN messages m ON m.creator_id = k.creator_id AND m.uuid = k.message_uuid
        LEFT JOIN chats c ON c.id = m.chat_id
        LEFT JOIN LATERAL (
            SELECT p.agency_id, p.price_cents, p.purchased_at, p.fan_uuid FROM purchase_events p
            WHERE p.creator_id = k.creator_id AND p.message_uuid = k.message_uuid
            ORDER BY p.purchased_at, p.id LIMIT 1) pe ON true
        LEFT JOIN chats pc ON m.uuid IS NULL AND pc.creator_id = k.creator_id AND pc.fan_uuid = pe.fan_uuid
    ) x
    JOIN agencies a ON a.id = x.agency_id
    WHERE x.gross IS NOT NULL AND x.occurred_at IS NOT NULL
      -- A mirrored message is a sale only as an outbound PPV; a purchase
      -- event for a message not mirrored yet is one on its own.
      AND (x.m_sold OR (x.pe_seen AND (NOT x.mirrored OR x.m_sold)))
    ON CONFLICT (creator_id, message_uuid) WHERE kind = 'ppv' DO UPDATE SET
        fan_uuid = COALESCE(EXCLUDED.fan_uuid, s.fan_uuid),
        chat_id = COALESCE(EXCLUDED.chat_id, s.chat_id),
        gross_cents = CASE WHEN s.amount_source = 'earnings' THEN s.gross_cents ELSE EXCLUDED.gross_cents END,
        net_cents = CASE WHEN s.amount_source = 'earnings' THEN s.net_cents ELSE EXCLUDED.net_cents END,
        net_estimated = CASE WHEN s.amount_source = 'earnings' THEN s.net_estimated ELSE true END,
        amount_source = CASE WHEN s.amount_source = 'earnings' THEN s.amount_source ELSE EXCLUDED.amount_source END,
        occurred_at = EXCLUDED.occurred_at,
        auto_basis = EXCLUDED.auto_basis,
        auto_detail = EXCLUDED.auto_detail,
        auto_staff_id = EXCLUDED.auto_staff_id,
        team_member_uuid = EXCLUDED.team_member_uuid,
        credit_message_uuid = EXCLUDED.credit_message_uuid,
        updated_at = now()
    WHERE (s.fan_uuid, s.chat_id, s.occurred_at, s.auto_basis, s.auto_detail, s.auto_staff_id,
           s.team_member_uuid, s.credit_message_uuid)
          IS DISTINCT FROM
          (COALESCE(EXCLUDED.fan_uuid, s.fan_uuid), COALESCE(EXCLUDED.chat_id, s.chat_id), EXCLUDED.occurred_at,
           EXCLUDED.auto_basis, EXCLUDED.auto_detail, EXCLUDED.auto_staff_id, EXCLUDED.team_member_uuid,
           EXCLUDED.credit_message_uuid)
       OR (s.amount_source <> 'earnings'
           AND (s.gross_cents, s.net_cents, s.amount_source)
               IS DISTINCT FROM (EXCLUDED.gross_cents, EXCLUDED.net_cents, EXCLUDED.amount_source));
END $$;

-- Creates or re-credits the sales of tip events: the tipped message's
-- sender (PPV rules), else the sender of the last human outbound message of
-- the chat within the agency's window before the tip, else nobody. Links
-- the chat's TIP message (within 10 s, as the inbox shows its amount). A
-- sale the earnings feed made for this tip before its webhook arrived (same
-- fan and amount, within two minutes) is adopted, not doubled.
CREATE FUNCTION sales_refresh_tips(p_tips bigint[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF p_tips IS NULL OR cardinality(p_tips) = 0 THEN
        RETURN;
    END IF;
    UPDATE sales s SET tip_id = t.id, updated_at = now()
    FROM tips t
    WHERE t.id = ANY(p_tips) AND NOT EXISTS (SELECT 1 FROM sales d WHERE d.tip_id = t.id)
      AND s.id = (SELECT e.id FROM sales e
                  WHERE e.creator_id = t.creator_id AND e.fan_uuid = t.fan_uuid AND e.kind = 'tip'
                    AND e.tip_id IS NULL AND e.gross_cents = t.amount_cents
                    AND e.occurred_at BETWEEN t.tipped_at - interval '2 minutes' AND t.tipped_at + interval '2 minutes'
                  ORDER BY abs(extract(epoch FROM e.occurred_at - t.tipped_at)), e.id LIMIT 1);

    INSERT INTO sales AS s (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid, tip_id,
        tip_message_uuid, gross_cents, net_cents, net_estimated, amount_source, occurred_at,
        auto_basis, auto_detail, auto_staff_id, team_member_uuid, credit_message_uuid)
    SELECT y.agency_id, y.creator_id, 'tip', y.fan_uuid, y.chat_id, y.tipped_message_uuid, y.id,
        y.tip_message, y.amount_cents, sales_net_estimate(y.amount_cents, y.fee), true, 'webhook', y.tipped_at,
        y.basis, y.detail, y.staff_id, y.team_member_uuid, y.credit_message_uuid
    FROM (
        SELECT x.*,
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
                 ELSE 'No human reply within ' || x.window_minutes || ' min before the tip' END AS detail
        FROM (
            SELECT t.id, t.agency_id, t.creator_id, t.fan_uuid, t.amount_cents, t.tipped_at,
                t.tipped_message_uuid, c.id AS chat_id, a.platform_fee_bps / 100.0 AS fee,
                a.tip_window_minutes AS window_minutes, tm.credit AS tm,
                (tm.credit).basis IS NOT NULL AND (tm.credit).basis <> 'unattributed' AS tipped_known,
                w.uuid AS w_uuid, CASE WHEN w.uuid IS NOT NULL THEN sale_credit_of(t.agency_id, t.creator_id, w.uuid) END AS wc,
                tmsg.uuid AS tip_message
            FROM tips t
            JOIN agencies a ON a.id = t.agency_id
            LEFT JOIN chats c ON c.creator_id = t.creator_id AND c.fan_uuid = t.fan_uuid
            LEFT JOIN LATERAL (
                SELECT sale_credit_of(t.agency_id, t.creator_id, t.tipped_message_uuid) AS credit
                WHERE t.tipped_message_uuid IS NOT NULL) tm ON true
            LEFT JOIN LATERAL (
                SELECT h.uuid FROM messages h
                WHERE h.chat_id = c.id AND h.kind NOT LIKE 'AUTOMATED\_%' AND h.deleted_at IS NULL
                  AND COALESCE(h.sent_at, h.first_seen_at) <= t.tipped_at
                  AND a.tip_window_minutes > 0
                  AND COALESCE(h.sent_at, h.first_seen_at) >= t.tipped_at - make_interval(mins => a.tip_window_minutes)
                  AND h.direction = 'out' AND h.kind NOT IN ('BROADCAST', 'TIP')
                ORDER BY COALESCE(h.sent_at, h.first_seen_at) DESC, h.uuid DESC LIMIT 1) w ON true
            LEFT JOIN LATERAL (
                SELECT h.uuid FROM messages h
                WHERE h.chat_id = c.id AND h.kind = 'TIP'
                  AND COALESCE(h.sent_at, h.first_seen_at) BETWEEN t.tipped_at - interval '10 seconds'
                                                              AND t.tipped_at + interval '10 seconds'
                ORDER BY abs(extract(epoch FROM COALESCE(h.sent_at, h.first_seen_at) - t.tipped_at)), h.uuid
                LIMIT 1) tmsg ON true
            WHERE t.id = ANY(p_tips)
            ORDER BY t.id
        ) x
    ) y
    ON CONFLICT (tip_id) DO UPDATE SET
        fan_uuid = EXCLUDED.fan_uuid,
        chat_id = COALESCE(EXCLUDED.chat_id, s.chat_id),
        message_uuid = EXCLUDED.message_uuid,
        tip_message_uuid = COALESCE(EXCLUDED.tip_message_uuid, s.tip_message_uuid),
        auto_basis = EXCLUDED.auto_basis,
        auto_detail = EXCLUDED.auto_detail,
        auto_staff_id = EXCLUDED.auto_staff_id,
        team_member_uuid = EXCLUDED.team_member_uuid,
        credit_message_uuid = EXCLUDED.credit_message_uuid,
        updated_at = now()
    WHERE (s.fan_uuid, s.chat_id, s.message_uuid, s.tip_message_uuid, s.auto_basis, s.auto_detail,
           s.auto_staff_id, s.team_member_uuid, s.credit_message_uuid)
          IS DISTINCT FROM
          (EXCLUDED.fan_uuid, COALESCE(EXCLUDED.chat_id, s.chat_id), EXCLUDED.message_uuid,
           COALESCE(EXCLUDED.tip_message_uuid, s.tip_message_uuid), EXCLUDED.auto_basis, EXCLUDED.auto_detail,
           EXCLUDED.auto_staff_id, EXCLUDED.team_member_uuid, EXCLUDED.credit_message_uuid);
END $$;

-- Recomputes the credit of existing sales (PPVs and tips; reversals follow
-- their sale by trigger; non-chat revenue has no credit to recompute).
CREATE FUNCTION sales_recompute(p_sales uuid[]) RETURNS void
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
END $$;

-- The tips whose credit may change because these messages appeared or
-- changed: tips naming them, tips of their chats within the window after an
-- outbound message, tips within 10 s of a TIP message (its link).
CREATE FUNCTION sales_tips_touched_by(p_creators uuid[], p_messages uuid[]) RETURNS bigint[]
LANGUAGE sql STABLE SET enable_seqscan = off AS $$
    WITH n AS (
        SELECT m.creator_id, m.uuid, m.chat_id, m.direction, m.kind,
               COALESCE(m.sent_at, m.first_seen_at) AS at
        FROM unnest(p_creators, p_messages) AS u(creator_id, uuid)
        JOIN messages m ON m.creator_id = u.creator_id AND m.uuid = u.uuid
    )
    SELECT ARRAY(
        SELECT s.tip_id FROM n JOIN sales s ON s.creator_id = n.creator_id AND s.message_uuid = n.uuid
        WHERE n.direction = 'out' AND s.kind = 'tip' AND s.tip_id IS NOT NULL
        UNION
        SELECT s.tip_id FROM n
        JOIN chats c ON c.id = n.chat_id
        JOIN agencies a ON a.id = c.agency_id
        JOIN sales s ON s.creator_id = c.creator_id AND s.fan_uuid = c.fan_uuid AND s.kind = 'tip'
            AND s.occurred_at >= n.at - interval '10 seconds'
            AND s.occurred_at <= n.at + CASE WHEN n.kind = 'TIP' THEN interval '10 seconds'
                                             ELSE make_interval(mins => a.tip_window_minutes) END
        WHERE s.tip_id IS NOT NULL AND (n.direction = 'out' OR n.kind = 'TIP')
        ORDER BY 1)
$$;

-- messages: purchased PPVs become (or re-credit) sales; messages that tips
-- depend on re-credit those tips. A statement touching a creator with no
-- tip sales skips the tip part after one index probe.
CREATE FUNCTION sales_messages_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.creator_id ORDER BY n.creator_id, n.uuid), array_agg(n.uuid ORDER BY n.creator_id, n.uuid)
        INTO c, u FROM new_rows n WHERE n.purchased_at IS NOT NULL AND n.direction = 'out';
    ELSE
        SELECT array_agg(n.creator_id ORDER BY n.creator_id, n.uuid), array_agg(n.uuid ORDER BY n.creator_id, n.uuid)
        INTO c, u FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
        WHERE n.purchased_at IS NOT NULL AND n.direction = 'out'
          AND (o.purchased_at, o.price_cents, o.kind, o.sent_by_user_uuid)
              IS DISTINCT FROM (n.purchased_at, n.price_cents, n.kind, n.sent_by_user_uuid);
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
        SELECT array_agg(n.creator_id), array_agg(n.uuid) INTO c, u
        FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
        WHERE (n.direction = 'out' OR n.kind = 'TIP')
          AND (o.kind, o.sent_by_user_uuid, o.deleted_at, o.sent_at)
              IS DISTINCT FROM (n.kind, n.sent_by_user_uuid, n.deleted_at, n.sent_at);
    END IF;
    IF c IS NOT NULL THEN
        PERFORM sales_refresh_tips(sales_tips_touched_by(c, u));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sales_messages_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_messages_changed();
CREATE TRIGGER sales_messages_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_messages_changed();

-- purchase_events: a purchase webhook is a sale at once, even before its
-- message is mirrored.
CREATE FUNCTION sales_purchase_events_inserted() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
BEGIN
    SELECT array_agg(n.creator_id ORDER BY n.creator_id, n.message_uuid),
           array_agg(n.message_uuid ORDER BY n.creator_id, n.message_uuid) INTO c, u FROM new_rows n;
    IF c IS NOT NULL THEN
        PERFORM sales_refresh_ppv(c, u);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sales_purchase_events_insert AFTER INSERT ON purchase_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_purchase_events_inserted();

-- tips: every tip event is a sale.
CREATE FUNCTION sales_tips_inserted() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    PERFORM sales_refresh_tips(ARRAY(SELECT n.id FROM new_rows n ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE TRIGGER sales_tips_insert AFTER INSERT ON tips
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_tips_inserted();

-- outbound_sends: a ledger row naming a message (a send settled, an unknown
-- send confirmed by reconcile) re-credits the sales that message decides.
CREATE FUNCTION sales_sends_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    c uuid[];
    u uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.creator_id), array_agg(n.message_uuid) INTO c, u
        FROM new_rows n WHERE n.message_uuid IS NOT NULL;
    ELSE
        SELECT array_agg(n.creator_id), array_agg(n.message_uuid) INTO c, u
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.message_uuid IS NOT NULL
          AND (o.message_uuid, o.staff_id) IS DISTINCT FROM (n.message_uuid, n.staff_id);
    END IF;
    IF c IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM sales_recompute(ARRAY(
        SELECT s.id FROM unnest(c, u) AS k(creator_id, uuid)
        JOIN sales s ON s.creator_id = k.creator_id
            AND (s.message_uuid = k.uuid OR s.credit_message_uuid = k.uuid)
        ORDER BY 1));
    RETURN NULL;
END $$;

CREATE TRIGGER sales_sends_insert AFTER INSERT ON outbound_sends
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_sends_changed();
CREATE TRIGGER sales_sends_update AFTER UPDATE ON outbound_sends
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_sends_changed();

-- staff: mapping (or unmapping, or moving) a team-member uuid re-credits
-- every sale that uuid decided. Manual reassignments stay in force.
CREATE FUNCTION sales_staff_changed() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM sales_recompute(ARRAY(
            SELECT s.id FROM new_rows n
            JOIN sales s ON s.agency_id = n.agency_id AND s.team_member_uuid = n.fanvue_user_uuid::text
            WHERE n.fanvue_user_uuid IS NOT NULL ORDER BY 1));
    ELSE
        PERFORM sales_recompute(ARRAY(
            SELECT s.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            CROSS JOIN LATERAL (VALUES (o.fanvue_user_uuid), (n.fanvue_user_uuid)) AS v(tm)
            JOIN sales s ON s.agency_id = n.agency_id AND s.team_member_uuid = v.tm::text
            WHERE o.fanvue_user_uuid IS DISTINCT FROM n.fanvue_user_uuid AND v.tm IS NOT NULL
            ORDER BY 1));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sales_staff_insert AFTER INSERT ON staff
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_staff_changed();
CREATE TRIGGER sales_staff_update AFTER UPDATE ON staff
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_staff_changed();

-- agencies: a new tip window re-credits the tips it decides; a new fee
-- re-estimates every estimated net.
CREATE FUNCTION sales_agencies_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sales_recompute(ARRAY(
        SELECT s.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        JOIN sales s ON s.agency_id = n.id AND s.kind = 'tip'
            AND s.auto_basis IN ('window_rule', 'unattributed')
        WHERE o.tip_window_minutes <> n.tip_window_minutes
        ORDER BY 1));
    UPDATE sales s SET net_cents = sales_net_estimate(s.gross_cents, n.platform_fee_bps / 100.0), updated_at = now()
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE s.agency_id = n.id AND s.net_estimated AND o.platform_fee_bps <> n.platform_fee_bps
      AND s.net_cents <> sales_net_estimate(s.gross_cents, n.platform_fee_bps / 100.0);
    RETURN NULL;
END $$;

CREATE TRIGGER sales_agencies_update AFTER UPDATE ON agencies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_agencies_changed();

-- sales: a reversal is credited as its sale is, now and after every
-- re-credit or reassignment of that sale.
CREATE FUNCTION sales_reversals_follow() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    -- An update that touched no row fires this too (and so does the update
    -- below, once): nothing to follow.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    UPDATE sales r SET auto_basis = o.basis, auto_detail = 'Reverses a sale: ' || o.basis_detail,
        auto_staff_id = o.credited_staff_id, team_member_uuid = NULL, updated_at = now()
    FROM new_rows o
    WHERE r.reverses_sale_id = o.id AND o.reverses_sale_id IS NULL
      AND (r.auto_basis, r.auto_detail, r.auto_staff_id)
          IS DISTINCT FROM (o.basis, 'Reverses a sale: ' || o.basis_detail, o.credited_staff_id);
    RETURN NULL;
END $$;

CREATE TRIGGER sales_reversals_follow AFTER UPDATE ON sales
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_reversals_follow();

-- The earnings feed's entry points (called by the earnings reconcile).
--
-- sales_confirm_from_earnings: a message or tip line proved a sale (after
-- the line has marked the PPV purchased in the mirror, so the sale exists):
-- stores the feed's amounts, net no longer estimated, and the line id.
-- Returns the sale, or NULL when no sale matches (the line stays unmatched).
CREATE FUNCTION sales_confirm_from_earnings(p_agency uuid, p_creator uuid, p_line bigint, p_kind text,
    p_message uuid, p_fan uuid, p_gross bigint, p_net bigint, p_currency text, p_at timestamptz,
    p_transaction text) RETURNS uuid
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    sid uuid;
BEGIN
    SELECT s.id INTO sid FROM sales s WHERE s.earnings_line_id = p_line AND s.agency_id = p_agency;
    IF sid IS NOT NULL THEN
        RETURN sid;
    END IF;
    IF p_kind = 'ppv' AND p_message IS NOT NULL THEN
        SELECT s.id INTO sid FROM sales s
        WHERE s.agency_id = p_agency AND s.creator_id = p_creator AND s.kind = 'ppv' AND s.message_uuid = p_message;
        IF sid IS NULL THEN
            -- A purchase only the feed has seen, of a message the mirror
            -- does not hold as a purchased PPV: the line is the sale, credited
            -- by the message once it is mirrored purchased.
            INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid, earnings_line_id,
                transaction_id, gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at,
                auto_basis, auto_detail, auto_staff_id, team_member_uuid, credit_message_uuid)
            SELECT p_agency, p_creator, 'ppv', p_fan, c.id, p_message, p_line, p_transaction, p_gross, p_net,
                false, 'earnings', COALESCE(p_currency, 'USD'), p_at, (cr.v).basis, (cr.v).detail,
                (cr.v).staff_id, (cr.v).team_member_uuid, (cr.v).message_uuid
            FROM (SELECT sale_credit_of(p_agency, p_creator, p_message) AS v) cr
            LEFT JOIN chats c ON c.creator_id = p_creator AND c.fan_uuid = p_fan
            ON CONFLICT (creator_id, message_uuid) WHERE kind = 'ppv' DO NOTHING
            RETURNING id INTO sid;
            RETURN sid;
        END IF;
    ELSIF p_kind = 'tip' THEN
        SELECT s.id INTO sid FROM sales s
        WHERE s.agency_id = p_agency AND s.creator_id = p_creator AND s.kind = 'tip' AND s.fan_uuid = p_fan
          AND s.earnings_line_id IS NULL AND s.gross_cents = p_gross
          AND s.occurred_at BETWEEN p_at - interval '2 minutes' AND p_at + interval '2 minutes'
        ORDER BY abs(extract(epoch FROM s.occurred_at - p_at)), s.id LIMIT 1;
        IF sid IS NULL THEN
            -- The tip's webhook was lost: the feed line is the sale, credited
            -- by the window rule until (if ever) the webhook arrives.
            INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, chat_id, earnings_line_id, transaction_id,
                gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at, auto_basis, auto_detail)
            SELECT p_agency, p_creator, 'tip', p_fan, c.id, p_line, p_transaction, p_gross, p_net, false,
                'earnings', COALESCE(p_currency, 'USD'), p_at, 'unattributed', 'Tip from the earnings feed'
            FROM (SELECT 1) one LEFT JOIN chats c ON c.creator_id = p_creator AND c.fan_uuid = p_fan
            RETURNING id INTO sid;
            RETURN sid;
        END IF;
    END IF;
    IF sid IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE sales SET earnings_line_id = p_line, transaction_id = COALESCE(p_transaction, transaction_id),
        gross_cents = p_gross, net_cents = p_net, net_estimated = false, amount_source = 'earnings',
        currency = COALESCE(p_currency, currency), updated_at = now()
    WHERE id = sid;
    RETURN sid;
END $$;

-- sales_record_non_chat: subscription, renewal, post, referral or other
-- revenue from the feed: creator revenue credited to no chatter. Keyed by
-- the line's natural key (replays are one sale).
CREATE FUNCTION sales_record_non_chat(p_agency uuid, p_creator uuid, p_line bigint, p_kind text,
    p_fan uuid, p_gross bigint, p_net bigint, p_currency text, p_at timestamptz, p_transaction text,
    p_key text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    sid uuid;
BEGIN
    INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, earnings_line_id, transaction_id, gross_cents,
        net_cents, net_estimated, amount_source, currency, occurred_at, auto_basis, auto_detail, dedupe_key)
    SELECT p_agency, p_creator, p_kind, p_fan, p_line, p_transaction, p_gross,
        COALESCE(p_net, sales_net_estimate(p_gross, a.platform_fee_bps / 100.0)), p_net IS NULL, 'earnings',
        COALESCE(p_currency, 'USD'), p_at, 'non_chat', 'Creator revenue (' || p_kind || '), credited to no chatter',
        p_key
    FROM agencies a WHERE a.id = p_agency
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id INTO sid;
    IF sid IS NULL THEN
        SELECT id INTO sid FROM sales WHERE dedupe_key = p_key AND agency_id = p_agency;
    END IF;
    RETURN sid;
END $$;

-- sales_record_reversal: a refund or chargeback of `p_sale` — a negative row
-- (amounts are given positive or negative; stored negative), credited as
-- the sale is. Keyed by the line's natural key. Returns the reversal row.
CREATE FUNCTION sales_record_reversal(p_agency uuid, p_sale uuid, p_kind text, p_line bigint,
    p_gross bigint, p_net bigint, p_at timestamptz, p_key text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    sid uuid;
BEGIN
    INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, chat_id, message_uuid, earnings_line_id,
        gross_cents, net_cents, net_estimated, amount_source, currency, occurred_at, auto_basis, auto_detail,
        auto_staff_id, reverses_sale_id, dedupe_key)
    SELECT o.agency_id, o.creator_id, p_kind, o.fan_uuid, o.chat_id, o.message_uuid, p_line,
        -abs(p_gross), CASE WHEN p_net IS NULL THEN -abs(o.net_cents) ELSE -abs(p_net) END,
        p_net IS NULL AND o.net_estimated, 'earnings', o.currency, p_at, o.basis,
        'Reverses a sale: ' || o.basis_detail, o.credited_staff_id, o.id, p_key
    FROM sales o WHERE o.id = p_sale AND o.agency_id = p_agency AND o.reverses_sale_id IS NULL
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id INTO sid;
    IF sid IS NULL THEN
        SELECT id INTO sid FROM sales WHERE dedupe_key = p_key AND agency_id = p_agency;
    END IF;
    RETURN sid;
END $$;

-- Sales of what is already mirrored (an existing installation).
SELECT sales_refresh_ppv(
    ARRAY(SELECT creator_id FROM messages WHERE purchased_at IS NOT NULL AND direction = 'out' ORDER BY creator_id, uuid),
    ARRAY(SELECT uuid FROM messages WHERE purchased_at IS NOT NULL AND direction = 'out' ORDER BY creator_id, uuid));
SELECT sales_refresh_ppv(
    ARRAY(SELECT creator_id FROM purchase_events ORDER BY creator_id, message_uuid),
    ARRAY(SELECT message_uuid FROM purchase_events ORDER BY creator_id, message_uuid));
SELECT sales_refresh_tips(ARRAY(SELECT id FROM tips ORDER BY id));
