//! `imphmr eval`: its arguments and the run from files to report and exit status
//! (main.rs only dispatches here).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::body::smpl::BodyModel;
use crate::engine::{Engine, FieldDevice};

use super::{evaluate, label, report, Prediction, Predictor};

/// Accuracy on a labelled set: MPJPE, PA-MPJPE and PVE (mm) per subset
#[derive(clap::Args, Debug, Clone)]
#[command(long_about = "Accuracy on a labelled set (docs/DATASET.md).\n\n\
    Runs the engine on every labelled image of --data with its label's person box, turns \
    the predicted θ and β into joints and vertices with --body-model, and compares them \
    with the label's (SPIN's protocol, millimetres): MPJPE (root joint aligned), PA-MPJPE \
    (after a similarity Procrustes alignment) and PVE (vertices, root joint aligned), for \
    all images and for every subset named in the labels. With --views, also each image's \
    ambiguity score and its Spearman rank correlation with PA-MPJPE.\n\n\
    Bad labels or images are reported on stderr, one line naming the file, and skipped. \
    Exit status: 0 all evaluated, 1 some skipped, 2 the model, body model or data \
    folder is unusable.")]
pub struct EvalArgs {
    /// Bundle directory (holding imphmr.toml)
    #[arg(long, short, value_name = "DIR", default_value = "models/trained")]
    pub model: PathBuf,
    /// The body model the labels were made with (docs/BODY.md format)
    #[arg(long, value_name = "FILE", default_value = "models/body/anny.body")]
    pub body_model: PathBuf,
    /// Folder of images and their labels (NAME.jpg or .png beside NAME.json; the default
    /// is the committed held-out set of synthetic people)
    #[arg(long, value_name = "DIR", default_value = "models/heldout")]
    pub data: PathBuf,
    /// Also render the field from these yaws, degrees (the input view, 0, is always
    /// first): each image's ambiguity score, its mean per subset and its Spearman
    /// correlation with PA-MPJPE
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "DEG,…",
        allow_hyphen_values = true
    )]
    pub views: Vec<f64>,
    /// Skip the network: predict the bundle's mean parameters (mean θ, β = 0) for every
    /// image, the baseline
    #[arg(long, conflicts_with = "views")]
    pub mean_pose: bool,
    /// Write the report (every subset's numbers, skipped files) as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write one JSON line per evaluated image: predicted θ, rotation matrices, β,
    /// camera, ambiguity and its errors (what tools/eval_check.py recomputes)
    #[arg(long, value_name = "FILE.jsonl")]
    pub predictions: Option<PathBuf>,
    /// Only the first N labels, in name order
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Where to render the feature field (as for `infer`)
    #[arg(long, value_enum, value_name = "DEVICE", default_value_t = FieldDevice::Auto)]
    pub field_on: FieldDevice,
}

/// A fatal problem: exit status 2.
struct Fatal(String);

/// The input view first, then the other yaws, duplicates dropped.
fn view_list(views: &[f64]) -> Result<Vec<f64>, Fatal> {
    let mut list = vec![0.0];
    for &v in views {
        if !v.is_finite() {
            return Err(Fatal(format!("--views: {v} is not a number of degrees")));
        }
        if !list.contains(&v) {
            list.push(v);
        }
    }
    if !views.is_empty() && list.len() < 2 {
        return Err(Fatal(format!(
            "--views {views:?}: needs at least one yaw besides the input view (0)"
        )));
    }
    Ok(list)
}

fn write_file(path: &Path, what: &str, text: &str) -> Result<(), Fatal> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))
}

/// Run `imphmr eval`; prints the table on stdout and errors and progress on stderr.
/// Exit status 0: every image evaluated; 1: some skipped; 2: nothing could start (or
/// the reports could not be written).
pub fn command(args: &EvalArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(Fatal(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &EvalArgs) -> Result<ExitCode, Fatal> {
    let views = view_list(&args.views)?;
    let body =
        BodyModel::load(&args.body_model).map_err(|e| Fatal(format!("--body-model: {e}")))?;
    let engine = Engine::load_on(&args.model, args.field_on)
        .map_err(|e| Fatal(format!("cannot load the model bundle: {e}")))?;
    let m = &engine.bundle.manifest;
    if m.head.joints != body.joints {
        return Err(Fatal(format!(
            "the bundle {} regresses {} joints, --body-model {} has {}",
            args.model.display(),
            m.head.joints,
            args.body_model.display(),
            body.joints
        )));
    }
    let data = label::discover(&args.data).map_err(Fatal)?;
    if m.is_random() {
        eprintln!(
            "note: {} ({}) weights: {}; its outputs are not a human pose",
            args.model.display(),
            m.name,
            m.weights
        );
    }
    let predictor = if args.mean_pose {
        Predictor::MeanPose(Prediction::mean_pose(&engine.bundle))
    } else {
        Predictor::Network {
            engine: &engine,
            views: views.clone(),
        }
    };
    let run = evaluate(
        &args.data,
        &data,
        &body,
        &args.body_model,
        &predictor,
        args.limit,
        &mut |line: &str| eprintln!("{line}"),
    );
    let summaries = report::summarise(&run.results);
    let with_views = !args.mean_pose && views.len() > 1;
    let predictor_name = if args.mean_pose {
        "mean_pose"
    } else {
        "network"
    };
    print!("{}", report::table(&summaries, with_views));
    eprintln!(
        "eval: {} evaluated, {} skipped ({}; {:.1} images/s, {:.1} s)",
        run.results.len(),
        run.skipped.len(),
        predictor_name,
        run.images_per_second(),
        run.seconds
    );
    if let Some(path) = &args.predictions {
        let mut text = String::new();
        for r in &run.results {
            text += &report::prediction_line(r).to_string();
            text += "\n";
        }
        write_file(path, "--predictions", &text)?;
    }
    if let Some(path) = &args.json {
        let (model, body_model, data) = (
            args.model.display().to_string(),
            args.body_model.display().to_string(),
            args.data.display().to_string(),
        );
        let info = report::RunInfo {
            model: &model,
            model_name: &m.name,
            random_weights: m.is_random(),
            body_model: &body_model,
            data: &data,
            predictor: predictor_name,
            views: with_views.then_some(&views[..]),
        };
        let json = report::json_report(&info, &run, &summaries);
        write_file(path, "--json", &format!("{json:#}\n"))?;
    }
    if !run.skipped.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
