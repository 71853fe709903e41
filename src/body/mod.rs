//! What the regressor's numbers mean as a body: rotations, the SMPL body model, the
//! camera, smoothing over time, the consensus of several views, and the per-frame stage
//! that ties them together and returns a `BodyResult`.

pub mod camera;
pub mod consistency;
pub mod result;
pub mod rotation;
pub mod smooth;
pub mod smpl;
pub mod stage;

pub use result::{BodyResult, MultiView, Pose};
pub use stage::BodyStage;
