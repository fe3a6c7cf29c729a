-- A PPV sale's credit is read afresh when an existing sale is rewritten.
--
-- `sales_refresh_ppv` computes each sale's credit in its INSERT's own
-- snapshot. When that INSERT meets a conflicting sale written by a
-- concurrent transaction, it waits for that transaction and then takes the
-- DO UPDATE path with values computed before the wait. A purchase webhook
-- applied while another instance mirrored the message (and made the sale,
-- credited by its sender) thus overwrote the right credit with "The
-- message is not mirrored yet", and no later write corrected it (the full
-- soak found one such sale). The credit written on that path now comes from
-- `sale_credit_now`, which is VOLATILE and so reads in a snapshot taken
-- after the wait: it sees what the waited-for transaction committed.

CREATE FUNCTION sale_credit_now(p_agency uuid, p_creator uuid, p_message uuid) RETURNS sale_credit
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN sale_credit_of(p_agency, p_creator, p_message);
END $$;

CREATE OR REPLACE FUNCTION sales_refresh_ppv(p_creators uuid[], p_messages uuid[]) RETURNS void
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
        (auto_basis, auto_detail, auto_staff_id, team_member_uuid, credit_message_uuid) = (
            SELECT (f.c).basis, (f.c).detail, (f.c).staff_id, (f.c).team_member_uuid, (f.c).message_uuid
            FROM (SELECT sale_credit_now(s.agency_id, s.creator_id, s.message_uuid) AS c) f),
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
