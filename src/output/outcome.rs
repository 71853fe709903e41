//! The per-frame outcome: one processed frame as every sink sees it, the network's
//! output and the body stage's result side by side, and the wire packet made from it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::packet::{self, flags, Packet};
use crate::body::camera::CameraModel;
use crate::body::{BodyResult, Pose};
use crate::crop::PersonBox;
use crate::engine::NetworkOutput;

/// One processed frame, as every sink sees it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Capture index of the frame: gaps in it are frames dropped on the way.
    pub sequence: u32,
    pub origin: String,
    /// The captured frame (shared, not copied), for the overlay.
    pub frame: Arc<image::RgbImage>,
    pub frame_size: (u32, u32),
    pub person_box: PersonBox,
    pub default_box: bool,
    /// What the network said, untouched.
    pub network: NetworkOutput,
    /// What it means as a body: raw and smoothed pose, translation, joints, views.
    pub body: BodyResult,
    pub captured_at: SystemTime,
    /// Capture → hand-over to the sinks, microseconds; None for a still image (`infer`,
    /// `bench`), which has no stream behind it.
    pub latency_us: Option<u32>,
    pub random_weights: bool,
}

impl Outcome {
    /// A still image's outcome (not a stream: sequence 0, no latency, captured now).
    pub fn still(
        origin: String,
        frame: Arc<image::RgbImage>,
        person_box: PersonBox,
        default_box: bool,
        network: NetworkOutput,
        body: BodyResult,
        random_weights: bool,
    ) -> Outcome {
        Outcome {
            sequence: 0,
            origin,
            frame_size: frame.dimensions(),
            frame,
            person_box,
            default_box,
            network,
            body,
            captured_at: SystemTime::now(),
            latency_us: None,
            random_weights,
        }
    }

    /// The pose that goes out (smoothed where the body stage smoothed it).
    pub fn pose(&self) -> &Pose {
        self.body.pose()
    }

    pub fn packet(&self) -> Packet {
        let mut f = 0;
        if self.random_weights {
            f |= flags::RANDOM_WEIGHTS;
        }
        if self.default_box {
            f |= flags::DEFAULT_BOX;
        }
        let b = &self.person_box;
        let pose = self.pose();
        let mut theta = [[0f32; 3]; packet::JOINTS];
        for (t, aa) in theta.iter_mut().zip(&pose.axis_angle) {
            *t = *aa;
        }
        let mut betas = [0f32; packet::BETAS];
        for (d, s) in betas.iter_mut().zip(&pose.betas) {
            *d = *s;
        }
        // The crop's weak perspective, or the translation in the real camera.
        let cam = match self.body.camera {
            CameraModel::FullFrame(_) => {
                f |= flags::CAM_FULL_FRAME;
                pose.translation.map(|t| t as f32)
            }
            CameraModel::SpinCrop { .. } => pose.cam,
        };
        let mut joints = [[0f32; 3]; packet::JOINTS];
        if let Some(js) = &self.body.joints {
            f |= flags::JOINTS;
            for (d, s) in joints.iter_mut().zip(js) {
                *d = *s;
            }
        }
        let mut ambiguity = 0.0;
        if let Some(mv) = &self.body.views {
            f |= flags::AMBIGUITY;
            ambiguity = mv.ambiguity.pose_rad;
        }
        Packet {
            flags: f,
            sequence: self.sequence,
            capture_us: self
                .captured_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            latency_us: self.latency_us.unwrap_or(0),
            person_box: [b.x as f32, b.y as f32, b.w as f32, b.h as f32],
            theta,
            betas,
            cam,
            joints,
            ambiguity,
        }
    }
}
