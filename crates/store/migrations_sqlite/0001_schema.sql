-- The schema of the embedded (SQLite) backend: the same tables as PostgreSQL
-- migrations 0001–0014 leave, in SQLite's terms.
--
-- - Exact decimals (money, quantities) are TEXT, written and read by the
--   store as decimals; SQL never does arithmetic on them. The CHECKs compare
--   them as REAL: a last line of defence, not a calculation.
-- - Timestamps are TEXT in RFC 3339 UTC ("2026-12-05T05:12:33.123+00:00"),
--   written by the store, so they sort and compare as text. The defaults write
--   them as the store does (no ".000" on a whole second), so a value read and
--   bound again (a page's cursor) is the same text.
-- - Lists (a branch's released payment methods, an answer's error codes) are
--   JSON arrays.
-- - Sequences are rows of `sequences`.

CREATE TABLE sequences (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
);

INSERT INTO sequences (name) VALUES ('reservation_numbers'), ('sale_numbers'), ('export_batch_numbers');

CREATE TABLE branches (
    company                  TEXT    NOT NULL,
    branch                   TEXT    NOT NULL,
    closed_until             TEXT,
    released_payment_methods TEXT    NOT NULL DEFAULT '[]',
    reserve_without_stock    BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (company, branch)
);

CREATE TABLE products (
    code              TEXT    PRIMARY KEY,
    description       TEXT    NOT NULL DEFAULT '',
    blocked           BOOLEAN NOT NULL DEFAULT false,
    default_warehouse TEXT,
    tes               TEXT,
    lot_tracked       BOOLEAN NOT NULL DEFAULT true
);

CREATE TABLE customers (
    code    TEXT    PRIMARY KEY,
    name    TEXT    NOT NULL DEFAULT '',
    blocked BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE warehouses (
    branch TEXT NOT NULL,
    code   TEXT NOT NULL,
    PRIMARY KEY (branch, code)
);

CREATE TABLE stations (
    branch TEXT NOT NULL,
    code   TEXT NOT NULL,
    series TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (branch, code)
);

CREATE TABLE operators (
    code TEXT PRIMARY KEY
);

CREATE TABLE payment_methods (
    code                       TEXT    PRIMARY KEY,
    requires_financial_manager BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE financial_managers (
    code          TEXT    PRIMARY KEY,
    days          INTEGER NOT NULL DEFAULT 0,
    own_financing BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE carriers (
    code TEXT PRIMARY KEY
);

CREATE TABLE operations (
    operation TEXT PRIMARY KEY,
    tes       TEXT NOT NULL
);

CREATE TABLE companies (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    cnpj TEXT
);

CREATE TABLE lots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    branch      TEXT NOT NULL,
    product     TEXT NOT NULL REFERENCES products (code),
    warehouse   TEXT NOT NULL,
    lot         TEXT NOT NULL,
    sublot      TEXT NOT NULL DEFAULT '',
    expires_on  TEXT,
    received_on TEXT,
    quantity    TEXT NOT NULL CHECK (CAST(quantity AS REAL) >= 0),
    reserved    TEXT NOT NULL DEFAULT '0' CHECK (CAST(reserved AS REAL) >= 0),
    CONSTRAINT reserved_within_on_hand CHECK (CAST(reserved AS REAL) <= CAST(quantity AS REAL)),
    UNIQUE (branch, product, warehouse, lot, sublot)
);

CREATE INDEX lots_by_product ON lots (branch, product, warehouse);

CREATE TABLE mappings (
    namespace  TEXT NOT NULL,
    entity     TEXT NOT NULL,
    external   TEXT NOT NULL,
    internal   TEXT NOT NULL,
    written_at TEXT NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    PRIMARY KEY (namespace, entity, external)
);

CREATE INDEX mappings_reverse ON mappings (namespace, entity, internal, written_at DESC);

CREATE TABLE reservations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    company          TEXT NOT NULL,
    branch           TEXT NOT NULL,
    number           TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    internal_id      TEXT NOT NULL,
    reserve_type     TEXT,
    document_reserve TEXT,
    requester        TEXT,
    status           TEXT NOT NULL CHECK (status IN ('active', 'cancelled', 'used', 'expired')),
    created_at       TEXT NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    updated_at       TEXT NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    sale_id          INTEGER REFERENCES sales (id),
    UNIQUE (company, branch, number),
    UNIQUE (namespace, internal_id)
);

CREATE TABLE reservation_lines (
    reservation_id INTEGER NOT NULL REFERENCES reservations (id),
    line_no        INTEGER NOT NULL,
    item_no        INTEGER NOT NULL,
    product        TEXT    NOT NULL,
    warehouse      TEXT    NOT NULL,
    lot_id         INTEGER REFERENCES lots (id),
    lot            TEXT    NOT NULL DEFAULT '',
    sublot         TEXT    NOT NULL DEFAULT '',
    quantity       TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    backorder      BOOLEAN NOT NULL DEFAULT false,
    issued_on      TEXT    NOT NULL,
    expires_at     TEXT,
    released_at    TEXT,
    PRIMARY KEY (reservation_id, line_no)
);

CREATE INDEX reservation_lines_expiring ON reservation_lines (expires_at)
    WHERE released_at IS NULL AND expires_at IS NOT NULL;

CREATE TABLE sales (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    company              TEXT NOT NULL,
    branch               TEXT NOT NULL,
    number               TEXT NOT NULL,
    namespace            TEXT NOT NULL,
    internal_id          TEXT NOT NULL,
    document_code        TEXT NOT NULL,
    ecommerce_order      TEXT,
    issue_date           TEXT NOT NULL,
    customer             TEXT NOT NULL,
    station              TEXT NOT NULL,
    series               TEXT NOT NULL,
    operator             TEXT NOT NULL,
    carrier              TEXT,
    sale_type            TEXT,
    total_price          TEXT NOT NULL,
    net_price            TEXT NOT NULL,
    gross_price          TEXT NOT NULL,
    commodity_price      TEXT,
    discount_value       TEXT NOT NULL,
    freight_value        TEXT NOT NULL,
    increase_value       TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('released', 'credit_blocked', 'cancelled')),
    status_before_cancel TEXT,
    cancelled_on         TEXT,
    created_at           TEXT NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    cancelled_at         TEXT,
    intermediary_code    TEXT,
    presencial_indicator TEXT,
    UNIQUE (company, branch, number),
    UNIQUE (company, branch, document_code),
    UNIQUE (namespace, internal_id)
);

CREATE TABLE sale_items (
    sale_id           INTEGER NOT NULL REFERENCES sales (id),
    item_no           INTEGER NOT NULL,
    product           TEXT    NOT NULL,
    warehouse         TEXT,
    quantity          TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    unit_price        TEXT    NOT NULL,
    table_price       TEXT    NOT NULL,
    item_price        TEXT    NOT NULL,
    discount_amount   TEXT    NOT NULL,
    freight_prorated  TEXT    NOT NULL,
    increase_prorated TEXT    NOT NULL,
    operation_code    TEXT    NOT NULL,
    tes               TEXT    NOT NULL,
    reservation_id    INTEGER REFERENCES reservations (id),
    delivery_type     TEXT,
    delivery_date     TEXT,
    lot_number        TEXT,
    sublot_number     TEXT,
    serial            TEXT,
    address           TEXT,
    carrier           TEXT,
    PRIMARY KEY (sale_id, item_no)
);

CREATE TABLE sale_item_lots (
    sale_id  INTEGER NOT NULL,
    item_no  INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    lot_id   INTEGER REFERENCES lots (id),
    lot      TEXT    NOT NULL,
    sublot   TEXT    NOT NULL,
    quantity TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    PRIMARY KEY (sale_id, item_no, seq),
    FOREIGN KEY (sale_id, item_no) REFERENCES sale_items (sale_id, item_no)
);

CREATE TABLE sale_payments (
    sale_id           INTEGER NOT NULL REFERENCES sales (id),
    payment_no        INTEGER NOT NULL,
    method            TEXT    NOT NULL,
    financial_manager TEXT,
    value             TEXT    NOT NULL CHECK (CAST(value AS REAL) > 0),
    paid_on           TEXT    NOT NULL,
    serial_number     TEXT,
    instalment        TEXT,
    eft_authorization TEXT,
    eft_institute     TEXT,
    eft_document      TEXT,
    eft_date          TEXT,
    PRIMARY KEY (sale_id, payment_no)
);

CREATE TABLE receivables (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id     INTEGER NOT NULL REFERENCES sales (id),
    payment_no  INTEGER NOT NULL,
    prefix      TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    debtor_kind TEXT    NOT NULL CHECK (debtor_kind IN ('financial_manager', 'customer')),
    debtor      TEXT    NOT NULL,
    amount      TEXT    NOT NULL CHECK (CAST(amount AS REAL) > 0),
    due_date    TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'void')),
    UNIQUE (sale_id, payment_no)
);

