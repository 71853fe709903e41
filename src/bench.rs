//! `imphmr bench`: the network timed on one image. First one frame at a time (latency per
//! stage, body and output included), then with `--views` the input view alone for
//! comparison, then the same frames through `pipeline::run` (pipelined throughput). The
//! report is a value; the command line prints it.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;

use crate::body::camera::CameraSetting;
use crate::body::smpl::{BodyError, BodyModel};
use crate::body::BodyStage;
use crate::capture::Repeat;
use crate::crop::PersonBox;
use crate::engine::Engine;
use crate::model::ModelError;
use crate::output::{framing, DiscardSink, Outcome};
use crate::pipeline::stats::LatencyStats;
use crate::pipeline::{self, RunOptions, Summary};

/// What to time.
pub struct BenchOptions {
    /// The image's name, for the pipelined run's outcomes.
    pub name: String,
    pub iters: u32,
    /// Untimed iterations first (caches, rays for the view, thread pools).
    pub warmup: u32,
    /// The yaws, the input view first (`--view-deg`, `--views`).
    pub views: Vec<f64>,
    pub body_model: Option<Arc<BodyModel>>,
    pub camera: CameraSetting,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// What the bench measured.
pub struct BenchReport {
    pub views: Vec<f64>,
    /// One frame at a time: per stage, body and output before the whole ("inference").
    pub stages: LatencyStats,
    /// With several views: the same frames from the input view alone.
    pub one_view: Option<LatencyStats>,
    pub sequential_fps: f64,
    /// The pipelined run.
    pub pipelined: Summary,
}

/// Time `engine` on `rgb` (centre square crop); progress goes to stderr.
pub fn run(
    engine: Arc<Engine>,
    rgb: RgbImage,
    opts: BenchOptions,
) -> Result<BenchReport, BenchError> {
    let views = &opts.views;
    let mut body = BodyStage::new(
        opts.body_model.clone(),
        opts.camera,
        engine.bundle.manifest.input.size,
    );
    let (w, h) = rgb.dimensions();
    let bx = PersonBox::centre_square(w, h);
    for _ in 0..opts.warmup {
        engine.infer_views(&rgb, &bx, views)?;
    }

    // Single-frame latency: one frame at a time through every stage.
    let shared = Arc::new(rgb.clone());
    let random = engine.bundle.manifest.is_random();
    let mut stages = LatencyStats::default();
    let started = Instant::now();
    for i in 0..opts.iters {
        let network = engine.infer_views(&rgb, &bx, views)?;
        let times = network.times;
        let t = Instant::now();
        let posed = body.apply(&network, &bx, (w, h))?;
        let body_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let outcome = Outcome::still(
            "bench".into(),
            shared.clone(),
            bx,
            true,
            network,
            posed,
            random,
        );
        std::hint::black_box(framing::frame(&outcome.packet().encode()));
        let output_ms = t.elapsed().as_secs_f64() * 1e3;
        // Stages in pipeline order, body and output before the network's total
        // ("inference").
        let [network_stages @ .., total] = times.named();
        let after = [("body", body_ms), ("output", output_ms), total];
        for (stage, ms) in network_stages.into_iter().chain(after) {
            stages.record(stage, ms);
        }
        if (i + 1) % 10 == 0 {
            eprintln!("  {} / {}", i + 1, opts.iters);
        }
    }
    let sequential_fps = opts.iters as f64 / started.elapsed().as_secs_f64().max(1e-9);

    // With --views: the same frames from the input view alone, for what the others cost.
    let one_view = if views.len() > 1 {
        eprintln!("  one view ({} deg) for comparison", views[0]);
        let mut one = LatencyStats::default();
        for _ in 0..opts.iters {
            for (stage, ms) in engine.infer(&rgb, &bx, views[0])?.times.named() {
                one.record(stage, ms);
            }
        }
        Some(one)
    } else {
        None
    };

    // Pipelined throughput: `imphmr run`'s capture, inference and output threads on the
    // same frame, paced by the pipeline itself.
    eprintln!("  pipelined: {} frames", opts.iters);
    let run_opts = RunOptions {
        frames: Some(opts.iters as u64),
        queue: 2,
        views: views.clone(),
        person_box: Some(bx),
        stats_every: std::time::Duration::ZERO,
        track: false,
        body_model: opts.body_model,
        camera: opts.camera,
        smooth: None,
    };
    let pipelined = pipeline::run(
        Box::new(Repeat::new(rgb, opts.name)),
        engine,
        vec![Box::new(DiscardSink::default())],
        run_opts,
        Arc::new(AtomicBool::new(false)),
    );
    Ok(BenchReport {
        views: opts.views,
        stages,
        one_view,
        sequential_fps,
        pipelined,
    })
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stages.table())?;
        if let Some(one_view) = &self.one_view {
            let p50 = |s: &LatencyStats, stage: &str| {
                s.percentiles()
                    .iter()
                    .find(|(n, _)| *n == stage)
                    .map_or(f64::NAN, |(_, p)| p.p50)
            };
            writeln!(
                f,
                "views {:?} (one encoder, a field and a head each) against one view, p50 ms:",
                self.views
            )?;
            for stage in ["field", "render", "head", "inference"] {
                let (many, one) = (p50(&self.stages, stage), p50(one_view, stage));
                writeln!(
                    f,
                    "  {stage:<10} {many:>8.2} vs {one:>8.2}  (x{:.2})",
                    many / one.max(1e-9)
                )?;
            }
        }
        writeln!(
            f,
            "frames per second (sequential, single-frame latency): {:.1}",
            self.sequential_fps
        )?;
        let s = &self.pipelined;
        writeln!(
            f,
            "frames per second (pipelined: capture, inference, output threads): {:.1}",
            s.processed as f64 / s.seconds.max(1e-9)
        )?;
        let pipelined = s.latency.percentiles();
        if let Some((_, p)) = pipelined.iter().find(|(stage, _)| *stage == "capture→out") {
            writeln!(
                f,
                "pipelined capture-to-output latency: p50 {:.2} ms, p99 {:.2} ms",
                p.p50, p.p99
            )?;
        }
        Ok(())
    }
}
