-- Live events for the inbox: every write that changes what a chatter sees
-- publishes an event row and a NOTIFY carrying ids only. Publishing is done
-- by triggers, so every writer (webhook processing, sync, inbox sends, a
-- manual psql fix) publishes, and a rolled-back write publishes nothing
-- (NOTIFY is delivered at commit). Events are kept briefly for reconnects
-- (`Last-Event-ID`); UNLOGGED because a lost event table after a crash only
-- means a resync, never lost data.

CREATE UNLOGGED TABLE live_events (
    id           bigserial PRIMARY KEY,
    agency_id    uuid NOT NULL,
    -- NULL only for staff-wide `access` events.
    creator_id   uuid,
    chat_id      uuid,
    kind         text NOT NULL CHECK (kind IN ('message', 'purchase', 'read', 'tip', 'send', 'chat', 'access', 'resync')),
    message_uuid uuid,
    send_id      uuid,
    -- `access` events: whose access changed.
    staff_id     uuid,
    -- The writing transaction: the NOTIFY names (tx, first id, last id), so
    -- a listener reads exactly that statement's rows, never a concurrent one's.
    tx           bigint NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
-- Pruning by age.
CREATE INDEX live_events_at_idx ON live_events (at);

-- One event as the triggers build it, before the bound check.
CREATE TYPE live_event_in AS (
    agency_id    uuid,
    creator_id   uuid,
    chat_id      uuid,
    kind         text,
    message_uuid uuid,
    send_id      uuid,
    staff_id     uuid
);

-- Publishes one statement's events. More than 200 events of one creator in
-- one statement (a backfill page, a reconcile) become a single `resync` for
-- that creator: a stream needs to know "refetch", not 2,500 ids.
CREATE FUNCTION live_publish(evs live_event_in[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    me bigint;
BEGIN
    IF evs IS NULL OR cardinality(evs) = 0 THEN
        RETURN;
    END IF;
    me := pg_current_xact_id()::text::bigint;
    -- Fast path (nearly every statement): too few events to need the bound.
    IF cardinality(evs) <= 200 THEN
        WITH ins AS (
            INSERT INTO live_events (agency_id, creator_id, chat_id, kind, message_uuid, send_id, staff_id, tx)
            SELECT e.agency_id, e.creator_id, e.chat_id, e.kind, e.message_uuid, e.send_id, e.staff_id, me
            FROM unnest(evs) AS e
            RETURNING id
        )
        SELECT min(id), max(id) INTO lo, hi FROM ins;
        IF lo IS NOT NULL THEN
            PERFORM pg_notify('switchboard_live', me::text || ':' || lo::text || ':' || hi::text);
        END IF;
        RETURN;
    END IF;
    WITH e AS (
        SELECT * FROM unnest(evs) WITH ORDINALITY AS u(agency_id, creator_id, chat_id, kind, message_uuid, send_id, staff_id, n)
    ), big AS (
        SELECT creator_id FROM e WHERE creator_id IS NOT NULL GROUP BY creator_id HAVING count(*) > 200
    ), ins AS (
        INSERT INTO live_events (agency_id, creator_id, chat_id, kind, message_uuid, send_id, staff_id, tx)
        SELECT agency_id, creator_id, chat_id, kind, message_uuid, send_id, staff_id, me FROM (
            SELECT e.agency_id, e.creator_id, e.chat_id, e.kind, e.message_uuid, e.send_id, e.staff_id, e.n
            FROM e WHERE e.creator_id IS NULL OR e.creator_id NOT IN (SELECT creator_id FROM big)
            UNION ALL
            (SELECT DISTINCT ON (e.creator_id) e.agency_id, e.creator_id, NULL, 'resync', NULL, NULL, NULL, e.n
             FROM e JOIN big ON big.creator_id = e.creator_id
             ORDER BY e.creator_id, e.n)
        ) s ORDER BY n
        RETURNING id
    )
    SELECT min(id), max(id) INTO lo, hi FROM ins;
    IF lo IS NOT NULL THEN
        PERFORM pg_notify('switchboard_live', me::text || ':' || lo::text || ':' || hi::text);
    END IF;
END $$;

-- messages: a new row is a `message`.
CREATE FUNCTION live_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'message', n.uuid, NULL, NULL)::live_event_in
        FROM new_rows n ORDER BY n.sent_at NULLS LAST, n.uuid));
    RETURN NULL;
END $$;

