//! Physics at run time: the switches and cutoffs of a run ([`PhysicsOptions`]), the energy grids
//! of the tables, photon interactions ([`PhotonPhysics`]) and electron and positron physics
//! ([`electron`]).

pub mod electron;
mod options;
mod photon;
mod tables;

pub use options::{ComptonModel, DoseTo, PhysicsOptions, Relaxation};
pub(crate) use photon::Interaction;
pub use photon::PhotonPhysics;
pub(crate) use tables::interp;
pub use tables::{E_MAX, E_MIN};
