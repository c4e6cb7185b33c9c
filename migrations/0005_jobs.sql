-- Read models of jobs: the job as it is now, its attempts, and its timeline (one row per
-- state transition, in event order).
CREATE TABLE jobs (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid        NOT NULL,
    owner_id            uuid        NOT NULL,
    group_id            uuid,
    application_id      uuid        NOT NULL,
    application_name    text        NOT NULL,
    application_version text        NOT NULL,
    parameters          jsonb       NOT NULL,
    command             text        NOT NULL,
    inputs              jsonb       NOT NULL,
    output_specs        jsonb       NOT NULL,
    placements          jsonb       NOT NULL,
    tasks_per_node      integer     NOT NULL,
    walltime_seconds    bigint      NOT NULL,
    retry               jsonb       NOT NULL,
    replica_cancel      text        NOT NULL,
    resubmitted_from    uuid,
    state               text        NOT NULL,
    reason              text        NOT NULL,
    -- a pending retry may not start before this
    retry_at            timestamptz,
    outputs             jsonb       NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    position            bigint      NOT NULL
);
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, position DESC);
CREATE INDEX jobs_by_owner ON jobs (owner_id, position DESC);
-- what the dispatcher scans: only jobs that are not finished
CREATE INDEX jobs_unfinished ON jobs (state, position) WHERE state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED');

CREATE TABLE job_attempts (
    job_id           uuid        NOT NULL REFERENCES jobs (id),
    number           integer     NOT NULL,
    tenant_id        uuid        NOT NULL,
    resource_id      uuid        NOT NULL,
    resource_name    text        NOT NULL,
    kind             text        NOT NULL,
    nodes            integer     NOT NULL,
    -- QUEUED (planned), SCHEDULED, RUNNING, SUCCEEDED, FAILED, CANCELLED
    state            text        NOT NULL,
    external_id      text,
    node_list        text,
    cancel_requested boolean     NOT NULL DEFAULT false,
    outcome          jsonb,
    exit_code        integer,
    reason           text,
    started_at       timestamptz,
    ended_at         timestamptz,
    wall_seconds     bigint,
    cpu_seconds      bigint,
    planned_at       timestamptz NOT NULL,
    PRIMARY KEY (job_id, number)
);
-- the dispatcher's working set: attempts not yet ended, per resource
CREATE INDEX job_attempts_active ON job_attempts (resource_id, state) WHERE ended_at IS NULL;
-- fair turns: when each tenant was last served
CREATE INDEX job_attempts_by_tenant ON job_attempts (tenant_id, planned_at);

CREATE TABLE job_timeline (
    job_id    uuid        NOT NULL REFERENCES jobs (id),
    sequence  bigint      NOT NULL,
    tenant_id uuid        NOT NULL,
    state     text        NOT NULL,
    reason    text        NOT NULL,
    attempt   integer,
    at        timestamptz NOT NULL,
    PRIMARY KEY (job_id, sequence)
);
