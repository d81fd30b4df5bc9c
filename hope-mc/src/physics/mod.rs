//! Physics at run time: the switches and cutoffs of a run ([`PhysicsOptions`]), the energy grids
//! of the tables, photon interactions ([`PhotonPhysics`]) and electron and positron physics
//! ([`electron`]).

mod angular;
pub mod electron;
mod options;
mod photon;
mod tables;

pub use angular::{ScatterDensities, Towards, Vertex};
pub use options::{ComptonModel, DoseTo, PhysicsOptions, Relaxation};
pub use photon::{Interaction, PhotonPhysics};
pub(crate) use tables::interp;
pub use tables::{E_MAX, E_MIN};
