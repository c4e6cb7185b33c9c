-- Spaces (issue 5): a home per member, one per group; their folders and files, and the
-- folders they share. Projected from Space events by the `spaces` read model.
CREATE TABLE spaces (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    owner_kind  text        NOT NULL CHECK (owner_kind IN ('MEMBER', 'GROUP')),
    owner_id    uuid        NOT NULL,
    root        uuid        NOT NULL,
    quota       bigint,
    -- bytes of every file, the trash included (purging frees them)
    used        bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    position    bigint      NOT NULL
);
CREATE UNIQUE INDEX spaces_owner ON spaces (owner_kind, owner_id);
CREATE INDEX spaces_tenant ON spaces (tenant_id);

CREATE TABLE space_nodes (
    id          uuid        PRIMARY KEY,
    space_id    uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    -- NULL for a space's root
    parent      uuid,
    name        text,
    kind        text        NOT NULL CHECK (kind IN ('FOLDER', 'FILE')),
    sha256      text,
    size        bigint      NOT NULL DEFAULT 0,
    media_type  text,
    created_by  uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- put in the trash itself
    trashed_at  timestamptz,
    -- itself or a folder above it is in the trash
    in_trash    boolean     NOT NULL DEFAULT false
);
CREATE INDEX space_nodes_parent ON space_nodes (parent, name);
CREATE INDEX space_nodes_space ON space_nodes (space_id);
CREATE INDEX space_nodes_sha256 ON space_nodes (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX space_nodes_trashed ON space_nodes (trashed_at) WHERE trashed_at IS NOT NULL;

CREATE TABLE space_shares (
    node_id      uuid        NOT NULL,
    space_id     uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    grantee_kind text        NOT NULL CHECK (grantee_kind IN ('MEMBER', 'GROUP')),
    grantee_id   uuid        NOT NULL,
    access       text        NOT NULL CHECK (access IN ('READ', 'READ_WRITE')),
    since        timestamptz NOT NULL,
    PRIMARY KEY (node_id, grantee_kind, grantee_id)
);
CREATE INDEX space_shares_grantee ON space_shares (grantee_id);

-- Row-level security like every tenant table (0009).
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['spaces', 'space_nodes', 'space_shares'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY one_tenant ON %I FOR SELECT TO medgrid_reader
                        USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants())', t);
        EXECUTE format('CREATE POLICY owner ON %I TO %I USING (true) WITH CHECK (true)',
                       t, current_user);
        EXECUTE format('GRANT SELECT ON %I TO medgrid_reader', t);
    END LOOP;
END $$;

-- Stored contents (content-addressed, shared by every file with the same bytes) and the
-- uploads under way that may refer to one: a blob is removed only when no file refers to
-- it and no upload claims it. Storage bookkeeping, not tenant data: no tenant column.
CREATE TABLE blobs (
    sha256    text        PRIMARY KEY,
    size      bigint      NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_claims (
    id         uuid        PRIMARY KEY,
    sha256     text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_claims_sha256 ON blob_claims (sha256);
