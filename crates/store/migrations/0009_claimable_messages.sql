-- The messages a sender may claim, in the order it claims them: the claim
-- walks this index by id and stops at its limit, and the lease sweep finds
-- the running ones without reading the receipts. It replaces `outbox_due`
-- (the same messages keyed by `next_attempt_at`), which the planner chose
-- for the claim on a large backlog and then sorted every due message by id.
DROP INDEX outbox_due;
CREATE INDEX outbox_claimable ON outbox (id)
    WHERE kind = 'message' AND discarded_at IS NULL
      AND status IN ('waiting', 'failed', 'not_delivered', 'running');
