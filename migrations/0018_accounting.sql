-- Read model `accounting`: one fact per attempt that ended (who, what, where, how long),
-- and the same facts summed per day and dimension, which the reports read.

-- What an attempt's fact needs from its job.
CREATE TABLE accounting_jobs (
    job_id          uuid PRIMARY KEY,
    tenant_id       uuid    NOT NULL,
    member_id       uuid    NOT NULL,
    group_id        uuid,
    application_id  uuid    NOT NULL,
    application     text    NOT NULL,
    tasks_per_node  integer NOT NULL
);

-- One row per attempt: its placement when planned, its usage and outcome once ended.
CREATE TABLE accounting_attempts (
    job_id         uuid        NOT NULL,
    attempt        integer     NOT NULL,
    tenant_id      uuid        NOT NULL,
    member_id      uuid        NOT NULL,
    group_id       uuid,
    application_id uuid        NOT NULL,
    application    text        NOT NULL,
    resource_id    uuid        NOT NULL,
    resource       text        NOT NULL,
    nodes          integer     NOT NULL,
    cores          integer     NOT NULL,
    wall_seconds   bigint,
    core_seconds   bigint,
    outcome        text,
    started_at     timestamptz,
    ended_at       timestamptz,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX accounting_attempts_ended ON accounting_attempts (tenant_id, ended_at)
    WHERE ended_at IS NOT NULL;

-- The facts summed per (tenant, day the attempt ended, member, group, application,
-- resource). `group_id` is the nil uuid for jobs of no group (a key cannot hold NULL).
CREATE TABLE accounting_daily (
    tenant_id      uuid   NOT NULL,
    day            date   NOT NULL,
    member_id      uuid   NOT NULL,
    group_id       uuid   NOT NULL,
    application_id uuid   NOT NULL,
    application    text   NOT NULL,
    resource_id    uuid   NOT NULL,
    resource       text   NOT NULL,
    jobs           bigint NOT NULL,
    attempts       bigint NOT NULL,
    succeeded      bigint NOT NULL,
    wall_seconds   bigint NOT NULL,
    core_seconds   bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, member_id, group_id, application_id, resource_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounting_jobs', 'accounting_attempts', 'accounting_daily'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY one_tenant ON %I FOR SELECT TO medgrid_reader
                        USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants())', t);
        EXECUTE format('CREATE POLICY owner ON %I TO %I USING (true) WITH CHECK (true)',
                       t, current_user);
        EXECUTE format('GRANT SELECT ON %I TO medgrid_reader', t);
    END LOOP;
END $$;
