//! The capture loop: the source's pace. A live source never waits (the oldest waiting
//! frame is dropped); files wait for inference and lose nothing. A disconnected camera
//! is reopened with backoff; a fatal error stops the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::counters::Counters;
use crate::capture::{backoff, Frame, FrameSource};
use crate::queue::{CloseOnDrop, LatestQueue};
use std::sync::Arc;

/// A frame with its capture index (the packets' sequence number).
pub struct Captured {
    pub index: u64,
    pub frame: Frame,
}

/// Sleep `wait`, or less if `stop` is raised meanwhile: a signal must end a run within a
/// second even while the source backs off (5 s at most).
fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Whether to log the `n`th (from 1) repeat of a warning: the first three, then at
/// powers of two, so a source that fails on every frame cannot flood the log.
pub fn worth_logging(n: u64) -> bool {
    n <= 3 || n.is_power_of_two()
}

/// Read frames into `q` until the source ends, `limit` frames are read or `stop` is
/// raised; the queue is closed on the way out (also on a panic).
pub fn capture_loop(
    mut source: Box<dyn FrameSource>,
    q: Arc<LatestQueue<Captured>>,
    c: &Counters,
    stop: &AtomicBool,
    limit: Option<u64>,
) {
    let _close = CloseOnDrop(q.clone());
    let live = source.is_live();
    let mut index = 0u64;
    let mut attempt = 0u32;
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|n| index < n) {
        if let Some(wait) = source.pause() {
            sleep_unless_stopped(wait, stop);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
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
                sleep_unless_stopped(wait, stop);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
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
                // An unreadable frame consumes its sequence number (a gap in the
                // packets) and counts towards --frames.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A looped folder whose every file is gone: it asks for the longest pause, 5 s.
    struct Vanished;

    impl FrameSource for Vanished {
        fn next_frame(&mut self) -> Result<Option<Frame>, crate::capture::CaptureError> {
            Err(crate::capture::CaptureError::Io {
                path: "gone.jpg".into(),
                cause: std::io::ErrorKind::NotFound.into(),
            })
        }
        fn describe(&self) -> String {
            "vanished files".into()
        }
        fn pause(&mut self) -> Option<Duration> {
            Some(Duration::from_secs(5))
        }
    }

    #[test]
    fn a_stop_ends_the_capture_loop_during_the_sources_pause() {
        let q = Arc::new(LatestQueue::new(2));
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (s, c) = (stop.clone(), counters.clone());
        let started = Instant::now();
        let capture = std::thread::spawn(move || capture_loop(Box::new(Vanished), q, &c, &s, None));
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        capture.join().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // It paused first: no file was tried, so none is counted unreadable.
        assert_eq!(counters.bad_frames.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(20), Duration::from_secs(5));
    }
}
