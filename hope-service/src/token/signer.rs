//! The token key: finding the private key, and signing for rustls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use sha2::Digest;

use super::login::login;
use super::module::{find_slot, load_module, token_error, uri_label};
use super::pin::PinSource;
use super::uri::{ObjectType, Pkcs11Uri};
use super::{TokenFailure, der, failure};
use crate::Result;

/// Signatures a key makes at once, and sessions kept open for them (a card has few sessions).
const POOL: usize = 8;

/// The key algorithms a token key may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA with a modulus of this many bits (at least 2048).
    Rsa(u32),
}

impl KeyAlgorithm {
    pub(super) fn field_bytes(self) -> usize {
        match self {
            KeyAlgorithm::EcP256 => 32,
            KeyAlgorithm::EcP384 => 48,
            KeyAlgorithm::Rsa(_) => 0,
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::EcP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Rsa(bits) => write!(f, "RSA {bits}"),
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<KeyAlgorithm, String> {
        match s {
            "ec-p256" => Ok(KeyAlgorithm::EcP256),
            "ec-p384" => Ok(KeyAlgorithm::EcP384),
            "rsa-2048" => Ok(KeyAlgorithm::Rsa(2048)),
            "rsa-3072" => Ok(KeyAlgorithm::Rsa(3072)),
            "rsa-4096" => Ok(KeyAlgorithm::Rsa(4096)),
            _ => Err(format!(
                "`{}`: expected ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096",
                s.escape_debug()
            )),
        }
    }
}

struct Inner {
    token: String,
    slot: Slot,
    module: Pkcs11,
    key: ObjectHandle,
    algorithm: KeyAlgorithm,
    /// `CKM_RSA_PKCS_PSS` and `CKM_RSA_PKCS` offered by the token.
    pss: bool,
    pkcs1: bool,
    /// The key's SubjectPublicKeyInfo, once a certificate has been checked against it.
    spki: OnceLock<Vec<u8>>,
    /// The key's id and label on the token.
    id: Vec<u8>,
    label: Vec<u8>,
    /// Sessions for signing; one of them stays open while the key lives, keeping the login.
    pool: Mutex<Vec<Session>>,
    /// Signatures under way (at most [`POOL`]: a card has few sessions), and their wake-up.
    busy: (Mutex<usize>, Condvar),
    anchor: Mutex<Session>,
}

/// A private key on a PKCS#11 token, usable as a rustls [`SigningKey`]. Cheap to clone; the
/// same key loaded twice in a process is one logged-in key.
#[derive(Clone)]
pub struct TokenKey {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("token", &self.inner.token)
            .field("algorithm", &self.inner.algorithm)
            .finish_non_exhaustive()
    }
}

/// Keys loaded in this process, by module, token serial and label, and the URI's object and id.
type KeyCache =
    Mutex<HashMap<(PathBuf, String, String, Option<String>, Option<Vec<u8>>), Weak<Inner>>>;

fn loaded_keys() -> &'static KeyCache {
    static KEYS: OnceLock<KeyCache> = OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn object_name(uri: &Pkcs11Uri) -> String {
    uri.object
        .clone()
        .or_else(|| uri.id.as_ref().map(|id| format!("id {}", hex::encode(id))))
        .unwrap_or_else(|| "private key".into())
}

impl TokenKey {
    /// The private key that `uri` names in the module at `module`, logged in with `pin` (unless
    /// the application is logged in on the token already).
    pub fn open(module: &Path, uri: &Pkcs11Uri, pin: &PinSource) -> Result<TokenKey> {
        let label = uri_label(uri);
        if let Some(t) = uri.object_type
            && t != ObjectType::Private
        {
            return Err(failure(
                &label,
                TokenFailure::Unsupported,
                format!(
                    "the key URI names a `type={}` object; a private key is `type=private`",
                    t.as_str()
                ),
            ));
        }
        let pkcs11 = load_module(module)?;
        let (slot, info) = find_slot(&pkcs11, uri)?;
        let token = info.label().trim_end().to_string();
        let cache_key = (
            std::fs::canonicalize(module).unwrap_or_else(|_| module.to_path_buf()),
            info.serial_number().trim_end().to_string(),
            token.clone(),
            uri.object.clone(),
            uri.id.clone(),
        );
        let cached = loaded_keys()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cache_key)
            .and_then(Weak::upgrade);
        if let Some(inner) = cached {
            // A key whose card was pulled out and put back has lost its sessions: open afresh.
            let alive = inner
                .anchor
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_session_info()
                .is_ok();
            if alive {
                return Ok(TokenKey { inner });
            }
        }
        let anchor = pkcs11
            .open_ro_session(slot)
            .map_err(|e| token_error(&token, "opening a session", &e))?;
        login(&anchor, &info, pin, &object_name(uri))?;
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(o) = &uri.object {
            template.push(Attribute::Label(o.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        let keys = anchor
            .find_objects(&template)
            .map_err(|e| token_error(&token, "looking for the key", &e))?;
        let key = match keys.as_slice() {
            [k] => *k,
            [] => {
                return Err(failure(
                    &token,
                    TokenFailure::KeyMissing,
                    format!(
                        "no private key matches {} on the token",
                        object_name(uri).escape_debug()
                    ),
                ));
            }
            many => {
                return Err(failure(
                    &token,
                    TokenFailure::KeyAmbiguous,
                    format!(
                        "{} private keys match; name one by `object=` or `id=`",
                        many.len()
                    ),
                ));
            }
        };
        let attributes = anchor
            .get_attributes(
                key,
                &[
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::Modulus,
                    AttributeType::Id,
                    AttributeType::Label,
                    AttributeType::AlwaysAuthenticate,
                ],
            )
            .map_err(|e| token_error(&token, "reading the key's attributes", &e))?;
        let (mut key_type, mut params, mut modulus, mut id, mut key_label) =
            (None, None, None, Vec::new(), Vec::new());
        for a in attributes {
            match a {
                Attribute::AlwaysAuthenticate(true) => {
                    // PIV's signature key, a CPS card's signing key: a PIN before every
                    // signature, which a TLS client cannot ask for at each handshake.
                    return Err(failure(
                        &token,
                        TokenFailure::Unsupported,
                        "the key needs the PIN again before each signature \
                         (CKA_ALWAYS_AUTHENTICATE, a card's signing key): use the card's \
                         authentication key",
                    ));
                }
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::EcParams(p) => params = Some(p),
                Attribute::Modulus(m) => modulus = Some(m),
                Attribute::Id(i) => id = i,
                Attribute::Label(l) => key_label = l,
                _ => {}
            }
        }
        let algorithm = match key_type {
            Some(t) if t == KeyType::EC => match params.as_deref() {
                Some(der::P256_PARAMS) => KeyAlgorithm::EcP256,
                Some(der::P384_PARAMS) => KeyAlgorithm::EcP384,
                _ => {
                    return Err(failure(
                        &token,
                        TokenFailure::Unsupported,
                        "an EC key on a curve other than P-256 and P-384",
                    ));
                }
            },
            Some(t) if t == KeyType::RSA => {
                let bits = modulus.as_deref().map_or(0, |m| {
                    let skip = m.iter().take_while(|&&b| b == 0).count();
                    let m = &m[skip..];
                    let len = u32::try_from(m.len()).unwrap_or(u32::MAX / 8);
                    m.first()
                        .map_or(0, |b| (8 * len.min(u32::MAX / 8)) - b.leading_zeros())
                });
                if !(2048..=8192).contains(&bits) {
                    return Err(failure(
                        &token,
                        TokenFailure::Unsupported,
                        format!("an RSA key of {bits} bits; TLS here takes 2048 to 8192"),
                    ));
                }
                KeyAlgorithm::Rsa(bits)
            }
            _ => {
                return Err(failure(
                    &token,
                    TokenFailure::Unsupported,
                    "a key that is neither EC nor RSA",
                ));
            }
        };
        let mechanisms = pkcs11
            .get_mechanism_list(slot)
            .map_err(|e| token_error(&token, "listing the mechanisms", &e))?;
        let has = |m: MechanismType| mechanisms.contains(&m);
        let (pss, pkcs1) = (
            has(MechanismType::RSA_PKCS_PSS),
            has(MechanismType::RSA_PKCS),
        );
        match algorithm {
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 if !has(MechanismType::ECDSA) => {
                return Err(failure(
                    &token,
                    TokenFailure::Unsupported,
                    "the token does not offer CKM_ECDSA (raw ECDSA over a host-computed hash)",
                ));
            }
            KeyAlgorithm::Rsa(_) if !pss && !pkcs1 => {
                return Err(failure(
                    &token,
                    TokenFailure::Unsupported,
                    "the token offers neither CKM_RSA_PKCS_PSS nor CKM_RSA_PKCS",
                ));
            }
            _ => {}
        }
        let inner = Arc::new(Inner {
            token,
            slot,
            module: pkcs11,
            key,
            algorithm,
            pss,
            pkcs1,
            spki: OnceLock::new(),
            id,
            label: key_label,
            pool: Mutex::new(Vec::new()),
            busy: (Mutex::new(0), Condvar::new()),
            anchor: Mutex::new(anchor),
        });
        let mut cache = loaded_keys().lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, w| w.strong_count() > 0);
        cache.insert(cache_key, Arc::downgrade(&inner));
        Ok(TokenKey { inner })
    }

    /// The token's label.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// The key's algorithm, as read from the token.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm
    }

