-- The operator surface: one message log for both directions, pending items
-- with their discard note, dead letters kept for listing and replay, and an
-- audit of what operators did.

-- Inbound envelopes keep what an operator needs to find and repair them:
-- the body as it arrived, the document it is about, the codes of its answer.
-- 'waiting': a sale parked until its reservations arrive; 'retrying': an
-- operator asked for it to be processed again. Both are taken over by the
-- next delivery of the UUID.
ALTER TABLE inbox DROP CONSTRAINT inbox_status_check;
ALTER TABLE inbox ADD CONSTRAINT inbox_status_check
    CHECK (status IN ('ok', 'error', 'waiting', 'retrying'));
ALTER TABLE inbox
    ADD COLUMN id            bigserial   NOT NULL UNIQUE,
    ADD COLUMN body          bytea,
    ADD COLUMN internal_id   text,
    ADD COLUMN document_code text,
    ADD COLUMN error_codes   text[]      NOT NULL DEFAULT '{}',
    -- Attempts made before an operator's last retry (which starts its
    -- waits, failures and redeliveries afresh).
    ADD COLUMN earlier_attempts integer  NOT NULL DEFAULT 0,
    ADD COLUMN environment   text        NOT NULL DEFAULT 'production',
    ADD COLUMN discarded_at  timestamptz,
    ADD COLUMN discarded_by  text,
    ADD COLUMN discard_note  text;

CREATE INDEX inbox_log ON inbox (received_at DESC, id DESC);
CREATE INDEX inbox_receipt_id ON inbox (receipt_id);
CREATE INDEX inbox_by_document ON inbox (namespace, transaction, internal_id, received_at);
CREATE INDEX inbox_open ON inbox (received_at) WHERE status <> 'ok' AND discarded_at IS NULL;

-- held_at: blocked by an operator (not by its destination's credentials),
-- so unblocking the destination does not release it.
ALTER TABLE outbox
    ADD COLUMN held_at      timestamptz,
    ADD COLUMN discarded_at timestamptz,
    ADD COLUMN discarded_by text,
    ADD COLUMN discard_note text;

CREATE INDEX outbox_log ON outbox (created_at DESC, id DESC) WHERE kind = 'message';

-- Whatever reached the dead-letter queue, recorded by the worker that
-- consumed it there (ack after commit): listed, replayed or discarded here.
CREATE TABLE dead_letters (
    id             bigserial   PRIMARY KEY,
    -- Set by the worker when it dead-letters (x-eai-dead-letter-id), so a
    -- redelivery from the dead-letter queue is recorded once.
    dead_letter_id text        UNIQUE,
    uuid           text,
    code           text        NOT NULL,
    reason         text        NOT NULL,
    exchange       text        NOT NULL,
    routing_key    text        NOT NULL,
    correlation_id text,
    message_id     text,
    reply_to       text,
    body           bytea       NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now(),
    replayed_at    timestamptz,
    replayed_by    text,
    replays        integer     NOT NULL DEFAULT 0,
    discarded_at   timestamptz,
    discarded_by   text,
    discard_note   text
);

CREATE INDEX dead_letters_log ON dead_letters (dead_at DESC, id DESC);
CREATE INDEX dead_letters_uuid ON dead_letters (uuid);

-- Every operator action on a message or dead letter: who, what, when, why.
CREATE TABLE operator_actions (
    id      bigserial   PRIMARY KEY,
    subject text        NOT NULL,
    action  text        NOT NULL,
    actor   text        NOT NULL,
    note    text        NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX operator_actions_subject ON operator_actions (subject, id);
