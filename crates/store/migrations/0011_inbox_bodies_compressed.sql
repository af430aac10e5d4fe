-- Large envelope bodies (from 64 KiB) are stored compressed with zstd by the
-- worker, which then never holds a second full copy of a 30 MiB sale while
-- writing it; `body_zstd` says which rows hold a compressed body. Rows
-- written before keep their bodies as they are.
ALTER TABLE inbox ADD COLUMN body_zstd boolean NOT NULL DEFAULT false;
