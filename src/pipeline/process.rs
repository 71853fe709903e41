//! The per-frame processor: everything between a captured frame and its outcome, and
//! the state a stream carries from one frame to the next (the tracked box, the body
//! stage and its smoother), owned in one place so they are reset together. `still` does
//! the same for one image that is not part of a stream.

use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;

use super::capture::Captured;
use super::options::RunOptions;
use crate::body::smpl::BodyError;
use crate::body::{BodyResult, BodyStage};
use crate::crop::track::Tracker;
use crate::crop::{BoxError, PersonBox};
use crate::engine::{Engine, NetworkOutput};
use crate::model::ModelError;
use crate::output::{check_finite, Outcome};

/// Why a frame has no outcome.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Box(#[from] BoxError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Body(#[from] BodyError),
    /// NaN or infinity in the result (`output::check_finite`): never sent.
    #[error("{0}")]
    NotFinite(String),
}

/// One still image through the network and the body stage, nothing tracked or
/// smoothed (`imphmr infer`): the box given, or the centre square.
pub fn still(
    engine: &Engine,
    body: &mut BodyStage,
    image: RgbImage,
    origin: String,
    person_box: Option<PersonBox>,
    views: &[f64],
) -> Result<Outcome, FrameError> {
    let (w, h) = image.dimensions();
    let bx = person_box.unwrap_or_else(|| PersonBox::centre_square(w, h));
    bx.check_inside(w, h)?;
    let network = engine.infer_views(&image, &bx, views)?;
    let posed = body.apply(&network, &bx, (w, h))?;
    Ok(Outcome::still(
        origin,
        Arc::new(image),
        bx,
        person_box.is_none(),
        network,
        posed,
        engine.bundle.manifest.is_random(),
    ))
}

/// How the box of each frame is chosen.
#[derive(Debug, Clone, Copy)]
enum BoxChoice {
    Fixed(PersonBox),
    Centre,
    Tracked,
}

/// Turns each captured frame of one stream into its outcome.
pub struct FrameProcessor {
    choice: BoxChoice,
    tracker: Tracker,
    body: BodyStage,
    views: Vec<f64>,
    random_weights: bool,
    /// Capture times are seconds since this instant (for the smoother).
    started: Instant,
}

impl FrameProcessor {
    pub fn new(engine: &Engine, opts: &RunOptions, started: Instant) -> FrameProcessor {
        let choice = match opts.person_box {
            Some(b) => BoxChoice::Fixed(b),
            None if opts.track => BoxChoice::Tracked,
            None => BoxChoice::Centre,
        };
        let manifest = &engine.bundle.manifest;
        FrameProcessor {
            choice,
            tracker: Tracker::new(engine.bundle.mean.cam[0] as f64),
            body: BodyStage::new(opts.body_model.clone(), opts.camera, manifest.input.size)
                .with_smoothing(opts.smooth),
            views: opts.views.clone(),
            random_weights: manifest.is_random(),
            started,
        }
    }

    /// The frame does not continue the last one: forget the person and the smoother's
    /// past together.
    pub fn reset(&mut self) {
        self.tracker.lose();
        self.body.reset();
    }

    /// The outcome of one frame (latency not yet set), or why there is none; a failed
    /// frame resets the stream's state.
    pub fn process(&mut self, engine: &Engine, captured: Captured) -> Result<Outcome, FrameError> {
        let Captured { index, frame } = captured;
        let (w, h) = frame.image.dimensions();
        let (bx, default_box) = self.next_box(w, h);
        let t = frame.captured.saturating_duration_since(self.started);
        let result: Result<(NetworkOutput, BodyResult), FrameError> = (|| {
            bx.check_inside(w, h)?;
            let net = engine.infer_views(&frame.image, &bx, &self.views)?;
            let body = self.follow(&net, &bx, (w, h), t.as_secs_f64())?;
            check_finite(&body).map_err(FrameError::NotFinite)?;
            Ok((net, body))
        })();
        let (network, body) = result.inspect_err(|_| self.reset())?;
        Ok(Outcome {
            sequence: index as u32,
            origin: frame.origin,
            frame: Arc::new(frame.image),
            frame_size: (w, h),
            person_box: bx,
            default_box,
            network,
            body,
            captured_at: frame.captured_at,
            latency_us: None,
            random_weights: self.random_weights,
        })
    }

