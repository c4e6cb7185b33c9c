-- Read model of the platform's compute resources. Not tenant data: who may use a resource
-- is in its access columns.
CREATE TABLE resources (
    id           uuid PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    kind         jsonb       NOT NULL,
    all_tenants  boolean     NOT NULL,
    tenants      uuid[]      NOT NULL,
    groups       uuid[]      NOT NULL,
    drained      boolean     NOT NULL DEFAULT false,
    drain_reason text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    position     bigint      NOT NULL
);
