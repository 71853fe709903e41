//! The body stage: what follows the network for every frame. The regressor's camera
//! becomes a translation in the user's camera, and with a body model θ and β become 24
//! joints in that camera's frame.

use std::sync::Arc;

use nalgebra::Matrix3;

use super::camera::{CameraModel, CameraSetting};
use super::rotation;
use super::smooth::{BodySmoother, OneEuroParams};
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

/// Per-stream body state: the body model (if any), the camera setting and, for a
/// stream, the temporal filter.
pub struct BodyStage {
    pub model: Option<Arc<BodyModel>>,
    pub camera: CameraSetting,
    /// Side of the network's square input, pixels (SPIN's crop camera needs it).
    crop_side: f64,
    smoother: Option<BodySmoother>,
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
            smoother: None,
        }
    }

    /// Smooth θ, β and the translation over time (One-Euro, `body::smooth`).
    pub fn with_smoothing(mut self, params: Option<OneEuroParams>) -> BodyStage {
        self.smoother = params.map(BodySmoother::new);
        self
    }

    /// The next frame does not continue the last one (person lost, frame failed).
    pub fn reset(&mut self) {
        if let Some(s) = &mut self.smoother {
            s.reset();
        }
    }

    /// Camera translation and joints for `inf`, computed on the crop `bx` of a
    /// `frame_size` frame (one image: no smoothing).
    pub fn apply(
        &mut self,
        inf: &mut Inference,
        bx: &PersonBox,
        frame_size: (u32, u32),
    ) -> Result<BodyResult, BodyError> {
        self.apply_at(inf, bx, frame_size, None)
    }

    /// As `apply`, for a frame of a stream captured at `t_seconds`: with smoothing on,
    /// θ (rotations and axis-angle), β and the camera in `inf` are replaced by their
    /// filtered values (`pose6d` stays the network's raw output) before the joints
    /// are computed from them.
    pub fn apply_at(
        &mut self,
        inf: &mut Inference,
        bx: &PersonBox,
        frame_size: (u32, u32),
        t_seconds: Option<f64>,
    ) -> Result<BodyResult, BodyError> {
        let camera = self
            .camera
            .model(self.crop_side, frame_size.0, frame_size.1);
        let mut translation = camera.translation(inf.regressed.cam, bx);
        if let (Some(smoother), Some(t)) = (&mut self.smoother, t_seconds) {
            smoother.smooth(
                t,
                &mut inf.rotmats,
                &mut inf.regressed.betas,
                &mut translation,
            );
            inf.axis_angle = axis_angles(&inf.rotmats);
            inf.regressed.cam = camera.weak_perspective(translation, bx);
        }
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
