-- Row-level security on every table that holds tenant data (issue 4): callers' reads run
-- as role medgrid_reader, which owns no table and cannot bypass row-level security, with
-- the tenant set per transaction (projections/src/reader.rs). A query that forgets its
-- tenant filter still sees only that tenant; a query without a tenant sees nothing.
-- FORCE applies the policies to the tables' owner too, who has a policy of its own (the
-- processors and the event store write as the owner).

-- Roles are cluster-wide: several databases (tests) may create it at once. An owner
-- without CREATEROLE needs it made beforehand (see README, External PostgreSQL).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'medgrid_reader') THEN
        CREATE ROLE medgrid_reader NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

-- A non-superuser owner must be a member to SET ROLE (a superuser always may).
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'medgrid_reader', 'MEMBER') THEN
        EXECUTE format('GRANT medgrid_reader TO %I', current_user);
    END IF;
END $$;

CREATE FUNCTION medgrid_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('medgrid.tenant', true), '')::uuid
$$;
CREATE FUNCTION medgrid_all_tenants() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('medgrid.all_tenants', true), '') = 'on'
$$;

GRANT USAGE ON SCHEMA public TO medgrid_reader;

DO $$
DECLARE
    t record;
BEGIN
    -- tenant data: every table with a tenant_id column, and tenants itself (its id)
    FOR t IN
        SELECT c.relname, CASE WHEN c.relname = 'tenants' THEN 'id' ELSE 'tenant_id' END AS col
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND (c.relname = 'tenants' OR EXISTS (
                SELECT FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.relname);
        EXECUTE format(
            'CREATE POLICY one_tenant ON %I FOR SELECT TO medgrid_reader
                 USING (%I = medgrid_tenant() OR medgrid_all_tenants())',
            t.relname, t.col);
        EXECUTE format('CREATE POLICY owner ON %I TO %I USING (true) WITH CHECK (true)',
                       t.relname, current_user);
        EXECUTE format('GRANT SELECT ON %I TO medgrid_reader', t.relname);
    END LOOP;
END $$;

-- Platform-wide tables a caller may read (filtered by access rules in the queries).
GRANT SELECT ON resources TO medgrid_reader;
