//! The live pipeline: capture → inference → output, each on its own thread, joined by
//! bounded queues. A live source is never made to wait: when inference (or a slow
//! serial line) falls behind, the oldest queued item is dropped and counted, never the
//! newest. Files are read at the pace of inference and lose nothing.

pub mod queue;
pub mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::body::camera::CameraSetting;
use crate::body::smooth::OneEuroParams;
use crate::body::smpl::BodyModel;
use crate::body::BodyStage;
use crate::capture::{Frame, FrameSource};
use crate::crop::track::Tracker;
use crate::crop::PersonBox;
use crate::engine::Engine;
use crate::output::{Outcome, Sink};
use queue::{CloseOnDrop, LatestQueue};
use stats::LatencyStats;

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

/// Frame counters, readable while the pipeline runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub captured: AtomicU64,
    /// Frames the source could not deliver (undecodable), skipped.
    pub bad_frames: AtomicU64,
    pub processed: AtomicU64,
    /// Frames whose inference failed (e.g. the box does not fit the frame).
    pub failed: AtomicU64,
    pub sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub reconnects: AtomicU64,
    /// The source failed for good (e.g. no permission on the camera): the run stopped.
    pub fatal: AtomicBool,
}

/// What one output took.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutputCount {
    pub name: String,
    pub sent: u64,
    pub errors: u64,
    /// The output went away for good (EPIPE: its reader is gone); nothing more was sent.
    pub closed: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub captured: u64,
    pub bad_frames: u64,
    pub processed: u64,
    pub failed: u64,
    /// Dropped before inference (oldest first) because inference was behind.
    pub dropped_before_inference: u64,
    /// Dropped before the sinks because output was behind.
    pub dropped_before_output: u64,
    pub sent: u64,
    pub send_errors: u64,
    /// Per output: its name, the packets it took and its errors (what reached each sink).
    pub outputs: Vec<OutputCount>,
    pub reconnects: u64,
    /// The source failed for good and the run stopped early (the error was logged).
    pub source_failed: bool,
    pub seconds: f64,
    #[serde(skip)]
    pub latency: LatencyStats,
}

impl Summary {
    pub fn dropped(&self) -> u64 {
        self.dropped_before_inference + self.dropped_before_output
    }

    pub fn report(&self) -> String {
        let fps = self.processed as f64 / self.seconds.max(1e-9);
        format!(
            "frames: captured {}, processed {} ({fps:.1}/s), dropped {} (before inference {}, before output {}), \
             failed {}, unreadable {}, sent {} (send errors {}), reconnects {}, in {:.1} s\n{}",
            self.captured,
            self.processed,
            self.dropped(),
            self.dropped_before_inference,
            self.dropped_before_output,
            self.failed,
            self.bad_frames,
            self.sent,
            self.send_errors,
            self.reconnects,
            self.seconds,
            self.latency.table()
        ) + &self
            .outputs
            .iter()
            .map(|o| {
                format!(
                    "output {}: sent {}, errors {}{}\n",
                    o.name,
                    o.sent,
                    o.errors,
                    if o.closed { ", closed by its reader" } else { "" }
                )
            })
            .collect::<String>()
            + if self.source_failed {
            "stopped early: the source failed for good (the error is logged above)\n"
        } else {
            ""
        }
    }
}

/// Backoff between reconnect attempts: doubles from 100 ms up to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)).min(5_000))
}

/// Whether to log the `n`th (from 1) repeat of a warning: the first three, then at
/// powers of two, so a source that fails on every frame cannot flood the log.
pub fn worth_logging(n: u64) -> bool {
    n <= 3 || n.is_power_of_two()
}

struct Captured {
    index: u64,
    frame: Frame,
}

