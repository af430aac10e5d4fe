//! Envelope bodies as the inbox keeps them, for the message log and for
//! processing an envelope again: as received, or compressed with zstd from
//! [`COMPRESSED_FROM`] bytes on.
//!
//! A body is sent to PostgreSQL as a bind parameter, which the driver copies
//! into its buffers: a 30 MiB RetailSales cost the worker twice its size
//! again in memory while it was written. Compressed, it costs a fraction of
//! that (JSON compresses several times over) and the database stores and
//! logs fewer bytes. Smaller bodies, the stream of ordinary envelopes, are
//! stored as they are: compressing them would cost the worker more than it
//! saves (PostgreSQL compresses the larger of them itself).

use crate::StoreError;

/// The size from which a body is stored compressed: four times the largest
/// ordinary envelope (a few kilobytes), well under a large sale.
pub(crate) const COMPRESSED_FROM: usize = 64 << 10;

/// The zstd level: the fastest, since the worker compresses while the
/// envelope waits for its answer.
const LEVEL: i32 = 1;

/// A body ready for the inbox's `body` and `body_zstd` columns.
pub(crate) struct StoredBody {
    pub(crate) bytes: Vec<u8>,
    pub(crate) zstd: bool,
}

impl StoredBody {
    /// `body` as it is stored: compressed from [`COMPRESSED_FROM`] bytes on
    /// (as it is should the compressor fail, which it does not on any input).
    pub(crate) fn of(body: &[u8]) -> StoredBody {
        if body.len() >= COMPRESSED_FROM {
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
