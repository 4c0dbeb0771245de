//! Where uploaded files live: a local directory by default, or an S3-compatible bucket
//! (AWS S3, Cloudflare R2, MinIO), both through `object_store`. Keys are content
//! addressed (`models/<sha256>.glb`, `media/<sha256>`) and made only of hex digits and
//! fixed words, so nothing a client sends can place a file outside the storage root.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::Config;

/// Why the file store failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage directory could not be created.
    #[error(
        "cannot create the storage directory {path}: {source}; check storage_dir and permissions"
    )]
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The object store refused or could not be reached.
    #[error("file storage error: {0}")]
    Store(#[from] object_store::Error),
}

/// The file store in use.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

impl FileStore {
    /// Opens the configured store: the S3 bucket if `s3` is set, else `storage_directory()`.
    pub fn open(config: &Config) -> Result<Self, StorageError> {
        if let Some(s3) = &config.s3 {
            // object_store's HTTP client uses rustls with the process's default provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&s3.bucket)
                .with_region(&s3.region)
                .with_allow_http(s3.allow_http);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(key) = &s3.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose());
            }
            let store = builder.build()?;
            tracing::info!(bucket = %s3.bucket, "uploads: S3-compatible bucket");
            return Ok(Self {
                inner: Arc::new(store),
                kind: "s3",
            });
        }
        let dir = config.storage_directory();
        std::fs::create_dir_all(&dir).map_err(|source| StorageError::Directory {
            path: dir.clone(),
            source,
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
        tracing::info!(dir = %dir.display(), "uploads: local directory");
        Ok(Self {
            inner: Arc::new(store),
            kind: "local",
        })
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Stores `bytes` under `key` (an existing file with the same content-addressed key is
    /// simply rewritten with the same bytes).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.inner
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The file under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }
}

/// The storage key of a model with this hash.
pub fn model_key(hash: &[u8; 32]) -> String {
    format!("models/{}.glb", crate::digest::hex(hash))
}

/// The storage key of a media file with this hash.
pub fn media_key(hash: &[u8; 32]) -> String {
    format!("media/{}", crate::digest::hex(hash))
}
