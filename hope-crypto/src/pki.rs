//! A small certificate authority for tests, demonstrations and first deployments (feature `pki`).
//!
//! Real deployments use the hospital's or the research grid's CA; this module makes the same kind of
//! PKI in a few lines so that the examples and the test suite run real mutual TLS: a CA, server
//! certificates (DNS name and IP address SANs), user certificates whose CN is the user and whose OU
//! is a group, and CRLs.
//!
//! ```
//! use hope_crypto::pki::TestPki;
//!
//! let mut pki = TestPki::new("HOPE test CA")?;
//! let server = pki.issue_server(&["localhost", "127.0.0.1"])?;
//! let alice = pki.issue_client("alice", Some("physics"))?;
//! let crl = pki.crl_pem(&[&alice])?;
//! assert!(server.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(crl.contains("BEGIN X509 CRL"));
//! # Ok::<(), hope_crypto::Error>(())
//! ```

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use zeroize::Zeroizing;

use crate::token::{KeyAlgorithm, PublicKey};
use crate::{Error, Result};

fn pki_error(e: rcgen::Error) -> Error {
    Error::Tls(format!("certificate generation: {e}"))
}

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: Zeroizing<String>,
    serial: Vec<u8>,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial", &hex::encode(&self.serial))
            .finish()
    }
}

impl IssuedCert {
    /// The certificate in DER.
    pub fn cert_der(&self) -> Result<Vec<u8>> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map(|c| c.as_ref().to_vec())
            .map_err(|e| Error::Tls(format!("issued certificate: {e}")))
    }

    /// Writes `<stem>.pem` (the certificate alone) into `dir`.
    pub fn write_cert(&self, dir: &Path, stem: &str) -> Result<PathBuf> {
        let cert = dir.join(format!("{stem}.pem"));
        hope_core::fs::write_atomic(&cert, self.cert_pem.as_bytes())?;
        Ok(cert)
    }

    /// Writes `<stem>.pem` and `<stem>.key` (the key with mode 0600 on Unix) into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        hope_core::fs::write_atomic(&cert, self.cert_pem.as_bytes())?;
        hope_core::fs::write_atomic(&key, self.key_pem.as_bytes())?;
        Ok((cert, key))
    }
}

/// A token's public key as rcgen certifies it.
struct TokenPublicKey<'a>(&'a PublicKey);

impl rcgen::PublicKeyData for TokenPublicKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.0.key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.0.algorithm {
            KeyAlgorithm::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// A certificate authority held in memory.
pub struct TestPki {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    next_serial: u64,
    crl_number: u64,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// A new CA with a fresh ECDSA P-256 key.
    pub fn new(name: &str) -> Result<TestPki> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(pki_error)?;
        let ca_pem = params.self_signed(&key).map_err(pki_error)?.pem();
        Ok(TestPki {
            issuer: Issuer::new(params, key),
            ca_pem,
            next_serial: 1,
            crl_number: 1,
        })
    }

    /// The CA certificate (what servers and clients trust).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn issue(
        &mut self,
        names: Vec<String>,
        cn: &str,
        ou: Option<&str>,
        usage: ExtendedKeyUsagePurpose,
        public: Option<&PublicKey>,
    ) -> Result<IssuedCert> {
        let mut params = CertificateParams::new(names).map_err(pki_error)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        if let Some(ou) = ou {
            dn.push(DnType::OrganizationalUnitName, ou);
        }
        params.distinguished_name = dn;
        let mut serial = self.next_serial.to_be_bytes().to_vec();
        serial[0] = 0x01; // positive, non-zero, unique within this CA
        self.next_serial += 1;
        params.serial_number = Some(SerialNumber::from(serial.clone()));
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if let Some(public) = public {
            let cert = params
                .signed_by(&TokenPublicKey(public), &self.issuer)
                .map_err(pki_error)?;
            return Ok(IssuedCert {
                cert_pem: cert.pem(),
                key_pem: Zeroizing::new(String::new()),
                serial,
            });
        }
        let key = KeyPair::generate().map_err(pki_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(pki_error)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
            serial,
        })
    }

    /// A server certificate for the given DNS names and IP addresses (the first is also the CN).
    pub fn issue_server(&mut self, names: &[&str]) -> Result<IssuedCert> {
        let cn = names.first().copied().unwrap_or("server");
        self.issue(
            names.iter().map(|s| s.to_string()).collect(),
            cn,
            None,
            ExtendedKeyUsagePurpose::ServerAuth,
            None,
        )
    }

    /// A user certificate: CN = `user`, OU = `group`.
    pub fn issue_client(&mut self, user: &str, group: Option<&str>) -> Result<IssuedCert> {
        self.issue(
            Vec::new(),
            user,
            group,
            ExtendedKeyUsagePurpose::ClientAuth,
            None,
        )
    }

    /// A user certificate for a key that lives elsewhere (on a smart card or token: see
    /// [`crate::token::generate_key`]): the issued certificate has no key (`key_pem` is empty;
    /// write it with [`IssuedCert::write_cert`]).
    pub fn issue_client_for_key(
        &mut self,
        user: &str,
        group: Option<&str>,
        public: &PublicKey,
    ) -> Result<IssuedCert> {
        self.issue(
            Vec::new(),
            user,
            group,
            ExtendedKeyUsagePurpose::ClientAuth,
            Some(public),
        )
    }

    /// A CRL revoking the given certificates (valid for 30 days), in PEM.
    pub fn crl_pem(&mut self, revoked: &[&IssuedCert]) -> Result<String> {
        self.crl(revoked, -60, 30 * 86_400)?
            .pem()
            .map_err(pki_error)
    }

    /// A CRL in DER, issued `this_update_s` seconds from now (negative: in the past) and valid
    /// until `next_update_s` seconds from now (negative: expired), for tests of CRL handling.
    pub fn crl_der(
        &mut self,
        revoked: &[&IssuedCert],
        this_update_s: i64,
        next_update_s: i64,
    ) -> Result<Vec<u8>> {
        Ok(self
            .crl(revoked, this_update_s, next_update_s)?
            .der()
            .to_vec())
    }

    fn crl(
        &mut self,
        revoked: &[&IssuedCert],
        this_update_s: i64,
        next_update_s: i64,
    ) -> Result<rcgen::CertificateRevocationList> {
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now + time::Duration::seconds(this_update_s),
            next_update: now + time::Duration::seconds(next_update_s),
            crl_number: SerialNumber::from(self.crl_number.to_be_bytes().to_vec()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| RevokedCertParams {
                    serial_number: SerialNumber::from(c.serial.clone()),
                    revocation_time: now - time::Duration::minutes(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        self.crl_number += 1;
        params.signed_by(&self.issuer).map_err(pki_error)
    }
}
