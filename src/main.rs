//! `imphmr`: the command line. Argument parsing and wiring only; the work is in the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use imphmr::bench::BenchOptions;
use imphmr::body::camera::{CameraSetting, Intrinsics};
use imphmr::body::smooth::OneEuroParams;
use imphmr::body::smpl::BodyModel;
use imphmr::body::BodyStage;
use imphmr::capture::{FrameSource, SourceOptions};
use imphmr::crop::PersonBox;
use imphmr::engine::FieldDevice;
use imphmr::output::json::{self, Extras};
use imphmr::output::{JsonlSink, OverlaySink, SerialSink, Sink, UdpSink};
use imphmr::overlay::{Framebuffer, PngDir};
use imphmr::pipeline::process::{self, FrameError};
use imphmr::pipeline::{self, RunOptions};
use imphmr::{capture, Engine};

#[derive(Parser)]
#[command(
    name = "imphmr",
    version,
    about = "ImpHMR human mesh recovery on edge boards: images in, SMPL parameters out",
    long_about = "ImpHMR human mesh recovery on edge boards.\n\n\
        A CNN encoder conditions a neural feature field; a 2D feature map is volume-rendered \
        from it for a viewing direction, and SMPL pose θ, shape β and a weak-perspective \
        camera are regressed from that map. Networks run under tract; rays, encoding and \
        rendering are Rust.\n\n\
        The default model (models/trained) was trained by tools/train.py on synthetic people \
        rendered from the open body model models/body/anny.body (give it with --body-model \
        for joints): its θ are that model's joint rotations, and nothing is claimed for \
        photographs yet (docs/ACCURACY.md). models/small has seeded random weights and \
        exists for parity tests: its outputs are not a human pose. Export your own \
        checkpoint with tools/export_bundle.py.",
    after_help = "Examples:\n  \
        imphmr infer --body-model models/body/anny.body models/samples/synthetic/frame_0.jpg\n  \
        imphmr infer --box 40,20,200,200 --view-deg 90 models/samples/synthetic/frame_1.jpg\n  \
        imphmr eval --body-model models/body/anny.body --data models/heldout\n  \
        imphmr inspect models/trained\n  \
        imphmr run --frames 10 --udp 127.0.0.1:9870\n  \
        imphmr run --source /dev/video0 --serial /dev/ttyTHS0 --baud 921600\n  \
        imphmr run --source models/samples/walking.mjpeg --track --body-model models/body/anny.body --overlay-dir /tmp/overlay\n  \
        ffmpeg -i clip.mp4 -f mjpeg - | imphmr run --source - --jsonl out.jsonl"
)]
struct Cli {
    /// Threads for tract's matrix kernels [default: all cores]
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the network on image files; print one JSON line per image
    ///
    /// Each line holds the file, the person box, θ (24 joints × axis-angle, radians),
    /// β (10), the weak-perspective camera (s, tx, ty) and milliseconds per stage.
    /// A bad image is reported on stderr and skipped; the others still print. Exit
    /// status: 0 all images done, 1 some failed, 2 the model or arguments are wrong.
    Infer(InferArgs),
    /// The main job: frames from a camera (or files, or a pipe) to SMPL parameters,
    /// streamed over UDP, a serial line and/or JSON lines
    ///
    /// Capture, inference and output run on their own threads. A camera is never made
    /// to wait: when inference falls behind, the oldest frame is dropped and counted.
    /// Packets carry the capture index as their sequence number, so gaps are drops.
    /// A stats line goes to stderr every few seconds; Ctrl-C or SIGTERM stops cleanly
    /// with the last packet flushed and a summary (frames, drops, latency percentiles).
    Run(Box<RunArgs>),
    /// Time the network on one image: warm-up, then p50/p90/p99 per stage and frames/s
    ///
    /// First one frame at a time (single-frame latency per stage: preprocess, encoder,
    /// field, render, head, output = packet encoding and framing), then the same number
    /// of frames through `imphmr run`'s capture, inference and output threads (pipelined
    /// throughput). Run it on the board with the threads and power mode you will deploy
    /// with (docs/DEPLOY.md); docs/PERFORMANCE.md has this machine's figures.
    Bench(BenchArgs),
    /// List V4L2 cameras with their pixel formats and frame sizes
    Devices,
    Eval(imphmr::eval::EvalArgs),
    /// Describe a bundle: manifest, each graph's inputs and outputs, parameters, MACs
    Inspect {
        /// Bundle directory (holding imphmr.toml)
        model: PathBuf,
    },
}

