//! Keys on a real PKCS#11 module (SoftHSM2, set up by `scripts/test`): TLS 1.3 and 1.2 client
//! authentication with ECDSA and RSA-PSS keys held by the token, signatures that verify (the
//! leading-zero case included), signing from many threads, and one clear error per failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hope_service::tls::{self, ClientIdentity, Source, TlsFiles};
use hope_service::token::{KeyAlgorithm, PinSource, Pkcs11Uri, TokenFailure, TokenKey};
use hope_test_support::pkcs11::{TestToken, token};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::SignatureScheme;
use rustls_pki_types::CertificateDer;

/// A public key from a token, for rcgen to certify.
struct TokenPublicKey(hope_service::token::PublicKey);

impl rcgen::PublicKeyData for TokenPublicKey {
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

/// A CA, a server certificate for localhost and the folder they are written to.
struct Pki {
    issuer: Issuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "token test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ca.pem"),
            params.self_signed(&key).unwrap().pem(),
        )
        .unwrap();
        let issuer = Issuer::new(params, key);
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&server_key, &issuer).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Pki { issuer, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client certificate for `public` (CN = `user`), in PEM and DER.
    fn certify(&self, user: &str, public: &impl rcgen::PublicKeyData) -> (String, Vec<u8>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(public, &self.issuer).unwrap();
        (cert.pem(), cert.der().to_vec())
    }
}

fn key_uri(t: &TestToken, object: &str, id: u8) -> Pkcs11Uri {
    Pkcs11Uri {
        token: Some(t.label.clone()),
        object: Some(object.into()),
        id: Some(vec![id]),
        ..Pkcs11Uri::default()
    }
}

/// A key generated on `t`, its certificate issued by `pki`, written to `USER.pem` and stored
/// on the token; returns the key's URI.
fn enrol(pki: &Pki, t: &TestToken, user: &str, id: u8, algorithm: KeyAlgorithm) -> Pkcs11Uri {
    let uri = key_uri(t, user, id);
    let pin = PinSource::File(t.pin_file.clone());
    let public = hope_service::token::generate_key(&t.module, &uri, algorithm, &pin).unwrap();
    assert_eq!(public.algorithm, algorithm);
    let (pem, der) = pki.certify(user, &TokenPublicKey(public));
    std::fs::write(pki.path(&format!("{user}.pem")), pem).unwrap();
    hope_service::token::store_certificate(&t.module, &uri, &CertificateDer::from(der), &pin)
        .unwrap();
    uri
}

/// A fresh token (`None` without SoftHSM2), a PKI, and one enrolled key.
fn one_key(
    prefix: &str,
    user: &str,
    algorithm: KeyAlgorithm,
) -> Option<(TestToken, Pki, Pkcs11Uri)> {
    let t = token(prefix, "1234")?;
    let pki = Pki::new();
    let uri = enrol(&pki, &t, user, 1, algorithm);
    Some((t, pki, uri))
}

fn identity(t: &TestToken, uri: &Pkcs11Uri, cert: Option<&Path>) -> ClientIdentity {
    ClientIdentity {
        cert: cert.map(|p| Source::File(p.to_path_buf())),
        key: Source::Token(uri.clone()),
        pkcs11_module: Some(t.module.clone()),
        pin: PinSource::File(t.pin_file.clone()),
        origin: PathBuf::from("test client"),
    }
}

/// One handshake with hope-service's own server configuration (which requires a client
/// certificate from the CA); returns the negotiated version and the client's name as the
/// server saw it.
fn handshake(pki: &Pki, client: Arc<rustls::ClientConfig>) -> (rustls::ProtocolVersion, String) {
    let server = tls::server_config(
        &TlsFiles {
            cert: &pki.path("server.pem"),
            key: &pki.path("server.key"),
            ca: &pki.path("ca.pem"),
        },
        None,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let served = std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let mut conn =
            rustls::StreamOwned::new(rustls::ServerConnection::new(server).unwrap(), socket);
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).unwrap();
        conn.write_all(b"!").unwrap();
        let peer = conn.conn.peer_certificates().unwrap()[0].clone();
        tls::principal_of(&peer).unwrap().name
    });
    let socket = TcpStream::connect(address).unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn =
        rustls::StreamOwned::new(rustls::ClientConnection::new(client, name).unwrap(), socket);
    conn.write_all(b"?").unwrap();
    let mut byte = [0u8; 1];
    conn.read_exact(&mut byte).unwrap();
    let version = conn.conn.protocol_version().unwrap();
    (version, served.join().unwrap())
}

