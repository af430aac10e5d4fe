-- Companies (their CNPJ shows in the usage report) and the export of
-- integrated sales with confirmation (seed 003).

CREATE TABLE companies (
    code text PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    cnpj text
);

CREATE INDEX inbox_usage ON inbox (company, received_at) WHERE status IN ('ok', 'error');

CREATE SEQUENCE export_batch_numbers;

-- A numbered batch handed out to a consumer system; handed out again, same
-- number, until that system confirms it. One open batch per consumer.
CREATE TABLE export_batches (
    number       bigint      PRIMARY KEY DEFAULT nextval('export_batch_numbers'),
    consumer     text        NOT NULL,
    mode         text        NOT NULL CHECK (mode IN ('all', 'changed', 'one')),
    document     text,
    more         boolean     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);

CREATE UNIQUE INDEX export_batches_open ON export_batches (consumer) WHERE confirmed_at IS NULL;
CREATE INDEX export_batches_by_consumer ON export_batches (consumer, mode, number);

-- The sales of a batch, each at the version (last change) it was exported in.
CREATE TABLE export_batch_sales (
    number  bigint      NOT NULL REFERENCES export_batches (number),
    sale_id bigint      NOT NULL REFERENCES sales (id),
    version timestamptz NOT NULL,
    PRIMARY KEY (number, sale_id)
);

-- What each consumer confirmed having: `changed` exports the rest.
CREATE TABLE export_confirmed (
    consumer text        NOT NULL,
    sale_id  bigint      NOT NULL REFERENCES sales (id),
    version  timestamptz NOT NULL,
    PRIMARY KEY (consumer, sale_id)
);
