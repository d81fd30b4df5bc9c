//! Mutual TLS: loading PEM files, server and client configurations, and the principal of a peer.
//!
//! All TLS is rustls with the `ring` provider (no C toolchain beyond what `ring` builds). Servers
//! require a client certificate issued by the configured CA and not revoked by the configured CRLs;
//! the [`Principal`] of a connection is the certificate's subject CN, with its OUs as groups.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::acl::Principal;
use crate::audit::{AuditLog, Event};
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

fn modified(path: Option<&Path>) -> Option<SystemTime> {
    path.and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

/// Why [`MutualTls::accept`] turned a connection away.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refusal {
    /// The server's own configuration could not be loaded (e.g. an unreadable CRL: fails closed).
    Config(Error),
    /// The handshake failed (unknown CA, revoked or expired certificate, not TLS...).
    Handshake(std::io::Error),
    /// The peer closed the connection during the handshake (a port probe): nothing to report.
    Closed,
    /// The peer's certificate names no usable principal.
    NoPrincipal,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Config(e) => write!(f, "{e}"),
            Refusal::Handshake(e) => write!(f, "{e}"),
            Refusal::Closed => f.write_str("closed during the handshake"),
            Refusal::NoPrincipal => f.write_str("no usable client certificate"),
        }
    }
}

/// The server side of mutual TLS for the project's services (key servers, the gateway): client
/// certificates from one CA, checked against a CRL file that is re-read when it changes, so a
/// revocation takes effect without a restart.
#[derive(Debug)]
pub struct MutualTls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    crl: Option<PathBuf>,
    state: Mutex<(Arc<ServerConfig>, Option<SystemTime>)>,
}

impl MutualTls {
    /// Loads the server's certificate and key, the CA and the CRL.
    pub fn new(files: &TlsFiles<'_>, crl: Option<&Path>) -> Result<MutualTls> {
        let config = server_config(files, crl)?;
        Ok(MutualTls {
            cert: files.cert.to_path_buf(),
            key: files.key.to_path_buf(),
            ca: files.ca.to_path_buf(),
            crl: crl.map(Path::to_path_buf),
            state: Mutex::new((config, modified(crl))),
        })
    }

    /// The configuration, rebuilt when the CRL file changed (then `true`). An unreadable CRL
    /// fails: every connection is refused until it is fixed.
    pub fn config(&self) -> Result<(Arc<ServerConfig>, bool)> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Tls("TLS state poisoned".into()))?;
        let now = modified(self.crl.as_deref());
        let mut reloaded = false;
        if now != st.1 {
            let files = TlsFiles {
                cert: &self.cert,
                key: &self.key,
                ca: &self.ca,
            };
            st.0 = server_config(&files, self.crl.as_deref())?;
            st.1 = now;
            reloaded = true;
        }
        Ok((Arc::clone(&st.0), reloaded))
    }

    /// Completes the handshake on an accepted connection and names the peer. `on_reload` is
    /// called when the CRL was re-read for this connection (to audit it; its failure refuses the
    /// connection).
    pub fn accept(
        &self,
        stream: TcpStream,
        on_reload: impl FnOnce() -> Result<()>,
    ) -> std::result::Result<(StreamOwned<ServerConnection, TcpStream>, Principal), Refusal> {
        let (config, reloaded) = self.config().map_err(Refusal::Config)?;
        if reloaded {
            on_reload().map_err(Refusal::Config)?;
        }
        let conn = ServerConnection::new(config)
            .map_err(|e| Refusal::Config(Error::Tls(e.to_string())))?;
        let mut tls = StreamOwned::new(conn, stream);
        while tls.conn.is_handshaking() {
            if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Refusal::Closed
                } else {
                    Refusal::Handshake(e)
                });
            }
        }
        match tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(principal_of)
        {
            Some(Ok(p)) => Ok((tls, p)),
            _ => Err(Refusal::NoPrincipal),
        }
    }

    /// [`accept`](MutualTls::accept) with the audit every service keeps: a CRL reload is
    /// recorded (and refuses the connection when it cannot be), a refused connection is recorded
    /// with the peer's address and why; a port probe that closes during the handshake is not.
    pub fn accept_audited(
        &self,
        stream: TcpStream,
        audit: &AuditLog,
    ) -> Option<(StreamOwned<ServerConnection, TcpStream>, Principal)> {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        match self.accept(stream, || {
            audit.append(Event::new("-", "crl-reload", "ok")).map(drop)
        }) {
            Ok(x) => Some(x),
            Err(Refusal::Closed) => None,
            Err(e) => {
                let _ = audit
                    .append(Event::new("-", "connect", "refused").detail(format!("{peer}: {e}")));
                None
            }
        }
    }
}
