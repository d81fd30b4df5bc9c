//! Mutual TLS: loading PEM files, server and client configurations, and the principal of a peer.
//!
//! All TLS is rustls with the `ring` provider (no C toolchain beyond what `ring` builds). Servers
//! require a client certificate issued by the configured CA and not revoked by the configured CRLs;
//! the [`Principal`] of a connection is the certificate's subject CN, with its OUs as groups.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

mod identity;
pub use identity::{ClientIdentity, LoadedIdentity, Source};

use crate::audit::{AuditLog, Event};
use crate::{Error, Result};
use hope_core::Principal;

fn config_error(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = hope_core::fs::read_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
        .map_err(|e| config_error(path, "certificate", format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
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
    let bytes = zeroize::Zeroizing::new(
        hope_core::fs::read_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| config_error(path, "private key", format!("cannot read: {e}")))?,
    );
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| config_error(path, "private key", format!("no usable private key: {e}")))
}

/// Reads the CRLs of a file, PEM (one or more `X509 CRL` blocks) or DER (one CRL), and checks
/// each: it must parse as a CRL, be issued by `ca` (when given), and not be past its next update.
/// A configured CRL file that yields no CRL (empty, garbage, a PEM file of something else) is an
/// error: revocation is never silently off.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let bytes = hope_core::fs::read_bounded(path, hope_core::fs::MAX_CRL_BYTES)
        .map_err(|e| Error::io(path, e))?;
    parse_crls(path, &bytes, None, SystemTime::now())
}

/// [`load_crls`] on bytes already read, checked against the CA certificates `ca` and the time
/// `now`.
fn parse_crls(
    path: &Path,
    bytes: &[u8],
    ca: Option<&[CertificateDer<'static>]>,
    now: SystemTime,
) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let crls: Vec<CertificateRevocationListDer<'static>> =
        if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            CertificateRevocationListDer::pem_slice_iter(bytes)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| config_error(path, "crl", format!("malformed PEM: {e}")))?
        } else if bytes.is_empty() {
            Vec::new()
        } else {
            vec![CertificateRevocationListDer::from(bytes.to_vec())]
        };
    if crls.is_empty() {
        return Err(config_error(
            path,
            "crl",
            "no CRL in the file (expected PEM `X509 CRL` blocks or one DER CRL); revocation cannot be checked",
        ));
    }
    let now_s = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let subjects: Option<Vec<Vec<u8>>> = ca.map(|certs| {
        certs
            .iter()
            .filter_map(|c| {
                x509_parser::parse_x509_certificate(c.as_ref())
                    .ok()
                    .map(|(_, c)| c.subject().as_raw().to_vec())
            })
            .collect()
    });
    for (i, crl) in crls.iter().enumerate() {
        let (_, parsed) = x509_parser::parse_x509_crl(crl.as_ref())
            .map_err(|e| config_error(path, "crl", format!("CRL {} does not parse: {e}", i + 1)))?;
        match parsed.next_update() {
            Some(next) if next.timestamp() > now_s => {}
            Some(_) => {
                return Err(config_error(
                    path,
                    "crl",
                    format!(
                        "CRL {} is past its next update: publish a fresh CRL (connections are refused until then)",
                        i + 1
                    ),
                ));
            }
            None => {
                return Err(config_error(
                    path,
                    "crl",
                    format!(
                        "CRL {} has no next update: its freshness cannot be checked",
                        i + 1
                    ),
                ));
            }
        }
        if let Some(subjects) = &subjects
            && !subjects.iter().any(|s| s == parsed.issuer().as_raw())
        {
            return Err(config_error(
                path,
                "crl",
                format!("CRL {} is not issued by the configured CA", i + 1),
            ));
        }
    }
    Ok(crls)
}

/// Where a CRL stands in its issuer's series: its CRL Number (RFC 5280 5.2.3, big-endian bytes
/// without leading zeros) when it has one, and its this-update time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CrlMark {
    /// Hexadecimal, as the CA numbered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number: Option<String>,
    /// Seconds since 1970.
    this_update: i64,
}

impl CrlMark {
    /// As an audit record's detail: `number=<hex>|-;this_update=<seconds>`.
    fn detail(&self) -> String {
        format!(
            "number={};this_update={}",
            self.number.as_deref().unwrap_or("-"),
            self.this_update
        )
    }