/// Stated limits on numbers from flags: beyond them a flag is refused, never allocated.
mod limits {
    /// --threads: tract's worker threads.
    pub const MAX_THREADS: usize = 256;
    /// --queue: frames (each a whole image) waiting for inference.
    pub const MAX_QUEUE: usize = 1000;
    /// --stats-every: one day.
    pub const MAX_STATS_EVERY_S: f64 = 86_400.0;
    /// --view-deg and --views together: each view costs a field and a head per frame.
    pub const MAX_VIEWS: usize = 64;
}

/// What every network command takes: the bundle and the viewing direction.
#[derive(Args)]
struct NetArgs {
    /// Bundle directory (holding imphmr.toml)
    #[arg(long, short, value_name = "DIR", default_value = "models/trained")]
    model: PathBuf,
    /// Render the feature field from this yaw, degrees about the body's vertical axis
    /// (0: the input view)
    #[arg(
        long,
        value_name = "D",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    view_deg: f64,
    /// Also render the field from these yaws, degrees (e.g. 0,90,180,270), from the
    /// same z (one encoder run). Each view's answer is brought back to the input view; how far they
    /// spread is the frame's ambiguity score (radians: JSON "ambiguity", packet flag
    /// bit 1), the network's own doubt. `infer` also prints every view's answer
    /// ("views"). Costs a field and a head per view (see `imphmr bench --views`)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "DEG,…",
        allow_hyphen_values = true
    )]
    views: Vec<f64>,
    /// Where to render the feature field: CUDA when this build has it (cargo feature
    /// cuda) and a GPU with its driver is present, else the CPU; or force one
    #[arg(long, value_enum, value_name = "DEVICE", default_value_t = FieldDevice::Auto)]
    field_on: FieldDevice,
}

/// The body stage: body model and camera (infer, run, bench).
#[derive(Args)]
struct BodyArgs {
    /// Your SMPL model, converted by tools/smpl_convert.py: adds 24 joints in metres in
    /// the camera frame (x right, y down, z forward), body translation included
    /// (JSON "joints"; packet joints block, flag bit 0)
    #[arg(long, value_name = "FILE")]
    body_model: Option<PathBuf>,
    /// Focal length of the camera, pixels: the translation ("cam_t", and the packet's
    /// cam with flag bit 2) is the body's in that camera (CLIFF's full-frame
    /// convention; principal point at the frame centre). Without it or --intrinsics:
    /// SPIN's crop camera (focal 5000 px at the crop's resolution). JSON "camera"
    /// says which
    #[arg(long, value_name = "PIXELS", conflicts_with = "intrinsics")]
    focal: Option<f64>,
    /// Camera intrinsics as JSON {"fx", "fy", "cx", "cy"} (pixels, e.g. from a
    /// calibration): like --focal, with the calibrated principal point
    #[arg(long, value_name = "FILE")]
    intrinsics: Option<PathBuf>,
}

impl BodyArgs {
    /// The body model (read and checked) and the camera setting.
    fn load(&self) -> Result<(Option<Arc<BodyModel>>, CameraSetting)> {
        let model = match &self.body_model {
            Some(p) => Some(Arc::new(BodyModel::load(p).context("--body-model")?)),
            None => None,
        };
        let camera = match (&self.intrinsics, self.focal) {
            (Some(p), _) => CameraSetting::Calibrated(
                Intrinsics::load(p)
                    .map_err(anyhow::Error::msg)
                    .context("--intrinsics")?,
            ),
            (None, Some(f)) if f.is_finite() && f > 0.0 => CameraSetting::Focal(f),
            (None, Some(f)) => anyhow::bail!("--focal {f}: must be a positive number of pixels"),
            (None, None) => CameraSetting::SpinCrop,
        };
        Ok((model, camera))
    }
}

