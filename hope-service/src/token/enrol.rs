//! Enrolment: a key pair generated on a token, and its certificate stored beside it.

use std::path::Path;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use rustls_pki_types::CertificateDer;
use sha2::Digest;

use super::login::login;
use super::module::{find_slot, load_module, token_error, uri_label};
use super::pin::PinSource;
use super::signer::KeyAlgorithm;
use super::uri::Pkcs11Uri;
use super::{TokenFailure, der, failure};
use crate::Result;

/// A read-write session on the token of `uri`, logged in, and the token's label.
fn logged_in_rw(
    module: &Path,
    uri: &Pkcs11Uri,
    pin: &PinSource,
    object: &str,
) -> Result<(Session, String)> {
    let pkcs11 = load_module(module)?;
    let (slot, info) = find_slot(&pkcs11, uri)?;
    let token = info.label().trim_end().to_string();
    let session = pkcs11
        .open_rw_session(slot)
        .map_err(|e| token_error(&token, "opening a read-write session", &e))?;
    login(&session, &info, pin, object)?;
    Ok((session, token))
}

/// Generates a key pair on the token that `uri` names (its `object` label and `id` given to the
/// key), the private key non-extractable and sensitive, and returns its public key. Refuses if
/// the token already holds a private key with that label or id.
pub fn generate_key(
    module: &Path,
    uri: &Pkcs11Uri,
    algorithm: KeyAlgorithm,
    pin: &PinSource,
) -> Result<PublicKey> {
    let (label, _) = label_and_id(uri)?;
    let (session, token) = logged_in_rw(module, uri, pin, label)?;
    generate_in(&session, &token, uri, algorithm).map(|(public, _)| public)
}

fn label_and_id(uri: &Pkcs11Uri) -> Result<(&String, &Vec<u8>)> {
    match (&uri.object, &uri.id) {
        (Some(label), Some(id)) => Ok((label, id)),
        _ => Err(failure(
            uri_label(uri),
            TokenFailure::Unsupported,
            "a new key needs both `object=` (label) and `id=` in its URI",
        )),
    }
}

