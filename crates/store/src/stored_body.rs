//! Envelope bodies as the inbox keeps them, for the message log and for
//! processing an envelope again: as received, or compressed with zstd from
//! [`COMPRESSED_FROM`] bytes on.
//!
//! Smaller bodies, the stream of ordinary envelopes, are stored as they are:
//! compressing them would cost the worker more than it saves (PostgreSQL
//! compresses the larger of them itself). Up to [`STREAMED_FROM`], a body
//! is bound to the statement that writes its inbox row ([`StoredBody`]).
//!
//! A larger body (a sale of thousands of items) is not bound on
//! PostgreSQL: a bind parameter is copied into the driver's arguments and
//! again into the message it writes, and a 30 MiB RetailSales cost the
//! worker its compressed size twice over while it was written. The row is
//! written without it and the body follows with `COPY` ([`stream`]),
//! compressed as it is sent, part by part, into a temporary table, from
//! which one UPDATE puts the parts together into the row: the worker holds
//! the [`COMPRESSORS`] parts being compressed at once, not the body. Such
//! bodies never share a batch (the receiver stores envelopes over 256 KiB
//! alone), so the few statements this takes are never spent under a
//! batch's locks. SQLite, in-process, binds every body.
//!
//! # Layout
//!
//! - [`COMPRESSED_FROM`], [`compressed`], [`STREAMED_FROM`], [`streamed`]: which bodies.
//! - [`StoredBody`]: a body compressed whole, and read back.
//! - [`stream`]: the bodies of rows just written, through `COPY` (PostgreSQL).

use sqlx::PgConnection;
use zstd::bulk::Compressor;

use crate::StoreError;

/// The size from which a body is stored compressed: four times the largest
/// ordinary envelope (a few kilobytes), well under a large sale.
pub(crate) const COMPRESSED_FROM: usize = 64 << 10;

/// The zstd level: the fastest, since the worker compresses while the
/// envelope waits for its answer.
const LEVEL: i32 = 1;

/// The most of a body compressed into one part.
const PART: usize = 1 << 20;

/// Parts of a [`streamed`] body compressed at once, each on a thread of its
/// own: a 30 MiB sale took 130 ms to compress on one core, most of its
/// `COPY`, while the other core waited. zstd's own threads would do the same
/// for 18 MiB more memory.
const COMPRESSORS: usize = 2;

/// Whether `body` is stored compressed.
pub(crate) fn compressed(body: &[u8]) -> bool {
    body.len() >= COMPRESSED_FROM
}

/// The size from which PostgreSQL is sent a body through `COPY` rather
/// than as a bind parameter: the driver's two copies of a smaller one's
/// compressed bytes are a few hundred kilobytes at most.
pub(crate) const STREAMED_FROM: usize = 1 << 20;

/// Whether `body` is written to PostgreSQL through [`stream`].
pub(crate) fn streamed(body: &[u8]) -> bool {
    body.len() >= STREAMED_FROM
}

/// A body ready for the inbox's `body` and `body_zstd` columns.
pub(crate) struct StoredBody {
    pub(crate) bytes: Vec<u8>,
    pub(crate) zstd: bool,
}

impl StoredBody {
    /// `body` as it is stored: compressed from [`COMPRESSED_FROM`] bytes on
    /// (as it is should the compressor fail, which it does not on any input).
    pub(crate) fn of(body: &[u8]) -> StoredBody {
        if compressed(body) {
            if let Ok(bytes) = zstd::bulk::compress(body, LEVEL) {
                return StoredBody { bytes, zstd: true };
            }
        }
        StoredBody {
            bytes: body.to_vec(),
            zstd: false,
        }
    }

    /// The body as it arrived, from what the columns hold (`None` when the
    /// row kept no body).
    pub(crate) fn read(bytes: Option<Vec<u8>>, zstd: bool) -> Result<Option<Vec<u8>>, StoreError> {
        match bytes {
            Some(bytes) if zstd => zstd::stream::decode_all(bytes.as_slice())
                .map(Some)
                .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error)))),
            bytes => Ok(bytes),
        }
    }
}

/// The binary `COPY` header: signature, no flags, no extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The binary `COPY` trailer.
const COPY_TRAILER: &[u8] = &(-1_i16).to_be_bytes();

