//! What the regressor's numbers mean as a body: rotations (and, later, SMPL).

pub mod rotation;
