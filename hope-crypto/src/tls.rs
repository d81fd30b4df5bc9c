//! Mutual TLS: loading PEM files, server and client configurations, and the principal of a peer.
//!
//! All TLS is rustls with the `ring` provider (no C toolchain beyond what `ring` builds). Servers
//! require a client certificate issued by the configured CA and not revoked by the configured CRLs;
//! the [`Principal`] of a connection is the certificate's subject CN, with its OUs as groups.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::acl::Principal;
use crate::{Error, Result};

fn config_error(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_error(path, "certificate", format!("cannot read PEM: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(path, "certificate", format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(
            path,
            "certificate",
            "no CERTIFICATE block found",
        ));
    }
    Ok(certs)
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| config_error(path, "private key", format!("no usable private key: {e}")))
}

/// Reads every CRL of a PEM file.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| config_error(path, "crl", format!("cannot read PEM: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(path, "crl", format!("malformed PEM: {e}")))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_path: &Path) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_path)? {
        roots.add(cert).map_err(|e| {
            config_error(ca_path, "ca", format!("not a usable CA certificate: {e}"))
        })?;
    }
    Ok(Arc::new(roots))
}

/// The PEM files that make up one TLS identity and its trust anchors.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    /// This side's certificate chain.
    pub cert: &'a Path,
    /// This side's private key.
    pub key: &'a Path,
    /// The CA that issues the peers' certificates.
    pub ca: &'a Path,
}

/// A server configuration that requires client certificates from `ca`, checked against `crls`.
pub fn server_config(files: &TlsFiles<'_>, crl: Option<&Path>) -> Result<Arc<ServerConfig>> {
    let crls = match crl {
        Some(p) => load_crls(p)?,
        None => Vec::new(),
    };
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(files.ca)?, provider())
        .with_crls(crls)
        .build()
        .map_err(|e| Error::Tls(format!("client verifier: {e}")))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(files.cert)?, load_key(files.key)?)
        .map_err(|e| {
            config_error(
                files.key,
                "private key",
                format!("does not match the certificate: {e}"),
            )
        })?;
    Ok(Arc::new(config))
}

/// A client configuration that presents `cert` and trusts servers issued by `ca`.
pub fn client_config(files: &TlsFiles<'_>) -> Result<Arc<ClientConfig>> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots(files.ca)?)
        .with_client_auth_cert(load_certs(files.cert)?, load_key(files.key)?)
        .map_err(|e| {
            config_error(
                files.key,
                "private key",
                format!("does not match the certificate: {e}"),
            )
        })?;
    Ok(Arc::new(config))
}

/// The principal named by a (verified) end-entity certificate: CN as name, OUs as groups.
pub fn principal_of(cert: &CertificateDer<'_>) -> Result<Principal> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| Error::Tls(format!("peer certificate does not parse: {e}")))?;
    let subject = parsed.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| Error::Tls("peer certificate has no common name".into()))?
        .to_string();
    let groups = subject
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok())
        .map(str::to_string)
        .collect();
    Ok(Principal { name, groups })
}
