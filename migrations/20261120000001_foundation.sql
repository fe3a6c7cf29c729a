-- Foundation: agencies (tenants), staff, server-side sessions, invites,
-- login throttling and the audit log.

CREATE TABLE agencies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    slug        text NOT NULL UNIQUE,
    time_zone   text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id                  uuid PRIMARY KEY,
    agency_id           uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    email               text NOT NULL,
    display_name        text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'chatter')),
    fanvue_user_uuid    uuid,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique across the whole installation: login is by email alone.
CREATE UNIQUE INDEX staff_email_key ON staff (lower(email));
CREATE INDEX staff_agency_idx ON staff (agency_id, display_name);
-- One Fanvue team member maps to at most one person in an agency.
CREATE UNIQUE INDEX staff_fanvue_user_key ON staff (agency_id, fanvue_user_uuid)
    WHERE fanvue_user_uuid IS NOT NULL;

-- Server-side session store for actix-session. The cookie carries a random key;
-- only its SHA-256 is stored, so a database leak does not leak live sessions.
CREATE TABLE sessions (
    key_hash    text PRIMARY KEY,
    staff_id    uuid REFERENCES staff(id) ON DELETE CASCADE,
    login_id    text,
    state       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_staff_idx ON sessions (staff_id) WHERE staff_id IS NOT NULL;
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

CREATE TABLE invites (
    id            uuid PRIMARY KEY,
    agency_id     uuid NOT NULL REFERENCES agencies(id) ON DELETE CASCADE,
    email         text NOT NULL,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'chatter')),
    token_hash    text NOT NULL UNIQUE,
    created_by    uuid REFERENCES staff(id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX invites_agency_idx ON invites (agency_id, created_at DESC);

-- Failed logins, counted per account (email) and per client address.
CREATE TABLE login_failures (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    client_ip   text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, at);
CREATE INDEX login_failures_ip_idx ON login_failures (client_ip, at);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    agency_id   uuid REFERENCES agencies(id) ON DELETE CASCADE,
    actor_id    uuid REFERENCES staff(id) ON DELETE SET NULL,
    action      text NOT NULL,
    target      text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    client_ip   text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_agency_idx ON audit_log (agency_id, id DESC);
