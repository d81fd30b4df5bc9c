#![doc = include_str!("../README.md")]

pub mod acl;
pub mod audit;
pub mod client;
pub mod container;
#[cfg(feature = "pki")]
pub mod demo;
pub mod error;
pub mod http;
pub mod key;
#[cfg(feature = "pki")]
pub mod pki;
pub mod server;
pub mod service;
pub mod shares;
pub mod store;
pub mod tls;

pub use acl::{Acl, Grant, Principal, Right};
pub use client::{ClientSettings, KeyClient, NewKeyId, Registration, ServerEndpoint};
pub use error::{Error, Result};
pub use key::{DataKey, KeyCommitment, KeyId};
pub use server::{KeyServer, ServerSettings};
pub use store::{KeyStore, SqliteKeyStore};
