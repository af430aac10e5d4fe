//! The spool directory (`receiver.spool_dir`): an envelope dropped there as
//! a `.json` file goes on the inbound queue, and its receipt appears beside
//! it as `NAME.receipt.json` once it is answered.
//!
//! A file is taken once it has not changed for [`SETTLED`] (or at once when
//! it was moved in whole, the safe way); names starting with `.` are left
//! alone, so a file can be written under such a name and then renamed. A
//! file with a receipt beside it is done: deleting the receipt sends the file
//! again, and since the inbox knows its UUID it gets the same receipt back.
//! A body that is no envelope (not JSON, no usable `Header.UUID`) gets an
//! error receipt at once with the code and the JSON path. A worker that
//! stops before a receipt is written finds the file again when it starts:
//! its UUID is answered from the inbox or queued again, never applied twice.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use eai_protocol::Envelope;
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

impl Spool {
    /// Looks at the directory every `interval` until `stop`.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        tracing::info!(dir = %self.dir.display(), "watching the spool directory");
        let mut queued = HashMap::new();
        let mut ticker = Ticker::new(interval, &stop);
        while ticker.tick().await {
            if let Err(error) = self.pass(&mut queued).await {
                tracing::warn!(%error, "spool pass failed; trying again next pass");
            }
        }
    }

    /// Writes the receipts of files answered since, then queues new files.
    /// `queued` holds the files queued by this worker and their UUIDs.
    async fn pass(&self, queued: &mut HashMap<PathBuf, String>) -> Result<(), SpoolError> {
        if !queued.is_empty() {
            let uuids: Vec<String> = queued.values().cloned().collect();
            let answered: HashMap<String, String> = self
                .store
                .stored_receipts(&uuids)
                .await?
                .into_iter()
                .collect();
            for (file, uuid) in queued.clone() {
                if let Some(receipt) = answered.get(&uuid) {
                    write_receipt(&file, receipt.as_bytes()).await?;
                    queued.remove(&file);
                }
            }
        }
        for file in self.waiting_files().await? {
            if let Entry::Vacant(entry) = queued.entry(file) {
                if let Some(uuid) = self.take(entry.key()).await? {
                    entry.insert(uuid);
                }
            }
        }
        Ok(())
    }

    /// The envelope files with no receipt beside them that have settled.
    async fn waiting_files(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |error| SpoolError::File { path, error }
        };
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(failed(&self.dir))?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(failed(&self.dir))? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") || name.ends_with(RECEIPT_SUFFIX) {
                continue;
            }
            let metadata = entry.metadata().await.map_err(failed(&path))?;
            let settled = metadata
                .modified()
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age >= SETTLED);
            if metadata.is_file() && settled && !receipt_path(&path).exists() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Answers `file` from the inbox, refuses it, or queues it; the UUID
    /// when it was queued.
    async fn take(&self, file: &Path) -> Result<Option<String>, SpoolError> {
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
