-- Sales (SL1/SL2/SL4 in Protheus) and their receivables (SE1).
-- Money columns are unconstrained numeric: exact, never rounded on the way in.

CREATE SEQUENCE sale_numbers;

CREATE TABLE sales (
    id               bigserial   PRIMARY KEY,
    company          text        NOT NULL,
    branch           text        NOT NULL,
    number           text        NOT NULL,
    namespace        text        NOT NULL,
    internal_id      text        NOT NULL,
    document_code    text        NOT NULL,
    ecommerce_order  text,
    issue_date       date        NOT NULL,
    customer         text        NOT NULL,
    station          text        NOT NULL,
    series           text        NOT NULL,
    operator         text        NOT NULL,
    carrier          text,
    sale_type        text,
    total_price      numeric     NOT NULL,
    net_price        numeric     NOT NULL,
    gross_price      numeric     NOT NULL,
    commodity_price  numeric,
    discount_value   numeric     NOT NULL,
    freight_value    numeric     NOT NULL,
    increase_value   numeric     NOT NULL,
    status           text        NOT NULL CHECK (status IN ('released', 'credit_blocked', 'cancelled')),
    status_before_cancel text,
    cancelled_on     date,
    created_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    UNIQUE (company, branch, number),
    UNIQUE (company, branch, document_code),
    UNIQUE (namespace, internal_id)
);

CREATE TABLE sale_items (
    sale_id           bigint         NOT NULL REFERENCES sales (id),
    item_no           integer        NOT NULL,
    product           text           NOT NULL,
    warehouse         text,
    quantity          numeric(18, 4) NOT NULL CHECK (quantity > 0),
    unit_price        numeric        NOT NULL,
    table_price       numeric        NOT NULL,
    item_price        numeric        NOT NULL,
    discount_amount   numeric        NOT NULL,
    freight_prorated  numeric        NOT NULL,
    increase_prorated numeric        NOT NULL,
    operation_code    text           NOT NULL,
    tes               text           NOT NULL,
    reservation_id    bigint         REFERENCES reservations (id),
    PRIMARY KEY (sale_id, item_no)
);

-- The lots an item took from its reservation.
CREATE TABLE sale_item_lots (
    sale_id  bigint         NOT NULL,
    item_no  integer        NOT NULL,
    seq      integer        NOT NULL,
    lot_id   bigint         REFERENCES lots (id),
    lot      text           NOT NULL,
    sublot   text           NOT NULL,
    quantity numeric(18, 4) NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (sale_id, item_no, seq),
    FOREIGN KEY (sale_id, item_no) REFERENCES sale_items (sale_id, item_no)
);

CREATE TABLE sale_payments (
    sale_id           bigint  NOT NULL REFERENCES sales (id),
    payment_no        integer NOT NULL,
    method            text    NOT NULL,
    financial_manager text,
    value             numeric NOT NULL CHECK (value > 0),
    paid_on           date    NOT NULL,
    serial_number     text,
    instalment        text,
    PRIMARY KEY (sale_id, payment_no)
);

CREATE TABLE receivables (
    id          bigserial PRIMARY KEY,
    sale_id     bigint    NOT NULL REFERENCES sales (id),
    payment_no  integer   NOT NULL,
    prefix      text      NOT NULL,
    number      text      NOT NULL,
    debtor_kind text      NOT NULL CHECK (debtor_kind IN ('financial_manager', 'customer')),
    debtor      text      NOT NULL,
    amount      numeric   NOT NULL CHECK (amount > 0),
    due_date    date      NOT NULL,
    status      text      NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'void')),
    UNIQUE (sale_id, payment_no)
);

ALTER TABLE reservations ADD COLUMN sale_id bigint REFERENCES sales (id);
