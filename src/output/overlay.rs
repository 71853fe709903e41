//! The overlay as one of `imphmr run`'s outputs: each outcome drawn onto its frame and
//! shown on a `Display` (PNG files, a framebuffer).
//!
//! Drawing and encoding a picture takes milliseconds (a PNG of a VGA frame: tens), and
//! the output thread also feeds the robot's UDP or serial stream, which must not wait
//! for a picture. So pictures are made on their own thread: from a live camera the
//! newest outcome replaces one still waiting (skipped pictures are counted and logged);
//! from files every picture is made.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::{Outcome, Sink};
use crate::overlay::{draw, Display, Scene, SMPL_PARENTS};
use crate::queue::LatestQueue;

/// One outcome to draw, with the rate outcomes arrived at.
struct Job {
    outcome: Outcome,
    fps: f64,
}

/// Draws every outcome onto a copy of its frame and shows it, on its own thread.
pub struct OverlaySink {
    name: String,
    /// Keep every picture (files) or only the newest (a live camera).
    lossless: bool,
    queue: Arc<LatestQueue<Job>>,
    worker: Option<JoinHandle<()>>,
    /// The display's first error not yet reported through `send`.
    failure: Arc<Mutex<Option<io::Error>>>,
    last: Option<Instant>,
    fps: f64,
}

impl OverlaySink {
    /// `lossless`: wait for the display rather than skip pictures (for sources that can
    /// wait: files).
    pub fn new(display: Box<dyn Display>, lossless: bool) -> io::Result<OverlaySink> {
        let name = format!("overlay {}", display.name());
        let queue: Arc<LatestQueue<Job>> = Arc::new(LatestQueue::new(1));
        let failure = Arc::new(Mutex::new(None));
        let worker = {
            let (queue, failure) = (queue.clone(), failure.clone());
            std::thread::Builder::new()
                .name("overlay".into())
                .spawn(move || paint(display, &queue, &failure))?
        };
        Ok(OverlaySink {
            name,
            lossless,
            queue,
            worker: Some(worker),
            failure,
            last: None,
            fps: 0.0,
        })
    }
}

