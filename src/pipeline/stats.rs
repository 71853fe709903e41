//! Latency percentiles per stage, measured with one clock (`Instant`).

use std::collections::BTreeMap;

/// Keeps at most this many samples per stage; past it every other sample is discarded
/// and only every second new one kept, so memory stays flat on long runs while the
/// percentiles still cover the whole run.
const MAX_SAMPLES: usize = 100_000;

#[derive(Debug, Default, Clone)]
struct Series {
    samples: Vec<f32>,
    stride: u64,
    seen: u64,
}

impl Series {
    fn push(&mut self, ms: f64) {
        self.seen += 1;
        let stride = self.stride.max(1);
        if self.seen % stride != 0 {
            return;
        }
        self.samples.push(ms as f32);
        if self.samples.len() >= MAX_SAMPLES {
            let kept: Vec<f32> = self.samples.iter().step_by(2).copied().collect();
            self.samples = kept;
            self.stride = stride * 2;
        }
    }
}

/// p50 / p90 / p99 of one stage, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

#[derive(Debug, Default, Clone)]
pub struct LatencyStats {
    stages: BTreeMap<&'static str, Series>,
    order: Vec<&'static str>,
}

impl LatencyStats {
    pub fn record(&mut self, stage: &'static str, ms: f64) {
        if !self.stages.contains_key(stage) {
            self.order.push(stage);
        }
        self.stages.entry(stage).or_default().push(ms);
    }

    /// Stages in the order they were first recorded, with their percentiles.
    pub fn percentiles(&self) -> Vec<(&'static str, Percentiles)> {
        self.order
            .iter()
            .filter_map(|s| {
                let series = &self.stages[s];
                let mut v = series.samples.clone();
                if v.is_empty() {
                    return None;
                }
                v.sort_by(|a, b| a.total_cmp(b));
                let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64;
                Some((
                    *s,
                    Percentiles {
                        count: series.seen,
                        p50: at(0.5),
                        p90: at(0.9),
                        p99: at(0.99),
                    },
                ))
            })
            .collect()
    }

    /// A table for humans: one line per stage.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<12} {:>7} {:>9} {:>9} {:>9}\n",
            "stage", "n", "p50 ms", "p90 ms", "p99 ms"
        );
        for (stage, p) in self.percentiles() {
            out += &format!(
                "{:<12} {:>7} {:>9.2} {:>9.2} {:>9.2}\n",
                stage, p.count, p.p50, p.p90, p.p99
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let mut s = LatencyStats::default();
        for i in 1..=100 {
            s.record("encoder", i as f64);
        }
        s.record("head", 2.0);
        let p = s.percentiles();
        assert_eq!(p[0].0, "encoder");
        assert_eq!(p[0].1.count, 100);
        assert!((p[0].1.p50 - 50.0).abs() <= 1.0);
        assert!((p[0].1.p90 - 90.0).abs() <= 1.0);
        assert!((p[0].1.p99 - 99.0).abs() <= 1.0);
        assert_eq!(p[1].1.p99, 2.0);
        assert!(s.table().contains("encoder"));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut s = LatencyStats::default();
        for i in 0..(3 * MAX_SAMPLES) {
            s.record("x", (i % 100) as f64);
        }
        assert!(s.stages["x"].samples.len() < MAX_SAMPLES);
        let p = s.percentiles()[0].1;
        assert_eq!(p.count, 3 * MAX_SAMPLES as u64);
        assert!((p.p50 - 50.0).abs() <= 2.0);
    }
}
