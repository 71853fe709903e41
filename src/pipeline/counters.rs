//! What a run counts while it runs, and its summary at the end.

use std::sync::atomic::{AtomicBool, AtomicU64};

use super::stats::LatencyStats;

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
