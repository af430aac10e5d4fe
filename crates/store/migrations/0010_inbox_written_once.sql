-- The inbox row is now written once, answered, at the end of the envelope's
-- transaction (no more NULL status while it runs), so every index on the
-- inbox and the outbox is paid for on each envelope. Two were redundant:
-- `inbox_log` (received_at DESC, id DESC) serves the retention purge's walk
-- by received_at as well as `inbox_received`; the relay finds waiting
-- receipts through `outbox_receipts_waiting` and the sender its messages
-- through `outbox_claimable`, so `outbox_waiting` served no query.
DROP INDEX inbox_received;
DROP INDEX outbox_waiting;