    /// Reads [`CrlMark::detail`] back.
    fn from_detail(text: &str) -> Option<CrlMark> {
        let (number, this_update) = text.split_once(';')?;
        let number = number.strip_prefix("number=")?;
        let this_update = this_update.strip_prefix("this_update=")?.parse().ok()?;
        Some(CrlMark {
            number: (number != "-").then(|| number.to_string()),
            this_update,
        })
    }

    /// Why `self` is older than `seen` (a rollback), if it is: a lower CRL number, or with equal
    /// or absent numbers an earlier this-update.
    fn older_than(&self, seen: &CrlMark) -> Option<String> {
        let key = |n: &str| (n.len(), n.to_string());
        match (&self.number, &seen.number) {
            (Some(a), Some(b)) if key(a) < key(b) => {
                return Some(format!(
                    "its CRL number {a} is lower than {b}, the highest already in force"
                ));
            }
            (Some(a), Some(b)) if a != b => return None,
            _ => {}
        }
        let time = |t: i64| {
            hope_core::calendar::rfc3339_utc(
                SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0)),
            )
        };
        (self.this_update < seen.this_update).then(|| {
            format!(
                "it was issued ({}) before the CRL already in force ({})",
                time(self.this_update),
                time(seen.this_update)
            )
        })
    }
}

/// The newest CRL accepted per issuer (keyed by the SHA-256 of the issuer's DER name): a CRL
/// older than one already in force is refused, so that putting back an old CRL (one that still
/// verifies and is not yet past its next update) cannot un-revoke a certificate.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CrlHighWater {
    issuers: std::collections::BTreeMap<String, CrlMark>,
}

/// Where a service keeps its newest-CRL record: next to its audit log, `<log>.crl-state`.
pub fn crl_state_path(audit_log: &Path) -> PathBuf {
    let mut name = audit_log.as_os_str().to_os_string();
    name.push(".crl-state");
    PathBuf::from(name)
}

/// Largest CRL state file read back.
const MAX_CRL_STATE: u64 = 1 << 20;

impl CrlHighWater {
    fn load(path: &Path) -> Result<CrlHighWater> {
        use std::io::Read as _;
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut text = String::new();
        f.take(MAX_CRL_STATE + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        if text.len() as u64 > MAX_CRL_STATE {
            return Err(config_error(path, "crl state", "larger than 1 MiB"));
        }
        serde_json::from_str(&text).map_err(|e| {
            config_error(
                path,
                "crl state",
                format!("not the newest-CRL record this server writes: {e}"),
            )
        })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| config_error(path, "crl state", e.to_string()))?;
        text.push(b'\n');
        Ok(hope_core::fs::write_atomic(path, &text)?)
    }

    /// Checks the CRLs of a file against the newest seen; returns the marks moved forward (to
    /// save), or why the file is a rollback.
    fn advance(
        &self,
        crls: &[(String, CrlMark)],
    ) -> std::result::Result<Option<CrlHighWater>, String> {
        let mut next = self.clone();
        for (issuer, mark) in crls {
            if let Some(seen) = self.issuers.get(issuer) {
                if let Some(why) = mark.older_than(seen) {
                    return Err(why);
                }
                if mark == seen {
                    continue;
                }
            }
            next.issuers.insert(issuer.clone(), mark.clone());
        }
        Ok((next != *self).then_some(next))
    }
}

/// The issuer and mark of each CRL of a file (those that parse; the file was checked before).
fn crl_marks(bytes: &[u8]) -> Vec<(String, CrlMark)> {
    let ders: Vec<Vec<u8>> = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(bytes)
            .filter_map(|c| c.ok().map(|c| c.as_ref().to_vec()))
            .collect()
    } else {
        vec![bytes.to_vec()]
    };
    ders.iter()
        .filter_map(|der| {
            let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
            let issuer = hex::encode(Sha256::digest(crl.issuer().as_raw()));
            let number = crl.crl_number().map(|n| {
                let hex = hex::encode(n.to_bytes_be());
                let trimmed = hex.trim_start_matches('0');
                if trimmed.is_empty() {
                    "0".to_string()
                } else {
                    trimmed.to_string()
                }
            });
            Some((
                issuer,
                CrlMark {
                    number,
                    this_update: crl.last_update().timestamp(),
                },
            ))
        })
        .collect()
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

