-- Canned replies: snippets a chatter inserts into the compose box.
-- `owner_staff_id` NULL means agency-wide (managed by managers and above);
-- set, the snippet is that staff member's own and nobody else sees it.
CREATE TABLE canned_replies (
    id              uuid PRIMARY KEY,
    agency_id       uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    owner_staff_id  uuid REFERENCES staff(id) ON DELETE CASCADE,
    title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 80),
    body            text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2000),
    created_by      uuid REFERENCES staff(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- The picker lists the agency's snippets and the viewer's own, by title.
CREATE INDEX canned_replies_agency_idx ON canned_replies (agency_id, owner_staff_id, lower(title));
