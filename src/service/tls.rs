//! TLS for listeners (`tls.enabled`, `tls.crt_file`, `tls.key_file`, as in Vector), with
//! rustls and its `ring` provider chosen explicitly, so no process-wide default is needed.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::Tls;

/// The PEM certificate chain and private key of an enabled `tls` table.
pub struct TlsFiles {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Read the files of a `tls` table; `None` when TLS is off.
///
/// # Errors
/// Missing or unreadable files, named in the message.
pub fn load(tls: Option<&Tls>) -> anyhow::Result<Option<TlsFiles>> {
    let Some(t) = tls.filter(|t| t.enabled.unwrap_or(false)) else { return Ok(None) };
    let (Some(crt), Some(key)) = (&t.crt_file, &t.key_file) else {
        anyhow::bail!("tls.enabled needs tls.crt_file and tls.key_file");
    };
    let read = |p: &str| std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {p}: {e}"));
    Ok(Some(TlsFiles { cert_pem: read(crt)?, key_pem: read(key)? }))
}

/// A TLS acceptor for the HTTP and socket listeners.
///
/// # Errors
/// PEM that holds no certificate or key, or a key that does not fit the certificate.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&files.cert_pem).collect::<Result<_, _>>().map_err(|e| anyhow::anyhow!("tls.crt_file: {e}"))?;
    if certs.is_empty() {
        anyhow::bail!("tls.crt_file holds no certificate");
    }
    let key = PrivateKeyDer::from_pem_slice(&files.key_pem).map_err(|e| anyhow::anyhow!("tls.key_file: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("tls: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