/// A server configuration that requires client certificates from `ca`, checked against the CRLs
/// of the file `crl` (see [`load_crls`]), whose next update is enforced at every handshake.
pub fn server_config(files: &TlsFiles<'_>, crl: Option<&Path>) -> Result<Arc<ServerConfig>> {
    let crl_bytes = match crl {
        Some(p) => Some(
            hope_core::fs::read_bounded(p, hope_core::fs::MAX_CRL_BYTES)
                .map_err(|e| Error::io(p, e))?,
        ),
        None => None,
    };
    server_config_with(files, crl.zip(crl_bytes.as_deref()))
}

fn server_config_with(
    files: &TlsFiles<'_>,
    crl: Option<(&Path, &[u8])>,
) -> Result<Arc<ServerConfig>> {
    server_config_and_verifier(files, crl).map(|(c, _)| c)
}

/// The server configuration and its client-certificate verifier (kept to check the peers of
/// connections that outlive a CRL change).
fn server_config_and_verifier(
    files: &TlsFiles<'_>,
    crl: Option<(&Path, &[u8])>,
) -> Result<(Arc<ServerConfig>, Arc<dyn ClientCertVerifier>)> {
    let ca = load_certs(files.ca)?;
    let crls = match crl {
        Some((p, bytes)) => parse_crls(p, bytes, Some(&ca), SystemTime::now())?,
        None => Vec::new(),
    };
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(files.ca)?, provider())
        .with_crls(crls)
        .enforce_revocation_expiration()
        .build()
        .map_err(|e| Error::Tls(format!("client verifier: {e}")))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::clone(&verifier))
        .with_single_cert(load_certs(files.cert)?, load_key(files.key)?)
        .map_err(|e| {
            config_error(
                files.key,
                "private key",
                format!("does not match the certificate: {e}"),
            )
        })?;
    Ok((Arc::new(config), verifier))
}

/// A client configuration that presents `cert` and trusts servers issued by `ca`.
pub fn client_config(files: &TlsFiles<'_>) -> Result<Arc<ClientConfig>> {
    ClientIdentity::files(files.cert, files.key)
        .load()?
        .client_config(files.ca)
}

/// The principal named by a (verified) end-entity certificate: CN as name, OUs as groups. Each
/// must be a usable name ([`hope_core::principal::is_valid_name`]: no control characters, no
/// spaces at the ends, not empty): a CA that signs a CN with a newline or a terminal escape does
/// not get to forge log lines or grants.
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
    if !hope_core::principal::is_valid_name(&name) {
        return Err(Error::Tls(
            "peer certificate's common name is not a usable name (empty, control characters, \
             spaces at an end, or over 256 characters)"
                .into(),
        ));
    }
    let mut groups = Vec::new();
    for ou in subject.iter_organizational_unit() {
        match ou.as_str() {
            Ok(g) if hope_core::principal::is_valid_name(g) => groups.push(g.to_string()),
            _ => {
                return Err(Error::Tls(
                    "peer certificate has an organisational unit that is not a usable group \
                     name (not text, empty, control characters, spaces at an end, or over 256 \
                     characters)"
                        .into(),
                ));
            }
        }
    }
    Ok(Principal { name, groups })
}

/// A connection whose handshake completed: the TLS stream, who the peer is, and the
/// configuration generation it was verified under (see [`MutualTls::peer_still_valid`]).
#[derive(Debug)]
pub struct Accepted<S: Read + Write> {
    /// The TLS stream.
    pub stream: StreamOwned<ServerConnection, S>,
    /// The peer, from its verified certificate.
    pub principal: Principal,
    /// The configuration generation the certificate was verified under.
    pub generation: u64,
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

/// How often the CRL file is read again to see whether its content changed.
const CRL_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// What [`MutualTls`] holds: the configuration in force, the digest of the CRL content it was
/// built from, and when the file was last read.
struct TlsState {
    config: Option<Arc<ServerConfig>>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    /// Bumped at every rebuild: a connection made under an older one has its peer checked again.
    generation: u64,
    digest: Option<[u8; 32]>,
    checked: Option<Instant>,
    /// The newest CRL accepted per issuer (persisted in `crl_state` when set).
    high: CrlHighWater,
    /// Marks moved forward and not yet recorded in the audit log.
    pending: Vec<(String, CrlMark)>,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("generation", &self.generation)
            .finish()
    }
}

/// The server side of mutual TLS for the project's services (key servers, the gateway): client
/// certificates from one CA, checked against a CRL file whose *content* is read again at most
/// every half second, so a revocation takes effect without a restart, whatever the file's
/// modification time says. A CRL that is missing, unreadable, not a CRL, from another CA or past
/// its next update fails closed: every connection is refused until it is fixed.
#[derive(Debug)]
pub struct MutualTls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    crl: Option<PathBuf>,
    crl_state: Option<PathBuf>,
    state: Mutex<TlsState>,
}

