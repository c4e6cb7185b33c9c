-- The wake-up hint names the aggregate types a transaction wrote, so that a processor
-- wakes only for the events it reads (one notification per type and transaction: the
-- server folds identical ones). Polling stays the fallback.
CREATE OR REPLACE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medgrid_events', written.aggregate_type)
       FROM (SELECT DISTINCT aggregate_type FROM inserted) AS written;
    RETURN NULL;
END $$;
DROP TRIGGER events_notify ON events;
CREATE TRIGGER events_notify AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
