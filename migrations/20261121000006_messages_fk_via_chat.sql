-- Messages' references checked once per statement instead of once per row.
--
-- A message's chat_id, creator_id and agency_id must name an existing chat
-- of that creator and agency. Three row-level foreign keys checked this with
-- one lookup each per inserted row, and were more than half the cost of a
-- bulk upsert (thousands of rows per statement, all of a few dozen chats).
-- They are replaced by:
--   * a statement trigger after INSERT that checks the new rows' distinct
--     (chat, creator, agency) triples against chats in one query and locks
--     those chats FOR KEY SHARE, as a foreign key does, so a concurrent
--     delete of a chat waits for the insert's transaction;
--   * a row trigger that refuses to change the three columns afterwards
--     (no write path does; it fires only for an UPDATE that names them);
--   * a statement trigger after DELETE on chats that deletes their messages,
--     as ON DELETE CASCADE did (deleting a creator or an agency cascades to
--     its chats, and from there to their messages).
-- This is stricter than before: the creator and agency must be the chat's own.

ALTER TABLE messages DROP CONSTRAINT messages_creator_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_agency_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_chat_id_fkey;

-- The plan of the check is cached per session (planning it on every
-- statement tripled the cost of a single-row insert). enable_seqscan = off,
-- for this function only, keeps that cached plan from ever scanning chats
-- whole, even if it was made while chats was nearly empty: LATERAL makes one
-- primary-key probe (and key-share lock) per distinct triple.
CREATE FUNCTION messages_check_chats() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    wanted bigint;
    found bigint;
BEGIN
    SELECT count(*), count(l.ok) INTO wanted, found
    FROM (SELECT DISTINCT chat_id, creator_id, agency_id FROM new_messages) n
    LEFT JOIN LATERAL (
        SELECT true AS ok FROM chats c
        WHERE c.id = n.chat_id AND c.creator_id = n.creator_id AND c.agency_id = n.agency_id
        FOR KEY SHARE OF c
    ) l ON true;
    IF found <> wanted THEN
        RAISE EXCEPTION 'insert on table "messages" names a chat that does not exist for its creator and agency'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_check_chats
    AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_check_chats();

CREATE FUNCTION messages_keep_chat() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a message''s chat, creator and agency cannot change'
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE TRIGGER messages_keep_chat
    BEFORE UPDATE OF chat_id, creator_id, agency_id ON messages
    FOR EACH ROW
    WHEN (OLD.chat_id IS DISTINCT FROM NEW.chat_id
          OR OLD.creator_id IS DISTINCT FROM NEW.creator_id
          OR OLD.agency_id IS DISTINCT FROM NEW.agency_id)
    EXECUTE FUNCTION messages_keep_chat();

-- Deleting chats is rare (a creator or agency removed); EXECUTE plans this
-- with current statistics, so it probes messages by chat instead of using a
-- plan cached while messages was small.
CREATE FUNCTION chats_delete_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'DELETE FROM messages m USING gone_chats g WHERE m.chat_id = g.id';
    RETURN NULL;
END $$;

CREATE TRIGGER chats_delete_messages
    AFTER DELETE ON chats
    REFERENCING OLD TABLE AS gone_chats
    FOR EACH STATEMENT EXECUTE FUNCTION chats_delete_messages();