fn client_with(
    pki: &Pki,
    identity: &tls::LoadedIdentity,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in tls::load_certs(&pki.path("ca.pem")).unwrap() {
        roots.add(c).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
            identity.certified_key(),
        ))),
    )
}

#[test]
fn tls_13_and_12_handshakes_with_ecdsa_and_rsa_keys_on_the_token() {
    let Some(t) = token("hope-tls", "1234") else {
        return;
    };
    let pki = Pki::new();
    for (user, id, algorithm) in [
        ("ec256", 1, KeyAlgorithm::EcP256),
        ("ec384", 2, KeyAlgorithm::EcP384),
        ("rsa", 3, KeyAlgorithm::Rsa(2048)),
    ] {
        let uri = enrol(&pki, &t, user, id, algorithm);
        // The certificate from the token, then from the file: both checked against the key.
        for cert in [None, Some(pki.path(&format!("{user}.pem")))] {
            let loaded = identity(&t, &uri, cert.as_deref()).load().unwrap();
            assert_eq!(loaded.principal().unwrap().name, user);
            for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
                let client = client_with(&pki, &loaded, &[version]);
                let (got, seen) = handshake(&pki, client);
                assert_eq!(got, version.version, "{user}");
                assert_eq!(seen, user);
            }
            // The configuration hope's clients use (both versions offered: TLS 1.3 chosen).
            let (got, _) = handshake(&pki, loaded.client_config(&pki.path("ca.pem")).unwrap());
            assert_eq!(got, rustls::ProtocolVersion::TLSv1_3);
        }
    }
}

#[test]
fn the_scheme_comes_from_the_key_and_pkcs1_only_where_tls_12_allows_it() {
    let Some(t) = token("hope-scheme", "1234") else {
        return;
    };
    let pki = Pki::new();
    let rsa = enrol(&pki, &t, "rsa", 1, KeyAlgorithm::Rsa(2048));
    let ec = enrol(&pki, &t, "ec", 2, KeyAlgorithm::EcP256);
    use rustls::sign::SigningKey;
    let pin = PinSource::File(t.pin_file.clone());
    let rsa = TokenKey::open(&t.module, &rsa, &pin).unwrap();
    let ec = TokenKey::open(&t.module, &ec, &pin).unwrap();
    // What rustls offers in TLS 1.3 (no PKCS#1): PSS for the RSA key, whatever the CA used.
    let tls13 = [
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::RSA_PSS_SHA256,
    ];
    assert_eq!(
        rsa.choose_scheme(&tls13).unwrap().scheme(),
        SignatureScheme::RSA_PSS_SHA256
    );
    assert_eq!(
        ec.choose_scheme(&tls13).unwrap().scheme(),
        SignatureScheme::ECDSA_NISTP256_SHA256
    );
    // A TLS 1.2 server offering PKCS#1 only.
    let pkcs1 = [SignatureScheme::RSA_PKCS1_SHA256];
    let signer = rsa.choose_scheme(&pkcs1).unwrap();
    assert_eq!(signer.scheme(), SignatureScheme::RSA_PKCS1_SHA256);
    // A P-256 key never signs with the P-384 scheme, nor an RSA key with ECDSA.
    assert!(
        ec.choose_scheme(&[SignatureScheme::ECDSA_NISTP384_SHA384])
            .is_none()
    );
    assert!(
        rsa.choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .is_none()
    );
    // The PKCS#1 and PSS signatures verify with the certificate's key.
    let cert = tls::load_certs(&pki.path("rsa.pem")).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(cert[0].as_ref()).unwrap();
    let key = parsed.public_key().subject_public_key.data.to_vec();
    let message = b"a TLS 1.2 handshake transcript";
    let sig = signer.sign(message).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &key)
        .verify(message, &sig)
        .unwrap();
    let sig = rsa
        .sign_with(SignatureScheme::RSA_PSS_SHA384, message)
        .unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PSS_2048_8192_SHA384, &key)
        .verify(message, &sig)
        .unwrap();
}