CREATE TABLE destinations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    company        TEXT    NOT NULL,
    branch         TEXT    NOT NULL,
    "transaction"  TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('amqp', 'http')),
    exchange       TEXT,
    routing_key    TEXT    NOT NULL DEFAULT '',
    url            TEXT,
    auth_header    TEXT,
    auth_value     TEXT,
    timeout_ms     INTEGER NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    max_attempts   INTEGER NOT NULL DEFAULT 4 CHECK (max_attempts > 0),
    blocked        BOOLEAN NOT NULL DEFAULT false,
    blocked_reason TEXT,
    blocked_at     TEXT,
    namespace      TEXT,
    list_style     TEXT    NOT NULL DEFAULT 'plain' CHECK (list_style IN ('plain', 'wrapped')),
    CONSTRAINT destination_target CHECK (
        (kind = 'amqp' AND exchange IS NOT NULL) OR (kind = 'http' AND url IS NOT NULL))
);

CREATE INDEX destinations_route ON destinations (company, branch, "transaction");

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('receipt', 'message')),
    "transaction"   TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    routing_key     TEXT    NOT NULL,
    correlation_id  TEXT,
    body            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'waiting'
                            CHECK (status IN ('waiting', 'running', 'done', 'failed', 'blocked', 'not_delivered', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    sent_at         TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    destination_id  INTEGER REFERENCES destinations (id),
    document_key    TEXT,
    next_attempt_at TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    claimed_by      TEXT,
    held_at         TEXT,
    discarded_at    TEXT,
    discarded_by    TEXT,
    discard_note    TEXT
);

CREATE UNIQUE INDEX outbox_uuid_destination ON outbox (uuid, coalesce(destination_id, 0));
CREATE INDEX outbox_document ON outbox (destination_id, document_key, id) WHERE kind = 'message';
CREATE INDEX outbox_receipts_waiting ON outbox (next_attempt_at)
    WHERE kind = 'receipt' AND status = 'waiting';
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_log ON outbox (created_at DESC, id DESC) WHERE kind = 'message';
CREATE INDEX outbox_claimable ON outbox (id)
    WHERE kind = 'message' AND discarded_at IS NULL
      AND status IN ('waiting', 'failed', 'not_delivered', 'running');

CREATE TABLE outbox_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
    attempt     INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    status      TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX outbox_attempts_by_message ON outbox_attempts (outbox_id, id);

-- One row per inbound Header.UUID: the dedup key and the receipt it got.
CREATE TABLE inbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid             TEXT    NOT NULL UNIQUE,
    "transaction"    TEXT    NOT NULL,
    namespace        TEXT    NOT NULL DEFAULT '',
    company          TEXT    NOT NULL DEFAULT '',
    branch           TEXT    NOT NULL DEFAULT '',
    status           TEXT    CHECK (status IN ('ok', 'error', 'waiting', 'retrying')),
    received_at      TEXT    NOT NULL,
    processed_at     TEXT,
    receipt_id       INTEGER REFERENCES outbox (id),
    body             BLOB,
    internal_id      TEXT,
    document_code    TEXT,
    error_codes      TEXT    NOT NULL DEFAULT '[]',
    earlier_attempts INTEGER NOT NULL DEFAULT 0,
    environment      TEXT    NOT NULL DEFAULT 'production',
    discarded_at     TEXT,
    discarded_by     TEXT,
    discard_note     TEXT,
    body_zstd        BOOLEAN NOT NULL DEFAULT false
);

