-- The inbound queue of a worker that runs without a broker: envelopes posted
-- to the API, published with `eai publish` or dropped in the spool directory
-- wait here to be received, exactly as they would in the broker's work
-- queues. A claimed envelope is hidden until `visible_at` (its lease); it is
-- deleted once answered, like an acked delivery, so a worker that dies
-- holding it leaves it to come back, redelivered, when the lease ends.
CREATE TABLE inbound_queue (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The routing key it was published with: its Header.Transaction.
    routing_key    text NOT NULL,
    body           bytea NOT NULL,
    reply_to       text,
    correlation_id text,
    message_id     text,
    -- Times it was claimed: more than once means redelivered.
    deliveries     integer NOT NULL DEFAULT 0,
    visible_at     timestamptz NOT NULL DEFAULT now(),
    enqueued_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbound_queue_visible ON inbound_queue (visible_at, id);

CREATE FUNCTION notify_inbound_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eai_inbound_queue', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER inbound_queue_notify AFTER INSERT ON inbound_queue
    FOR EACH STATEMENT EXECUTE FUNCTION notify_inbound_queue();
