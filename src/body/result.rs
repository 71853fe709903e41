//! What the body stage hands on for one frame. The network's output stays as it came
//! (`engine::NetworkOutput`); here are its numbers read as a body, the raw reading and
//! the smoothed one side by side, so a reader always knows which θ is which.

use nalgebra::Matrix3;

use super::camera::CameraModel;
use super::consistency::{Ambiguity, ViewEstimate};
use crate::crop::PersonBox;

/// θ, β and where the body is: what the sinks send.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// θ as one rotation matrix per joint.
    pub rotmats: Vec<Matrix3<f32>>,
    /// θ as axis-angle per joint, angle in [0, π].
    pub axis_angle: Vec<[f32; 3]>,
    pub betas: Vec<f32>,
    /// Weak-perspective camera (s, tx, ty) of the crop.
    pub cam: [f32; 3],
    /// The body's translation, metres, camera frame (x right, y down, z forward).
    pub translation: [f64; 3],
}

/// The same frame seen from several yaws (`--views`).
#[derive(Debug, Clone)]
pub struct MultiView {
    /// One per view, the frame's own view first.
    pub estimates: Vec<ViewEstimate>,
    /// Per view, its mean geodesic distance to the consensus over joints, radians.
    pub deviation_rad: Vec<f32>,
    pub ambiguity: Ambiguity,
}

/// The body stage's result for one frame.
#[derive(Debug, Clone)]
pub struct BodyResult {
    /// Which camera convention the translations and `joints` are in.
    pub camera: CameraModel,
    /// The network's answer read as a body, unfiltered.
    pub raw: Pose,
    /// With `--smooth`, in a stream: the filtered pose (`raw` stays as it was).
    pub smoothed: Option<Pose>,
    /// 24 joints of `pose()`, metres, camera frame; with a body model only.
    pub joints: Option<Vec<[f32; 3]>>,
    /// With more than one view: every view's answer and their spread.
    pub views: Option<MultiView>,
}

impl BodyResult {
    /// The pose that goes out: smoothed where there is one, else raw.
    pub fn pose(&self) -> &Pose {
        self.smoothed.as_ref().unwrap_or(&self.raw)
    }

    /// The joints projected into the captured frame, pixels (None behind the camera).
    pub fn joints_in_frame(&self, bx: &PersonBox) -> Option<Vec<Option<[f64; 2]>>> {
        let joints = self.joints.as_ref()?;
        Some(
            joints
                .iter()
                .map(|j| self.camera.project(j.map(f64::from), bx))
                .collect(),
        )
    }
}