impl NetArgs {
    /// --view-deg first, then the other --views (duplicates dropped).
    fn view_list(&self) -> Result<Vec<f64>> {
        if !self.view_deg.is_finite() {
            anyhow::bail!("--view-deg {}: not a number of degrees", self.view_deg);
        }
        let mut list = vec![self.view_deg];
        for &v in &self.views {
            if !v.is_finite() {
                anyhow::bail!("--views: {v} is not a number of degrees");
            }
            if !list.contains(&v) {
                list.push(v);
            }
        }
        if list.len() > limits::MAX_VIEWS {
            anyhow::bail!(
                "--views: {} yaws; at most {} views in all (each costs a field and a head per frame)",
                list.len() - 1,
                limits::MAX_VIEWS
            );
        }
        if !self.views.is_empty() && list.len() < 2 {
            anyhow::bail!(
                "--views {:?}: needs at least one yaw besides --view-deg {}",
                self.views,
                self.view_deg
            );
        }
        Ok(list)
    }
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Image to run on (centre square crop)
    #[arg(
        long,
        value_name = "IMAGE",
        default_value = "models/samples/astronaut.png"
    )]
    image: PathBuf,
    /// Timed iterations
    #[arg(long, value_name = "N", default_value_t = 50)]
    iters: u32,
    /// Untimed iterations first (caches, rays for the view, thread pools)
    #[arg(long, value_name = "N", default_value_t = 5)]
    warmup: u32,
    #[command(flatten)]
    body: BodyArgs,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Where frames come from: a V4L2 device (/dev/videoN), an image file, a folder of
    /// images, an MJPEG file, or - for an MJPEG stream on stdin (e.g. from ffmpeg)
    /// [default: /dev/video0 if present, else the bundled sample images]
    #[arg(long, short, value_name = "SRC")]
    source: Option<String>,
    /// Camera frame width asked of the driver (it may choose another; that is logged)
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Camera frame height asked of the driver
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Camera frame rate asked of the driver
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Camera pixel format, YUYV or MJPG [default: YUYV if offered]
    #[arg(long, value_name = "FOURCC")]
    pixel_format: Option<String>,
    /// Read image files or folders over and over
    #[arg(long = "loop")]
    looped: bool,
    /// Stop after N captured frames
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Person box in pixels, x,y,w,h [default: centre square of each frame]
    #[arg(long = "box", value_name = "X,Y,W,H", allow_hyphen_values = true)]
    person_box: Option<PersonBox>,
    /// Follow the person: each crop is centred and sized from the last result (its
    /// weak-perspective camera), smoothed, and reset to the centre square when lost
    #[arg(long, conflicts_with = "person_box")]
    track: bool,
    /// Send one packet per frame as a UDP datagram to HOST:PORT (docs/PROTOCOL.md)
    #[arg(long, value_name = "HOST:PORT")]
    udp: Vec<String>,
    /// Send COBS-framed packets on a serial device (e.g. /dev/ttyTHS0, /dev/ttyUSB0)
    #[arg(long, value_name = "DEV")]
    serial: Option<String>,
    /// Serial baud rate
    #[arg(long, value_name = "N", default_value_t = 115_200)]
    baud: u32,
    /// Draw each result onto its frame (person box, skeleton with --body-model or the
    /// rendered opacity map without, fps, latency) and save it as DIR/NNNNNN.png, the
    /// frame's sequence number
    #[arg(long, value_name = "DIR")]
    overlay_dir: Option<PathBuf>,
    /// Show the same picture on a Linux framebuffer (e.g. /dev/fb0), scaled to fit;
    /// 16, 24 or 32 bits per pixel
    #[arg(long, value_name = "DEV")]
    fb: Option<PathBuf>,
    /// Write JSON lines to FILE, or - for stdout [default: - when no other output is given]
    #[arg(long, value_name = "FILE|-")]
    jsonl: Option<PathBuf>,
    /// Frames that may wait for inference before the oldest is dropped (at most 1000)
    #[arg(long, value_name = "N", default_value_t = 2)]
    queue: usize,
    /// Treat a pipe (--source -) or an MJPEG file as live, like a camera: when
    /// inference falls behind, the oldest waiting frame is dropped (and counted).
    /// Without it they are read at inference's pace and every frame is processed
    #[arg(long)]
    live: bool,
    /// Seconds between stats lines on stderr (0: none; at most 86400)
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    stats_every: f64,
    #[command(flatten)]
    body: BodyArgs,
    /// Smooth θ (on the rotation manifold), β and the translation over time with a
    /// One-Euro filter: MIN_CUTOFF (Hz; lower = steadier at rest, more lag) and BETA
    /// (higher = less lag in fast motion). Start with 1,2 at 30 fps; tune with BETA 0
    /// first. Packets and JSON carry the smoothed values; the filter restarts after a
    /// lost person, a failed frame or a gap over 1 s [default: off]
    #[arg(long, value_name = "MIN_CUTOFF,BETA")]
    smooth: Option<OneEuroParams>,
}

