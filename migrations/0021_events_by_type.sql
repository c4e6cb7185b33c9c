-- Each processor reads only the aggregate types it consumes, in log order (see
-- projections/src/runner.rs): without this index a read model of groups paged through
-- every job event to move its checkpoint, and asking "anything unread for me?" scanned
-- the events of a large open transaction it would never read.
CREATE INDEX events_by_type ON events (aggregate_type, tx_id, global_position);
