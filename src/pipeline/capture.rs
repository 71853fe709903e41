//! The capture loop: the source's pace. A live source never waits (the oldest waiting
//! frame is dropped); files wait for inference and lose nothing. A disconnected camera
//! is reopened with backoff; a fatal error stops the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::counters::Counters;
use crate::capture::{Frame, FrameSource};
use crate::queue::{CloseOnDrop, LatestQueue};
use std::sync::Arc;

/// A frame with its capture index (the packets' sequence number).
pub struct Captured {
    pub index: u64,
    pub frame: Frame,
}

/// Backoff between reconnect attempts: doubles from 100 ms up to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)).min(5_000))
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

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(20), Duration::from_secs(5));
    }
}
