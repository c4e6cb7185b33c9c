-- Client secrets of identity providers (browser sign-in with a confidential client),
-- sealed (AES-256-GCM, key in service_keys): the events record only a fingerprint, so a
-- secret can be replaced without staying in the log forever.
ALTER TABLE identity_providers ADD COLUMN client_secret_fingerprint text;

CREATE TABLE provider_secrets (
    owner      uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    nonce      bytea       NOT NULL,
    sealed     bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Tenant data: row-level security like every such table (0009). The reader role gets a
-- policy but no privilege: callers never read secrets.
ALTER TABLE provider_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY one_tenant ON provider_secrets FOR SELECT TO medgrid_reader
    USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants());
DO $$
BEGIN
    EXECUTE format('CREATE POLICY owner ON provider_secrets TO %I USING (true) WITH CHECK (true)',
                   current_user);
END $$;
