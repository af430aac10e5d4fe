-- Fields of seed 001 kept with the sale as the shop sent them (text, dates
-- included: no rule reads them, so none can refuse a sale): the NT 2020.006
-- fiscal fields, the card data a reconciliation needs, and the item fields of
-- RetailSales 2.010.
ALTER TABLE sales
    ADD COLUMN intermediary_code    text,
    ADD COLUMN presencial_indicator text;

ALTER TABLE sale_items
    ADD COLUMN delivery_type text,
    ADD COLUMN delivery_date text,
    ADD COLUMN lot_number    text,
    ADD COLUMN sublot_number text,
    ADD COLUMN serial        text,
    ADD COLUMN address       text,
    ADD COLUMN carrier       text;

ALTER TABLE sale_payments
    ADD COLUMN eft_authorization text,
    ADD COLUMN eft_institute     text,
    ADD COLUMN eft_document      text,
    ADD COLUMN eft_date          text;
