-- Imports (issue 5): files brought into a folder from a URL, an S3 bucket or a DICOMweb
-- server, run by the worker's importer. Projected from Import events by the `imports`
-- read model. Nothing secret or identifying is here: `display` is what may be shown.
CREATE TABLE imports (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    owner_id    uuid        NOT NULL,
    space_id    uuid        NOT NULL,
    folder_id   uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('URL', 'S3', 'DICOMWEB')),
    display     text        NOT NULL,
    source      jsonb       NOT NULL,
    state       text        NOT NULL
                CHECK (state IN ('REQUESTED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    files       bigint      NOT NULL DEFAULT 0,
    bytes       bigint      NOT NULL DEFAULT 0,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    position    bigint      NOT NULL
);
CREATE INDEX imports_owner ON imports (tenant_id, owner_id, position);
CREATE INDEX imports_tenant ON imports (tenant_id, position);
-- what the importer has to do
CREATE INDEX imports_unfinished ON imports (position) WHERE state IN ('REQUESTED', 'RUNNING');

-- Row-level security like every tenant table (0009, 0012).
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
CREATE POLICY one_tenant ON imports FOR SELECT TO medgrid_reader
    USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants());
DO $$
BEGIN
    EXECUTE format('CREATE POLICY owner ON imports TO %I USING (true) WITH CHECK (true)',
                   current_user);
END $$;
GRANT SELECT ON imports TO medgrid_reader;
