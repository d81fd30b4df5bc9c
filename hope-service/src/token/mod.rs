//! Private keys on smart cards, USB tokens and HSMs (PKCS#11), for every mutual-TLS client.
//!
//! A physician's certificate key lives on a card (a French CPS card, a PIV card, a YubiKey, a TPM
//! or an HSM) and never on disk. A client configuration that names a key file today can name a
//! key on a token instead:
//!
//! ```toml
//! cert = "alice.pem"        # or omitted: the certificate stored on the token beside the key
//! key = "pkcs11:token=CPS;object=Authentication%20key;type=private"
//! pkcs11_module = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
//! pin_file = "/run/hope/pin"  # services; people are asked on the terminal instead
//! ```
//!
//! The module is the card's PKCS#11 library: OpenSC's `opensc-pkcs11.so` for most cards (PIV,
//! CPS through the vendor's or OpenSC's driver, YubiKey PIV), the vendor's own library otherwise
//! (e.g. the CPS card's `libcps3_pkcs11_lux.so`), `libsofthsm2.so` for SoftHSM2, `libtpm2_pkcs11.so`
//! for a TPM. [`TokenKey`] is a rustls signing key: the handshake's signature is computed by the
//! card; the key never leaves it.
//!
//! # Why not an existing crate
//!
//! Gluing PKCS#11 to TLS has details that break with real cards, and the request for this module
//! reported that the existing glue (`rustls-pkcs11`) gets them wrong; rather than depend on it,
//! this module handles each one itself and tests it against SoftHSM2:
//!
//! - many tokens, SoftHSM2 included, refuse `CKM_ECDSA_SHA256`: the hash is computed on the host
//!   and the card signs it with raw `CKM_ECDSA`;
//! - PKCS#11 returns an ECDSA signature as `r || s`, TLS wants a DER `Ecdsa-Sig-Value`: it is
//!   encoded here, with the leading zero octets of `r` and `s` removed (about one signature in
//!   128 has one; a non-minimal encoding fails verification) and a zero octet added where the
//!   high bit is set;
//! - the signature scheme follows the key's type and curve as the token reports them, not the
//!   CA's signature algorithm; RSA PKCS#1 v1.5 is offered only where TLS 1.2 allows it (rustls
//!   offers TLS 1.3 schemes only in TLS 1.3), RSA-PSS otherwise;
//! - the certificate, from the token or a file, is checked against the key at load time by a
//!   signature the card makes and the certificate's public key verifies;
//! - a wrong PIN is never retried (cards lock after a few).
//!
//! # PINs
//!
//! A PIN comes from a file named explicitly (`pin_file`, or the URI's `pin-source`; a descriptor
//! as `/dev/fd/N`) or from the application's prompt ([`set_pin_prompt`]; the `hope` command asks
//! on the terminal), never from an environment variable. It is held in zeroized memory only while
//! logging in, and never logged or put in an error. A PIN file must be a regular file (or a
//! descriptor named `/dev/fd/N`), neither readable by others nor writable by anyone but its owner.
//! A login that fails is not tried again in the same process (whichever module reaches the card);
//! a PIN file a token refused leaves a marker beside it (`PIN_FILE.refused`), and is not tried
//! again by any process until the file changes, so a service restarted in a loop spends one try,
//! not all; a card whose PIN counter is low or at its final try is not tried with a PIN from a
//! file; a locked card is reported as such and not tried.
//!
//! # Threads
//!
//! Keys are shared: loading the same key twice in a process gives the same logged-in key (one
//! PIN entry). Each signature takes a PKCS#11 session from a small pool, so the clients that talk
//! to k key servers in parallel sign in parallel where the card allows it. One session stays open
//! while the key lives, so the login does too.

mod der;
mod enrol;
mod login;
mod module;
mod pin;
mod signer;
mod uri;

pub use enrol::{PublicKey, enrol, generate_key, store_certificate};
pub use module::load_module;
pub use pin::{PinPrompt, PinRequest, PinSource, set_pin_prompt};
pub use signer::{KeyAlgorithm, TokenKey};
pub use uri::{MAX_URI_BYTES, ObjectType, Pkcs11Uri, UriError};

/// What went wrong with a token, one kind per cause a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenFailure {
    /// The PKCS#11 module cannot be loaded or initialised.
    Module,
    /// No token (card) matches the URI: not inserted, or another label.
    TokenMissing,
    /// Several tokens match the URI.
    TokenAmbiguous,
    /// No private key matches the URI on the token.
    KeyMissing,
    /// Several private keys match the URI.
    KeyAmbiguous,
    /// No certificate on the token for the key.
    CertificateMissing,
    /// A PIN is needed and no way to get one was given (or the prompt was cancelled).
    PinNeeded,
    /// The token refused the PIN.
    PinIncorrect,
    /// The PIN is locked (too many wrong PINs): the card issuer's unlock procedure is needed.
    PinLocked,
    /// The PIN has expired and must be changed with the card's own tool.
    PinExpired,
    /// The token says its PIN counter is low or at its final try: a PIN from a file is not tried.
    PinAtRisk,
    /// The token was removed, its session was lost, or the key is no longer on it. Nothing is
    /// retried with a PIN: the handshakes that need the key fail with this error.
    Removed,
    /// The certificate does not belong to the key.
    Mismatch,
    /// The key's type, curve or size, or the token's mechanisms, are not usable for TLS.
    Unsupported,
    /// The token reported another error.
    Device,
}

impl std::fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenFailure::Module => "the PKCS#11 module cannot be used",
            TokenFailure::TokenMissing => "no such token (is the card inserted?)",
            TokenFailure::TokenAmbiguous => "several tokens match",
            TokenFailure::KeyMissing => "no such private key on the token",
            TokenFailure::KeyAmbiguous => "several private keys match",
            TokenFailure::CertificateMissing => "no certificate for the key on the token",
            TokenFailure::PinNeeded => "a PIN is needed",
            TokenFailure::PinIncorrect => "wrong PIN",
            TokenFailure::PinLocked => "the PIN is locked",
            TokenFailure::PinExpired => "the PIN has expired",
            TokenFailure::PinAtRisk => "the card has few PIN tries left",
            TokenFailure::Removed => "the token or its key is gone (card removed?)",
            TokenFailure::Mismatch => "the certificate does not belong to the key",
            TokenFailure::Unsupported => "unsupported key or token",
            TokenFailure::Device => "the token failed",
        })
    }
}

pub(crate) fn failure(
    token: impl Into<String>,
    kind: TokenFailure,
    message: impl Into<String>,
) -> crate::Error {
    crate::Error::Token {
        token: token.into(),
        kind,
        message: message.into(),
    }
}