#[derive(Args)]
struct InferArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Person box in pixels, x,y,w,h (top-left corner, size) [default: centre square]
    ///
    /// The box is resized to the network's square input as given: pass a square box to
    /// keep the body's proportions. It must lie inside the image.
    #[arg(long = "box", value_name = "X,Y,W,H", allow_hyphen_values = true)]
    person_box: Option<PersonBox>,
    /// Also print θ as 3×3 rotation matrices (row-major), key "rotmat"
    #[arg(long)]
    rotmat: bool,
    /// Also print the rendered opacity map (ImpHMR's silhouette), key "opacity"
    #[arg(long)]
    opacity: bool,
    /// Draw each result onto its image (person box, skeleton with --body-model or the
    /// opacity map without) and save it as DIR/<image name>.png
    #[arg(long, value_name = "DIR")]
    overlay_dir: Option<PathBuf>,
    #[command(flatten)]
    body: BodyArgs,
    /// PNG or JPEG images
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMPHMR_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let threads = match cli.threads {
        Some(n) if !(1..=limits::MAX_THREADS).contains(&n) => {
            eprintln!(
                "error: --threads {n}: must be between 1 and {}",
                limits::MAX_THREADS
            );
            return ExitCode::from(2);
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    imphmr::set_threads(threads);
    let result = match cli.command {
        Command::Infer(args) => infer(args),
        Command::Run(args) => run(*args),
        Command::Bench(args) => bench(args, threads),
        Command::Devices => devices(),
        Command::Eval(args) => Ok(imphmr::eval::command(&args)),
        Command::Inspect { model } => inspect(&model).map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

fn load_engine(dir: &std::path::Path, field_on: FieldDevice) -> Result<Engine> {
    let engine = Engine::load_on(dir, field_on).context("cannot load the model bundle")?;
    note_random_weights(dir, &engine.bundle.manifest);
    Ok(engine)
}

/// A bundle with random weights says so: its outputs are not a pose.
fn note_random_weights(dir: &std::path::Path, m: &imphmr::model::Manifest) {
    if m.is_random() {
        eprintln!(
            "note: {} ({}) weights: {}; its outputs are not a human pose",
            dir.display(),
            m.name,
            m.weights
        );
    }
}

fn infer(args: InferArgs) -> Result<ExitCode> {
    let engine = load_engine(&args.net.model, args.net.field_on)?;
    let extras = Extras {
        rotmat: args.rotmat,
        opacity: args.opacity,
        views: true,
    };
    let (body_model, camera) = args.body.load()?;
    let mut body = BodyStage::new(body_model, camera, engine.bundle.manifest.input.size);
    let views = args.net.view_list()?;
    if let Some(dir) = &args.overlay_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--overlay-dir {}: cannot create it", dir.display()))?;
    }
    let stdout = std::io::stdout();
    let mut failed = 0usize;
    for path in &args.images {
        let shown = path.display().to_string();
        let line = (|| -> Result<serde_json::Value> {
            let rgb = capture::load_image(path)?;
            let outcome = process::still(
                &engine,
                &mut body,
                rgb,
                shown.clone(),
                args.person_box,
                &views,
            )
            .map_err(|e| match e {
                // Which image's box: the others' errors name their file already.
                FrameError::Box(e) => anyhow::Error::new(e).context(shown.clone()),
                e => e.into(),
            })?;
            let line = json::inference_line(&outcome, extras);
            if let Some(dir) = &args.overlay_dir {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                let out = dir.join(format!("{stem}.png"));
                imphmr::output::overlay::picture(&outcome, 0.0)
                    .save(&out)
                    .with_context(|| format!("--overlay-dir: cannot write {}", out.display()))?;
            }
            Ok(line)
        })();
        match line {
            Ok(v) => {
                let mut out = stdout.lock();
                writeln!(out, "{v}")?;
                out.flush()?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", args.images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Pick the frame source; says which one on stderr.
fn open_source(args: &RunArgs) -> Result<Box<dyn FrameSource>> {
    let src = match &args.source {
        Some(s) => s.clone(),
        None if std::path::Path::new("/dev/video0").exists() => {
            eprintln!("source: /dev/video0 (default camera)");
            "/dev/video0".into()
        }
        None => {
            eprintln!("source: no /dev/video0, using the bundled sample images (models/samples)");
            "models/samples".into()
        }
    };
    let opts = SourceOptions {
        width: args.width,
        height: args.height,
        fps: args.fps,
        pixel_format: args.pixel_format.clone(),
        looped: args.looped,
        live: args.live,
    };
    Ok(capture::open(&src, &opts)?)
}

/// The outputs; `live`: the source is a camera (the overlay then skips pictures
/// rather than hold up the others).
fn open_sinks(args: &RunArgs, live: bool) -> Result<Vec<Box<dyn Sink>>> {
    let mut sinks: Vec<Box<dyn Sink>> = vec![];
    for target in &args.udp {
        let sink = UdpSink::connect(target).with_context(|| format!("--udp {target}"))?;
        sinks.push(Box::new(sink));
    }
    if let Some(dev) = &args.serial {
        let sink = SerialSink::open(dev, args.baud).with_context(|| format!("--serial {dev}"))?;
        sinks.push(Box::new(sink));
    }
    if let Some(dir) = &args.overlay_dir {
        let png = PngDir::create(dir).context("--overlay-dir")?;
        let sink = OverlaySink::new(Box::new(png), !live)?;
        sinks.push(Box::new(sink));
    }
    if let Some(dev) = &args.fb {
        let fb = Framebuffer::open(dev).context("--fb")?;
        let sink = OverlaySink::new(Box::new(fb), !live)?;
        sinks.push(Box::new(sink));
    }
    let jsonl = match (&args.jsonl, sinks.is_empty()) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(PathBuf::from("-")),
        (None, false) => None,
    };
    if let Some(p) = jsonl {
        let out: Box<dyn Write + Send> = if p.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            // Unbuffered: each record is written whole, or its failure is seen at once.
            Box::new(std::fs::File::create(&p).with_context(|| format!("--jsonl {}", p.display()))?)
        };
        sinks.push(Box::new(JsonlSink::new(
            out,
            p.display().to_string(),
            Extras::default(),
        )));
    }
    Ok(sinks)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    if !(args.stats_every.is_finite() && args.stats_every <= limits::MAX_STATS_EVERY_S) {
        anyhow::bail!(
            "--stats-every {}: must be a number of seconds up to {}",
            args.stats_every,
            limits::MAX_STATS_EVERY_S
        );
    }
    if args.queue > limits::MAX_QUEUE {
        anyhow::bail!(
            "--queue {}: at most {} frames may wait",
            args.queue,
            limits::MAX_QUEUE
        );
    }
    let views = args.net.view_list()?;
    let engine = Arc::new(load_engine(&args.net.model, args.net.field_on)?);
    let (body_model, camera) = args.body.load()?;
    let source = open_source(&args)?;
    let sinks = open_sinks(&args, source.is_live())?;
    eprintln!("reading: {}", source.describe());
    for s in &sinks {
        eprintln!("output: {}", s.name());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let opts = RunOptions {
        frames: args.frames,
        queue: args.queue.max(1),
        views,
        person_box: args.person_box,
        stats_every: std::time::Duration::from_secs_f64(args.stats_every.max(0.0)),
        track: args.track,
        body_model,
        camera,
        smooth: args.smooth,
    };
    let summary = pipeline::run(source, engine, sinks, opts, stop);
    eprint!("{}", summary.report());
    if summary.source_failed {
        return Ok(ExitCode::from(2));
    }
    // Success means something reached the outputs, and every output took everything.
    if summary.processed == 0 {
        eprintln!("error: nothing was processed (see the warnings above)");
        return Ok(ExitCode::from(1));
    }
    let failed: Vec<&str> = summary
        .outputs
        .iter()
        .filter(|o| o.errors > 0)
        .map(|o| o.name.as_str())
        .collect();
    if !failed.is_empty() {
        eprintln!("error: output failed: {}", failed.join(", "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(args: BenchArgs, threads: usize) -> Result<ExitCode> {
    let engine = Arc::new(load_engine(&args.net.model, args.net.field_on)?);
    let (body_model, camera) = args.body.load()?;
    let rgb = capture::load_image(&args.image)?;
    let (w, h) = rgb.dimensions();
    let views = args.net.view_list()?;
    eprintln!(
        "bench: {} ({}) on {} ({}x{}), {} threads, field on {}, views {:?}, {} {}, {} warm-up + {} timed iterations",
        engine.bundle.manifest.name,
        engine.bundle.manifest.precision,
        args.image.display(),
        w,
        h,
        threads,
        engine.field_device(),
        views,
        std::env::consts::OS,
        std::env::consts::ARCH,
        args.warmup,
        args.iters
    );
    let opts = BenchOptions {
        name: args.image.display().to_string(),
        iters: args.iters,
        warmup: args.warmup,
        views,
        body_model,
        camera,
    };
    print!("{}", imphmr::bench::run(engine, rgb, opts)?);
    Ok(ExitCode::SUCCESS)
}

fn devices() -> Result<ExitCode> {
    #[cfg(feature = "v4l2")]
    {
        let lines = imphmr::capture::v4l2::list_devices();
        if lines.is_empty() {
            println!("no V4L2 devices found (/dev/video*)");
        }
        for l in lines {
            println!("{l}");
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "v4l2"))]
    anyhow::bail!("this build has no V4L2 support (cargo feature v4l2)")
}

fn inspect(dir: &std::path::Path) -> Result<()> {
    let report = imphmr::inspect::inspect(dir).context("cannot load the model bundle")?;
    note_random_weights(dir, &report.manifest);
    print!("{report}");
    Ok(())
}