/// Writes each `(uuid, body)` ([`streamed`] bodies), compressed, into the
/// inbox row of that UUID the caller's statement has just inserted without
/// a body, within the caller's transaction. A row it did not insert keeps
/// the body it has: one an earlier delivery left `waiting` (its body is
/// this UUID's, written then), or one another delivery answered meanwhile
/// (the caller's statement reports that race).
pub(crate) async fn stream(
    conn: &mut PgConnection,
    bodies: &[(&str, &[u8])],
) -> Result<(), StoreError> {
    if bodies.is_empty() {
        return Ok(());
    }
    let uuids: Vec<&str> = bodies.iter().map(|(uuid, _)| *uuid).collect();
    let waiting: Vec<String> = sqlx::query_scalar(
        "SELECT uuid FROM inbox WHERE uuid = ANY($1) AND body IS NULL AND body_zstd",
    )
    .bind(&uuids)
    .fetch_all(&mut *conn)
    .await?;
    if waiting.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "CREATE TEMPORARY TABLE IF NOT EXISTS inbox_body_parts
             (seq integer NOT NULL, part bytea NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut *conn)
    .await?;
    for (uuid, body) in bodies
        .iter()
        .filter(|(uuid, _)| waiting.iter().any(|w| w == uuid))
    {
        sqlx::query("DELETE FROM inbox_body_parts")
            .execute(&mut *conn)
            .await?;
        copy_parts(conn, body).await?;
        sqlx::query(
            "UPDATE inbox
                SET body = (SELECT string_agg(part, ''::bytea ORDER BY seq) FROM inbox_body_parts)
              WHERE uuid = $1 AND body IS NULL AND body_zstd",
        )
        .bind(uuid)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sends `body` compressed into `inbox_body_parts`, one row per [`PART`]
/// of it, [`COMPRESSORS`] at a time: each part is a zstd frame of its own,
/// and frames put together read back as the whole body.
async fn copy_parts(conn: &mut PgConnection, body: &[u8]) -> Result<(), StoreError> {
    let mut copy = conn
        .copy_in_raw("COPY inbox_body_parts (seq, part) FROM STDIN (FORMAT binary)")
        .await?;
    copy.send(COPY_HEADER).await?;
    let mut compressors = (0..COMPRESSORS)
        .map(|_| Compressor::new(LEVEL))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    let mut seq: i32 = 0;
    for pieces in body.chunks(PART * COMPRESSORS) {
        for part in compress_at_once(&mut compressors, pieces)? {
            copy.send(row(seq, &part)).await?;
            seq += 1;
        }
    }
    copy.send(COPY_TRAILER).await?;
    copy.finish().await?;
    Ok(())
}

/// `pieces` cut into [`PART`]s, one per compressor, each compressed on a
/// thread of its own; in order.
fn compress_at_once(
    compressors: &mut [Compressor<'static>],
    pieces: &[u8],
) -> Result<Vec<Vec<u8>>, StoreError> {
    std::thread::scope(|scope| {
        let compressing: Vec<_> = compressors
            .iter_mut()
            .zip(pieces.chunks(PART))
            .map(|(compressor, piece)| scope.spawn(move || compressor.compress(piece)))
            .collect();
        compressing
            .into_iter()
            .map(|part| {
                part.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a compressor failed")))
                    .map_err(io)
            })
            .collect()
    })
}

/// One `(seq, part)` row of binary `COPY`: the field count, then each
/// field's length and bytes. A part is what the compressor made of at most
/// [`PART`] bytes, far below a field's limit.
fn row(seq: i32, part: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(14 + part.len());
    row.extend_from_slice(&2_i16.to_be_bytes());
    row.extend_from_slice(&4_i32.to_be_bytes());
    row.extend_from_slice(&seq.to_be_bytes());
    row.extend_from_slice(&(part.len() as i32).to_be_bytes());
    row.extend_from_slice(part);
    row
}

fn io(error: std::io::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Io(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_are_kept_as_they_are_and_large_ones_compressed() {
        let small = br#"{"Header": {"UUID": "u"}}"#;
        let kept = StoredBody::of(small);
        assert!(!kept.zstd);
        assert_eq!(kept.bytes, small);

        let large = format!(
            r#"{{"Items": [{}]}}"#,
            vec![r#"{"Code": "P001", "Quantity": 1}"#; 5_000].join(",")
        );
        let stored = StoredBody::of(large.as_bytes());
        assert!(stored.zstd);
        assert!(
            stored.bytes.len() * 10 < large.len(),
            "{} bytes",
            stored.bytes.len()
        );
        let read = StoredBody::read(Some(stored.bytes), stored.zstd).expect("decompressed");
        assert_eq!(read.as_deref(), Some(large.as_bytes()));
    }

    #[test]
    fn a_damaged_compressed_body_is_an_error_not_a_panic() {
        assert!(StoredBody::read(Some(b"not zstd".to_vec()), true).is_err());
        assert_eq!(
            StoredBody::read(Some(b"as is".to_vec()), false).expect("kept"),
            Some(b"as is".to_vec())
        );
    }
}
