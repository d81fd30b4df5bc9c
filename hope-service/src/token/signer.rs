//! The token key: PKCS#11 module loading, token and key lookup, login, and rustls signing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use sha2::Digest;

use super::pin::{PinRequest, PinSource};
use super::uri::{ObjectType, Pkcs11Uri};
use super::{TokenFailure, der, failure};
use crate::Result;

/// Sessions kept open for signing, per key (more are opened when more threads sign at once,
/// and closed after).
const POOL: usize = 8;

/// The modules loaded in this process, by canonical path. A module is loaded and initialised
/// once and never unloaded: PKCS#11 state is per process, and finalising it under another user
/// of the same module would break that user.
fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads and initialises the PKCS#11 module at `path` (once per process).
pub fn load_module(path: &Path) -> Result<Pkcs11> {
    let label = path.display().to_string();
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        failure(
            &label,
            TokenFailure::Module,
            format!("module {label}: {e} (the card's PKCS#11 library, e.g. opensc-pkcs11.so)"),
        )
    })?;
    let mut loaded = modules().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = loaded.get(&canonical) {
        return Ok(m.clone());
    }
    let module = Pkcs11::new(&canonical).map_err(|e| {
        failure(
            &label,
            TokenFailure::Module,
            format!("cannot load module {label}: {e}"),
        )
    })?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(failure(
                &label,
                TokenFailure::Module,
                format!("cannot initialise module {label}: {e}"),
            ));
        }
    }
    loaded.insert(canonical, module.clone());
    Ok(module)
}

/// The failure kind of a PKCS#11 error.
fn kind_of(e: &CkError) -> TokenFailure {
    match e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                TokenFailure::PinIncorrect
            }
            RvError::PinLocked | RvError::PinExpired => TokenFailure::PinLocked,
            RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionClosed
            | RvError::SessionHandleInvalid
            | RvError::UserNotLoggedIn
            | RvError::SlotIdInvalid
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid => TokenFailure::Removed,
            RvError::MechanismInvalid | RvError::KeyTypeInconsistent => TokenFailure::Unsupported,
            _ => TokenFailure::Device,
        },
        CkError::LibraryLoading(_) => TokenFailure::Module,
        _ => TokenFailure::Device,
    }
}

fn token_error(token: &str, what: &str, e: &CkError) -> crate::Error {
    failure(token, kind_of(e), format!("{what}: {e}"))
}

fn uri_label(uri: &Pkcs11Uri) -> String {
    uri.token
        .clone()
        .or_else(|| uri.serial.clone().map(|s| format!("serial {s}")))
        .unwrap_or_else(|| "(any)".into())
}

