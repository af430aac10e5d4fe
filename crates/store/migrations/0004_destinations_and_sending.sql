-- The sender: destinations per (company, branch, transaction) and business
-- messages in the outbox with the EAI statuses, attempts and their history.

CREATE TABLE destinations (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    company        text        NOT NULL,
    branch         text        NOT NULL,
    transaction    text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('amqp', 'http')),
    exchange       text,
    routing_key    text        NOT NULL DEFAULT '',
    url            text,
    -- An HTTP header sent with every request (credentials); never logged.
    auth_header    text,
    auth_value     text,
    timeout_ms     integer     NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    max_attempts   integer     NOT NULL DEFAULT 4 CHECK (max_attempts > 0),
    blocked        boolean     NOT NULL DEFAULT false,
    blocked_reason text,
    blocked_at     timestamptz,
    CONSTRAINT destination_target CHECK (
        (kind = 'amqp' AND exchange IS NOT NULL) OR (kind = 'http' AND url IS NOT NULL))
);

CREATE INDEX destinations_route ON destinations (company, branch, transaction);

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('receipt', 'message'));
ALTER TABLE outbox DROP CONSTRAINT outbox_uuid_key;
ALTER TABLE outbox
    ADD COLUMN destination_id  bigint      REFERENCES destinations (id),
    ADD COLUMN document_key    text,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN claimed_by      text;

-- One message per UUID and destination: enqueueing the same envelope twice is a no-op.
CREATE UNIQUE INDEX outbox_uuid_destination ON outbox (uuid, coalesce(destination_id, 0));
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE kind = 'message' AND status IN ('waiting', 'failed', 'not_delivered', 'running');
CREATE INDEX outbox_document ON outbox (destination_id, document_key, id) WHERE kind = 'message';

-- Every attempt ever made; `attempt` restarts at 1 after an operator retry,
-- the history does not.
CREATE TABLE outbox_attempts (
    id          bigserial   PRIMARY KEY,
    outbox_id   bigint      NOT NULL REFERENCES outbox (id),
    attempt     integer     NOT NULL,
    sender      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    status      text        NOT NULL,
    detail      text        NOT NULL DEFAULT ''
);

CREATE INDEX outbox_attempts_by_message ON outbox_attempts (outbox_id, id);

-- Wakes idle senders when a message becomes ready (PostgreSQL folds the
-- notifications of one transaction into one).
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eai_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_ready
    AFTER INSERT OR UPDATE OF status ON outbox
    FOR EACH ROW WHEN (NEW.kind = 'message' AND NEW.status = 'waiting')
    EXECUTE FUNCTION notify_outbox();
