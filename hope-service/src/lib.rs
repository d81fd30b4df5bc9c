#![doc = include_str!("../README.md")]

pub mod audit;
pub mod client;
pub mod error;
pub mod http;
pub mod service;
pub mod session;
pub mod tls;

pub use error::{Error, Result};
