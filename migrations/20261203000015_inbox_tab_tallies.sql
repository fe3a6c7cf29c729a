-- The inbox's tab counts, kept instead of counted. Counting at read time was
-- five index scans over the viewer's chats on every list view (capped at
-- 1,000 each, and still the most expensive part of the page). Now every
-- statement that inserts, updates or deletes chats appends, per creator it
-- touched, how each tab's count changed; a count is the sum of a creator's
-- rows. Appending (instead of updating one counter row per creator) means
-- concurrent writers never wait on each other's counter row nor deadlock on
-- it; `chat_tab_tallies_compact()` folds the rows periodically.

CREATE TABLE chat_tab_tallies (
    id         bigserial PRIMARY KEY,
    agency_id  uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    creator_id uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    n_all      bigint NOT NULL DEFAULT 0,
    n_unread   bigint NOT NULL DEFAULT 0,
    n_awaiting bigint NOT NULL DEFAULT 0,
    n_ppv      bigint NOT NULL DEFAULT 0,
    n_spend    bigint NOT NULL DEFAULT 0
);
CREATE INDEX chat_tab_tallies_creator_idx ON chat_tab_tallies (creator_id)
    INCLUDE (agency_id, n_all, n_unread, n_awaiting, n_ppv, n_spend);

-- The tab conditions, as `store::inbox` states them for the list.
CREATE TYPE chat_tab_flags AS (unread int, awaiting int, ppv int, spend int);
CREATE FUNCTION chat_tab_flags(c chats) RETURNS chat_tab_flags
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW((c.unread_count > 0 OR NOT c.is_read)::int, c.awaiting_reply::int,
               c.has_open_ppv::int, c.has_spend::int)::chat_tab_flags
$$;

-- Each trigger appends, per creator its statement touched, how the counts
-- changed.
CREATE FUNCTION chats_tab_tallies_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat_tab_tallies (agency_id, creator_id, n_all, n_unread, n_awaiting, n_ppv, n_spend)
    SELECT n.agency_id, n.creator_id, count(*), sum((chat_tab_flags(n)).unread),
           sum((chat_tab_flags(n)).awaiting), sum((chat_tab_flags(n)).ppv), sum((chat_tab_flags(n)).spend)
    FROM new_rows n
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

-- Most chat updates (a new message moves the chat, a name changes) leave
-- every flag as it was: those append nothing.
CREATE FUNCTION chats_tab_tallies_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat_tab_tallies (agency_id, creator_id, n_all, n_unread, n_awaiting, n_ppv, n_spend)
    SELECT d.agency_id, d.creator_id, sum(d.s), sum(d.s * (d.f).unread), sum(d.s * (d.f).awaiting),
           sum(d.s * (d.f).ppv), sum(d.s * (d.f).spend)
    FROM (
        SELECT n.agency_id, n.creator_id, 1 AS s, chat_tab_flags(n) AS f
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE chat_tab_flags(n) IS DISTINCT FROM chat_tab_flags(o) OR n.creator_id <> o.creator_id
        UNION ALL
        SELECT o.agency_id, o.creator_id, -1, chat_tab_flags(o)
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE chat_tab_flags(n) IS DISTINCT FROM chat_tab_flags(o) OR n.creator_id <> o.creator_id
    ) d
    GROUP BY 1, 2
    HAVING sum(d.s) <> 0 OR sum(d.s * (d.f).unread) <> 0 OR sum(d.s * (d.f).awaiting) <> 0
        OR sum(d.s * (d.f).ppv) <> 0 OR sum(d.s * (d.f).spend) <> 0;
    RETURN NULL;
END $$;

-- A creator deleted in the same statement (a cascade) has no tally left to
-- keep: its rows are skipped.
CREATE FUNCTION chats_tab_tallies_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat_tab_tallies (agency_id, creator_id, n_all, n_unread, n_awaiting, n_ppv, n_spend)
    SELECT o.agency_id, o.creator_id, -count(*), -sum((chat_tab_flags(o)).unread),
           -sum((chat_tab_flags(o)).awaiting), -sum((chat_tab_flags(o)).ppv), -sum((chat_tab_flags(o)).spend)
    FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM creators cr WHERE cr.id = o.creator_id)
      AND EXISTS (SELECT 1 FROM agencies a WHERE a.id = o.agency_id)
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE TRIGGER chats_tab_tallies_insert AFTER INSERT ON chats
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chats_tab_tallies_inserted();
CREATE TRIGGER chats_tab_tallies_update AFTER UPDATE ON chats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chats_tab_tallies_updated();
CREATE TRIGGER chats_tab_tallies_delete AFTER DELETE ON chats
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chats_tab_tallies_deleted();

-- Folds each creator's rows into one. The rows a concurrent, uncommitted
-- statement appends are not seen (and not deleted), so they stay and count;
-- two compactions at once cannot both fold the same rows (the second's
-- DELETE skips rows the first deleted). Returns the rows removed.
CREATE FUNCTION chat_tab_tallies_compact() RETURNS bigint
LANGUAGE sql AS $$
    WITH many AS (
        SELECT creator_id FROM chat_tab_tallies GROUP BY creator_id HAVING count(*) > 1
    ), gone AS (
        DELETE FROM chat_tab_tallies t USING many WHERE t.creator_id = many.creator_id
        RETURNING t.*
    ), folded AS (
        INSERT INTO chat_tab_tallies (agency_id, creator_id, n_all, n_unread, n_awaiting, n_ppv, n_spend)
        SELECT agency_id, creator_id, sum(n_all), sum(n_unread), sum(n_awaiting), sum(n_ppv), sum(n_spend)
        FROM gone GROUP BY agency_id, creator_id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)
$$;

-- Recounts every tally from the chats (the initial fill; also for a bulk
-- load that bypassed the triggers). Locks the tallies so no append is lost
-- between the delete and the recount.
CREATE FUNCTION chat_tab_tallies_rebuild() RETURNS void
LANGUAGE sql AS $$
    LOCK TABLE chat_tab_tallies IN EXCLUSIVE MODE;
    DELETE FROM chat_tab_tallies;
    INSERT INTO chat_tab_tallies (agency_id, creator_id, n_all, n_unread, n_awaiting, n_ppv, n_spend)
    SELECT c.agency_id, c.creator_id, count(*), sum((chat_tab_flags(c)).unread),
           sum((chat_tab_flags(c)).awaiting), sum((chat_tab_flags(c)).ppv), sum((chat_tab_flags(c)).spend)
    FROM chats c GROUP BY 1, 2;
$$;

SELECT chat_tab_tallies_rebuild();