/// Run until the source ends, `frames` are captured, or `stop` is raised (Ctrl-C);
/// then drain the queues, flush every sink and return the summary.
pub fn run(
    mut source: Box<dyn FrameSource>,
    engine: Arc<Engine>,
    mut sinks: Vec<Box<dyn Sink>>,
    opts: RunOptions,
    stop: Arc<AtomicBool>,
) -> Summary {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let frames_q: Arc<LatestQueue<Captured>> = Arc::new(LatestQueue::new(opts.queue));
    let out_q: Arc<LatestQueue<Outcome>> = Arc::new(LatestQueue::new(opts.queue.max(4)));
    let latency = Arc::new(Mutex::new(LatencyStats::default()));
    // Files can wait for a slow output; a camera cannot.
    let live = source.is_live();

    // Capture thread: the camera's pace.
    let capture = {
        let (q, c, stop) = (frames_q.clone(), counters.clone(), stop.clone());
        let limit = opts.frames;
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                let _close = CloseOnDrop(q.clone());
                let live = source.is_live();
                let mut index = 0u64;
                let mut attempt = 0u32;
                while !stop.load(Ordering::Relaxed) && limit.is_none_or(|n| index < n) {
                    match source.next_frame() {
                        Ok(Some(frame)) => {
                            attempt = 0;
                            c.captured.fetch_add(1, Ordering::Relaxed);
                            let item = Captured { index, frame };
                            index += 1;
                            if live {
                                q.push(item);
                            } else if q.push_wait(item).is_err() {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) if e.is_fatal() => {
                            tracing::error!("{e}; stopping");
                            c.fatal.store(true, Ordering::Relaxed);
                            break;
                        }
                        Err(e) if e.is_disconnect() => {
                            let wait = backoff(attempt);
                            tracing::warn!("{e}; reconnecting in {:.1} s", wait.as_secs_f64());
                            std::thread::sleep(wait);
                            attempt += 1;
                            match source.reconnect() {
                                Ok(()) => {
                                    c.reconnects.fetch_add(1, Ordering::Relaxed);
                                    tracing::warn!("reconnected: {}", source.describe());
                                }
                                Err(e) if e.is_fatal() => {
                                    tracing::error!("{e}; stopping");
                                    c.fatal.store(true, Ordering::Relaxed);
                                    break;
                                }
                                Err(e) => tracing::debug!("reconnect failed: {e}"),
                            }
                        }
                        Err(e) => {
                            // An unreadable frame consumes its sequence number (a gap in
                            // the packets) and counts towards --frames.
                            index += 1;
                            let n = c.bad_frames.fetch_add(1, Ordering::Relaxed) + 1;
                            if worth_logging(n) {
                                tracing::warn!(
                                    "skipping an unreadable frame: {e} ({n} unreadable so far; \
                                     repeats are logged at powers of two)"
                                );
                            }
                        }
                    }
                }
            })
            .expect("spawn capture thread")
    };

    // Output thread: sinks may be slow (a serial line); they never hold up inference.
    let output = {
        let (q, c, stop) = (out_q.clone(), counters.clone(), stop.clone());
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let mut counts: Vec<OutputCount> = sinks
                    .iter()
                    .map(|s| OutputCount {
                        name: s.name(),
                        ..OutputCount::default()
                    })
                    .collect();
                while let Some(o) = q.pop_until_closed() {
                    let mut ok = !sinks.is_empty();
                    for (sink, n) in sinks.iter_mut().zip(counts.iter_mut()) {
                        if n.closed {
                            ok = false;
                            continue;
                        }
                        match sink.send(&o) {
                            Ok(()) => n.sent += 1,
                            Err(e) => {
                                ok = false;
                                n.errors += 1;
                                c.send_errors.fetch_add(1, Ordering::Relaxed);
                                if e.kind() == std::io::ErrorKind::BrokenPipe {
                                    n.closed = true;
                                    tracing::warn!("{}: {e}; nothing more is sent to it", n.name);
                                } else if n.errors == 1 {
                                    tracing::warn!(
                                        "{}: {e} (further errors counted, not logged)",
                                        n.name
                                    );
                                }
                            }
                        }
                    }
                    if ok {
                        c.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // Every output's reader is gone: nobody is listening, stop the run.
                    if !counts.is_empty() && counts.iter().all(|n| n.closed) {
                        tracing::warn!("every output is closed: stopping");
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                for (sink, n) in sinks.iter_mut().zip(counts.iter_mut()) {
                    if n.closed {
                        continue;
                    }
                    if let Err(e) = sink.flush() {
                        n.errors += 1;
                        c.send_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("{}: flush failed: {e}", n.name);
                    }
                }
                counts
            })
            .expect("spawn output thread")
    };

    // Inference on this thread.
    let random = engine.bundle.manifest.is_random();
    let mut tracker = Tracker::new(engine.bundle.mean.cam[0] as f64);
    let mut body = BodyStage::new(
        opts.body_model.clone(),
        opts.camera,
        engine.bundle.manifest.input.size,
    )
    .with_smoothing(opts.smooth);
    let mut last_stats = Instant::now();
    loop {
        // A blocking source (an idle pipe, a camera that stopped sending) may hold the
        // capture thread in a read: a stop request is seen here, not only there.
        let item = match frames_q.pop(Duration::from_millis(50)) {
            Some(item) => item,
            // Closed: one may have come in between (pop_until_closed's rule).
            None if frames_q.is_closed() => match frames_q.pop(Duration::ZERO) {
                Some(item) => item,
                None => break,
            },
            // Stopped with nothing waiting: done, whatever the source is doing.
            None if stop.load(Ordering::Relaxed) => break,
            None => continue,
        };
        let Captured { index, frame } = item;
        let (w, h) = frame.image.dimensions();
        let (bx, default_box) = match opts.person_box {
            Some(b) => (b, false),
            None if opts.track => {
                let (b, tracked) = tracker.next_box(w, h);
                (b, !tracked)
            }
            None => (PersonBox::centre_square(w, h), true),
        };
        let result = bx
            .check_inside(w, h)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let mut inference = engine
                    .infer_views(&frame.image, &bx, &opts.views)
                    .map_err(|e| e.to_string())?;
                let t = frame.captured.saturating_duration_since(started);
                let body = body
                    .apply_at(&mut inference, &bx, (w, h), Some(t.as_secs_f64()))
                    .map_err(|e| e.to_string())?;
                crate::output::check_finite(&inference, &body)?;
                Ok((inference, body))
            });
        match result {
            Ok((inference, body)) => {
                counters.processed.fetch_add(1, Ordering::Relaxed);
                if opts.track {
                    let a = &inference.rendered.opacity;
                    let mean_opacity = a.iter().sum::<f32>() / a.len().max(1) as f32;
                    tracker.update(&bx, inference.regressed.cam, mean_opacity, w, h);
                }
                let latency_ms = frame.captured.elapsed().as_secs_f64() * 1e3;
                {
                    let mut l = latency.lock().unwrap_or_else(|p| p.into_inner());
                    l.record("queue", latency_ms - inference.times.total);
                    for (stage, ms) in inference.times.named() {
                        l.record(stage, ms);
                    }
                    l.record("capture→out", latency_ms);
                }
                let outcome = Outcome {
                    sequence: index as u32,
                    origin: frame.origin,
                    frame: Arc::new(frame.image),
                    frame_size: (w, h),
                    person_box: bx,
                    default_box,
                    inference,
                    body,
                    captured_at: frame.captured_at,
                    latency_us: (latency_ms * 1e3) as u32,
                    random_weights: random,
                };
                if live {
                    out_q.push(outcome);
                } else {
                    // Only refused once closed, which happens after this loop.
                    let _ = out_q.push_wait(outcome);
                }
            }
            Err(e) => {
                tracker.lose();
                body.reset();
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{}: {e}", frame.origin);
            }
        }
        if !opts.stats_every.is_zero() && last_stats.elapsed() >= opts.stats_every {
            last_stats = Instant::now();
            let c = &counters;
            eprintln!(
                "[imphmr] captured {} processed {} dropped {} sent {}",
                c.captured.load(Ordering::Relaxed),
                c.processed.load(Ordering::Relaxed),
                frames_q.dropped() + out_q.dropped(),
                c.sent.load(Ordering::Relaxed)
            );
        }
    }
    out_q.close();
    frames_q.close();
    // The capture thread may be blocked in a read that never returns (an idle pipe):
    // give it a moment, then leave it behind; the process ends after the summary.
    let waited = Instant::now();
    while !capture.is_finished() && waited.elapsed() < Duration::from_millis(200) {
        std::thread::sleep(Duration::from_millis(5));
    }
    if capture.is_finished() {
        let _ = capture.join();
    }
    let outputs = output.join().unwrap_or_default();
    let c = &counters;
    let latency = latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Summary {
        captured: c.captured.load(Ordering::Relaxed),
        bad_frames: c.bad_frames.load(Ordering::Relaxed),
        processed: c.processed.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        dropped_before_inference: frames_q.dropped(),
        dropped_before_output: out_q.dropped(),
        sent: c.sent.load(Ordering::Relaxed),
        send_errors: c.send_errors.load(Ordering::Relaxed),
        outputs,
        reconnects: c.reconnects.load(Ordering::Relaxed),
        source_failed: c.fatal.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera that refuses to open: the run must stop, not retry forever.
    struct Denied;

    impl FrameSource for Denied {
        fn next_frame(&mut self) -> Result<Option<Frame>, crate::capture::CaptureError> {
            Err(crate::capture::CaptureError::Fatal {
                device: "/dev/video9".into(),
                msg: "permission denied".into(),
            })
        }
        fn describe(&self) -> String {
            "denied".into()
        }
        fn is_live(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_fatal_source_error_stops_the_run() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/small");
        let engine = Arc::new(Engine::load(&dir).unwrap());
        let opts = RunOptions {
            frames: None,
            queue: 2,
            views: vec![0.0],
            person_box: None,
            stats_every: Duration::ZERO,
            track: false,
            body_model: None,
            camera: CameraSetting::SpinCrop,
            smooth: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let summary = run(Box::new(Denied), engine, vec![], opts, stop);
        assert!(summary.source_failed);
        assert_eq!(summary.captured, 0);
        assert!(started.elapsed() < Duration::from_secs(5), "it retried");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(20), Duration::from_secs(5));
    }
}
