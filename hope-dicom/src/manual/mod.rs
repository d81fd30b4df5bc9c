//! Reference documentation that is not tied to one item.

#[doc = include_str!("conformance.md")]
pub mod conformance {}

#[doc = include_str!("network.md")]
pub mod network {}
