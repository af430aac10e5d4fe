-- The indexes of PostgreSQL's 0016_outbox_leases_indexed.sql: a claim's
-- expired-lease sweep and an idle sender's next retry read only the messages
-- they are about, not the whole backlog.
CREATE INDEX outbox_leased ON outbox (lease_until)
    WHERE kind = 'message' AND status = 'running' AND discarded_at IS NULL;
CREATE INDEX outbox_retry_due ON outbox (next_attempt_at)
    WHERE kind = 'message' AND discarded_at IS NULL
      AND status IN ('waiting', 'failed', 'not_delivered');
