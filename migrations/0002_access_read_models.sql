-- Read models of tenancy and access. Timestamps come from the events (recorded_at), never
-- from now(), so a rebuild produces identical rows. No foreign keys: each projection
-- advances on its own.
CREATE TABLE tenants (
    id               uuid PRIMARY KEY,
    slug             text        NOT NULL UNIQUE,
    name             text        NOT NULL,
    status           text        NOT NULL,
    suspended_reason text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    position         bigint      NOT NULL
);

CREATE TABLE members (
    id            uuid PRIMARY KEY,
    tenant_id     uuid        NOT NULL,
    email         text        NOT NULL,
    name          text        NOT NULL,
    roles         text[]      NOT NULL DEFAULT '{}',
    disabled      boolean     NOT NULL DEFAULT false,
    password_hash text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    position      bigint      NOT NULL,
    UNIQUE (tenant_id, email)
);
CREATE INDEX members_by_tenant ON members (tenant_id, position);

CREATE TABLE access_tokens (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    member_id   uuid        NOT NULL,
    name        text        NOT NULL,
    secret_hash text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX access_tokens_by_member ON access_tokens (member_id);

CREATE TABLE groups (
    id         uuid PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position   bigint      NOT NULL
);
CREATE INDEX groups_by_tenant ON groups (tenant_id, position);

CREATE TABLE group_members (
    group_id  uuid        NOT NULL,
    member_id uuid        NOT NULL,
    tenant_id uuid        NOT NULL,
    role      text        NOT NULL,
    since     timestamptz NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_by_member ON group_members (member_id);