/// The one slot whose token matches `uri`.
fn find_slot(module: &Pkcs11, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo)> {
    let label = uri_label(uri);
    let slots = module
        .get_slots_with_token()
        .map_err(|e| token_error(&label, "listing the slots", &e))?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = module.get_token_info(slot) else {
            continue;
        };
        seen.push(info.label().trim_end().to_string());
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref()
                .is_none_or(|w| w.trim_end() == have.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
            && info.token_initialized()
        {
            found.push((slot, info));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(failure(
            &label,
            TokenFailure::TokenMissing,
            format!(
                "no inserted token matches the URI; tokens present: {}",
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.iter()
                        .map(|s| format!("`{}`", s.escape_debug()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )),
        n => Err(failure(
            &label,
            TokenFailure::TokenAmbiguous,
            format!("{n} tokens match the URI; name one by `token=` or `serial=`"),
        )),
    }
}

/// Tokens on which a login failed in this process (module, serial, label): never tried again.
fn failed_logins() -> &'static Mutex<Vec<(PathBuf, String, String)>> {
    static FAILED: OnceLock<Mutex<Vec<(PathBuf, String, String)>>> = OnceLock::new();
    FAILED.get_or_init(|| Mutex::new(Vec::new()))
}

/// Why a login is not even tried: a locked PIN, or a PIN from a file on a card whose counter says
/// earlier entries failed (a service restarted in a loop would lock it).
fn refusal(
    locked: bool,
    counter_low: bool,
    unattended: bool,
) -> Option<(TokenFailure, &'static str)> {
    if locked {
        return Some((
            TokenFailure::PinLocked,
            "the token says its user PIN is locked; unlock it with the card issuer's procedure \
             (the SO PIN or PUK)",
        ));
    }
    if counter_low && unattended {
        return Some((
            TokenFailure::PinAtRisk,
            "the token says earlier PIN entries failed; a PIN from a file is not tried (a wrong \
             one could lock the card): log in once interactively to reset the counter",
        ));
    }
    None
}

/// Logs the application in on the token of `session` unless it is already, under the policy of
/// the module docs: one try per process, none with a PIN file on a card with few tries left.
fn login(
    session: &Session,
    module_path: &Path,
    info: &TokenInfo,
    pin: &PinSource,
    object: &str,
) -> Result<()> {
    let label = info.label().trim_end().to_string();
    let state = session
        .get_session_info()
        .map_err(|e| token_error(&label, "reading the session", &e))?
        .session_state();
    if matches!(state, SessionState::RoUser | SessionState::RwUser) {
        return Ok(());
    }
    let key = (
        module_path.to_path_buf(),
        info.serial_number().trim_end().to_string(),
        label.clone(),
    );
    if failed_logins()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Err(failure(
            &label,
            TokenFailure::PinIncorrect,
            "a login to this token already failed in this process; not trying again (cards \
             lock after a few wrong PINs)",
        ));
    }
    if let Some((kind, message)) = refusal(
        info.user_pin_locked(),
        info.user_pin_count_low() || info.user_pin_final_try(),
        pin.is_unattended() && !info.protected_authentication_path(),
    ) {
        return Err(failure(&label, kind, message));
    }
    let result = if info.protected_authentication_path() {
        // A PIN pad: the reader asks for the PIN itself.
        session.login(UserType::User, None)
    } else {
        let secret = pin.get(&PinRequest {
            token: &label,
            object,
            count_low: info.user_pin_count_low(),
            final_try: info.user_pin_final_try(),
        })?;
        let auth = AuthPin::from(secret.as_str());
        session.login(UserType::User, Some(&auth))
    };
    match result {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => {
            let kind = kind_of(&e);
            if matches!(kind, TokenFailure::PinIncorrect | TokenFailure::PinLocked) {
                failed_logins()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(key);
            }
            let message = match kind {
                TokenFailure::PinIncorrect => {
                    "the token refused the PIN (not tried again in this process)".to_string()
                }
                TokenFailure::PinLocked => "the token says the PIN is locked".to_string(),
                _ => format!("logging in: {e}"),
            };
            Err(failure(&label, kind, message))
        }
    }
}

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
    fn field_bytes(self) -> usize {
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
        let mut cache = loaded_keys().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(inner) = cache.get(&cache_key).and_then(Weak::upgrade) {
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
        login(&anchor, &cache_key.0, &info, pin, &object_name(uri))?;
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
                ],
            )
            .map_err(|e| token_error(&token, "reading the key's attributes", &e))?;
        let (mut key_type, mut params, mut modulus, mut id, mut key_label) =
            (None, None, None, Vec::new(), Vec::new());
        for a in attributes {
            match a {
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
                if bits < 2048 {
                    return Err(failure(
                        &token,
                        TokenFailure::Unsupported,
                        format!("an RSA key of {bits} bits; TLS here needs at least 2048"),
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
            anchor: Mutex::new(anchor),
        });
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

    /// The certificate stored on the token for this key (same `CKA_ID`, or same label when the
    /// key has no id).
    pub fn certificate_from_token(&self) -> Result<CertificateDer<'static>> {
        let inner = &self.inner;
        let mut template = vec![
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ];
        if !inner.id.is_empty() {
            template.push(Attribute::Id(inner.id.clone()));
        } else {
            template.push(Attribute::Label(inner.label.clone()));
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
                    "{} certificates on the token carry the key's id; give `cert` (a file) in \
                     the configuration",
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
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| mismatch(format!("the certificate does not parse: {e}")))?;
        let spki = parsed.public_key();
        let subject = parsed.subject().to_string();
        let key_bits = spki.subject_public_key.data.as_ref();
        let oid = spki.algorithm.algorithm.to_id_string();
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
            KeyAlgorithm::Rsa(_) => Ok(raw),
        }
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
    let canonical = std::fs::canonicalize(module).unwrap_or_else(|_| module.to_path_buf());
    login(&session, &canonical, &info, pin, object)?;
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
    let (Some(label), Some(id)) = (&uri.object, &uri.id) else {
        return Err(failure(
            uri_label(uri),
            TokenFailure::Unsupported,
            "a new key needs both `object=` (label) and `id=` in its URI",
        ));
    };
    let (session, token) = logged_in_rw(module, uri, pin, label)?;
    for attribute in [
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ] {
        let existing = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), attribute])
            .map_err(|e| token_error(&token, "looking for existing keys", &e))?;
        if !existing.is_empty() {
            return Err(failure(
                &token,
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
    let (public_key, _) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| token_error(&token, "generating the key pair", &e))?;
    let attributes = session
        .get_attributes(
            public_key,
            &[
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| token_error(&token, "reading the public key", &e))?;
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
            &token,
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
    Ok(PublicKey {
        algorithm,
        spki: rustls::sign::public_key_to_spki(&alg, &key)
            .as_ref()
            .to_vec(),
        key,
    })
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
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| {
        failure(
            &token,
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
        .map_err(|e| token_error(&token, "storing the certificate", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn a_locked_card_or_a_low_counter_is_not_tried() {
        assert_eq!(
            refusal(true, false, false).map(|r| r.0),
            Some(TokenFailure::PinLocked)
        );
        assert_eq!(
            refusal(true, true, true).map(|r| r.0),
            Some(TokenFailure::PinLocked)
        );
        assert_eq!(
            refusal(false, true, true).map(|r| r.0),
            Some(TokenFailure::PinAtRisk)
        );
        // A person at a prompt may try on a low counter (the prompt says so); a fresh card is
        // tried from a file.
        assert_eq!(refusal(false, true, false), None);
        assert_eq!(refusal(false, false, true), None);
    }

    #[test]
    fn token_errors_map_to_what_the_user_can_act_on() {
        let kind = |rv| kind_of(&CkError::Pkcs11(rv, Function::Login));
        assert_eq!(kind(RvError::PinIncorrect), TokenFailure::PinIncorrect);
        assert_eq!(kind(RvError::PinLocked), TokenFailure::PinLocked);
        assert_eq!(kind(RvError::PinExpired), TokenFailure::PinLocked);
        for rv in [
            RvError::DeviceRemoved,
            RvError::TokenNotPresent,
            RvError::SessionHandleInvalid,
            RvError::ObjectHandleInvalid,
        ] {
            assert_eq!(kind(rv), TokenFailure::Removed);
        }
        assert_eq!(kind(RvError::MechanismInvalid), TokenFailure::Unsupported);
        assert_eq!(kind(RvError::GeneralError), TokenFailure::Device);
    }
}
