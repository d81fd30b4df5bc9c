#![doc = include_str!("../README.md")]

pub mod audit;
pub mod client;
pub mod error;
pub mod http;
pub mod service;
pub mod session;
pub mod tls;
pub mod token;

pub use error::{Error, Result};
