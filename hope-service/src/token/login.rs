//! Logging in on a token, under the rules that keep a card from locking: one try per process and
//! token, none with a PIN file that a token refused before (until the file changes), none with a
//! PIN file on a card whose counter is low, and none at all on a locked card.

use std::sync::{Mutex, OnceLock};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::TokenInfo;
use cryptoki::types::AuthPin;

use super::module::{kind_of, token_error};
use super::pin::{PinRequest, PinSource};
use super::{TokenFailure, failure};
use crate::Result;

/// A token as the login rules know it: manufacturer, model, serial and label (whichever module
/// reaches it: OpenSC, p11-kit's proxy or the vendor's library see the same card).
type TokenIdentity = (String, String, String, String);

fn identity(info: &TokenInfo) -> TokenIdentity {
    (
        info.manufacturer_id().trim_end().to_string(),
        info.model().trim_end().to_string(),
        info.serial_number().trim_end().to_string(),
        info.label().trim_end().to_string(),
    )
}

/// Tokens on which a login failed in this process: never tried again. The lock is held for the
/// whole login (check, PIN, `C_Login`, record), so two threads cannot both try.
fn failed_logins() -> &'static Mutex<Vec<TokenIdentity>> {
    static FAILED: OnceLock<Mutex<Vec<TokenIdentity>>> = OnceLock::new();
    FAILED.get_or_init(|| Mutex::new(Vec::new()))
}

/// Why a login is not even tried: a locked PIN, or a PIN from a file on a card whose counter says
/// earlier entries failed (a service restarted in a loop would lock it).
pub(super) fn refusal(
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

/// Logs the application in on the token of `session` unless it is logged in already or the token
/// needs no login, under the rules of this module.
pub(super) fn login(
    session: &Session,
    info: &TokenInfo,
    pin: &PinSource,
    object: &str,
) -> Result<()> {
    let label = info.label().trim_end().to_string();
    if !info.login_required() {
        return Ok(());
    }
    let mut failed = failed_logins().lock().unwrap_or_else(|p| p.into_inner());
    let state = session
        .get_session_info()
        .map_err(|e| token_error(&label, "reading the session", &e))?
        .session_state();
    if matches!(state, SessionState::RoUser | SessionState::RwUser) {
        return Ok(());
    }
    let token = identity(info);
    if failed.contains(&token) {
        return Err(failure(
            &label,
            TokenFailure::PinIncorrect,
            "a login to this token already failed in this process; not trying again (cards \
             lock after a few wrong PINs)",
        ));
    }
    let pad = info.protected_authentication_path();
    if let Some((kind, message)) = refusal(
        info.user_pin_locked(),
        info.user_pin_count_low() || info.user_pin_final_try(),
        pin.is_unattended() && !pad,
    ) {
        return Err(failure(&label, kind, message));
    }
    let result = if pad {
        // A PIN pad: the reader asks for the PIN itself.
        session.login(UserType::User, None)
    } else {
        pin.refused_before(&label)?;
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
                failed.push(token);
                if kind == TokenFailure::PinIncorrect && !pad {
                    pin.record_refusal();
                }
            }
            let message = match kind {
                TokenFailure::PinIncorrect => {
                    "the token refused the PIN (not tried again in this process, nor from this \
                     PIN file until it changes)"
                        .to_string()
                }
                TokenFailure::PinLocked => "the token says the PIN is locked".to_string(),
                TokenFailure::PinExpired => {
                    "the PIN has expired: change it with the card's own tool".to_string()
                }
                _ => format!("logging in: {e}"),
            };
            Err(failure(&label, kind, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
