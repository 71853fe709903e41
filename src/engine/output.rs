//! What the network hands on for one frame: its own numbers and nothing else. What they
//! mean as a body (rotations, the camera's translation, smoothing, the views' consensus)
//! is the body stage's (`body::BodyResult`), which never writes back here.

use crate::field::Rendered;

/// Milliseconds per stage of one inference.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub preprocess: f64,
    pub encoder: f64,
    pub field: f64,
    pub render: f64,
    pub head: f64,
    pub total: f64,
}

impl StageTimes {
    /// Each stage with its name, and the whole inference as "inference", for stats.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("preprocess", self.preprocess),
            ("encoder", self.encoder),
            ("field", self.field),
            ("render", self.render),
            ("head", self.head),
            ("inference", self.total),
        ]
    }
}

/// The regressor's raw output for one view.
#[derive(Debug, Clone)]
pub struct Regressed {
    pub pose6d: Vec<f32>,
    pub betas: Vec<f32>,
    /// Weak-perspective camera (s, tx, ty) of the crop.
    pub cam: [f32; 3],
}

/// One view's regression (`--views`).
#[derive(Debug, Clone)]
pub struct ViewRegressed {
    pub view_deg: f64,
    pub regressed: Regressed,
}

/// The network's output for one frame, as it came out (never smoothed or edited).
#[derive(Debug, Clone)]
pub struct NetworkOutput {
    /// The yaw the frame's answer was rendered from.
    pub view_deg: f64,
    pub z: Vec<f32>,
    /// The field seen from `view_deg`.
    pub rendered: Rendered,
    /// The frame's answer (from `view_deg`).
    pub regressed: Regressed,
    /// With more than one view: every view's answer, the frame's own first; else empty.
    pub views: Vec<ViewRegressed>,
    /// All views included.
    pub times: StageTimes,
}