-- messages: only the watched transitions publish; a reconcile re-writing a
-- row with equal values (or changing only fields no page shows live)
-- publishes nothing.
CREATE FUNCTION live_messages_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.chat_id, k.kind, n.uuid, NULL, NULL)::live_event_in
        FROM new_rows n JOIN old_rows o ON o.creator_id = n.creator_id AND o.uuid = n.uuid
        CROSS JOIN LATERAL (VALUES
            (CASE WHEN o.purchased_at IS NULL AND n.purchased_at IS NOT NULL THEN 'purchase' END),
            (CASE WHEN NOT o.is_read AND n.is_read THEN 'read' END),
            (CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'message' END)
        ) AS k(kind)
        WHERE k.kind IS NOT NULL));
    RETURN NULL;
END $$;

CREATE TRIGGER live_messages_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_messages_inserted();
CREATE TRIGGER live_messages_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_messages_updated();

-- tips: the chat is found by creator and fan (a tip may have none yet).
CREATE FUNCTION live_tips_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, c.id, 'tip', n.tipped_message_uuid, NULL, NULL)::live_event_in
        FROM new_rows n LEFT JOIN chats c ON c.creator_id = n.creator_id AND c.fan_uuid = n.fan_uuid
        ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE TRIGGER live_tips_insert AFTER INSERT ON tips
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_tips_inserted();

-- outbound_sends: a new ledger row, and every status (or message) change.
-- (Transition tables cannot be combined with `UPDATE OF`, hence the compare.)
CREATE FUNCTION live_sends_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'send', n.message_uuid, n.id, NULL)::live_event_in
        FROM new_rows n ORDER BY n.created_at, n.id));
    RETURN NULL;
END $$;

CREATE FUNCTION live_sends_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'send', n.message_uuid, n.id, NULL)::live_event_in
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.status IS DISTINCT FROM n.status OR o.message_uuid IS DISTINCT FROM n.message_uuid
        ORDER BY n.created_at, n.id));
    RETURN NULL;
END $$;

CREATE TRIGGER live_sends_insert AFTER INSERT ON outbound_sends
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_sends_inserted();
CREATE TRIGGER live_sends_update AFTER UPDATE ON outbound_sends
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_sends_updated();

-- chats: what a list row shows (names, avatar, marks, read state, order).
-- One event per chat per statement by construction (one row per chat).
CREATE FUNCTION live_chats_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.id, 'chat', NULL, NULL, NULL)::live_event_in
        FROM new_rows n ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE FUNCTION live_chats_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, n.creator_id, n.id, 'chat', NULL, NULL, NULL)::live_event_in
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (o.fan_handle, o.fan_display_name, o.fan_nickname, o.fan_avatar_url, o.is_top_spender,
               o.is_read, o.is_muted, o.unread_count, o.last_message_at, o.last_message_uuid)
              IS DISTINCT FROM
              (n.fan_handle, n.fan_display_name, n.fan_nickname, n.fan_avatar_url, n.is_top_spender,
               n.is_read, n.is_muted, n.unread_count, n.last_message_at, n.last_message_uuid)
        ORDER BY n.id));
    RETURN NULL;
END $$;

CREATE TRIGGER live_chats_insert AFTER INSERT ON chats
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_chats_inserted();
CREATE TRIGGER live_chats_update AFTER UPDATE ON chats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_chats_updated();

-- Access: an assignment added or removed, or a person's role or active flag
-- changed. Streams of that person re-check what they may see at once.
CREATE FUNCTION live_assignments_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM live_publish(ARRAY(
            SELECT ROW(n.agency_id, n.creator_id, NULL, 'access', NULL, NULL, n.staff_id)::live_event_in
            FROM new_rows n));
    ELSE
        PERFORM live_publish(ARRAY(
            SELECT ROW(o.agency_id, o.creator_id, NULL, 'access', NULL, NULL, o.staff_id)::live_event_in
            FROM old_rows o));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER live_assignments_insert AFTER INSERT ON creator_assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_assignments_changed();
CREATE TRIGGER live_assignments_delete AFTER DELETE ON creator_assignments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_assignments_changed();

CREATE FUNCTION live_staff_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(n.agency_id, NULL, NULL, 'access', NULL, NULL, n.id)::live_event_in
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.role IS DISTINCT FROM n.role OR o.active IS DISTINCT FROM n.active));
    RETURN NULL;
END $$;

CREATE TRIGGER live_staff_update AFTER UPDATE ON staff
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_staff_updated();

-- Sessions ended (sign-out, "sign out other sessions", expiry purge): the
-- person's streams re-check at once and end if their login is gone.
CREATE FUNCTION live_sessions_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM live_publish(ARRAY(
        SELECT ROW(s.agency_id, NULL, NULL, 'access', NULL, NULL, s.id)::live_event_in
        FROM staff s WHERE s.id IN (SELECT o.staff_id FROM old_rows o WHERE o.staff_id IS NOT NULL)));
    RETURN NULL;
END $$;

CREATE TRIGGER live_sessions_delete AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_sessions_deleted();
