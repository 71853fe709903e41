//! The body stage: what follows the network for every frame. The regressor's 6D
//! rotations become joint rotations, its camera a translation in the user's camera,
//! several views one consensus with its spread, and with a body model θ and β become 24
//! joints in that camera's frame. It reads the network's output and returns its own
//! result (`BodyResult`); the network's output is never changed.

use std::sync::Arc;

use super::camera::CameraSetting;
use super::consistency::{self, ViewEstimate};
use super::result::{BodyResult, MultiView, Pose};
use super::rotation::{axis_angles, joint_rotations};
use super::smooth::{BodySmoother, OneEuroParams};
use super::smpl::{BodyError, BodyModel};
use crate::crop::PersonBox;
use crate::engine::NetworkOutput;

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

    /// The body for `net`, computed on the crop `bx` of a `frame_size` frame (one
    /// image: no smoothing).
    pub fn apply(
        &mut self,
        net: &NetworkOutput,
        bx: &PersonBox,
        frame_size: (u32, u32),
    ) -> Result<BodyResult, BodyError> {
        self.apply_at(net, bx, frame_size, None)
    }

    /// As `apply`, for a frame of a stream captured at `t_seconds`: with smoothing on,
    /// θ, β and the translation are filtered into `BodyResult::smoothed` (the crop
    /// camera follows the filtered translation) and the joints are computed from them.
    pub fn apply_at(
        &mut self,
        net: &NetworkOutput,
        bx: &PersonBox,
        frame_size: (u32, u32),
        t_seconds: Option<f64>,
    ) -> Result<BodyResult, BodyError> {
        let camera = self
            .camera
            .model(self.crop_side, frame_size.0, frame_size.1);
        let r = &net.regressed;
        let (rotmats, axis_angle) = joint_rotations(&r.pose6d);
        let raw = Pose {
            rotmats,
            axis_angle,
            betas: r.betas.clone(),
            cam: r.cam,
            translation: camera.translation(r.cam, bx),
        };
        let smoothed = match (&mut self.smoother, t_seconds) {
            (Some(smoother), Some(t)) => {
                let mut p = raw.clone();
                smoother.smooth(t, &mut p.rotmats, &mut p.betas, &mut p.translation);
                p.axis_angle = axis_angles(&p.rotmats);
                p.cam = camera.weak_perspective(p.translation, bx);
                Some(p)
            }
            _ => None,
        };
        let pose = smoothed.as_ref().unwrap_or(&raw);
        let joints = match &self.model {
            Some(m) => Some(
                m.joints(&pose.betas, &pose.rotmats)?
                    .iter()
                    .map(|j| [0, 1, 2].map(|i| (j[i] as f64 + pose.translation[i]) as f32))
                    .collect(),
            ),
            None => None,
        };
        Ok(BodyResult {
            camera,
            raw,
            smoothed,
            joints,
            views: multi_view(net),
        })
    }
}

/// With more than one view: every view's answer brought to the input view, and their
/// spread (`body::consistency`).
fn multi_view(net: &NetworkOutput) -> Option<MultiView> {
    if net.views.len() < 2 {
        return None;
    }
    let estimates: Vec<ViewEstimate> = net
        .views
        .iter()
        .map(|v| ViewEstimate {
            view_deg: v.view_deg,
            rotmats: joint_rotations(&v.regressed.pose6d).0,
            betas: v.regressed.betas.clone(),
            cam: v.regressed.cam,
        })
        .collect();
    let (ambiguity, deviation_rad) = consistency::spread(&estimates);
    Some(MultiView {
        estimates,
        deviation_rad,
        ambiguity,
    })
}
