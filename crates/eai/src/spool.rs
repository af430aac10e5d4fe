//! The spool directory (`receiver.spool_dir`): an envelope dropped there as
//! a `.json` file goes on the inbound queue, and its receipt appears beside
//! it as `NAME.receipt.json` once it is answered.
//!
//! A file is taken once two passes saw it the same (size and time) and it
//! has not changed for [`SETTLED`]; names starting with `.` are left alone,
//! so a file can be written under such a name and then renamed. A file with
//! a receipt beside it is done: deleting the receipt sends the file again,
//! and since the inbox knows its UUID it gets the same receipt back. A file
//! replaced or removed before its answer gets no receipt for the old
//! content (a replaced one is taken again). A body that is no envelope (not
//! JSON, no usable `Header.UUID`, over 30 MiB) gets an error receipt at once
//! with the code and the JSON path. A file that cannot be read is logged and
//! tried again next pass, never holding up the others. A worker that stops
//! before a receipt is written finds the file again when it starts: its
//! UUID is answered from the inbox or queued again, never applied twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use eai_protocol::{Envelope, Rejection, MAX_ENVELOPE_BYTES};
use eai_store::{Store, StoreError, WorkerIdentity};
use tokio_util::sync::CancellationToken;

use crate::dead_letter::rejection_receipt;
use crate::inlet::{Inlet, InletError};
use crate::periodic::Ticker;

/// How long a file must have stayed unchanged before it is taken.
pub const SETTLED: Duration = Duration::from_secs(1);

/// The end of a receipt's file name.
const RECEIPT_SUFFIX: &str = ".receipt.json";

/// Why a spool pass stopped short; the next pass tries again.
#[derive(Debug, thiserror::Error)]
enum SpoolError {
    #[error("{path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(transparent)]
    Inlet(#[from] InletError),
}

/// Watches one directory.
pub struct Spool {
    pub dir: PathBuf,
    pub inlet: Inlet,
    pub store: Store,
    pub identity: WorkerIdentity,
}

/// A file as a pass saw it: a file that changed since is another envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: Option<SystemTime>,
}

/// What the spool remembers between passes.
#[derive(Default)]
struct Seen {
    /// Every envelope file of the last pass, as it was then: a file is taken
    /// only once a pass finds it as the one before did.
    files: HashMap<PathBuf, Version>,
    /// The files this worker queued, with the UUID and the version queued.
    queued: HashMap<PathBuf, (String, Version)>,
}

impl Spool {
    /// Looks at the directory every `interval` until `stop`.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        tracing::info!(dir = %self.dir.display(), "watching the spool directory");
        let mut seen = Seen::default();
        let mut ticker = Ticker::new(interval, &stop);
        while ticker.tick().await {
            if let Err(error) = self.pass(&mut seen).await {
                tracing::warn!(%error, "spool pass failed; trying again next pass");
            }
        }
    }

    /// Writes the receipts of files answered since, then takes the files
    /// that settled; a file that fails is logged and left for the next pass.
    async fn pass(&self, seen: &mut Seen) -> Result<(), SpoolError> {
        let files = self.envelope_files().await?;
        seen.queued
            .retain(|file, (_, version)| files.get(file) == Some(version));
        if !seen.queued.is_empty() {
            let uuids: Vec<String> = seen.queued.values().map(|(uuid, _)| uuid.clone()).collect();
            let answered: HashMap<String, String> = self
                .store
                .stored_receipts(&uuids)
                .await?
                .into_iter()
                .collect();
            for (file, (uuid, _)) in seen.queued.clone() {
                let Some(receipt) = answered.get(&uuid) else {
                    continue;
                };
                match write_receipt(&file, receipt.as_bytes()).await {
                    Ok(()) => {
                        seen.queued.remove(&file);
                    }
                    Err(error) => tracing::warn!(%error, "a spool receipt could not be written"),
                }
            }
        }
        for (file, version) in &files {
            let settled = seen.files.get(file) == Some(version)
                && version
                    .modified
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                    .is_some_and(|age| age >= SETTLED);
            if !settled || seen.queued.contains_key(file) || receipt_path(file).exists() {
                continue;
            }
            match self.take(file, *version).await {
                Ok(Some(uuid)) => {
                    seen.queued.insert(file.clone(), (uuid, *version));
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "a spool file could not be taken"),
            }
        }
        seen.files = files;
        Ok(())
    }

    /// The envelope files of the directory and how they are now.
    async fn envelope_files(&self) -> Result<HashMap<PathBuf, Version>, SpoolError> {
        let failed = |error| SpoolError::File {
            path: self.dir.clone(),
            error,
        };
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(failed)?;
        let mut files = HashMap::new();
        while let Some(entry) = entries.next_entry().await.map_err(failed)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") || name.ends_with(RECEIPT_SUFFIX) {
                continue;
            }
            // A file gone meanwhile is simply not there.
            let Ok(metadata) = entry.metadata().await else {
                continue;
            };
            if metadata.is_file() {
                let version = Version {
                    len: metadata.len(),
                    modified: metadata.modified().ok(),
                };
                files.insert(entry.path(), version);
            }
        }
        Ok(files)
    }

    /// Answers `file` from the inbox, refuses it, or queues it; the UUID
    /// when it was queued.
    async fn take(&self, file: &Path, version: Version) -> Result<Option<String>, SpoolError> {
        let too_large = usize::try_from(version.len)
            .ok()
            .filter(|len| *len <= MAX_ENVELOPE_BYTES)
            .is_none();
        if too_large {
            let rejection = Rejection::TooLarge {
                size: usize::try_from(version.len).unwrap_or(usize::MAX),
            };
            let receipt = rejection_receipt(&self.identity, "", "", &rejection);
            write_receipt(file, &receipt.to_bytes()).await?;
            return Ok(None);
        }
        let body = tokio::fs::read(file)
            .await
            .map_err(|error| SpoolError::File {
                path: file.to_owned(),
                error,
            })?;
        let envelope = match Envelope::parse(&body) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                let receipt = rejection_receipt(&self.identity, "", "", &rejection);
                write_receipt(file, &receipt.to_bytes()).await?;
                return Ok(None);
            }
        };
        if let Some((receipt, _)) = self.store.stored_receipt(envelope.uuid()).await? {
            write_receipt(file, receipt.as_bytes()).await?;
            return Ok(None);
        }
        self.inlet.submit_envelope(&envelope, &body).await?;
        tracing::info!(file = %file.display(), uuid = envelope.uuid(), "spool file queued");
        Ok(Some(envelope.uuid().to_owned()))
    }
}

/// `NAME.receipt.json` beside `NAME.json`.
fn receipt_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!("{stem}{RECEIPT_SUFFIX}"))
}

/// Writes the receipt of `file` whole: under a hidden name, then renamed.
async fn write_receipt(file: &Path, receipt: &[u8]) -> Result<(), SpoolError> {
    let target = receipt_path(file);
    let hidden = target.with_file_name(format!(
        ".{}.partial",
        target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let written = async {
        tokio::fs::write(&hidden, receipt).await?;
        tokio::fs::rename(&hidden, &target).await
    };
    written.await.map_err(|error| SpoolError::File {
        path: target.clone(),
        error,
    })?;
    tracing::info!(receipt = %target.display(), "spool receipt written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_sits_beside_its_envelope() {
        assert_eq!(
            receipt_path(Path::new("/spool/order-1.json")),
            Path::new("/spool/order-1.receipt.json")
        );
        assert_eq!(
            receipt_path(Path::new("spool/a.b.json")),
            Path::new("spool/a.b.receipt.json")
        );
    }
}
