//! The server's TLS identity for QUIC and WebTransport.
//!
//! With no certificate configured, a self-signed ECDSA P-256 certificate is made at every
//! start, valid for 13 days: browsers accept such a certificate for WebTransport through
//! `serverCertificateHashes` (at most 14 days, ECDSA), given its SHA-256, which is logged
//! and served at `GET /cert-hash`. Configured certificate and key files (PEM) are used as
//! they are.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::digest::{hex, sha256};

/// Why the TLS identity cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file cannot be read or holds no usable PEM item.
    #[error("cannot read {path}: {detail}; give a PEM certificate chain and a PEM private key")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// Making the self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("the certificate or key is not usable for TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A certificate chain, its key, and the SHA-256 of the leaf certificate.
#[derive(Debug)]
pub(crate) struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate (DER).
    pub sha256: [u8; 32],
    /// For a certificate generated at start, its validity (not before, not after); `None`
    /// for configured files.
    pub generated_validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
}

impl Identity {
    /// Reads `cert` and `key` if both are given, else generates a self-signed identity.
    pub(crate) fn load_or_generate(
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Self::from_files(cert, key),
            _ => Self::self_signed(),
        }
    }

    fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let file_error = |path: &Path, detail: String| TlsError::File {
            path: path.display().to_string(),
            detail,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_error(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(cert, e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| file_error(cert, "no certificate in it".into()))?;
        let sha256 = sha256(leaf.as_ref());
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e.to_string()))?;
        Ok(Self {
            chain,
            key,
            sha256,
            generated_validity: None,
        })
    }

    /// A fresh ECDSA P-256 certificate for localhost, valid from an hour ago for 13 days.
    pub(crate) fn self_signed() -> Result<Self, TlsError> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let mut params = rcgen::CertificateParams::new(names)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(13);
        let validity = (params.not_before, params.not_after);
        let cert = params.self_signed(&key_pair)?;
        let der = cert.der().clone();
        let sha256 = sha256(der.as_ref());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
        Ok(Self {
            chain: vec![der],
            key,
            sha256,
            generated_validity: Some(validity),
        })
    }

    /// The leaf's SHA-256 as lowercase hex.
    pub(crate) fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// A rustls server configuration offering `alpn`, TLS 1.3 only (QUIC requires it).
    pub(crate) fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificates_suit_browsers() {
        let identity = Identity::self_signed().expect("generates");
        assert_eq!(identity.sha256_hex().len(), 64);
        let (from, until) = identity.generated_validity.expect("generated");
        assert!(
            until - from <= time::Duration::days(14),
            "valid for at most 14 days"
        );
        assert!(from <= time::OffsetDateTime::now_utc(), "valid now");
        identity
            .server_config(&[plaza_net::ALPN])
            .expect("rustls accepts it");
        assert_ne!(
            Identity::self_signed().expect("generates").sha256,
            identity.sha256,
            "fresh at each start"
        );
    }

    #[test]
    fn configured_files_are_used_as_they_are() {
        let dir = tempfile::tempdir().expect("a directory");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
        let params =
            rcgen::CertificateParams::new(vec!["plaza.example".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("a certificate");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("written");
        std::fs::write(&key_path, key.serialize_pem()).expect("written");
        let identity =
            Identity::load_or_generate(Some(&cert_path), Some(&key_path)).expect("loads");
        assert_eq!(
            identity.sha256,
            sha256(cert.der().as_ref()),
            "the configured certificate, not a new one"
        );
        assert!(identity.generated_validity.is_none());
        identity
            .server_config(&[plaza_net::ALPN])
            .expect("rustls accepts it");
        std::fs::write(&cert_path, "not a certificate").expect("written");
        let error =
            Identity::load_or_generate(Some(&cert_path), Some(&key_path)).expect_err("refused");
        assert!(error.to_string().contains("cert.pem"), "{error}");
    }
}