    /// The certificate stored on the token for this key: the one `cert` names (its `object`
    /// and `id`; the token is the key's), or else the one with the key's `CKA_ID` (its label
    /// when the key has no id).
    pub fn certificate_from_token(
        &self,
        cert: Option<&Pkcs11Uri>,
    ) -> Result<CertificateDer<'static>> {
        let inner = &self.inner;
        let mut template = vec![
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ];
        match cert {
            Some(c) if c.object.is_some() || c.id.is_some() => {
                if let Some(o) = &c.object {
                    template.push(Attribute::Label(o.as_bytes().to_vec()));
                }
                if let Some(id) = &c.id {
                    template.push(Attribute::Id(id.clone()));
                }
            }
            _ if !inner.id.is_empty() => template.push(Attribute::Id(inner.id.clone())),
            _ => template.push(Attribute::Label(inner.label.clone())),
        }
        let session = inner.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let found = session
            .find_objects(&template)
            .map_err(|e| token_error(&inner.token, "looking for the certificate", &e))?;
        let [cert] = found.as_slice() else {
            return Err(failure(
                &inner.token,
                TokenFailure::CertificateMissing,
                format!(
                    "{} certificates on the token match; name one in `cert` (a `pkcs11:` URI with \
                     `object=` or `id=`) or give a file",
                    found.len()
                ),
            ));
        };
        let value = session
            .get_attributes(*cert, &[AttributeType::Value])
            .map_err(|e| token_error(&inner.token, "reading the certificate", &e))?;
        match value.into_iter().next() {
            Some(Attribute::Value(v)) if !v.is_empty() => Ok(CertificateDer::from(v)),
            _ => Err(failure(
                &inner.token,
                TokenFailure::CertificateMissing,
                "the certificate object has no value",
            )),
        }
    }

