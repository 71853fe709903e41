//! What the regressor's numbers mean as a body: rotations, the SMPL body model, the camera.

pub mod camera;
pub mod rotation;
pub mod smooth;
pub mod smpl;
