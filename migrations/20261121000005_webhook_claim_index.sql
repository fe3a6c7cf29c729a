-- Claiming due webhook events orders by id; without this index the scan
-- walked every processed row first.
CREATE INDEX webhook_events_open_id_idx ON webhook_events (id) WHERE status IN ('pending', 'processing');
