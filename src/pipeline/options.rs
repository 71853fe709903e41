//! What a run is asked to do.

use std::sync::Arc;
use std::time::Duration;

use crate::body::camera::CameraSetting;
use crate::body::smooth::OneEuroParams;
use crate::body::smpl::BodyModel;
use crate::crop::PersonBox;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many captured frames.
    pub frames: Option<u64>,
    /// Frames waiting for inference (and outcomes waiting for the sinks).
    pub queue: usize,
    /// Yaws to render the field from, degrees: the first gives the frame's answer;
    /// more than one adds the ambiguity score (`--views`).
    pub views: Vec<f64>,
    /// A fixed person box; None: the centre square of each frame.
    pub person_box: Option<PersonBox>,
    /// How often to log a stats line (zero: never).
    pub stats_every: Duration,
    /// Without a fixed box: follow the last result instead of the centre square.
    pub track: bool,
    /// The user's body model: joints in every packet.
    pub body_model: Option<Arc<BodyModel>>,
    /// What is known about the camera (for the translation and the joints).
    pub camera: CameraSetting,
    /// Temporal smoothing of θ, β and the translation (`--smooth`).
    pub smooth: Option<OneEuroParams>,
}
