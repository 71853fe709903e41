//! The output loop: every outcome to every sink. Sinks may be slow (a serial line);
//! they never hold up inference. A sink's first error is logged, the rest counted; a
//! sink whose reader is gone (EPIPE) is closed, and when every one is, the run stops.

use std::sync::atomic::{AtomicBool, Ordering};

use super::counters::{Counters, OutputCount};
use crate::output::{Outcome, Sink};
use crate::queue::LatestQueue;

/// Send outcomes from `q` until it is closed and drained, then flush every sink; what
/// each sink took. Raises `stop` when every sink is closed.
pub fn output_loop(
    mut sinks: Vec<Box<dyn Sink>>,
    q: &LatestQueue<Outcome>,
    c: &Counters,
    stop: &AtomicBool,
) -> Vec<OutputCount> {
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
                        tracing::warn!("{}: {e} (further errors counted, not logged)", n.name);
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
}
