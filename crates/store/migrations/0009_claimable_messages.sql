-- The messages a sender may claim, in the order it claims them: the claim
-- walks this index by id and stops at its limit, instead of sorting every
-- due message of the outbox (and the lease sweep finds the running ones
-- without reading the receipts).
CREATE INDEX outbox_claimable ON outbox (id)
    WHERE kind = 'message' AND discarded_at IS NULL
      AND status IN ('waiting', 'failed', 'not_delivered', 'running');