CREATE INDEX inbox_log ON inbox (received_at DESC, id DESC);
CREATE INDEX inbox_receipt_id ON inbox (receipt_id);
CREATE INDEX inbox_by_document ON inbox (namespace, "transaction", internal_id, received_at);
CREATE INDEX inbox_open ON inbox (received_at) WHERE status <> 'ok' AND discarded_at IS NULL;
CREATE INDEX inbox_usage ON inbox (company, received_at) WHERE status IN ('ok', 'error');

CREATE TABLE inbox_retries (
    uuid         TEXT    PRIMARY KEY,
    waits        INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    redeliveries INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    updated_at   TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+'))
);

CREATE INDEX inbox_retries_updated ON inbox_retries (updated_at);

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL
);

CREATE TABLE dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    dead_letter_id TEXT    UNIQUE,
    uuid           TEXT,
    code           TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    exchange       TEXT    NOT NULL,
    routing_key    TEXT    NOT NULL,
    correlation_id TEXT,
    message_id     TEXT,
    reply_to       TEXT,
    body           BLOB    NOT NULL,
    dead_at        TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    replayed_at    TEXT,
    replayed_by    TEXT,
    replays        INTEGER NOT NULL DEFAULT 0,
    discarded_at   TEXT,
    discarded_by   TEXT,
    discard_note   TEXT
);

