//! The TLS client set-up shared by the IMAP mailbox and the outbox's SMTP sessions:
//! rustls with the ring provider, trusting the webpki roots plus a table's own
//! `tls_ca_file`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A client config trusting the webpki roots plus the PEM certificates in `ca_file`;
/// errors name `table`'s `tls_ca_file` key and the file.
pub fn client_config(table: &str, ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let key = || format!("{table} tls_ca_file {}", path.display());
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("{}: cannot read the file", key()))?
        {
            let cert = cert.with_context(|| format!("{}: not valid PEM", key()))?;
            roots
                .add(cert)
                .with_context(|| format!("{}: not a usable CA certificate", key()))?;
            added += 1;
        }
        if added == 0 {
            bail!(
                "{}: no certificates in the file (expected PEM \"BEGIN CERTIFICATE\" blocks)",
                key()
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup: no safe protocol version in the ring provider")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
