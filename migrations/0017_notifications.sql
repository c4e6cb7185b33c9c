-- Notification preferences and trouble tickets (issue 6), projected from
-- NotificationPreferences and Ticket events by the `notification_preferences` and
-- `tickets` read models.

-- One row per owner: a member's own choices (member_id set) or their tenant's defaults
-- (member_id NULL). Only what the owner chose is here; the rest is inherited.
CREATE TABLE notification_preferences (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    member_id      uuid,
    -- {"JOB_FAILED": "IMMEDIATE", ...}
    choices        jsonb       NOT NULL,
    time_zone      text,
    digest_hour    smallint    CHECK (digest_hour BETWEEN 0 AND 23),
    digest_weekday text,
    updated_at     timestamptz NOT NULL,
    position       bigint      NOT NULL
);
CREATE UNIQUE INDEX notification_preferences_owner
    ON notification_preferences (tenant_id, coalesce(member_id, '00000000-0000-0000-0000-000000000000'));

CREATE TABLE tickets (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    reporter_id  uuid        NOT NULL,
    assignee_id  uuid,
    job_id       uuid,
    title        text        NOT NULL,
    body         text        NOT NULL,
    priority     text        NOT NULL CHECK (priority IN ('LOW', 'NORMAL', 'HIGH', 'URGENT')),
    status       text        NOT NULL CHECK (status IN ('OPEN', 'RESOLVED')),
    resolution   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    position     bigint      NOT NULL
);
CREATE INDEX tickets_tenant ON tickets (tenant_id, position DESC);
CREATE INDEX tickets_reporter ON tickets (reporter_id, position DESC);

-- A comment is numbered by its event's sequence in the ticket's stream.
CREATE TABLE ticket_comments (
    ticket_id  uuid        NOT NULL,
    number     bigint      NOT NULL,
    tenant_id  uuid        NOT NULL,
    author_id  uuid        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, number)
);

-- Row-level security like every tenant table (0009, 0012).
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notification_preferences', 'tickets', 'ticket_comments'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY one_tenant ON %I FOR SELECT TO medgrid_reader
                        USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants())', t);
        EXECUTE format('CREATE POLICY owner ON %I TO %I USING (true) WITH CHECK (true)',
                       t, current_user);
        EXECUTE format('GRANT SELECT ON %I TO medgrid_reader', t);
    END LOOP;
END $$;
