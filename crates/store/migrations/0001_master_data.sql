-- Master data: the part of the ERP the worker plays.

CREATE TABLE branches (
    company                  text    NOT NULL,
    branch                   text    NOT NULL,
    closed_until             date,
    released_payment_methods text[]  NOT NULL DEFAULT '{}',
    reserve_without_stock    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (company, branch)
);

CREATE TABLE products (
    code              text    PRIMARY KEY,
    description       text    NOT NULL DEFAULT '',
    blocked           boolean NOT NULL DEFAULT false,
    default_warehouse text,
    tes               text,
    lot_tracked       boolean NOT NULL DEFAULT true
);

CREATE TABLE customers (
    code    text    PRIMARY KEY,
    name    text    NOT NULL DEFAULT '',
    blocked boolean NOT NULL DEFAULT false
);

CREATE TABLE warehouses (
    branch text NOT NULL,
    code   text NOT NULL,
    PRIMARY KEY (branch, code)
);

CREATE TABLE stations (
    branch text NOT NULL,
    code   text NOT NULL,
    series text NOT NULL DEFAULT '',
    PRIMARY KEY (branch, code)
);

CREATE TABLE operators (
    code text PRIMARY KEY
);

CREATE TABLE payment_methods (
    code                       text    PRIMARY KEY,
    requires_financial_manager boolean NOT NULL DEFAULT false
);

CREATE TABLE financial_managers (
    code          text    PRIMARY KEY,
    days          integer NOT NULL DEFAULT 0,
    own_financing boolean NOT NULL DEFAULT false
);

CREATE TABLE carriers (
    code text PRIMARY KEY
);

CREATE TABLE operations (
    operation text PRIMARY KEY,
    tes       text NOT NULL
);

-- Stock by lot. The CHECK is the last line of defence of "reserved never
-- exceeds on hand": a bug or a race that tried would fail the transaction.
CREATE TABLE lots (
    id          bigserial PRIMARY KEY,
    branch      text           NOT NULL,
    product     text           NOT NULL REFERENCES products (code),
    warehouse   text           NOT NULL,
    lot         text           NOT NULL,
    sublot      text           NOT NULL DEFAULT '',
    expires_on  date,
    received_on date,
    quantity    numeric(18, 4) NOT NULL CHECK (quantity >= 0),
    reserved    numeric(18, 4) NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    CONSTRAINT reserved_within_on_hand CHECK (reserved <= quantity),
    UNIQUE (branch, product, warehouse, lot, sublot)
);

CREATE INDEX lots_by_product ON lots (branch, product, warehouse);

-- De/para: (namespace, entity, external) → internal.
CREATE TABLE mappings (
    namespace text NOT NULL,
    entity    text NOT NULL,
    external  text NOT NULL,
    internal  text NOT NULL,
    PRIMARY KEY (namespace, entity, external)
);