    /// Checks that `cert` belongs to this key: its public key has the key's algorithm, and a
    /// signature the token makes over fresh random bytes verifies with it. Remembers its
    /// public key for rustls.
    pub fn check_certificate(&self, cert: &CertificateDer<'_>) -> Result<()> {
        let inner = &self.inner;
        let mismatch = |m: String| failure(&inner.token, TokenFailure::Mismatch, m);
        let unusable = |m: String| failure(&inner.token, TokenFailure::Unsupported, m);
        let (rest, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| unusable(format!("the certificate does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(unusable(format!(
                "{} bytes follow the certificate",
                rest.len()
            )));
        }
        let spki = parsed.public_key();
        let subject = parsed.subject().to_string();
        let key_bits = spki.subject_public_key.data.as_ref();
        let oid = spki.algorithm.algorithm.to_id_string();
        // The named curve the certificate declares must be the token key's curve.
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        let expected_curve = match inner.algorithm {
            KeyAlgorithm::EcP256 => Some("1.2.840.10045.3.1.7"),
            KeyAlgorithm::EcP384 => Some("1.3.132.0.34"),
            KeyAlgorithm::Rsa(_) => None,
        };
        if expected_curve.is_some() && curve.as_deref() != expected_curve {
            return Err(mismatch(format!(
                "the certificate of {} declares the curve {} for a {} key",
                subject.escape_debug(),
                curve.as_deref().unwrap_or("(none)"),
                inner.algorithm
            )));
        }
        let (scheme, verify): (
            SignatureScheme,
            &'static dyn ring::signature::VerificationAlgorithm,
        ) = match (inner.algorithm, oid.as_str()) {
            (KeyAlgorithm::EcP256, "1.2.840.10045.2.1") => (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                &ring::signature::ECDSA_P256_SHA256_ASN1,
            ),
            (KeyAlgorithm::EcP384, "1.2.840.10045.2.1") => (
                SignatureScheme::ECDSA_NISTP384_SHA384,
                &ring::signature::ECDSA_P384_SHA384_ASN1,
            ),
            (KeyAlgorithm::Rsa(_), "1.2.840.113549.1.1.1") if inner.pss => (
                SignatureScheme::RSA_PSS_SHA256,
                &ring::signature::RSA_PSS_2048_8192_SHA256,
            ),
            (KeyAlgorithm::Rsa(_), "1.2.840.113549.1.1.1") => (
                SignatureScheme::RSA_PKCS1_SHA256,
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            ),
            (algorithm, _) => {
                return Err(mismatch(format!(
                    "the certificate of {} holds a key of another type (algorithm {oid}) \
                         than the token's {algorithm} key",
                    subject.escape_debug()
                )));
            }
        };
        let mut challenge = b"hope-rs token key check ".to_vec();
        let mut random = [0u8; 32];
        crate::error::random_fill(&mut random)?;
        challenge.extend_from_slice(&random);
        let signature = self.sign_with(scheme, &challenge)?;
        ring::signature::UnparsedPublicKey::new(verify, key_bits)
            .verify(&challenge, &signature)
            .map_err(|_| {
                mismatch(format!(
                    "a signature by the token's key does not verify with the public key of \
                     the certificate of {}: the certificate belongs to another key",
                    subject.escape_debug()
                ))
            })?;
        let _ = inner.spki.set(spki.raw.to_vec());
        Ok(())
    }

    /// Signs `message` with `scheme` (the hash computed here, the signature by the token), and
    /// returns the signature as TLS wants it.
    pub fn sign_with(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>> {
        let inner = &self.inner;
        let unsupported = || {
            failure(
                &inner.token,
                TokenFailure::Unsupported,
                format!("scheme {scheme:?} with a {} key", inner.algorithm),
            )
        };
        let pss = |hash: MechanismType, mgf: PkcsMgfType, len: u64| {
            Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg: hash,
                mgf,
                s_len: len.into(),
            })
        };
        let digest_info = |prefix: &[u8], digest: &[u8]| [prefix, digest].concat();
        let (mechanism, data) = match (inner.algorithm, scheme) {
            (KeyAlgorithm::EcP256, SignatureScheme::ECDSA_NISTP256_SHA256) => {
                (Mechanism::Ecdsa, sha2::Sha256::digest(message).to_vec())
            }
            (KeyAlgorithm::EcP384, SignatureScheme::ECDSA_NISTP384_SHA384) => {
                (Mechanism::Ecdsa, sha2::Sha384::digest(message).to_vec())
            }
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PSS_SHA256) if inner.pss => (
                pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
                sha2::Sha256::digest(message).to_vec(),
            ),
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PSS_SHA384) if inner.pss => (
                pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
                sha2::Sha384::digest(message).to_vec(),
            ),
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PSS_SHA512) if inner.pss => (
                pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
                sha2::Sha512::digest(message).to_vec(),
            ),
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PKCS1_SHA256) if inner.pkcs1 => (
                Mechanism::RsaPkcs,
                digest_info(der::DIGEST_INFO_SHA256, &sha2::Sha256::digest(message)),
            ),
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PKCS1_SHA384) if inner.pkcs1 => (
                Mechanism::RsaPkcs,
                digest_info(der::DIGEST_INFO_SHA384, &sha2::Sha384::digest(message)),
            ),
            (KeyAlgorithm::Rsa(_), SignatureScheme::RSA_PKCS1_SHA512) if inner.pkcs1 => (
                Mechanism::RsaPkcs,
                digest_info(der::DIGEST_INFO_SHA512, &sha2::Sha512::digest(message)),
            ),
            _ => return Err(unsupported()),
        };
        let _slot = SessionSlot::take(&inner.busy);
        let session = {
            let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.pop()
        };
        let session = match session {
            Some(s) => s,
            None => inner
                .module
                .open_ro_session(inner.slot)
                .map_err(|e| token_error(&inner.token, "opening a session", &e))?,
        };
        let raw = session
            .sign(&mechanism, inner.key, &data)
            .map_err(|e| token_error(&inner.token, "signing", &e))?;
        {
            let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL {
                pool.push(session);
            }
        }
        match inner.algorithm {
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
                der::ecdsa_signature(&raw, inner.algorithm.field_bytes()).ok_or_else(|| {
                    failure(
                        &inner.token,
                        TokenFailure::Device,
                        format!(
                            "the token's ECDSA signature is {} bytes; expected {}",
                            raw.len(),
                            2 * inner.algorithm.field_bytes()
                        ),
                    )
                })
            }
            KeyAlgorithm::Rsa(bits) => rsa_signature(raw, bits).ok_or_else(|| {
                failure(
                    &inner.token,
                    TokenFailure::Device,
                    format!("the token's RSA signature is longer than a {bits}-bit modulus"),
                )
            }),
        }
    }

    /// True if this key can sign in TLS 1.3 (ECDSA, or RSA with RSA-PSS on the token); an RSA
    /// key on a token without `CKM_RSA_PKCS_PSS` signs in TLS 1.2 only.
    pub fn tls13_capable(&self) -> bool {
        self.schemes().iter().any(|s| {
            matches!(
                s,
                SignatureScheme::ECDSA_NISTP256_SHA256
                    | SignatureScheme::ECDSA_NISTP384_SHA384
                    | SignatureScheme::RSA_PSS_SHA256
                    | SignatureScheme::RSA_PSS_SHA384
                    | SignatureScheme::RSA_PSS_SHA512
            )
        })
    }

    /// The TLS signature schemes this key can sign with, in order of preference: the curve's
    /// ECDSA scheme; RSA-PSS (TLS 1.3 and 1.2), then PKCS#1 v1.5 (which rustls offers only in
    /// TLS 1.2).
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        let inner = &self.inner;
        match inner.algorithm {
            KeyAlgorithm::EcP256 => vec![SignatureScheme::ECDSA_NISTP256_SHA256],
            KeyAlgorithm::EcP384 => vec![SignatureScheme::ECDSA_NISTP384_SHA384],
            KeyAlgorithm::Rsa(_) => {
                let mut s = Vec::new();
                if inner.pss {
                    s.extend([
                        SignatureScheme::RSA_PSS_SHA256,
                        SignatureScheme::RSA_PSS_SHA384,
                        SignatureScheme::RSA_PSS_SHA512,
                    ]);
                }
                if inner.pkcs1 {
                    s.extend([
                        SignatureScheme::RSA_PKCS1_SHA256,
                        SignatureScheme::RSA_PKCS1_SHA384,
                        SignatureScheme::RSA_PKCS1_SHA512,
                    ]);
                }
                s
            }
        }
    }
}

