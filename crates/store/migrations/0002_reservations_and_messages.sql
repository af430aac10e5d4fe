-- Reservations (SC0 in Protheus) and the inbox/outbox of the message pipeline.

CREATE SEQUENCE reservation_numbers;

CREATE TABLE reservations (
    id               bigserial   PRIMARY KEY,
    company          text        NOT NULL,
    branch           text        NOT NULL,
    number           text        NOT NULL,
    namespace        text        NOT NULL,
    internal_id      text        NOT NULL,
    reserve_type     text,
    document_reserve text,
    requester        text,
    status           text        NOT NULL CHECK (status IN ('active', 'cancelled', 'used', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company, branch, number),
    UNIQUE (namespace, internal_id)
);

CREATE TABLE reservation_lines (
    reservation_id bigint         NOT NULL REFERENCES reservations (id),
    line_no        integer        NOT NULL,
    item_no        integer        NOT NULL,
    product        text           NOT NULL,
    warehouse      text           NOT NULL,
    lot_id         bigint         REFERENCES lots (id),
    lot            text           NOT NULL DEFAULT '',
    sublot         text           NOT NULL DEFAULT '',
    quantity       numeric(18, 4) NOT NULL CHECK (quantity > 0),
    backorder      boolean        NOT NULL DEFAULT false,
    issued_on      date           NOT NULL,
    expires_at     timestamptz,
    released_at    timestamptz,
    PRIMARY KEY (reservation_id, line_no)
);

CREATE INDEX reservation_lines_expiring ON reservation_lines (expires_at)
    WHERE released_at IS NULL AND expires_at IS NOT NULL;

-- One row per inbound Header.UUID: the dedup key and the receipt it got.
CREATE TABLE inbox (
    uuid          text        PRIMARY KEY,
    transaction   text        NOT NULL,
    namespace     text        NOT NULL DEFAULT '',
    company       text        NOT NULL DEFAULT '',
    branch        text        NOT NULL DEFAULT '',
    -- NULL while the claiming transaction runs; both are set before it commits.
    status        text        CHECK (status IN ('ok', 'error')),
    received_at   timestamptz NOT NULL,
    processed_at  timestamptz,
    receipt_id    bigint
);

-- Outbound messages, written in the business transaction and published after it.
CREATE TABLE outbox (
    id             bigserial   PRIMARY KEY,
    uuid           text        NOT NULL UNIQUE,
    kind           text        NOT NULL CHECK (kind IN ('receipt')),
    transaction    text        NOT NULL,
    exchange       text        NOT NULL,
    routing_key    text        NOT NULL,
    correlation_id text,
    body           text        NOT NULL,
    status         text        NOT NULL DEFAULT 'waiting'
                               CHECK (status IN ('waiting', 'running', 'done', 'failed', 'blocked', 'not_delivered', 'rejected')),
    attempts       integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    -- A relay that picked the row up to publish it again holds it until then.
    lease_until    timestamptz,
    last_error     text
);

CREATE INDEX outbox_waiting ON outbox (created_at) WHERE status = 'waiting';

ALTER TABLE inbox ADD CONSTRAINT inbox_receipt FOREIGN KEY (receipt_id) REFERENCES outbox (id);