#[test]
fn a_thousand_ecdsa_signatures_verify_including_short_integers() {
    let Some((t, pki, uri)) = one_key("hope-sigs", "signer", KeyAlgorithm::EcP256) else {
        return;
    };
    let key = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap();
    let cert = tls::load_certs(&pki.path("signer.pem")).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(cert[0].as_ref()).unwrap();
    let public = parsed.public_key().subject_public_key.data.to_vec();
    let verifier =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &public);
    let (mut signed, mut short, mut padded) = (0, 0, 0);
    // At least 1,000, and on until an integer with a leading zero octet was seen (about one
    // signature in 128 has one; 5,000 without is a 1e-17 event).
    while signed < 1000 || (short == 0 && signed < 5000) {
        let message = format!("handshake {signed}");
        let sig = key
            .sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, message.as_bytes())
            .unwrap();
        verifier
            .verify(message.as_bytes(), &sig)
            .unwrap_or_else(|_| panic!("signature {signed} does not verify: {sig:02x?}"));
        // SEQUENCE { INTEGER r, INTEGER s }: lengths below 32 had leading zeros removed, 33
        // had a zero added for the high bit.
        let r_len = usize::from(sig[3]);
        let s_len = usize::from(sig[4 + r_len + 1]);
        for len in [r_len, s_len] {
            short += usize::from(len < 32);
            padded += usize::from(len == 33);
        }
        signed += 1;
    }
    assert!(short > 0, "no short integer in {signed} signatures");
    assert!(padded > 0);
    // Each rejects a signature of another message.
    let sig = key
        .sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, b"one")
        .unwrap();
    assert!(verifier.verify(b"two", &sig).is_err());
}

