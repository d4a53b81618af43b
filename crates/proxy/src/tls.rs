//! `--tls-cert` and `--tls-key`: HTTPS served by the proxy itself, on the
//! rustls and aws-lc-rs the rest of the workspace uses. Both files are PEM,
//! read through the bounded reader as every input is.

use std::path::PathBuf;
use std::sync::Arc;

use mcp_policy_server::rustls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate chain and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    mcp_policy_fs::read(path, mcp_policy_fs::limit::PEM).map_err(|error| {
        format!(
            "cannot read `{}`: {error} [{}]",
            path.display(),
            error.code()
        )
    })
}

/// The server configuration of `files`: HTTP/1.1 only (the accept loop
/// serves HTTP/1), TLS 1.2 and 1.3 with rustls's safe defaults.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let cert_bytes = read(&files.cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            format!(
                "`{}`: not a PEM certificate chain: {error}",
                files.cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "`{}` holds no PEM `CERTIFICATE` block",
            files.cert.display()
        ));
    }
    let key_bytes = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|error| format!("`{}`: not a PEM private key: {error}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| {
            format!(
                "`{}` and `{}` do not make a certificate and its key: {error}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