CREATE INDEX dead_letters_log ON dead_letters (dead_at DESC, id DESC);
CREATE INDEX dead_letters_uuid ON dead_letters (uuid);

CREATE TABLE operator_actions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    action  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    note    TEXT NOT NULL DEFAULT '',
    at      TEXT NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+'))
);

CREATE INDEX operator_actions_subject ON operator_actions (subject, id);

CREATE TABLE export_batches (
    number       INTEGER PRIMARY KEY,
    consumer     TEXT    NOT NULL,
    mode         TEXT    NOT NULL CHECK (mode IN ('all', 'changed', 'one')),
    document     TEXT,
    more         BOOLEAN NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    confirmed_at TEXT
);

CREATE UNIQUE INDEX export_batches_open ON export_batches (consumer) WHERE confirmed_at IS NULL;
CREATE INDEX export_batches_by_consumer ON export_batches (consumer, mode, number);

CREATE TABLE export_batch_sales (
    number  INTEGER NOT NULL REFERENCES export_batches (number),
    sale_id INTEGER NOT NULL REFERENCES sales (id),
    version TEXT    NOT NULL,
    PRIMARY KEY (number, sale_id)
);

CREATE TABLE export_confirmed (
    consumer TEXT    NOT NULL,
    sale_id  INTEGER NOT NULL REFERENCES sales (id),
    version  TEXT    NOT NULL,
    PRIMARY KEY (consumer, sale_id)
);

CREATE TABLE inbound_queue (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    routing_key    TEXT    NOT NULL,
    body           BLOB    NOT NULL,
    reply_to       TEXT,
    correlation_id TEXT,
    message_id     TEXT,
    deliveries     INTEGER NOT NULL DEFAULT 0,
    visible_at     TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    enqueued_at    TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+'))
);

CREATE INDEX inbound_queue_visible ON inbound_queue (visible_at, id);
