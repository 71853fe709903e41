//! `imphmr`: the command line. Argument parsing and wiring only; the work is in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use imphmr::crop::PersonBox;
use imphmr::output::json::{self, Extras};
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
        The bundled model (models/small) has seeded random weights: its outputs are not a \
        human pose. Export your own checkpoint with tools/export_bundle.py.",
    after_help = "Examples:\n  \
        imphmr infer --model models/small models/samples/astronaut.png\n  \
        imphmr infer --model models/small --box 0,70,200,400 --view-deg 90 models/samples/basketball1.png\n  \
        imphmr inspect models/small"
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
    /// Describe a bundle: manifest, each graph's inputs and outputs, parameters, MACs
    Inspect {
        /// Bundle directory (holding imphmr.toml)
        model: PathBuf,
    },
}

#[derive(Args)]
struct InferArgs {
    /// Bundle directory (holding imphmr.toml)
    #[arg(long, short, value_name = "DIR", default_value = "models/small")]
    model: PathBuf,
    /// Person box in pixels, x,y,w,h (top-left corner, size) [default: centre square]
    ///
    /// The box is resized to the network's square input as given: pass a square box to
    /// keep the body's proportions. It must lie inside the image.
    #[arg(long = "box", value_name = "X,Y,W,H", allow_hyphen_values = true)]
    person_box: Option<PersonBox>,
    /// Render the feature field from this yaw, degrees about the body's vertical axis
    /// (0: the input view)
    #[arg(
        long,
        value_name = "D",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    view_deg: f64,
    /// Also print θ as 3×3 rotation matrices (row-major), key "rotmat"
    #[arg(long)]
    rotmat: bool,
    /// Also print the rendered opacity map (ImpHMR's silhouette), key "opacity"
    #[arg(long)]
    opacity: bool,
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
        .init();
    let cli = Cli::parse();
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    imphmr::set_threads(threads);
    let result = match cli.command {
        Command::Infer(args) => infer(args),
        Command::Inspect { model } => inspect(&model).map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

fn load_engine(dir: &std::path::Path) -> Result<Engine> {
    let engine = Engine::load(dir).context("cannot load the model bundle")?;
    let m = &engine.bundle.manifest;
    if m.is_random() {
        eprintln!(
            "note: {} ({}) weights: {}; its outputs are not a human pose",
            dir.display(),
            m.name,
            m.weights
        );
    }
    Ok(engine)
}

fn infer(args: InferArgs) -> Result<ExitCode> {
    let engine = load_engine(&args.model)?;
    let f = &engine.bundle.manifest.field;
    let extras = Extras {
        rotmat: args.rotmat,
        opacity: args.opacity,
    };
    let stdout = std::io::stdout();
    let mut failed = 0usize;
    for path in &args.images {
        let shown = path.display().to_string();
        let line = (|| -> Result<serde_json::Value> {
            let rgb = capture::load_image(path)?;
            let (w, h) = rgb.dimensions();
            let bx = args
                .person_box
                .unwrap_or_else(|| PersonBox::centre_square(w, h));
            bx.check_inside(w, h).with_context(|| shown.clone())?;
            let inf = engine.infer(&rgb, &bx, args.view_deg)?;
            Ok(json::inference_line(
                &shown,
                (w, h),
                &bx,
                &inf,
                (f.height, f.width),
                extras,
            ))
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

fn inspect(dir: &std::path::Path) -> Result<()> {
    let engine = load_engine(dir)?;
    let b = &engine.bundle;
    let m = &b.manifest;
    let (i, e, f, h) = (&m.input, &m.encoder, &m.field, &m.head);
    println!(
        "bundle    {} ({}, {}, format {})",
        dir.display(),
        m.name,
        m.precision,
        m.format_version
    );
    println!("weights   {}", m.weights);
    println!(
        "input     {0}x{0} RGB crop, mean {1:?}, std {2:?}",
        i.size, i.mean, i.std
    );
    println!(
        "encoder   {} blocks {:?} width {} -> z ({})",
        e.arch, e.blocks, e.width, e.latent_dim
    );
    println!(
        "field     {}x{} rays x {} samples = {}; depth {}..{}, camera radius {}, fov {} deg, box +-{}",
        f.height, f.width, f.samples, f.num_samples(), f.near, f.far, f.radius, f.fov_deg, f.bound
    );
    println!(
        "          encoding {} / {} frequencies (points / directions); MLP {} layers x {}, skip at {}; C = {}",
        f.point_freqs, f.dir_freqs, f.layers, f.hidden, f.skip_layer, f.feature_dim
    );
    println!(
        "head      conv {} ch, regressor {} hidden, {} iterations from {}, {} rotations, {} joints, {} betas",
        h.conv_channels, h.hidden, h.iterations, h.mean_params, h.rotation, h.joints, h.betas
    );
    println!();
    println!(
        "{:<8} {:<14} {:>12} {:>14}  tensors",
        "graph", "file", "params", "MMAC/frame"
    );
    let mut total = (0usize, 0u64);
    for (stage, g) in [
        ("encoder", &b.encoder),
        ("field", &b.field),
        ("head", &b.head),
    ] {
        let file = g
            .path
            .file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        println!(
            "{:<8} {:<14} {:>12} {:>14.1}",
            stage,
            file,
            g.info.params,
            g.info.macs as f64 / 1e6
        );
        for t in &g.info.inputs {
            println!("{:<52}in  {} {:?}", "", t.name, t.shape);
        }
        for t in &g.info.outputs {
            println!("{:<52}out {} {:?}", "", t.name, t.shape);
        }
        total.0 += g.info.params;
        total.1 += g.info.macs;
    }
    println!(
        "{:<8} {:<14} {:>12} {:>14.1}",
        "total",
        "",
        total.0,
        total.1 as f64 / 1e6
    );
    Ok(())
}
