-- Resumable uploads under way (tus 1.0, issue 5): one row per upload a member created and
-- has not finished, abandoned or let expire. The bytes received so far are in a spool
-- file named after the id (MEDGRID_UPLOAD_SPOOL_DIR); `offset` counts those that reached
-- the disk (fsynced). Operational state, not projected from events: the file exists only
-- once the upload completes (FileUploaded). Who created it alone may see and continue it.
CREATE TABLE uploads (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    member_id   uuid        NOT NULL,
    -- the folder the file goes to (checked again when the upload completes)
    parent      uuid        NOT NULL,
    name        text        NOT NULL,
    media_type  text        NOT NULL,
    length      bigint      NOT NULL CHECK (length >= 0),
    "offset"    bigint      NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- pushed back by every write: uploads untouched this long are removed
    expires_at  timestamptz NOT NULL
);
CREATE INDEX uploads_member ON uploads (tenant_id, member_id);
CREATE INDEX uploads_expires ON uploads (expires_at);

-- Row-level security like every tenant table (0009, 0012): callers read as medgrid_reader,
-- one tenant at a time; the service writes as the owner.
ALTER TABLE uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE uploads FORCE ROW LEVEL SECURITY;
CREATE POLICY one_tenant ON uploads FOR SELECT TO medgrid_reader
    USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants());
DO $$
BEGIN
    EXECUTE format('CREATE POLICY owner ON uploads TO %I USING (true) WITH CHECK (true)',
                   current_user);
END $$;
GRANT SELECT ON uploads TO medgrid_reader;
