//! Reference documentation that is not tied to one item.

#[doc = include_str!("physics.md")]
pub mod physics {}

#[doc = include_str!("simulation.md")]
pub mod simulation {}
