//! Reference documentation that is not tied to one item.

#[doc = include_str!("deployment.md")]
pub mod deployment {}