impl MutualTls {
    /// Loads the server's certificate and key, the CA and the CRL (which must be valid now).
    /// A CRL older than one seen before by this value is refused (see
    /// [`MutualTls::with_crl_state`] to remember that across restarts).
    pub fn new(files: &TlsFiles<'_>, crl: Option<&Path>) -> Result<MutualTls> {
        MutualTls::with_crl_state(files, crl, None)
    }

    /// [`MutualTls::new`], remembering the newest CRL accepted per issuer (its CRL number and
    /// this-update time) in the file `state`: a CRL older than that, put back by mistake or by
    /// someone who can write the CRL file, is refused even after a restart; connections are
    /// refused (fail closed) until a CRL at least as new is published. The services keep it
    /// next to their audit log.
    pub fn with_crl_state(
        files: &TlsFiles<'_>,
        crl: Option<&Path>,
        state: Option<&Path>,
    ) -> Result<MutualTls> {
        let high = match state {
            Some(p) => CrlHighWater::load(p)?,
            None => CrlHighWater::default(),
        };
        let tls = MutualTls {
            cert: files.cert.to_path_buf(),
            key: files.key.to_path_buf(),
            ca: files.ca.to_path_buf(),
            crl: crl.map(Path::to_path_buf),
            crl_state: state.map(Path::to_path_buf),
            state: Mutex::new(TlsState {
                config: None,
                verifier: None,
                generation: 0,
                digest: None,
                checked: None,
                high,
                pending: Vec::new(),
            }),
        };
        tls.config()?;
        Ok(tls)
    }

    /// The configuration, rebuilt when the CRL file's content changed (then `true`). A CRL that
    /// cannot be used fails, and keeps failing until it is fixed: every connection is refused.
    pub fn config(&self) -> Result<(Arc<ServerConfig>, bool)> {
        self.config_generation().map(|(c, r, _)| (c, r))
    }