/// The overlay thread: draw and show until the queue is closed and empty.
fn paint(
    mut display: Box<dyn Display>,
    queue: &LatestQueue<Job>,
    failure: &Mutex<Option<io::Error>>,
) {
    while let Some(job) = queue.pop_until_closed() {
        let picture = picture(&job.outcome, job.fps);
        if let Err(e) = display.show(job.outcome.sequence, &picture) {
            let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }
}

/// The frame of `o` with the result drawn on it; `fps` for the caption (0: unknown).
pub fn picture(o: &Outcome, fps: f64) -> image::RgbImage {
    let rendered = &o.network.rendered;
    let skeleton: Option<Vec<[f32; 2]>> = o.body.joints_in_frame(&o.person_box).map(|js| {
        js.iter()
            .map(|p| p.map_or([f32::NAN; 2], |[x, y]| [x as f32, y as f32]))
            .collect()
    });
    let caption = caption(o, fps);
    let scene = Scene {
        person_box: o.person_box,
        skeleton: skeleton.as_deref(),
        parents: &SMPL_PARENTS,
        opacity: Some((&rendered.opacity, rendered.height, rendered.width)),
        caption: &caption,
    };
    let mut picture = (*o.frame).clone();
    draw(&mut picture, &scene);
    picture
}

/// The caption: rate and latency, then what a viewer must not misread.
fn caption(o: &Outcome, fps: f64) -> Vec<String> {
    // The rate needs two outcomes; until then only the latency.
    let rate = if fps > 0.0 {
        format!(" {fps:.1} fps")
    } else {
        String::new()
    };
    let first = if let Some(latency_us) = o.latency_us {
        format!("#{}{rate} {:.0} ms", o.sequence, latency_us as f64 / 1e3)
    } else {
        // Not a stream (`infer`): the image and the network's time.
        let name = std::path::Path::new(&o.origin)
            .file_name()
            .map_or(o.origin.clone(), |n| n.to_string_lossy().into_owned());
        format!("{name} {:.0} ms", o.network.times.total)
    };
    let mut lines = vec![first];
    if let Some(mv) = &o.body.views {
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

impl Sink for OverlaySink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn send(&mut self, o: &Outcome) -> io::Result<()> {
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
        let job = Job {
            outcome: o.clone(),
            fps: self.fps,
        };
        if self.lossless {
            // Only fails once closed, which happens in `flush` at the very end.
            let _ = self.queue.push_wait(job);
        } else {
            self.queue.push(job);
        }
        // A display error surfaces with the next outcome, to be counted and logged.
        self.take_failure()
    }

    /// Waits for the last picture; logs how many were skipped.
    fn flush(&mut self) -> io::Result<()> {
        self.stop();
        let skipped = self.queue.dropped();
        if skipped > 0 {
            tracing::warn!(
                "{}: {skipped} pictures skipped while the display was busy",
                self.name
            );
        }
        self.take_failure()
    }
}

impl OverlaySink {
    /// The display's first error not yet reported, as this call's result.
    fn take_failure(&self) -> io::Result<()> {
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.take().map_or(Ok(()), Err)
    }

    /// No more pictures: let the thread finish the waiting ones and end.
    fn stop(&mut self) {
        self.queue.close();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Drop for OverlaySink {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::camera::CameraSetting;
    use crate::body::BodyStage;
    use crate::crop::PersonBox;
    use crate::Engine;
    use std::time::Duration;

    /// A display that waits at `gate` before each picture, records what it showed,
    /// and fails on picture `fail_at`.
    struct Gated {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
        shown: Arc<Mutex<Vec<u32>>>,
        fail_at: Option<u32>,
    }

    impl Display for Gated {
        fn name(&self) -> String {
            "gated".into()
        }
        fn show(&mut self, sequence: u32, _: &image::RgbImage) -> io::Result<()> {
            let (open, cv) = &*self.gate;
            let _open = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
            if self.fail_at == Some(sequence) {
                return Err(io::Error::other("display gone"));
            }
            self.shown.lock().unwrap().push(sequence);
            Ok(())
        }
    }

    type Gate = Arc<(Mutex<bool>, std::sync::Condvar)>;

    fn open(gate: &Gate) {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    fn outcome() -> Outcome {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/small");
        let engine = Engine::load(&dir).unwrap();
        let frame = image::RgbImage::from_pixel(64, 48, image::Rgb([90, 90, 90]));
        let bx = PersonBox::centre_square(64, 48);
        let network = engine.infer(&frame, &bx, 0.0).unwrap();
        let body = BodyStage::new(None, CameraSetting::SpinCrop, 64)
            .apply(&network, &bx, (64, 48))
            .unwrap();
        let frame = Arc::new(frame);
        let mut o = Outcome::still("test".into(), frame, bx, true, network, body, true);
        o.latency_us = Some(1000);
        o
    }

    fn sink(lossless: bool, fail_at: Option<u32>) -> (OverlaySink, Arc<Mutex<Vec<u32>>>, Gate) {
        let shown = Arc::new(Mutex::new(vec![]));
        let gate: Gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let display = Gated {
            gate: gate.clone(),
            shown: shown.clone(),
            fail_at,
        };
        let s = OverlaySink::new(Box::new(display), lossless).unwrap();
        (s, shown, gate)
    }

    #[test]
    fn a_stuck_display_never_holds_up_a_live_stream() {
        let (mut s, shown, gate) = sink(false, None);
        // Should sending block, the gate opens after 5 s and the check below fails
        // instead of the test hanging.
        {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(5));
                open(&gate);
            });
        }
        let mut o = outcome();
        for k in 0..10 {
            o.sequence = k;
            s.send(&o).unwrap();
        }
        assert!(!*gate.0.lock().unwrap(), "send waited for the display");
        open(&gate);
        s.flush().unwrap();
        let shown = shown.lock().unwrap().clone();
        // At most the picture in the display's hands and the newest one.
        assert_eq!(
            shown.last(),
            Some(&9),
            "the newest is always shown: {shown:?}"
        );
        assert!(shown.len() <= 2, "{shown:?}");
        assert_eq!(shown.len() as u64 + s.queue.dropped(), 10);
    }

    #[test]
    fn from_files_every_picture_is_made_and_errors_surface() {
        let (mut s, shown, gate) = sink(true, Some(2));
        open(&gate);
        let mut o = outcome();
        let mut errors = 0;
        for k in 0..6 {
            o.sequence = k;
            errors += s.send(&o).is_err() as u32;
        }
        errors += s.flush().is_err() as u32;
        assert_eq!(*shown.lock().unwrap(), vec![0, 1, 3, 4, 5]);
        assert_eq!(errors, 1, "the display's error is reported once");
    }
}
