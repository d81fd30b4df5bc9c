//! Throwaway tokens in SoftHSM2 for the smart-card tests.
//!
//! `scripts/test` installs SoftHSM2, points `SOFTHSM2_CONF` at a temporary token store and
//! exports the module's path as `HOPE_TEST_PKCS11_MODULE`. Each test makes its own token here
//! (initialised in this process, through PKCS#11 itself), with its own label, SO PIN and user PIN.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// A fresh token.
#[derive(Debug)]
pub struct TestToken {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
    /// A file holding the user PIN (mode 0600).
    pub pin_file: PathBuf,
    /// The folder of the PIN file (removed on drop).
    pub dir: tempfile::TempDir,
}

/// The module to test with: `None`, with a note, when `HOPE_TEST_PKCS11_MODULE` is not set (a
/// plain `cargo test`); under `CI=true` its absence fails the test.
pub fn module() -> Option<PathBuf> {
    match std::env::var_os("HOPE_TEST_PKCS11_MODULE") {
        Some(m) => Some(PathBuf::from(m)),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "HOPE_TEST_PKCS11_MODULE is not set under CI=true"
            );
            eprintln!(
                "skipped: HOPE_TEST_PKCS11_MODULE is not set (scripts/test sets up SoftHSM2)"
            );
            None
        }
    }
}

fn context(module: &Path) -> Pkcs11 {
    static CONTEXT: OnceLock<Pkcs11> = OnceLock::new();
    CONTEXT
        .get_or_init(|| {
            let p = Pkcs11::new(module).expect("the PKCS#11 module loads");
            match p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                Err(e) => panic!("C_Initialize: {e}"),
            }
            p
        })
        .clone()
}

/// A new token labelled `PREFIX-N` (unique in this process and across runs), with user PIN
/// `pin`; `None` when there is no module to test with.
pub fn token(prefix: &str, pin: &str) -> Option<TestToken> {
    static LOCK: Mutex<()> = Mutex::new(());
    let module = module()?;
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let p11 = context(&module);
    let slot = p11
        .get_all_slots()
        .expect("slots")
        .into_iter()
        .find(|s| {
            p11.get_token_info(*s)
                .map(|t| !t.token_initialized())
                .unwrap_or(false)
        })
        .expect("SoftHSM2 offers a free slot");
    let mut suffix = [0u8; 4];
    getrandom_fill(&mut suffix);
    let label = format!("{prefix}-{:08x}", u32::from_be_bytes(suffix));
    assert!(
        label.len() <= 32,
        "token labels have at most 32 bytes: {label}"
    );
    let so = AuthPin::from("so-secret-0000");
    p11.init_token(slot, &so, &label).expect("C_InitToken");
    // The slot of the new token (SoftHSM2 renumbers after C_InitToken).
    let slot = p11
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            p11.get_token_info(*s)
                .map(|t| t.label().trim_end() == label)
                .unwrap_or(false)
        })
        .expect("the new token");
    let session = p11.open_rw_session(slot).expect("session");
    session.login(UserType::So, Some(&so)).expect("SO login");
    session.init_pin(&AuthPin::from(pin)).expect("C_InitPIN");
    session.logout().expect("logout");
    drop(session);
    let dir = tempfile::tempdir().expect("temporary folder");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{pin}\n")).expect("PIN file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    Some(TestToken {
        module,
        label,
        pin: pin.to_string(),
        pin_file,
        dir,
    })
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom");
}