    /// [`MutualTls::config`] with the generation it belongs to.
    fn config_generation(&self) -> Result<(Arc<ServerConfig>, bool, u64)> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Tls("TLS state poisoned".into()))?;
        let due = st.checked.is_none_or(|t| t.elapsed() >= CRL_CHECK_INTERVAL);
        if let (Some(config), false) = (&st.config, due) {
            return Ok((Arc::clone(config), false, st.generation));
        }
        let files = TlsFiles {
            cert: &self.cert,
            key: &self.key,
            ca: &self.ca,
        };
        let bytes = match &self.crl {
            Some(p) => match hope_core::fs::read_bounded(p, hope_core::fs::MAX_CRL_BYTES) {
                Ok(b) => Some(b),
                Err(e) => {
                    st.config = None;
                    st.digest = None;
                    return Err(Error::io(p, e));
                }
            },
            None => None,
        };
        let digest: Option<[u8; 32]> = bytes.as_deref().map(|b| Sha256::digest(b).into());
        st.checked = Some(Instant::now());
        if let Some(config) = &st.config
            && digest == st.digest
        {
            return Ok((Arc::clone(config), false, st.generation));
        }
        let built = server_config_and_verifier(&files, self.crl.as_deref().zip(bytes.as_deref()))
            .and_then(|built| {
                // Never back to an older CRL than one in force before.
                let (Some(path), Some(bytes)) = (&self.crl, &bytes) else {
                    return Ok(built);
                };
                match st.high.advance(&crl_marks(bytes)) {
                    Err(why) => Err(config_error(
                        path,
                        "crl",
                        format!(
                            "refused: {why} (a rollback could un-revoke certificates); publish \
                             the current CRL (connections are refused until then)"
                        ),
                    )),
                    Ok(None) => Ok(built),
                    Ok(Some(next)) => {
                        if let Some(state) = &self.crl_state {
                            next.save(state)?;
                        }
                        for (issuer, mark) in &next.issuers {
                            if st.high.issuers.get(issuer) != Some(mark) {
                                st.pending.push((issuer.clone(), mark.clone()));
                            }
                        }
                        st.high = next;
                        Ok(built)
                    }
                }
            });
        st.generation += 1;
        match built {
            Ok((config, verifier)) => {
                let reloaded = st.config.is_some() || st.digest.is_some() || st.generation > 1;
                st.config = Some(Arc::clone(&config));
                st.verifier = Some(verifier);
                st.digest = digest;
                Ok((config, reloaded, st.generation))
            }
            Err(e) => {
                // Fail closed, and keep failing until the file changes and parses.
                st.config = None;
                st.verifier = None;
                st.digest = None;
                Err(e)
            }
        }
    }

    /// Records in `audit` the newest CRLs accepted since the last call (`mark` records, key id
    /// `crl:<issuer digest>`), so that losing the state file cannot make this service forget
    /// them: see [`MutualTls::adopt_audit_marks`]. Fails when they cannot be recorded.
    pub fn record_crl_marks(&self, audit: &AuditLog) -> Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Tls("TLS state poisoned".into()))?;
        if st.pending.is_empty() {
            return Ok(());
        }
        let events = st
            .pending
            .iter()
            .map(|(issuer, mark)| {
                Event::new("-", crate::audit::MARK_ACTION, "ok")
                    .key(format!("crl:{issuer}"))
                    .detail(mark.detail())
            })
            .collect();
        audit.append_all(events)?;
        st.pending.clear();
        Ok(())
    }

    /// Takes the newest CRLs this service recorded in its audit log (see
    /// [`MutualTls::record_crl_marks`]) as known, whatever its state file says (a deleted or
    /// older state file cannot bring back an older CRL), checks the CRL in force against them
    /// (an older one is an error: the service does not start) and records what the log lacks.
    pub fn adopt_audit_marks(&self, audit: &AuditLog) -> Result<()> {
        {
            let mut st = self
                .state
                .lock()
                .map_err(|_| Error::Tls("TLS state poisoned".into()))?;
            let recorded: std::collections::BTreeMap<String, CrlMark> = audit
                .marks()
                .iter()
                .filter_map(|(k, d)| {
                    Some((
                        k.strip_prefix("crl:")?.to_string(),
                        CrlMark::from_detail(d)?,
                    ))
                })
                .collect();
            for (issuer, mark) in &recorded {
                let newer = st
                    .high
                    .issuers
                    .get(issuer)
                    .is_none_or(|seen| seen.older_than(mark).is_some());
                if newer {
                    st.high.issuers.insert(issuer.clone(), mark.clone());
                }
            }
            // What the log lacks is recorded below; the CRL in force is checked again.
            st.pending = st
                .high
                .issuers
                .iter()
                .filter(|(k, v)| recorded.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            st.config = None;
            st.verifier = None;
            st.digest = None;
            st.checked = None;
        }
        self.config()?;
        self.record_crl_marks(audit)
    }

    /// The current configuration generation (see [`MutualTls::peer_still_valid`]).
    pub fn generation(&self) -> u64 {
        self.state.lock().map(|s| s.generation).unwrap_or(u64::MAX)
    }

    /// Whether the peer of a connection accepted under configuration `generation` is still
    /// trusted: when the CRL changed since, its certificate chain is verified again against the
    /// new one (a revocation reaches keep-alive connections too), and `generation` moves on.
    /// An unusable CRL fails closed.
    pub fn peer_still_valid(
        &self,
        conn: &ServerConnection,
        generation: &mut u64,
        audit: &AuditLog,
    ) -> bool {
        match self.config() {
            Err(_) => return false,
            Ok((_, true)) => {
                if self.record_crl_marks(audit).is_err()
                    || audit.append(Event::new("-", "crl-reload", "ok")).is_err()
                {
                    return false;
                }
            }
            Ok(_) => {}
        }
        let Ok(st) = self.state.lock() else {
            return false;
        };
        if st.generation == *generation {
            return true;
        }
        let (Some(verifier), Some(certs)) = (&st.verifier, conn.peer_certificates()) else {
            return false;
        };
        let Some((end_entity, intermediates)) = certs.split_first() else {
            return false;
        };
        let now = rustls_pki_types::UnixTime::now();
        if verifier
            .verify_client_cert(end_entity, intermediates, now)
            .is_ok()
        {
            *generation = st.generation;
            true
        } else {
            false
        }
    }

    /// Completes the handshake on an accepted connection and names the peer. `on_reload` is
    /// called when the CRL was read again for this connection (to audit it; its failure refuses
    /// the connection).
    pub fn accept<S: Read + Write>(
        &self,
        sock: S,
        on_reload: impl FnOnce() -> Result<()>,
    ) -> std::result::Result<Accepted<S>, Refusal> {
        let (config, reloaded, generation) = self.config_generation().map_err(Refusal::Config)?;
        if reloaded {
            on_reload().map_err(Refusal::Config)?;
        }
        let conn = ServerConnection::new(config)
            .map_err(|e| Refusal::Config(Error::Tls(e.to_string())))?;
        let mut tls = StreamOwned::new(conn, sock);
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
            Some(Ok(principal)) => Ok(Accepted {
                stream: tls,
                principal,
                generation,
            }),
            _ => Err(Refusal::NoPrincipal),
        }
    }

    /// [`accept`](MutualTls::accept) with the audit every service keeps: a CRL reload is
    /// recorded (and refuses the connection when it cannot be), a refused connection is recorded
    /// with the peer's address and why (at most five a second: a flood of bad handshakes cannot
    /// flood the log or its disk); a port probe that closes during the handshake is not.
    pub fn accept_audited<S: Read + Write>(
        &self,
        sock: S,
        audit: &AuditLog,
        peer: &str,
    ) -> Option<Accepted<S>> {
        match self.accept(sock, || {
            self.record_crl_marks(audit)?;
            audit.append(Event::new("-", "crl-reload", "ok")).map(drop)
        }) {
            Ok(x) => Some(x),
            Err(Refusal::Closed) => None,
            Err(e) => {
                let _ = audit.append_limited(
                    "connect",
                    Event::new("-", "connect", "refused").detail(format!("{peer}: {e}")),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_named(cn: &str, ous: &[&str]) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        for ou in ous {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationalUnitName, *ou);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    /// Attack round of issue 20: a certificate whose CN or OU held a newline or a terminal
    /// escape was accepted as that principal (names are checked wherever else they are read).
    #[test]
    fn attack_20_a_certificate_name_with_control_characters_is_refused() {
        // (rcgen keeps one value per attribute type: one OU.)
        let ok = principal_of(&cert_named("alice", &["physics"])).unwrap();
        assert_eq!(ok.name, "alice");
        assert_eq!(ok.groups, ["physics"]);
        for (cn, ous) in [
            ("eve\nadmin", vec![]),
            ("eve\u{1b}[2J", vec![]),
            (" alice", vec![]),
            ("alice", vec!["physics\r"]),
            ("alice", vec![""]),
        ] {
            let e = principal_of(&cert_named(cn, &ous)).unwrap_err().to_string();
            assert!(e.contains("not a usable"), "{cn:?} {ous:?}: {e}");
        }
    }

    fn mark(number: Option<&str>, this_update: i64) -> CrlMark {
        CrlMark {
            number: number.map(str::to_string),
            this_update,
        }
    }

    #[test]
    fn crl_numbers_compare_as_numbers_and_times_break_ties() {
        let seen = mark(Some("ff"), 1000);
        assert!(mark(Some("fe"), 2000).older_than(&seen).is_some());
        assert!(
            mark(Some("100"), 10).older_than(&seen).is_none(),
            "longer is larger"
        );
        assert!(mark(Some("ff"), 999).older_than(&seen).is_some());
        assert!(mark(Some("ff"), 1000).older_than(&seen).is_none());
        assert!(mark(None, 999).older_than(&seen).is_some());
        assert!(mark(None, 1001).older_than(&seen).is_none());
        let mut high = CrlHighWater::default();
        high.issuers.insert("a".into(), seen.clone());
        assert!(
            high.advance(&[("a".into(), seen.clone())])
                .unwrap()
                .is_none()
        );
        let next = high
            .advance(&[
                ("a".into(), mark(Some("100"), 5)),
                ("b".into(), mark(None, 1)),
            ])
            .unwrap()
            .unwrap();
        assert_eq!(next.issuers.len(), 2);
        assert!(
            high.advance(&[("a".into(), mark(Some("1"), 5000))])
                .is_err()
        );
    }

    #[test]
    fn a_damaged_crl_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl.crl-state");
        assert_eq!(CrlHighWater::load(&p).unwrap(), CrlHighWater::default());
        std::fs::write(&p, "{\"issuers\": 5}").unwrap();
        let e = CrlHighWater::load(&p).unwrap_err().to_string();
        assert!(e.contains("crl-state") && e.contains("crl state"), "{e}");
        let mut high = CrlHighWater::default();
        high.issuers.insert("a".into(), mark(Some("7"), 3));
        high.save(&p).unwrap();
        assert_eq!(CrlHighWater::load(&p).unwrap(), high);
    }
}