#[test]
fn many_threads_sign_with_one_key() {
    let Some((t, pki, uri)) = one_key("hope-threads", "threads", KeyAlgorithm::EcP256) else {
        return;
    };
    let loaded = identity(&t, &uri, None).load().unwrap();
    // The same key loaded again is the same logged-in key: no second login.
    let again = identity(&t, &uri, None).load().unwrap();
    assert_eq!(again.principal().unwrap().name, "threads");
    let config = loaded.client_config(&pki.path("ca.pem")).unwrap();
    let pki = Arc::new(pki);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (pki, config) = (Arc::clone(&pki), Arc::clone(&config));
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let (_, seen) = handshake(&pki, Arc::clone(&config));
                    assert_eq!(seen, "threads");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn wrong_pin_missing_token_and_mismatch_each_say_so() {
    let Some((t, pki, uri)) = one_key("hope-errors", "alice", KeyAlgorithm::EcP256) else {
        return;
    };
    let other = enrol(&pki, &t, "bob", 2, KeyAlgorithm::EcP256);
    let kind = |id: ClientIdentity| {
        let e = id.load().unwrap_err();
        assert!(!e.to_string().contains("1234"), "{e}");
        (e.token_failure(), e.to_string())
    };

    // A certificate of another key (bob's certificate with alice's key).
    let (k, m) = kind(identity(&t, &uri, Some(&pki.path("bob.pem"))));
    assert_eq!(k, Some(TokenFailure::Mismatch), "{m}");
    assert!(m.contains("does not verify"), "{m}");

    // A token that is not there.
    let mut missing = uri.clone();
    missing.token = Some("no-such-card".into());
    let (k, m) = kind(identity(&t, &missing, None));
    assert_eq!(k, Some(TokenFailure::TokenMissing), "{m}");
    // Token labels may name their holders: counted, never listed.
    assert!(m.contains("no-such-card") && !m.contains(&t.label), "{m}");
    assert!(m.contains("token(s) present"), "{m}");

    // A key that is not there.
    let mut nokey = uri.clone();
    nokey.object = Some("carol".into());
    nokey.id = None;
    let (k, m) = kind(identity(&t, &nokey, None));
    assert_eq!(k, Some(TokenFailure::KeyMissing), "{m}");

    // A module that is not there.
    let mut id = identity(&t, &uri, None);
    id.pkcs11_module = Some("/nonexistent/opensc-pkcs11.so".into());
    let (k, m) = kind(id);
    assert_eq!(k, Some(TokenFailure::Module), "{m}");

    // No module at all: a configuration error naming the field.
    let mut id = identity(&t, &uri, None);
    id.pkcs11_module = None;
    let e = id.load().unwrap_err();
    assert!(e.to_string().contains("pkcs11_module"), "{e}");

    // No PIN source and no prompt.
    let Some(fresh) = token("hope-nopin", "1234") else {
        return;
    };
    let fresh_uri = key_uri(&fresh, "x", 1);
    let mut id = identity(&fresh, &fresh_uri, None);
    id.pin = PinSource::Application;
    let (k, m) = kind(id);
    assert_eq!(k, Some(TokenFailure::PinNeeded), "{m}");

    // The wrong PIN: refused, and not tried again in this process, even with the right one.
    let Some(other_token) = token("hope-wrongpin", "1234") else {
        return;
    };
    let wrong = other_token.dir.path().join("wrong");
    std::fs::write(&wrong, "9999\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let wrong_uri = key_uri(&other_token, "x", 1);
    let mut id = identity(&other_token, &wrong_uri, None);
    id.pin = PinSource::File(wrong);
    let (k, m) = kind(id);
    assert_eq!(k, Some(TokenFailure::PinIncorrect), "{m}");
    let (k, m) = kind(identity(&other_token, &wrong_uri, None));
    assert_eq!(k, Some(TokenFailure::PinIncorrect), "{m}");
    assert!(m.contains("already failed"), "{m}");

    // A key URI naming a certificate.
    let mut cert_uri = other.clone();
    cert_uri.object_type = Some(hope_service::token::ObjectType::Cert);
    let (k, m) = kind(identity(&t, &cert_uri, None));
    assert_eq!(k, Some(TokenFailure::Unsupported), "{m}");
}

#[test]
fn a_configuration_value_starting_with_pkcs11_is_a_token_uri() {
    #[derive(Debug, serde::Deserialize)]
    struct C {
        key: Source,
        cert: Source,
    }
    let c: C =
        toml::from_str("key = \"pkcs11:token=CPS;object=auth;type=private\"\ncert = \"alice.pem\"")
            .unwrap();
    let Source::Token(uri) = c.key else {
        panic!("a token URI")
    };
    assert_eq!(uri.token.as_deref(), Some("CPS"));
    assert_eq!(c.cert, Source::File("alice.pem".into()));
    let e = toml::from_str::<C>("key = \"pkcs11:tokn=CPS\"\ncert = \"a\"").unwrap_err();
    assert!(
        e.to_string().contains("unknown path attribute `tokn`"),
        "{e}"
    );
}

#[test]
fn a_removed_token_fails_the_signature_with_its_own_error_and_no_login() {
    let Some((t, _pki, uri)) = one_key("hope-removed", "gone", KeyAlgorithm::EcP256) else {
        return;
    };
    let key = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap();
    key.sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, b"before")
        .unwrap();
    // The card is pulled out: softhsm2-util deletes the token (another process, as a reader
    // would see it).
    let out = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", &t.label])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..3 {
        let e = key
            .sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, b"after")
            .unwrap_err();
        assert_eq!(e.token_failure(), Some(TokenFailure::Removed), "{e}");
    }
    // Loading it again says the card is missing.
    let e = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap_err();
    assert!(
        matches!(
            e.token_failure(),
            Some(TokenFailure::TokenMissing | TokenFailure::Removed)
        ),
        "{e}"
    );
}

/// Attack finding M2: a slow PIN entry for one card does not stop the process from using a key
/// it already holds (the key cache is not locked while someone types a PIN).
#[test]
fn attack_22_a_pending_pin_prompt_does_not_block_other_keys() {
    use hope_service::token::{PinPrompt, PinRequest};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let Some((t, _pki, uri)) = one_key("hope-prompt-a", "ready", KeyAlgorithm::EcP256) else {
        return;
    };
    let loaded = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap();
    let Some(slow) = token("hope-prompt-b", "1234") else {
        return;
    };
    struct Slow(std::sync::Mutex<mpsc::Receiver<()>>, mpsc::Sender<()>);
    impl PinPrompt for Slow {
        fn pin(&self, _: &PinRequest<'_>) -> Option<zeroize::Zeroizing<String>> {
            let _ = self.1.send(());
            let _ = self.0.lock().unwrap().recv_timeout(Duration::from_secs(20));
            Some(zeroize::Zeroizing::new("1234".into()))
        }
    }
    let (release, wait) = mpsc::channel();
    let (asked, asking) = mpsc::channel();
    let prompt = Arc::new(Slow(std::sync::Mutex::new(wait), asked));
    let slow_uri = key_uri(&slow, "x", 1);
    let module = slow.module.clone();
    let typing = std::thread::spawn(move || {
        TokenKey::open(&module, &slow_uri, &PinSource::Prompt(prompt)).map(|_| ())
    });
    asking.recv_timeout(Duration::from_secs(10)).unwrap();
    // Someone is typing a PIN for the other card: the loaded key still opens and signs.
    let start = Instant::now();
    let again = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap();
    again
        .sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, b"meanwhile")
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    release.send(()).unwrap();
    // No key "x" on that card: the login went through, the key is missing.
    let e = typing.join().unwrap().unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::KeyMissing), "{e}");
    drop(loaded);
}

