-- Fan notes and fan tags. Both belong to the agency and the fan (the fan's
-- Fanvue uuid), not to a chat: a fan who follows two of the agency's
-- creators has one set of notes and one set of tags. Who may see them is
-- decided by the chat the request comes through (inbox::access).

CREATE TABLE fan_notes (
    id          uuid PRIMARY KEY,
    agency_id   uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    fan_uuid    uuid NOT NULL,
    author_id   uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    body        text NOT NULL CONSTRAINT fan_notes_body_length CHECK (char_length(body) BETWEEN 1 AND 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fan_notes_fan_idx ON fan_notes (agency_id, fan_uuid, created_at);

-- The agency's tag set. Colours are a fixed palette (domain::TagColour),
-- rendered as CSS classes: no user-supplied CSS.
CREATE TABLE tags (
    id          uuid PRIMARY KEY,
    agency_id   uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    name        text NOT NULL CONSTRAINT tags_name_length CHECK (char_length(name) BETWEEN 1 AND 40),
    colour      text NOT NULL CONSTRAINT tags_colour_palette
        CHECK (colour IN ('grey', 'blue', 'green', 'yellow', 'orange', 'red', 'purple', 'pink')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency_id, id)
);
CREATE UNIQUE INDEX tags_agency_name_key ON tags (agency_id, lower(name));

-- A tag on a fan. The key serves the list's "filter by tag" EXISTS
-- (agency, tag, fan); the second index the fan panel and row chips.
CREATE TABLE fan_tags (
    agency_id   uuid NOT NULL,
    tag_id      uuid NOT NULL,
    fan_uuid    uuid NOT NULL,
    tagged_by   uuid REFERENCES staff(id) ON DELETE SET NULL,
    tagged_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, tag_id, fan_uuid),
    FOREIGN KEY (agency_id, tag_id) REFERENCES tags (agency_id, id) ON DELETE CASCADE
);
CREATE INDEX fan_tags_fan_idx ON fan_tags (agency_id, fan_uuid);
