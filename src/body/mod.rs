//! What the regressor's numbers mean as a body: rotations, and the SMPL body model.

pub mod rotation;
pub mod smpl;
