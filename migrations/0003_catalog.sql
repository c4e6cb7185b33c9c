-- Read model of each tenant's application catalog.
CREATE TABLE applications (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    name        text        NOT NULL,
    version     text        NOT NULL,
    description text        NOT NULL,
    descriptor  jsonb       NOT NULL,
    enabled     boolean     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    position    bigint      NOT NULL,
    UNIQUE (tenant_id, name, version)
);
CREATE INDEX applications_by_tenant ON applications (tenant_id, name, version);
