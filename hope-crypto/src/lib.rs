#![doc = include_str!("../README.md")]

pub mod acl;
pub mod client;
pub mod container;
#[cfg(feature = "pki")]
pub mod demo;
pub mod error;
pub mod key;
#[cfg(feature = "pki")]
pub mod pki;
pub mod server;
pub mod shares;
pub mod store;

/// The mutual-TLS service plumbing the key servers run on, and keys on smart cards (`token`), from
/// hope-service (re-exported so
/// that code written against `hope_crypto::tls` and the others keeps working).
pub use hope_service::{audit, http, service, tls, token};

pub use acl::{Acl, Grant, Principal, Right};
pub use client::{ClientSettings, KeyClient, NewKeyId, Registration, ServerEndpoint};
pub use error::{Error, Result};
pub use key::{DataKey, KeyCommitment, KeyId};
pub use server::{KeyServer, ServerSettings};
pub use store::{KeyStore, SqliteKeyStore};
