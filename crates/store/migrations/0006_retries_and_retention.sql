-- How often an inbound UUID was parked to wait, failed, or was redelivered
-- after a crash. Kept by the worker, by UUID, so nothing a sender puts in a
-- header can change it; purged with the inbox.
CREATE TABLE inbox_retries (
    uuid         text        PRIMARY KEY,
    -- parked in a delay queue waiting for reservations not integrated yet
    waits        integer     NOT NULL DEFAULT 0,
    -- processing failed after its immediate retries
    failures     integer     NOT NULL DEFAULT 0,
    -- started again after the broker redelivered it (a worker died holding it)
    redeliveries integer     NOT NULL DEFAULT 0,
    last_error   text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbox_retries_updated ON inbox_retries (updated_at);

-- Receipts whose publication failed or was returned wait for the relay's next try.
CREATE INDEX outbox_receipts_waiting ON outbox (next_attempt_at)
    WHERE kind = 'receipt' AND status = 'waiting';

-- Retention: the purge walks the oldest rows first.
CREATE INDEX inbox_received ON inbox (received_at);
CREATE INDEX outbox_created ON outbox (created_at);
