//! The output loop: every outcome to every sink. Sinks may be slow (a serial line);
//! they never hold up inference. A sink's first error is logged, the rest counted.

use std::sync::atomic::Ordering;

use super::counters::Counters;
use crate::output::{Outcome, Sink};
use crate::queue::LatestQueue;

/// Send outcomes from `q` until it is closed and drained, then flush every sink.
pub fn output_loop(mut sinks: Vec<Box<dyn Sink>>, q: &LatestQueue<Outcome>, c: &Counters) {
    let mut warned = vec![false; sinks.len()];
    while let Some(o) = q.pop_until_closed() {
        let mut ok = true;
        for (sink, warned) in sinks.iter_mut().zip(warned.iter_mut()) {
            if let Err(e) = sink.send(&o) {
                ok = false;
                c.send_errors.fetch_add(1, Ordering::Relaxed);
                if !*warned {
                    tracing::warn!("{}: {e} (further errors counted, not logged)", sink.name());
                    *warned = true;
                }
            }
        }
        if ok {
            c.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    for sink in sinks.iter_mut() {
        if let Err(e) = sink.flush() {
            tracing::warn!("{}: flush failed: {e}", sink.name());
        }
    }
}
