//! A client's TLS identity: its certificate and private key, each a PEM file or an object on a
//! PKCS#11 token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::CertificateDer;

use super::{config_error, load_certs, load_key, principal_of, provider, roots};
use crate::token::{PinSource, Pkcs11Uri, TokenKey};
use crate::{Error, Result};
use hope_core::Principal;

/// Where a client's certificate or private key is: a PEM file, or an object on a PKCS#11 token
/// (a value starting with `pkcs11:`, an RFC 7512 URI; see [`crate::token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A PEM file.
    File(PathBuf),
    /// An object on a token.
    Token(Pkcs11Uri),
}

impl Source {
    /// A relative file path made relative to `base` (the configuration file's folder); a token
    /// URI is left as it is.
    pub fn rebase(&mut self, base: &Path) {
        match self {
            Source::File(p) => *p = base.join(&*p),
            // Paths inside a URI too: a relative module or PIN file is the configuration's, never
            // the current directory's (which may be anyone's).
            Source::Token(uri) => {
                for p in [&mut uri.module_path, &mut uri.pin_source]
                    .into_iter()
                    .flatten()
                {
                    *p = base.join(&*p);
                }
            }
        }
    }

    /// The file, if this is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Source::File(p) => Some(p),
            Source::Token(_) => None,
        }
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Source {
        Source::File(p)
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Source {
        Source::File(p.to_path_buf())
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Token(uri) => write!(f, "{uri}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
        {
            s.parse()
                .map(Source::Token)
                .map_err(serde::de::Error::custom)
        } else {
            Ok(Source::File(PathBuf::from(s)))
        }
    }
}

/// A client's TLS identity as its configuration gives it: a certificate and a private key, each
/// a file or on a token.
///
/// With a key on a token, `pkcs11_module` (or the URI's `module-path`) names the card's PKCS#11
/// module, and `cert` may be left out: the certificate stored on the token with the key's id is
/// used. Whichever certificate is used is checked against the key (see
/// [`TokenKey::check_certificate`]).
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The certificate (chain): a PEM file, or the token's certificate for the key.
    pub cert: Option<Source>,
    /// The private key.
    pub key: Source,
    /// The PKCS#11 module, for a key on a token.
    pub pkcs11_module: Option<PathBuf>,
    /// Where the token's PIN comes from.
    pub pin: PinSource,
    /// The configuration this identity comes from, named in errors.
    pub origin: PathBuf,
}

/// A loaded client identity: the certificate chain and the signing key, checked to belong
/// together.
#[derive(Debug, Clone)]
pub struct LoadedIdentity {
    certified: Arc<CertifiedKey>,
    /// The key signs in TLS 1.2 only (RSA on a token without RSA-PSS).
    tls12_only: bool,
}

impl ClientIdentity {
    /// The identity of a client configuration's fields (`cert`, `key`, `pkcs11_module`,
    /// `pin_file`), read from `origin`.
    pub fn from_config(
        cert: Option<&Source>,
        key: &Source,
        pkcs11_module: Option<&Path>,
        pin_file: Option<&Path>,
        origin: &Path,
    ) -> ClientIdentity {
        ClientIdentity {
            cert: cert.cloned(),
            key: key.clone(),
            pkcs11_module: pkcs11_module.map(Path::to_path_buf),
            pin: PinSource::file_or_prompt(pin_file),
            origin: origin.to_path_buf(),
        }
    }

    /// Makes a client configuration's relative identity paths (the certificate, the key and the
    /// paths inside a key URI, the module, the PIN file) relative to `base`, its folder.
    pub fn rebase_config(
        base: &Path,
        cert: &mut Option<Source>,
        key: &mut Source,
        pkcs11_module: &mut Option<PathBuf>,
        pin_file: &mut Option<PathBuf>,
    ) {
        key.rebase(base);
        if let Some(c) = cert {
            c.rebase(base);
        }
        for p in [pkcs11_module, pin_file].into_iter().flatten() {
            *p = base.join(&*p);
        }
    }

    /// An identity of two PEM files.
    pub fn files(cert: &Path, key: &Path) -> ClientIdentity {
        ClientIdentity {
            cert: Some(Source::File(cert.to_path_buf())),
            key: Source::File(key.to_path_buf()),
            pkcs11_module: None,
            pin: PinSource::Application,
            origin: key.to_path_buf(),
        }
    }

