-- Every claim first settles the messages whose lease ran out on their last
-- attempt. Without an index on leases that statement read every message
-- still to deliver (a sequential scan of the outbox once the backlog is
-- large) at every claim, so a drain slowed as its backlog grew: 1,745–2,367
-- messages/s draining 6,000, 450–480 draining 50,000. Only running messages
-- are in `outbox_leased`: a handful per sender.
CREATE INDEX outbox_leased ON outbox (lease_until)
    WHERE kind = 'message' AND status = 'running' AND discarded_at IS NULL;
-- An idle sender sleeps until the earliest retry falls due; it is read in
-- `outbox_retry_due`'s order, stopping at the first message with attempts
-- left, instead of taking the minimum over every message waiting for one.
CREATE INDEX outbox_retry_due ON outbox (next_attempt_at)
    WHERE kind = 'message' AND discarded_at IS NULL
      AND status IN ('waiting', 'failed', 'not_delivered');
