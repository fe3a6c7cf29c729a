-- Creator connections (Fanvue OAuth), chatter assignments, and pending
-- connect flows.

CREATE TABLE creators (
    id                   uuid PRIMARY KEY,
    agency_id            uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    fanvue_uuid          uuid NOT NULL,
    handle               text NOT NULL,
    display_name         text NOT NULL,
    avatar_url           text,
    status               text NOT NULL CHECK (status IN ('connected', 'needs_reauth', 'disconnected')),
    scopes               text[] NOT NULL DEFAULT '{}',
    access_token_enc     bytea,
    refresh_token_enc    bytea,
    token_expires_at     timestamptz,
    token_refreshed_at   timestamptz,
    connected_by         uuid REFERENCES staff(id) ON DELETE SET NULL,
    connected_at         timestamptz,
    disconnected_at      timestamptz,
    last_api_error       text,
    last_api_error_at    timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- Tokens exist exactly while the creator is usable or awaiting reauth.
    CHECK (status = 'disconnected' OR access_token_enc IS NOT NULL)
);
-- A Fanvue creator belongs to at most one agency at a time (DESIGN §1).
CREATE UNIQUE INDEX creators_fanvue_uuid_key ON creators (fanvue_uuid);
CREATE INDEX creators_agency_idx ON creators (agency_id, display_name);

CREATE TABLE creator_assignments (
    creator_id   uuid NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    staff_id     uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    agency_id    uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    assigned_by  uuid REFERENCES staff(id) ON DELETE SET NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creator_id, staff_id)
);
CREATE INDEX creator_assignments_staff_idx ON creator_assignments (staff_id);

-- A connect flow in progress: the PKCE verifier and state, bound to the admin
-- and the session that started it. Single use, short-lived.
CREATE TABLE oauth_flows (
    state_hash      text PRIMARY KEY,
    agency_id       uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    staff_id        uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    login_id        text NOT NULL,
    pkce_verifier_enc bytea NOT NULL,
    reconnect_creator_id uuid REFERENCES creators(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX oauth_flows_expiry_idx ON oauth_flows (expires_at);
