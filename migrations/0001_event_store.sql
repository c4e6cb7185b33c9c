-- The event log. postgres-es names the first seven columns in every statement; the others
-- have defaults or are generated, so its INSERTs fill them without knowing them.
CREATE TABLE events (
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    sequence        bigint NOT NULL CHECK (sequence >= 0),
    event_type      text   NOT NULL,
    event_version   text   NOT NULL,
    payload         jsonb  NOT NULL,
    metadata        jsonb  NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    -- the writing transaction: catch-up reads only below pg_snapshot_xmin (see projections/runner.rs)
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    tenant_id       uuid GENERATED ALWAYS AS ((metadata ->> 'tenant_id')::uuid) STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_catch_up ON events (tx_id, global_position);
CREATE INDEX events_by_tenant ON events (tenant_id, global_position);

-- Events are forever: stored rows never change (old versions are upcast at load).
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

-- A wake-up hint for processors; delivered at commit. Polling is the fallback.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medgrid_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Where each processor stands in the log, as (tx_id, global_position).
CREATE TABLE projection_checkpoints (
    name            text PRIMARY KEY,
    tx_id           xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
