//! The overlay as one of `imphmr run`'s outputs: each outcome drawn onto its frame and
//! shown on a `Display` (PNG files, a framebuffer).

use std::time::Instant;

use super::{draw, Display, Scene, SMPL_PARENTS};
use crate::output::{Outcome, Sink};

/// Draws every outcome onto a copy of its frame and shows it.
pub struct OverlaySink {
    display: Box<dyn Display>,
    /// Height and width of the rendered opacity map.
    opacity_shape: (usize, usize),
    /// When the last picture was shown, for the frame rate in the caption.
    last: Option<Instant>,
    fps: f64,
}

impl OverlaySink {
    pub fn new(display: Box<dyn Display>, opacity_shape: (usize, usize)) -> OverlaySink {
        OverlaySink {
            display,
            opacity_shape,
            last: None,
            fps: 0.0,
        }
    }

    /// The caption: rate and latency, then what a viewer must not misread.
    fn caption(&self, o: &Outcome) -> Vec<String> {
        // The rate needs two pictures; until then only the latency.
        let rate = if self.fps > 0.0 {
            format!(" {:.1} fps", self.fps)
        } else {
            String::new()
        };
        let mut lines = vec![format!(
            "#{}{rate} {:.0} ms",
            o.sequence,
            o.latency_us as f64 / 1e3
        )];
        if let Some(mv) = &o.inference.views {
            lines.push(format!(
                "ambiguity {:.1} deg",
                mv.ambiguity.pose_rad.to_degrees()
            ));
        }
        if o.random_weights {
            lines.push("random weights: not a pose".into());
        }
        lines
    }
}

impl Sink for OverlaySink {
    fn name(&self) -> String {
        format!("overlay {}", self.display.name())
    }

    fn send(&mut self, o: &Outcome) -> std::io::Result<()> {
        let now = Instant::now();
        if let Some(last) = self.last {
            // Smoothed so the caption is readable.
            let rate = 1.0 / (now - last).as_secs_f64().max(1e-6);
            self.fps = if self.fps == 0.0 {
                rate
            } else {
                0.9 * self.fps + 0.1 * rate
            };
        }
        self.last = Some(now);

        let skeleton: Option<Vec<[f32; 2]>> = o.body.joints_in_frame(&o.person_box).map(|js| {
            js.iter()
                .map(|p| p.map_or([f32::NAN; 2], |[x, y]| [x as f32, y as f32]))
                .collect()
        });
        let (h, w) = self.opacity_shape;
        let caption = self.caption(o);
        let scene = Scene {
            person_box: o.person_box,
            skeleton: skeleton.as_deref(),
            parents: &SMPL_PARENTS,
            opacity: Some((&o.inference.rendered.opacity, h, w)),
            caption: &caption,
        };
        let mut picture = (*o.frame).clone();
        draw(&mut picture, &scene);
        self.display.show(o.sequence, &picture)
    }
}