    /// Loads the certificate and the key (logging in on the token if the key is on one) and
    /// checks that they belong together.
    pub fn load(&self) -> Result<LoadedIdentity> {
        let origin = &self.origin;
        match &self.key {
            Source::File(key_path) => {
                let Some(Source::File(cert_path)) = &self.cert else {
                    return Err(config_error(
                        origin,
                        "cert",
                        "a key file needs a certificate file (`cert`)",
                    ));
                };
                let chain = load_certs(cert_path)?;
                let key = provider()
                    .key_provider
                    .load_private_key(load_key(key_path)?)
                    .map_err(|e| {
                        config_error(key_path, "private key", format!("not usable: {e}"))
                    })?;
                let certified = CertifiedKey::new(chain, key);
                certified.keys_match().map_err(|e| {
                    config_error(
                        key_path,
                        "private key",
                        format!("does not match the certificate: {e}"),
                    )
                })?;
                Ok(LoadedIdentity {
                    certified: Arc::new(certified),
                    tls12_only: false,
                })
            }
            Source::Token(uri) => {
                let module = match (&self.pkcs11_module, &uri.module_path) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(config_error(
                            origin,
                            "pkcs11_module",
                            format!(
                                "{} differs from the key URI's module-path {}",
                                a.display(),
                                b.display()
                            ),
                        ));
                    }
                    (Some(m), _) | (None, Some(m)) => m.clone(),
                    (None, None) => {
                        return Err(config_error(
                            origin,
                            "pkcs11_module",
                            "a key on a token needs the token's PKCS#11 module (e.g. \
                             /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)",
                        ));
                    }
                };
                let pin = match (&self.pin, &uri.pin_source) {
                    (PinSource::Application, Some(file)) => PinSource::File(file.clone()),
                    (PinSource::File(a), Some(b)) if a != b => {
                        return Err(config_error(
                            origin,
                            "pin_file",
                            format!(
                                "{} differs from the key URI's pin-source {}",
                                a.display(),
                                b.display()
                            ),
                        ));
                    }
                    (pin, _) => pin.clone(),
                };
                let key = TokenKey::open(&module, uri, &pin)?;
                let chain = match &self.cert {
                    Some(Source::File(p)) => load_certs(p)?,
                    Some(Source::Token(c)) => vec![key.certificate_from_token(Some(c))?],
                    None => vec![key.certificate_from_token(None)?],
                };
                key.check_certificate(&chain[0])?;
                Ok(LoadedIdentity {
                    tls12_only: !key.tls13_capable(),
                    certified: Arc::new(CertifiedKey::new(chain, Arc::new(key))),
                })
            }
        }
    }
}

impl LoadedIdentity {
    /// The certificate chain, the end entity first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.certified.cert
    }

    /// The principal the certificate names (see [`principal_of`]).
    pub fn principal(&self) -> Result<Principal> {
        principal_of(&self.certified.cert[0])
    }

    /// The certificate and key for rustls.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }

    /// True if the key signs in TLS 1.2 only (an RSA key on a token without RSA-PSS): the
    /// client configuration then offers TLS 1.2 only, instead of failing every TLS 1.3
    /// handshake with an empty certificate.
    pub fn tls12_only(&self) -> bool {
        self.tls12_only
    }

    /// A client configuration that presents this identity and trusts servers issued by `ca`.
    pub fn client_config(&self, ca: &Path) -> Result<Arc<ClientConfig>> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots(ca)?)
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
                &self.certified,
            ))));
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack finding L5: paths inside a key URI are the configuration's, as `pkcs11_module`
    /// and `pin_file` are, never the current directory's.
    #[test]
    fn paths_inside_a_token_uri_are_rebased_on_the_configuration() {
        let mut s = Source::Token(
            "pkcs11:token=a?module-path=lib/p11.so&pin-source=file:pin"
                .parse()
                .unwrap(),
        );
        s.rebase(Path::new("/etc/hope"));
        let Source::Token(uri) = s else {
            panic!("a token")
        };
        assert_eq!(uri.module_path, Some(PathBuf::from("/etc/hope/lib/p11.so")));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/etc/hope/pin")));
        let mut absolute = Source::Token(
            "pkcs11:token=a?module-path=/usr/lib/p11.so"
                .parse()
                .unwrap(),
        );
        absolute.rebase(Path::new("/etc/hope"));
        assert_eq!(
            absolute,
            Source::Token(
                "pkcs11:token=a?module-path=/usr/lib/p11.so"
                    .parse()
                    .unwrap()
            )
        );
    }

    /// Attack finding M1: a key that cannot sign in TLS 1.3 (RSA on a token without RSA-PSS)
    /// gets a TLS 1.2-only client configuration, which a server offering both negotiates,
    /// instead of an empty certificate in every TLS 1.3 handshake.
    #[test]
    fn a_tls12_only_identity_offers_tls12_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(
            dir.path().join("ca.pem"),
            ca.self_signed(&ca_key).unwrap().pem(),
        )
        .unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        for (name, sans) in [
            ("server", vec!["localhost".to_string()]),
            ("client", vec![]),
        ] {
            let mut p = rcgen::CertificateParams::new(sans).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, name);
            let k = rcgen::KeyPair::generate().unwrap();
            let c = p.signed_by(&k, &issuer).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), c.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), k.serialize_pem()).unwrap();
        }
        let path = |n: &str| dir.path().join(n);
        let server = super::super::server_config(
            &super::super::TlsFiles {
                cert: &path("server.pem"),
                key: &path("server.key"),
                ca: &path("ca.pem"),
            },
            None,
        )
        .unwrap();
        let mut loaded = ClientIdentity::files(&path("client.pem"), &path("client.key"))
            .load()
            .unwrap();
        for (tls12_only, expected) in [
            (false, rustls::ProtocolVersion::TLSv1_3),
            (true, rustls::ProtocolVersion::TLSv1_2),
        ] {
            loaded.tls12_only = tls12_only;
            let client = loaded.client_config(&path("ca.pem")).unwrap();
            let mut c = rustls::ClientConnection::new(
                client,
                rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let mut s = rustls::ServerConnection::new(Arc::clone(&server)).unwrap();
            // An in-memory handshake.
            for _ in 0..10 {
                let mut buf = Vec::new();
                c.write_tls(&mut buf).unwrap();
                s.read_tls(&mut buf.as_slice()).unwrap();
                s.process_new_packets().unwrap();
                let mut buf = Vec::new();
                s.write_tls(&mut buf).unwrap();
                c.read_tls(&mut buf.as_slice()).unwrap();
                c.process_new_packets().unwrap();
            }
            assert!(!c.is_handshaking() && !s.is_handshaking());
            assert_eq!(c.protocol_version(), Some(expected));
            assert!(s.peer_certificates().is_some(), "the client authenticated");
        }
    }
}
