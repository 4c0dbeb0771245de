//! Taking an upload in once its bytes are read: a model is checked to be a self-contained
//! GLB (parsed off the async workers); then the bytes are stored once per content hash, the
//! row recorded (or the existing one found), and a new upload logged in the event log.

use bytes::Bytes;
use plaza_systems::{EventKind, EventRecord, Input};
use uuid::Uuid;

use super::media::{GlbLimits, MediaKind, UploadError, check_glb};
use super::storage::{self, FileStore, StorageError};
use crate::auth::Account;
use crate::clock::now_ms;
use crate::digest::sha256;
use crate::edge::Edge;
use crate::edge::bridge::check_name;
use crate::store::StoreError;
use crate::store::files::{FileRow, FileTable, NewFile};

/// Longest model name, in characters.
const MAX_MODEL_NAME_CHARS: usize = 256;

/// Why an upload was not taken in.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntakeError {
    /// The file is not what it claims to be.
    #[error(transparent)]
    Refused(#[from] UploadError),
    /// The name given for it is not a valid name.
    #[error("{0}")]
    Name(String),
    /// Checking the file failed (its task ended unexpectedly).
    #[error("checking the model failed")]
    CheckFailed,
    /// The file storage could not store it.
    #[error("the file storage is unavailable; retry later")]
    Storage(#[source] StorageError),
    /// The store could not record it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An upload taken in.
#[derive(Debug)]
pub(crate) struct Kept {
    /// Its row.
    pub(crate) row: FileRow,
    /// Whether it is new (false: the same bytes were uploaded before, and this is their row).
    pub(crate) new: bool,
}

/// Takes uploads in for one uploader.
pub(crate) struct Intake<'a> {
    pub(crate) edge: &'a Edge,
    pub(crate) files: &'a FileStore,
    pub(crate) uploader: &'a Account,
}

impl Intake<'_> {
    /// A GLB model named `name`, once it is checked.
    pub(crate) async fn model(&self, bytes: Bytes, name: &str) -> Result<Kept, IntakeError> {
        // Parsing takes CPU time in proportion to the file: off the async workers.
        let (checked, limits) = (bytes.clone(), GlbLimits::from_config(&self.edge.config));
        let metadata = tokio::task::spawn_blocking(move || check_glb(&checked, &limits))
            .await
            .map_err(|_| IntakeError::CheckFailed)??;
        let name = check_name("name", name, MAX_MODEL_NAME_CHARS)
            .map_err(|refusal| IntakeError::Name(refusal.message))?;
        let hash = sha256(&bytes);
        let key = storage::model_key(&hash);
        let file = NewFile {
            hash: &hash,
            name: &name,
            size: bytes.len(),
            content_type: "model/gltf-binary",
            storage_key: &key,
            owner: Some(self.uploader.id),
            space: None,
            metadata: &metadata,
        };
        self.keep(FileTable::Models, file, bytes).await
    }

    /// A media file of `kind` whose bytes were checked to be `content_type`, attached to
    /// `space` if given (which the uploader may see).
    pub(crate) async fn media(
        &self,
        kind: MediaKind,
        content_type: &'static str,
        space: Option<Uuid>,
        bytes: Bytes,
    ) -> Result<Kept, IntakeError> {
        let hash = sha256(&bytes);
        let key = storage::media_key(&hash);
        let metadata = serde_json::json!({});
        let file = NewFile {
            hash: &hash,
            name: kind.as_str(),
            size: bytes.len(),
            content_type,
            storage_key: &key,
            owner: Some(self.uploader.id),
            space,
            metadata: &metadata,
        };
        self.keep(FileTable::Media, file, bytes).await
    }

    /// Stores the bytes (unless they are there already), records the row and logs the
    /// upload if it is new.
    async fn keep(
        &self,
        table: FileTable,
        file: NewFile<'_>,
        bytes: Bytes,
    ) -> Result<Kept, IntakeError> {
        self.files
            .put(file.storage_key, bytes)
            .await
            .map_err(IntakeError::Storage)?;
        let durable = &self.edge.store.durable;
        let (row, new) = durable.record_file(table, &file, now_ms()).await?;
        if table == FileTable::Models {
            self.edge.limits.models.extend([row.id]);
            if let Some(cluster) = &self.edge.cluster {
                // The other nodes' spawn checks learn it too.
                let notice = crate::cluster::notices::Notice::Model(row.id);
                if let Err(error) = crate::cluster::notices::send(cluster, notice).await {
                    tracing::warn!(%error, model = %row.id, "cannot tell the cluster about an uploaded model; other nodes know it after their restart");
                }
            }
        }
        if new {
            self.edge.submit_side(Input::Log(EventRecord {
                kind: EventKind::Upload,
                space: file.space,
                user: self.uploader.id,
                session: Uuid::nil(),
                object: Some(row.id),
                at_ms: now_ms(),
            }));
        }
        Ok(Kept { row, new })
    }
}
