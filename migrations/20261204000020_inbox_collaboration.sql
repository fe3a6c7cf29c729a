-- Inbox collaboration: collision-safe sending, claims and presence.

-- Agency settings: also ask Fanvue for the chat's newest messages before a
-- send (one extra read per send, off by default), and an optional cap on
-- how many chats one chatter may hold claimed at once.
ALTER TABLE agencies
    ADD COLUMN check_fanvue_before_send boolean NOT NULL DEFAULT false,
    ADD COLUMN claim_cap integer
        CONSTRAINT agencies_claim_cap_range CHECK (claim_cap IS NULL OR claim_cap BETWEEN 1 AND 100);

-- A send the chatter confirmed after it was held because the thread had
-- moved on since they saw it ("Send anyway").
ALTER TABLE outbound_sends ADD COLUMN sent_anyway boolean NOT NULL DEFAULT false;

-- Claims: a soft lock of one chat by one staff member. Live while
-- `expires_at` is ahead (the owner's last activity in the chat plus the
-- claim length); an expired row is simply not a claim (and is pruned).
CREATE TABLE chat_claims (
    chat_id     uuid PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
    agency_id   uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id  uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    staff_id    uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    active_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX chat_claims_staff_idx ON chat_claims (staff_id, expires_at);
CREATE INDEX chat_claims_creator_idx ON chat_claims (agency_id, creator_id, expires_at);
CREATE INDEX chat_claims_expires_idx ON chat_claims (expires_at);

-- Presence: who has a chat open (one row per browser tab) and whether they
-- are typing or idle. Heartbeats every ~10 s; a row older than 30 s is
-- gone. UNLOGGED: after a crash everyone simply reports again.
CREATE UNLOGGED TABLE chat_presence (
    chat_id     uuid NOT NULL,
    staff_id    uuid NOT NULL,
    tab_id      text NOT NULL CHECK (length(tab_id) BETWEEN 1 AND 64),
    agency_id   uuid NOT NULL,
    creator_id  uuid NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    typing      boolean NOT NULL DEFAULT false,
    typing_at   timestamptz,
    idle        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (chat_id, staff_id, tab_id)
);
CREATE INDEX chat_presence_seen_idx ON chat_presence (seen_at);
CREATE INDEX chat_presence_agency_idx ON chat_presence (agency_id, creator_id);

-- Live events for both.
ALTER TABLE live_events DROP CONSTRAINT live_events_kind_check;
ALTER TABLE live_events ADD CONSTRAINT live_events_kind_check
    CHECK (kind IN ('message', 'purchase', 'read', 'tip', 'send', 'chat', 'access', 'resync', 'presence', 'claim'));

-- A claim taken, taken over, released or expired: one `claim` event per
-- chat. Renewals (activity) change nothing anyone sees and publish nothing.
CREATE FUNCTION live_claims_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM live_publish(ARRAY(
            SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'claim', NULL, NULL, n.staff_id)::live_event_in
            FROM new_rows n ORDER BY n.chat_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM live_publish(ARRAY(
            SELECT ROW(o.agency_id, o.creator_id, o.chat_id, 'claim', NULL, NULL, o.staff_id)::live_event_in
            FROM old_rows o ORDER BY o.chat_id));
    ELSE
        PERFORM live_publish(ARRAY(
            SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'claim', NULL, NULL, n.staff_id)::live_event_in
            FROM new_rows n JOIN old_rows o ON o.chat_id = n.chat_id
            WHERE o.staff_id IS DISTINCT FROM n.staff_id OR o.claimed_at IS DISTINCT FROM n.claimed_at
               OR (o.expires_at > now()) IS DISTINCT FROM (n.expires_at > now())
            ORDER BY n.chat_id));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER live_claims_insert AFTER INSERT ON chat_claims
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_claims_changed();
CREATE TRIGGER live_claims_update AFTER UPDATE ON chat_claims
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_claims_changed();
CREATE TRIGGER live_claims_delete AFTER DELETE ON chat_claims
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_claims_changed();

-- Presence: someone arrived or left, started or stopped typing, went idle
-- or came back. Heartbeats that change none of that publish nothing.
CREATE FUNCTION live_presence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM live_publish(ARRAY(
            SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'presence', NULL, NULL, NULL)::live_event_in
            FROM (SELECT DISTINCT agency_id, creator_id, chat_id FROM new_rows) n ORDER BY n.chat_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM live_publish(ARRAY(
            SELECT ROW(o.agency_id, o.creator_id, o.chat_id, 'presence', NULL, NULL, NULL)::live_event_in
            FROM (SELECT DISTINCT agency_id, creator_id, chat_id FROM old_rows) o ORDER BY o.chat_id));
    ELSE
        PERFORM live_publish(ARRAY(
            SELECT ROW(n.agency_id, n.creator_id, n.chat_id, 'presence', NULL, NULL, NULL)::live_event_in
            FROM (SELECT DISTINCT n.agency_id, n.creator_id, n.chat_id
                  FROM new_rows n JOIN old_rows o
                    ON o.chat_id = n.chat_id AND o.staff_id = n.staff_id AND o.tab_id = n.tab_id
                  WHERE o.typing IS DISTINCT FROM n.typing OR o.idle IS DISTINCT FROM n.idle) n
            ORDER BY n.chat_id));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER live_presence_insert AFTER INSERT ON chat_presence
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_presence_changed();
CREATE TRIGGER live_presence_update AFTER UPDATE ON chat_presence
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_presence_changed();
CREATE TRIGGER live_presence_delete AFTER DELETE ON chat_presence
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION live_presence_changed();
