-- Mail about what happens (issue 6): the worker's notifier turns events into
-- notifications (what a member is to be told), the mailer gathers them into mails in a
-- durable outbox and sends those. Not read models: they hold what was promised to be
-- sent, so `medgrid rebuild` never touches them (a rebuild would mail everything again).

-- Something a member is to be told, waiting for its mail (mail_id NULL) or told in one.
-- The id derives from what happened, so seeing an event twice inserts it once.
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    member_id   uuid        NOT NULL,
    kind        text        NOT NULL,
    delivery    text        NOT NULL CHECK (delivery IN ('IMMEDIATE', 'DAILY_DIGEST', 'WEEKLY_DIGEST')),
    -- one line ("Job 3f2c… (Brain MRI 1.2) succeeded"), the why, and a portal path
    title       text        NOT NULL,
    detail      text        NOT NULL DEFAULT '',
    link        text        NOT NULL,
    happened_at timestamptz NOT NULL,
    noticed_at  timestamptz NOT NULL DEFAULT now(),
    mail_id     uuid
);
CREATE INDEX notifications_waiting ON notifications (delivery, member_id, noticed_at)
    WHERE mail_id IS NULL;
CREATE INDEX notifications_by_mail ON notifications (mail_id);

-- Mails, from composed to sent. PENDING ones go out when next_attempt_at comes; an SMTP
-- outage only pushes that back. UNDELIVERABLE: the server refused the address for good.
-- SUPPRESSED: never sent (the address was already undeliverable, the member disabled).
CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    member_id       uuid        NOT NULL,
    purpose         text        NOT NULL CHECK (purpose IN ('IMMEDIATE', 'DAILY_DIGEST', 'WEEKLY_DIGEST', 'UNDELIVERABLE_REPORT')),
    to_address      text        NOT NULL,
    to_name         text,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text        NOT NULL,
    -- [["List-Unsubscribe", "<https://…>"], …]
    headers         jsonb       NOT NULL DEFAULT '[]',
    status          text        NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'SENT', 'UNDELIVERABLE', 'SUPPRESSED')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX mail_outbox_by_member ON mail_outbox (member_id, purpose, created_at DESC);

-- Addresses a mail server refused for good: not mailed again (their tenant admins were told).
CREATE TABLE mail_undeliverable (
    tenant_id uuid        NOT NULL,
    address   text        NOT NULL,
    member_id uuid,
    reason    text        NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);

-- Spaces (and tenants: space_id = tenant id) whose members were told their storage is
-- nearly full; forgotten when usage drops again, so the next time tells them again.
CREATE TABLE quota_warnings (
    subject_id uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    warned_at  timestamptz NOT NULL DEFAULT now()
);

-- The notifier starts at the end of the log: a database that had events before it
-- existed does not mail about them.
INSERT INTO projection_checkpoints (name, tx_id, global_position)
SELECT 'notifier', tx_id, global_position FROM events
 ORDER BY tx_id DESC, global_position DESC LIMIT 1
ON CONFLICT (name) DO NOTHING;

-- Row-level security like every tenant table: the worker writes (owner), members'
-- sessions may read their tenant's rows.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notifications', 'mail_outbox', 'mail_undeliverable', 'quota_warnings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY one_tenant ON %I FOR SELECT TO medgrid_reader
                        USING (tenant_id = medgrid_tenant() OR medgrid_all_tenants())', t);
        EXECUTE format('CREATE POLICY owner ON %I TO %I USING (true) WITH CHECK (true)',
                       t, current_user);
        EXECUTE format('GRANT SELECT ON %I TO medgrid_reader', t);
    END LOOP;
END $$;