/// Generates the key pair in `session`; its public key and the private key's handle.
fn generate_in(
    session: &Session,
    token: &str,
    uri: &Pkcs11Uri,
    algorithm: KeyAlgorithm,
) -> Result<(PublicKey, ObjectHandle)> {
    let (label, id) = label_and_id(uri)?;
    for attribute in [
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ] {
        let existing = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), attribute])
            .map_err(|e| token_error(token, "looking for existing keys", &e))?;
        if !existing.is_empty() {
            return Err(failure(
                token,
                TokenFailure::KeyAmbiguous,
                "the token already holds a private key with this label or id; choose another \
                 (keys are never overwritten)",
            ));
        }
    }
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ]
    };
    let mut public = common(false);
    public.push(Attribute::Verify(true));
    let mut private = common(true);
    private.extend([
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ]);
    let mechanism = match algorithm {
        KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
            let params = if algorithm == KeyAlgorithm::EcP256 {
                der::P256_PARAMS
            } else {
                der::P384_PARAMS
            };
            public.push(Attribute::EcParams(params.to_vec()));
            Mechanism::EccKeyPairGen
        }
        KeyAlgorithm::Rsa(bits) => {
            public.extend([
                Attribute::ModulusBits(u64::from(bits).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]);
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    let (public_key, private_key) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| token_error(token, "generating the key pair", &e))?;
    let attributes = session
        .get_attributes(
            public_key,
            &[
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| token_error(token, "reading the public key", &e))?;
    let (mut point, mut modulus, mut exponent) = (None, None, None);
    for a in attributes {
        match a {
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    let bad = || {
        failure(
            token,
            TokenFailure::Device,
            "the generated public key's attributes are unusable",
        )
    };
    let (alg, key) = match algorithm {
        KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
            let point =
                der::ec_point(&point.ok_or_else(bad)?, algorithm.field_bytes()).ok_or_else(bad)?;
            let alg = if algorithm == KeyAlgorithm::EcP256 {
                rustls::pki_types::alg_id::ECDSA_P256
            } else {
                rustls::pki_types::alg_id::ECDSA_P384
            };
            (alg, point)
        }
        KeyAlgorithm::Rsa(_) => (
            rustls::pki_types::alg_id::RSA_ENCRYPTION,
            der::rsa_public_key(&modulus.ok_or_else(bad)?, &exponent.ok_or_else(bad)?),
        ),
    };
    let public = PublicKey {
        algorithm,
        spki: rustls::sign::public_key_to_spki(&alg, &key)
            .as_ref()
            .to_vec(),
        key,
    };
    prove_possession(session, token, private_key, &public)?;
    Ok((public, private_key))
}

/// Signs fresh random bytes with the new private key and verifies them with the public key the
/// token returned, before any CA certifies that public key (proof of possession; a point off the
/// curve or a public key of another key fails here).
fn prove_possession(
    session: &Session,
    token: &str,
    private_key: ObjectHandle,
    public: &PublicKey,
) -> Result<()> {
    let mut challenge = [0u8; 32];
    crate::error::random_fill(&mut challenge)?;
    let digest = sha2::Sha256::digest(challenge);
    let (mechanism, data, verify): (
        Mechanism<'static>,
        Vec<u8>,
        &'static dyn ring::signature::VerificationAlgorithm,
    ) = match public.algorithm {
        KeyAlgorithm::EcP256 => (
            Mechanism::Ecdsa,
            digest.to_vec(),
            &ring::signature::ECDSA_P256_SHA256_FIXED,
        ),
        KeyAlgorithm::EcP384 => (
            Mechanism::Ecdsa,
            sha2::Sha384::digest(challenge).to_vec(),
            &ring::signature::ECDSA_P384_SHA384_FIXED,
        ),
        KeyAlgorithm::Rsa(_) => (
            Mechanism::RsaPkcs,
            [der::DIGEST_INFO_SHA256, &digest[..]].concat(),
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ),
    };
    let signature = session
        .sign(&mechanism, private_key, &data)
        .map_err(|e| token_error(token, "signing with the new key", &e))?;
    ring::signature::UnparsedPublicKey::new(verify, &public.key)
        .verify(&challenge, &signature)
        .map_err(|_| {
            failure(
                token,
                TokenFailure::Device,
                "a signature by the new key does not verify with the public key the token \
                 returned: no certificate is issued for it",
            )
        })
}

/// Enrols a key on a token in one logged-in session (one PIN entry): generates the key pair that
/// `uri` names (as [`generate_key`]), proves the token holds its private key, has `issue`
/// certify the public key (a CA), and stores the certificate beside the key (as
/// [`store_certificate`]). Returns the certificate.
///
/// `issue` may fail with the caller's own error type, into which this crate's errors convert.
pub fn enrol<E: From<crate::Error>>(
    module: &Path,
    uri: &Pkcs11Uri,
    algorithm: KeyAlgorithm,
    pin: &PinSource,
    issue: impl FnOnce(&PublicKey) -> std::result::Result<CertificateDer<'static>, E>,
) -> std::result::Result<CertificateDer<'static>, E> {
    let (label, _) = label_and_id(uri)?;
    let (session, token) = logged_in_rw(module, uri, pin, label)?;
    let (public, _) = generate_in(&session, &token, uri, algorithm)?;
    let cert = issue(&public)?;
    store_in(&session, &token, uri, &cert)?;
    Ok(cert)
}

/// A public key read from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// The key as X.509's subjectPublicKey holds it: the uncompressed EC point, or the DER
    /// `RSAPublicKey`.
    pub key: Vec<u8>,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// Stores `cert` on the token that `uri` names, as an X.509 certificate object with the URI's
/// label and id (those of the key it certifies).
pub fn store_certificate(
    module: &Path,
    uri: &Pkcs11Uri,
    cert: &CertificateDer<'_>,
    pin: &PinSource,
) -> Result<()> {
    let (session, token) = logged_in_rw(module, uri, pin, "certificate")?;
    store_in(&session, &token, uri, cert)
}

fn store_in(
    session: &Session,
    token: &str,
    uri: &Pkcs11Uri,
    cert: &CertificateDer<'_>,
) -> Result<()> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| {
        failure(
            token,
            TokenFailure::Unsupported,
            format!("the certificate does not parse: {e}"),
        )
    })?;
    let mut template = vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Subject(parsed.subject().as_raw().to_vec()),
        Attribute::Value(cert.as_ref().to_vec()),
    ];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    session
        .create_object(&template)
        .map_err(|e| token_error(token, "storing the certificate", &e))?;
    Ok(())
}
