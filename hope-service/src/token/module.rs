//! Loading PKCS#11 modules, finding tokens, and what their errors mean.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::{Slot, TokenInfo};

use super::uri::Pkcs11Uri;
use super::{TokenFailure, failure};
use crate::Result;

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
pub(super) fn kind_of(e: &CkError) -> TokenFailure {
    match e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                TokenFailure::PinIncorrect
            }
            RvError::PinLocked => TokenFailure::PinLocked,
            RvError::PinExpired => TokenFailure::PinExpired,
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

pub(super) fn token_error(token: &str, what: &str, e: &CkError) -> crate::Error {
    failure(token, kind_of(e), format!("{what}: {e}"))
}

pub(super) fn uri_label(uri: &Pkcs11Uri) -> String {
    uri.token
        .clone()
        .or_else(|| uri.serial.clone().map(|s| format!("serial {s}")))
        .unwrap_or_else(|| "(any)".into())
}

/// The one slot whose token matches `uri`.
pub(super) fn find_slot(module: &Pkcs11, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo)> {
    let label = uri_label(uri);
    let slots = module
        .get_slots_with_token()
        .map_err(|e| token_error(&label, "listing the slots", &e))?;
    let mut found = Vec::new();
    let mut seen = 0;
    for slot in slots {
        let Ok(info) = module.get_token_info(slot) else {
            continue;
        };
        seen += 1;
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
        // Token labels may name their holders: the message counts them, never lists them.
        0 => Err(failure(
            &label,
            TokenFailure::TokenMissing,
            format!(
                "no inserted token matches the URI ({} token(s) present; `p11tool --list-tokens` \
                 or `pkcs11-tool --list-slots` shows them)",
                seen
            ),
        )),
        n => Err(failure(
            &label,
            TokenFailure::TokenAmbiguous,
            format!("{n} tokens match the URI; name one by `token=` or `serial=`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn token_errors_map_to_what_the_user_can_act_on() {
        let kind = |rv| kind_of(&CkError::Pkcs11(rv, Function::Login));
        assert_eq!(kind(RvError::PinIncorrect), TokenFailure::PinIncorrect);
        assert_eq!(kind(RvError::PinLocked), TokenFailure::PinLocked);
        assert_eq!(kind(RvError::PinExpired), TokenFailure::PinExpired);
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