impl SigningKey for TokenKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = self.schemes().into_iter().find(|s| offered.contains(s))?;
        Some(Box::new(TokenSigner {
            key: self.clone(),
            scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        self.inner
            .spki
            .get()
            .map(|s| SubjectPublicKeyInfoDer::from(s.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner.algorithm {
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => SignatureAlgorithm::ECDSA,
            KeyAlgorithm::Rsa(_) => SignatureAlgorithm::RSA,
        }
    }
}

#[derive(Debug)]
struct TokenSigner {
    key: TokenKey,
    scheme: SignatureScheme,
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, rustls::Error> {
        self.key
            .sign_with(self.scheme, message)
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// An RSA signature at the modulus length TLS wants (some modules drop `C_Sign`'s leading zero
/// octets); `None` if it is longer.
fn rsa_signature(raw: Vec<u8>, bits: u32) -> Option<Vec<u8>> {
    let k = bits.div_ceil(8) as usize;
    if raw.len() > k {
        return None;
    }
    let mut padded = vec![0u8; k - raw.len()];
    padded.extend_from_slice(&raw);
    Some(padded)
}

/// One of a key's [`POOL`] signing slots, given back on drop.
struct SessionSlot<'a>(&'a (Mutex<usize>, Condvar));

impl<'a> SessionSlot<'a> {
    fn take(busy: &'a (Mutex<usize>, Condvar)) -> SessionSlot<'a> {
        let (count, freed) = busy;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= POOL {
            n = freed.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        SessionSlot(busy)
    }
}

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        let (count, freed) = self.0;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack finding L1: a signature whose leading zero octets a module dropped is padded back.
    #[test]
    fn rsa_signatures_are_padded_to_the_modulus() {
        assert_eq!(rsa_signature(vec![1, 2], 2048).unwrap().len(), 256);
        assert_eq!(rsa_signature(vec![1, 2], 2048).unwrap()[254..], [1, 2]);
        assert_eq!(rsa_signature(vec![7; 256], 2048).unwrap(), vec![7; 256]);
        assert_eq!(rsa_signature(vec![7; 384], 3072).unwrap().len(), 384);
        assert!(rsa_signature(vec![7; 257], 2048).is_none());
    }
}
