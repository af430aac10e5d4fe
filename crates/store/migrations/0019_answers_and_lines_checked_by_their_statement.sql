-- As 0017 did for a sale's rows: two references that the statement writing
-- the rows makes true are no longer checked again, row by row.
--
-- - An inbox row's receipt is the outbox row written by the same statement
--   (`record_answers`), and a receipt is deleted only by retention, together
--   with its inbox row or once no inbox row names it.
-- - A reservation's lines are written by the statement that writes the
--   reservation, or after the UPDATE that locks it, and nothing deletes a
--   reservation.
--
-- The references that leave the batch stay checked: a line's stock lot, a
-- sale item's reservation, a sale's lots, the reservation's sale. SQLite
-- keeps all of them.
ALTER TABLE inbox DROP CONSTRAINT inbox_receipt;
ALTER TABLE reservation_lines DROP CONSTRAINT reservation_lines_reservation_id_fkey;