    /// The box for a `w`×`h` frame, and whether it is a default (not given, not tracked).
    fn next_box(&self, w: u32, h: u32) -> (PersonBox, bool) {
        match self.choice {
            BoxChoice::Fixed(b) => (b, false),
            BoxChoice::Tracked => {
                let (b, tracked) = self.tracker.next_box(w, h);
                (b, !tracked)
            }
            BoxChoice::Centre => (PersonBox::centre_square(w, h), true),
        }
    }

    /// The body stage on the network's output, then the tracker on its result: when the
    /// tracker loses the person, the smoother starts afresh with the next frame.
    fn follow(
        &mut self,
        net: &NetworkOutput,
        bx: &PersonBox,
        (w, h): (u32, u32),
        t_seconds: f64,
    ) -> Result<BodyResult, BodyError> {
        let body = self.body.apply_at(net, bx, (w, h), Some(t_seconds))?;
        if let BoxChoice::Tracked = self.choice {
            let a = &net.rendered.opacity;
            let mean_opacity = a.iter().sum::<f32>() / a.len().max(1) as f32;
            if !self.tracker.update(bx, body.pose().cam, mean_opacity, w, h) {
                self.reset();
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::camera::CameraSetting;
    use crate::body::smooth::OneEuroParams;
    use crate::engine::{Regressed, StageTimes};
    use crate::field::Rendered;

    /// A stream with tracking and smoothing on, as `imphmr run --track --smooth 1,2`.
    fn tracking_and_smoothing() -> FrameProcessor {
        FrameProcessor {
            choice: BoxChoice::Tracked,
            tracker: Tracker::new(0.9),
            body: BodyStage::new(None, CameraSetting::SpinCrop, 224)
                .with_smoothing(Some(OneEuroParams::new(1.0, 2.0).unwrap())),
            views: vec![0.0],
            random_weights: true,
            started: Instant::now(),
        }
    }

    /// The network's output for a person at rest in the crop with shape `beta`
    /// (opacity 0: nothing rendered, the tracker loses the person).
    fn network(beta: f32, opacity: f32) -> NetworkOutput {
        NetworkOutput {
            view_deg: 0.0,
            z: vec![],
            rendered: Rendered {
                height: 1,
                width: 1,
                feature_map: vec![0.0],
                opacity: vec![opacity],
            },
            regressed: Regressed {
                pose6d: [1.0, 0.0, 0.0, 1.0, 0.0, 0.0].repeat(24),
                betas: vec![beta; 10],
                cam: [0.9, 0.0, 0.0],
            },
            views: vec![],
            times: StageTimes::default(),
        }
    }

    #[test]
    fn losing_the_person_restarts_the_smoother() {
        let mut p = tracking_and_smoothing();
        let (w, h) = (640, 480);
        let bx = p.next_box(w, h).0;
        let first = p.follow(&network(0.0, 1.0), &bx, (w, h), 0.0).unwrap();
        assert_eq!(first.pose().betas, vec![0.0; 10]);
        // Nothing rendered: the person is lost on this frame.
        let lost = p.follow(&network(1.0, 0.0), &bx, (w, h), 0.033).unwrap();
        assert!(lost.pose().betas[0] < 1.0, "still smoothed on this frame");
        assert!(p.next_box(w, h).1, "the tracker lost the person");
        // A new person: the filter restarts from them, nothing of the last one mixed in.
        let bx = p.next_box(w, h).0;
        let next = p.follow(&network(2.0, 1.0), &bx, (w, h), 0.066).unwrap();
        assert_eq!(
            next.pose().betas,
            vec![2.0; 10],
            "smoothed with the lost person"
        );
    }
}
