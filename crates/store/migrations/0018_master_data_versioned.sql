-- The master data's version. Every transaction that changes what a batch
-- resolves its envelopes with (branches, the events their destinations take,
-- warehouses, products, the de/para of master codes) moves it once, as it
-- commits, and a worker uses the rows it kept from earlier transactions only
-- while the version its transaction reads first is the one they were read at
-- (README, "Master data kept between batches"). The version is the change's
-- time in microseconds, or one more than the last.
CREATE TABLE master_data_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint  NOT NULL
);
INSERT INTO master_data_version (version)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);

-- Once per transaction (a setting local to it remembers), with the rights
-- and the search path of the migration, whoever writes the master data.
CREATE FUNCTION master_data_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF current_setting('eai.master_data_moved', true) IS DISTINCT FROM 'on' THEN
        UPDATE master_data_version
           SET version = greatest(version + 1,
                                  (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
        PERFORM set_config('eai.master_data_moved', 'on', true);
    END IF;
    RETURN NULL;
END
$$;

-- Row triggers deferred to the commit: the version's row is locked only while
-- a change commits, so writers of master data do not queue behind each other
-- for their whole transaction; an update that changes nothing moves nothing.
-- Each fires also where triggers are `replica` (a logical replication apply).
DO $$
DECLARE
    watched text;
BEGIN
    FOREACH watched IN ARRAY ARRAY['branches', 'warehouses', 'products'] LOOP
        EXECUTE format(
            'CREATE CONSTRAINT TRIGGER %1$s_inserted AFTER INSERT ON %1$I
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                 EXECUTE FUNCTION master_data_changed();
             CREATE CONSTRAINT TRIGGER %1$s_updated AFTER UPDATE ON %1$I
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                 WHEN (OLD IS DISTINCT FROM NEW)
                 EXECUTE FUNCTION master_data_changed();
             CREATE CONSTRAINT TRIGGER %1$s_deleted AFTER DELETE ON %1$I
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                 EXECUTE FUNCTION master_data_changed();',
            watched);
    END LOOP;
END
$$;

-- The sender updates a destination's blocked state as it sends: only what
-- says which events a branch's destinations take moves the version.
CREATE CONSTRAINT TRIGGER destinations_inserted AFTER INSERT ON destinations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION master_data_changed();
CREATE CONSTRAINT TRIGGER destinations_updated AFTER UPDATE ON destinations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.company, OLD.branch, OLD."transaction")
          IS DISTINCT FROM (NEW.company, NEW.branch, NEW."transaction"))
    EXECUTE FUNCTION master_data_changed();
CREATE CONSTRAINT TRIGGER destinations_deleted AFTER DELETE ON destinations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION master_data_changed();

-- Every batch records the de/para of the documents it numbered: only the
-- de/para of master codes moves the version.
CREATE CONSTRAINT TRIGGER mappings_inserted AFTER INSERT ON mappings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.entity NOT IN ('ItemReserve', 'RetailSales'))
    EXECUTE FUNCTION master_data_changed();
CREATE CONSTRAINT TRIGGER mappings_updated AFTER UPDATE ON mappings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.entity NOT IN ('ItemReserve', 'RetailSales')
           OR NEW.entity NOT IN ('ItemReserve', 'RetailSales'))
          AND (OLD.namespace, OLD.entity, OLD.external, OLD.internal)
              IS DISTINCT FROM (NEW.namespace, NEW.entity, NEW.external, NEW.internal))
    EXECUTE FUNCTION master_data_changed();
CREATE CONSTRAINT TRIGGER mappings_deleted AFTER DELETE ON mappings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.entity NOT IN ('ItemReserve', 'RetailSales'))
    EXECUTE FUNCTION master_data_changed();

DO $$
DECLARE
    watched text;
    name text;
BEGIN
    FOREACH watched IN ARRAY ARRAY['branches', 'warehouses', 'products', 'destinations', 'mappings'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$s_truncated AFTER TRUNCATE ON %1$I
                 FOR EACH STATEMENT EXECUTE FUNCTION master_data_changed()',
            watched);
        FOREACH name IN ARRAY ARRAY['inserted', 'updated', 'deleted', 'truncated'] LOOP
            EXECUTE format('ALTER TABLE %1$I ENABLE ALWAYS TRIGGER %2$I',
                           watched, watched || '_' || name);
        END LOOP;
    END LOOP;
END
$$;
