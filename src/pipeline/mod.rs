//! The live pipeline: capture loop (`capture`) → per-frame processor (`process`) →
//! output loop (`output`), each on its own thread, joined by bounded queues
//! (`crate::queue`). A live source is never made to wait: when inference (or a slow
//! serial line) falls behind, the oldest queued item is dropped and counted, never the
//! newest. Files are read at the pace of inference and lose nothing.

pub mod capture;
pub mod counters;
pub mod options;
pub mod output;
pub mod process;
pub mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::FrameSource;
use crate::engine::Engine;
use crate::output::{Outcome, Sink};
use crate::queue::LatestQueue;
use capture::Captured;
use process::FrameProcessor;
use stats::LatencyStats;

pub use capture::worth_logging;
pub use counters::{Counters, OutputCount, Summary};
pub use options::RunOptions;

/// Run until the source ends, `frames` are captured, or `stop` is raised (Ctrl-C);
/// then drain the queues, flush every sink and return the summary.
pub fn run(
    source: Box<dyn FrameSource>,
    engine: Arc<Engine>,
    sinks: Vec<Box<dyn Sink>>,
    opts: RunOptions,
    stop: Arc<AtomicBool>,
) -> Summary {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let frames_q: Arc<LatestQueue<Captured>> = Arc::new(LatestQueue::new(opts.queue));
    let out_q: Arc<LatestQueue<Outcome>> = Arc::new(LatestQueue::new(opts.queue.max(4)));
    // Files can wait for a slow output; a camera cannot.
    let live = source.is_live();

    let capture = {
        let (q, c, stop) = (frames_q.clone(), counters.clone(), stop.clone());
        let limit = opts.frames;
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture::capture_loop(source, q, &c, &stop, limit))
            .expect("spawn capture thread")
    };
    let output = {
        let (q, c, stop) = (out_q.clone(), counters.clone(), stop.clone());
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || output::output_loop(sinks, &q, &c, &stop))
            .expect("spawn output thread")
    };

    // The frames on this thread.
    let mut processor = FrameProcessor::new(&engine, &opts, started);
    let mut latency = LatencyStats::default();
    let mut last_stats = Instant::now();
    loop {
        // A blocking source (an idle pipe, a camera that stopped sending) may hold the
        // capture thread in a read: a stop request is seen here, not only there.
        let captured = match frames_q.pop(Duration::from_millis(50)) {
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
        let origin = captured.frame.origin.clone();
        let captured_at = captured.frame.captured;
        match processor.process(&engine, captured) {
            Ok(mut outcome) => {
                counters.processed.fetch_add(1, Ordering::Relaxed);
                let latency_ms = captured_at.elapsed().as_secs_f64() * 1e3;
                let times = &outcome.network.times;
                latency.record("queue", latency_ms - times.total);
                for (stage, ms) in times.named() {
                    latency.record(stage, ms);
                }
                latency.record("capture→out", latency_ms);
                outcome.latency_us = Some((latency_ms * 1e3) as u32);
                if live {
                    out_q.push(outcome);
                } else {
                    // Only refused once closed, which happens after this loop.
                    let _ = out_q.push_wait(outcome);
                }
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{origin}: {e}");
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
    use crate::body::camera::CameraSetting;
    use crate::capture::Frame;

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
}
