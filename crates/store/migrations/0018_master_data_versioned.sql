-- The master data's version. Every transaction that changes what a batch
-- resolves its envelopes with (branches, the events their destinations take,
-- warehouses, products, the de/para of master codes) moves it once, and a
-- worker uses the rows it kept from earlier transactions only while the
-- version its transaction reads first is the one they were read at (README,
-- "Master data kept between batches"). The version is the change's time in
-- microseconds, or one more than the last: not the same twice, even on a
-- database restored from a backup.
CREATE TABLE master_data_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint  NOT NULL,
    -- The transaction that moved it last: it moves it once.
    changed_by bigint
);
INSERT INTO master_data_version (version)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);

CREATE FUNCTION master_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE master_data_version
       SET version = greatest(version + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
           changed_by = txid_current()
     WHERE changed_by IS DISTINCT FROM txid_current();
    RETURN NULL;
END
$$;

CREATE TRIGGER branches_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON branches
    FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed();
CREATE TRIGGER warehouses_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON warehouses
    FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed();
CREATE TRIGGER products_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed();
-- The sender updates a destination's blocked state as it sends: only what
-- says which events a branch's destinations take moves the version.
CREATE TRIGGER destinations_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF company, branch, "transaction" ON destinations
    FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed();
-- Every batch records the de/para of the documents it numbered: only the
-- de/para of master codes moves the version.
CREATE TRIGGER mappings_inserted AFTER INSERT ON mappings FOR EACH ROW
    WHEN (NEW.entity NOT IN ('ItemReserve', 'RetailSales'))
    EXECUTE FUNCTION master_data_changed();
CREATE TRIGGER mappings_updated AFTER UPDATE ON mappings FOR EACH ROW
    WHEN (OLD.entity NOT IN ('ItemReserve', 'RetailSales')
          OR NEW.entity NOT IN ('ItemReserve', 'RetailSales'))
    EXECUTE FUNCTION master_data_changed();
CREATE TRIGGER mappings_deleted AFTER DELETE ON mappings FOR EACH ROW
    WHEN (OLD.entity NOT IN ('ItemReserve', 'RetailSales'))
    EXECUTE FUNCTION master_data_changed();
CREATE TRIGGER mappings_truncated AFTER TRUNCATE ON mappings
    FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed();

-- Changes a subscription of logical replication applies move it too.
ALTER TABLE branches ENABLE ALWAYS TRIGGER branches_changed;
ALTER TABLE warehouses ENABLE ALWAYS TRIGGER warehouses_changed;
ALTER TABLE products ENABLE ALWAYS TRIGGER products_changed;
ALTER TABLE destinations ENABLE ALWAYS TRIGGER destinations_changed;
ALTER TABLE mappings ENABLE ALWAYS TRIGGER mappings_inserted;
ALTER TABLE mappings ENABLE ALWAYS TRIGGER mappings_updated;
ALTER TABLE mappings ENABLE ALWAYS TRIGGER mappings_deleted;
ALTER TABLE mappings ENABLE ALWAYS TRIGGER mappings_truncated;
