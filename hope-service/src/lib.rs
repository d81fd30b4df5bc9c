#![doc = include_str!("../README.md")]

pub mod audit;
pub mod error;
pub mod http;
pub mod service;
pub mod tls;

pub use error::{Error, Result};
