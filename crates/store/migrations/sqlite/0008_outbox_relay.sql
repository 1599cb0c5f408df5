-- The worker's relay reads the events not yet dispatched, oldest first; events stop carrying a
-- dispatch job each. The partial index holds only the events waiting, so it stays small.
CREATE INDEX events_undispatched ON events (id) WHERE dispatched_at IS NULL;
