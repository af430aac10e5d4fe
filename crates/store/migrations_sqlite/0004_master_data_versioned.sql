-- The master data's version (PostgreSQL's migration 0018 says why). SQLite's
-- triggers run with each row (the transaction holds the database's one
-- writer lock anyway): each changed row moves it, even an update that leaves
-- the row as it was, by inserting into the view `master_data_changes`, whose
-- trigger is the version's one formula.
CREATE TABLE master_data_version (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL
);
INSERT INTO master_data_version (singleton, version)
VALUES (1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));

CREATE VIEW master_data_changes AS SELECT 1 AS changed;

CREATE TRIGGER master_data_changed INSTEAD OF INSERT ON master_data_changes
BEGIN
    UPDATE master_data_version
       SET version = max(version + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TRIGGER branches_inserted AFTER INSERT ON branches
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER branches_updated AFTER UPDATE ON branches
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER branches_deleted AFTER DELETE ON branches
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER warehouses_inserted AFTER INSERT ON warehouses
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER warehouses_updated AFTER UPDATE ON warehouses
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER warehouses_deleted AFTER DELETE ON warehouses
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER products_inserted AFTER INSERT ON products
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER products_updated AFTER UPDATE ON products
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER products_deleted AFTER DELETE ON products
BEGIN INSERT INTO master_data_changes VALUES (1); END;

-- The sender updates a destination's blocked state as it sends: only what
-- says which events a branch's destinations take moves the version.

CREATE TRIGGER destinations_inserted AFTER INSERT ON destinations
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER destinations_updated AFTER UPDATE OF company, branch, "transaction" ON destinations
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER destinations_deleted AFTER DELETE ON destinations
BEGIN INSERT INTO master_data_changes VALUES (1); END;

-- Every batch records the de/para of the documents it numbered: only the
-- de/para of master codes moves the version.

CREATE TRIGGER mappings_inserted AFTER INSERT ON mappings
    WHEN NEW.entity NOT IN ('ItemReserve', 'RetailSales')
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER mappings_updated AFTER UPDATE ON mappings
    WHEN OLD.entity NOT IN ('ItemReserve', 'RetailSales') OR NEW.entity NOT IN ('ItemReserve', 'RetailSales')
BEGIN INSERT INTO master_data_changes VALUES (1); END;

CREATE TRIGGER mappings_deleted AFTER DELETE ON mappings
    WHEN OLD.entity NOT IN ('ItemReserve', 'RetailSales')
BEGIN INSERT INTO master_data_changes VALUES (1); END;