/// Attack finding M3: the same card reached through a second module (OpenSC and p11-kit's proxy
/// both see a CPS card) is not tried a second time after a wrong PIN; the refused PIN file is
/// marked so that another process does not try it either until it changes.
#[test]
fn attack_22_a_wrong_pin_is_not_retried_through_another_module() {
    let Some(t) = token("hope-twomod", "1234") else {
        return;
    };
    let wrong = t.dir.path().join("wrong");
    std::fs::write(&wrong, "9999\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let uri = key_uri(&t, "x", 1);
    let e = TokenKey::open(&t.module, &uri, &PinSource::File(wrong.clone())).unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::PinIncorrect), "{e}");
    assert!(
        wrong.with_file_name("wrong.refused").exists(),
        "no marker beside the refused PIN file"
    );
    // A copy of the module at another path: another PKCS#11 instance, the same card.
    let copy = t.dir.path().join("libsofthsm2-copy.so");
    std::fs::copy(&t.module, &copy).unwrap();
    let e = TokenKey::open(&copy, &uri, &PinSource::File(t.pin_file.clone())).unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::PinIncorrect), "{e}");
    assert!(e.to_string().contains("already failed"), "{e}");
}

/// Attack finding L2: a key that wants the PIN before every signature (a card's signing key)
/// is refused when loaded, by name, instead of failing each handshake as a "removed" card.
#[test]
fn attack_22_an_always_authenticate_key_is_refused_by_name() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let Some(t) = token("hope-always", "1234") else {
        return;
    };
    let p11 = hope_service::token::load_module(&t.module).unwrap();
    let slot = p11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            p11.get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == t.label)
        })
        .unwrap();
    let session = p11.open_rw_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from("1234")))
        .unwrap();
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(b"signing".to_vec()),
            Attribute::Id(vec![9]),
        ]
    };
    let mut public = common(false);
    public.push(Attribute::EcParams(vec![
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]));
    let mut private = common(true);
    private.extend([Attribute::Sign(true), Attribute::AlwaysAuthenticate(true)]);
    session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .unwrap();
    let uri = key_uri(&t, "signing", 9);
    let e = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::Unsupported), "{e}");
    assert!(e.to_string().contains("CKA_ALWAYS_AUTHENTICATE"), "{e}");
}

/// Attack finding L4: a certificate that declares another curve than the token key's (with the
/// key's point inside) is refused at load, not left for the server to trip on.
#[test]
fn attack_22_a_certificate_declaring_another_curve_is_refused() {
    let Some((t, pki, uri)) = one_key("hope-curve", "curve", KeyAlgorithm::EcP256) else {
        return;
    };
    let key = TokenKey::open(&t.module, &uri, &PinSource::File(t.pin_file.clone())).unwrap();
    // The token's P-256 point, certified as if it were a P-384 key.
    let cert = tls::load_certs(&pki.path("curve.pem")).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(cert[0].as_ref()).unwrap();
    struct Lying(Vec<u8>);
    impl rcgen::PublicKeyData for Lying {
        fn der_bytes(&self) -> &[u8] {
            &self.0
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            &rcgen::PKCS_ECDSA_P384_SHA384
        }
    }
    let point = parsed.public_key().subject_public_key.data.to_vec();
    let (_, der) = pki.certify("curve", &Lying(point));
    let e = key
        .check_certificate(&CertificateDer::from(der))
        .unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::Mismatch), "{e}");
    assert!(e.to_string().contains("declares the curve"), "{e}");
}
