//! The body stage: what follows the network for every frame. The regressor's camera
//! becomes a translation in the user's camera, and with a body model θ and β become 24
//! joints in that camera's frame.

use std::sync::Arc;

use nalgebra::Matrix3;

use super::camera::{CameraModel, CameraSetting};
use super::rotation;
use super::smpl::{BodyError, BodyModel};
use crate::crop::PersonBox;
use crate::engine::Inference;

/// What the body stage adds to one frame's result.
#[derive(Debug, Clone)]
pub struct BodyResult {
    /// Which camera convention `translation` and `joints` are in.
    pub camera: CameraModel,
    /// The body's translation, metres, camera frame (x right, y down, z forward).
    pub translation: [f64; 3],
    /// 24 joints, metres, camera frame; with a body model only.
    pub joints: Option<Vec<[f32; 3]>>,
}

impl BodyResult {
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

/// Per-stream body state: the body model (if any) and the camera setting.
pub struct BodyStage {
    pub model: Option<Arc<BodyModel>>,
    pub camera: CameraSetting,
    /// Side of the network's square input, pixels (SPIN's crop camera needs it).
    crop_side: f64,
}

impl BodyStage {
    pub fn new(
        model: Option<Arc<BodyModel>>,
        camera: CameraSetting,
        crop_side: usize,
    ) -> BodyStage {
        BodyStage {
            model,
            camera,
            crop_side: crop_side as f64,
        }
    }

    /// Camera translation and joints for `inf`, computed on the crop `bx` of a
    /// `frame_size` frame.
    pub fn apply(
        &mut self,
        inf: &mut Inference,
        bx: &PersonBox,
        frame_size: (u32, u32),
    ) -> Result<BodyResult, BodyError> {
        let camera = self
            .camera
            .model(self.crop_side, frame_size.0, frame_size.1);
        let translation = camera.translation(inf.regressed.cam, bx);
        let joints = match &self.model {
            Some(m) => Some(
                m.joints(&inf.regressed.betas, &inf.rotmats)?
                    .iter()
                    .map(|j| [0, 1, 2].map(|i| (j[i] as f64 + translation[i]) as f32))
                    .collect(),
            ),
            None => None,
        };
        Ok(BodyResult {
            camera,
            translation,
            joints,
        })
    }
}

/// Axis-angle of every rotation (after the rotations were changed, e.g. smoothed).
pub fn axis_angles(rotmats: &[Matrix3<f32>]) -> Vec<[f32; 3]> {
    rotmats.iter().map(rotation::rotmat_to_axis_angle).collect()
}
