//! What the regressor's numbers mean as a body: rotations, the SMPL body model, the
//! camera, and the per-frame stage that ties them together.

pub mod camera;
pub mod consistency;
pub mod rotation;
pub mod smooth;
pub mod smpl;
pub mod stage;

pub use stage::{BodyResult, BodyStage};
