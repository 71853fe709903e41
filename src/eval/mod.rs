//! Accuracy against a labelled set (`imphmr eval`, docs/DATASET.md): the engine runs on
//! every image with its label's person box, θ and β go through the body model, and the
//! joints and vertices are compared with the label's (SPIN's protocol: MPJPE, PA-MPJPE,
//! PVE in millimetres, per subset), optionally with the view-consistency ambiguity and
//! its rank correlation with the error.
//!
//! Bad input never stops the run: each bad label or image is one error naming the file,
//! the rest are evaluated, and the counts say how many were skipped.

pub mod cli;
pub mod label;
pub mod metrics;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use nalgebra::{Matrix3, Rotation3, Vector3};

use crate::body::camera::CameraSetting;
use crate::body::rotation::joint_rotations;
use crate::body::smpl::{BodyModel, Posed};
use crate::body::BodyStage;
use crate::crop::PersonBox;
use crate::engine::Engine;
use crate::model::Bundle;
use label::{Dataset, Label};

pub use cli::{command, EvalArgs};

/// Where predictions come from.
pub enum Predictor<'a> {
    /// The network, answering from `views[0]` (0: the input view); with more views, each
    /// image also gets its ambiguity score.
    Network { engine: &'a Engine, views: Vec<f64> },
    /// The bundle's mean parameters for every image (mean θ from its 6D pose, β = 0, its
    /// mean camera): the baseline any trained model must beat.
    MeanPose(Prediction),
}

/// One image's predicted parameters.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// θ as the engine computes it (from 6D), one matrix per joint.
    pub rotmats: Vec<Matrix3<f32>>,
    /// θ as axis-angle (what `imphmr infer` prints).
    pub theta: Vec<[f32; 3]>,
    pub betas: Vec<f32>,
    /// Weak-perspective camera (s, tx, ty).
    pub cam: [f32; 3],
    /// With several views: the ambiguity score, radians.
    pub ambiguity: Option<f32>,
}

impl Prediction {
    /// The mean-pose baseline from a bundle: mean θ (its 6D pose), β = 0, mean camera.
    pub fn mean_pose(bundle: &Bundle) -> Prediction {
        let mean = &bundle.mean;
        let (rotmats, theta) = joint_rotations(&mean.pose6d);
        Prediction {
            rotmats,
            theta,
            betas: vec![0.0; bundle.manifest.head.betas],
            cam: [mean.cam[0], mean.cam[1], mean.cam[2]],
            ambiguity: None,
        }
    }
}

/// Per-image errors, millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub mpjpe: f64,
    pub pa_mpjpe: f64,
    pub pve: f64,
}

/// One evaluated image.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// The image's and its label's file names (in the data folder).
    pub image: String,
    pub label: String,
    pub subsets: Vec<String>,
    pub person_box: [f64; 4],
    pub prediction: Prediction,
    pub scores: Scores,
}

/// A file left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub file: PathBuf,
    pub error: String,
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct EvalRun {
    pub results: Vec<ImageResult>,
    pub skipped: Vec<Skipped>,
    pub seconds: f64,
}

impl EvalRun {
    pub fn images_per_second(&self) -> f64 {
        self.results.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Axis-angle (radians) → rotation matrix, f64.
pub fn axis_angle_to_rotmat(aa: &[f64; 3]) -> Matrix3<f64> {
    *Rotation3::new(Vector3::new(aa[0], aa[1], aa[2])).matrix()
}

/// The label's body through `body` (model frame, no translation), f64.
pub fn true_pose(body: &BodyModel, label: &Label) -> Result<Posed<f64>, String> {
    let rotmats: Vec<Matrix3<f64>> = label.theta.iter().map(axis_angle_to_rotmat).collect();
    body.forward_f64(&label.betas, &rotmats)
        .map_err(|e| e.to_string())
}

/// A prediction through `body` (no translation), f64 from the f32 parameters.
pub fn predicted_pose(body: &BodyModel, p: &Prediction) -> Result<Posed<f64>, String> {
    let rotmats: Vec<Matrix3<f64>> = p.rotmats.iter().map(|r| r.cast::<f64>()).collect();
    let betas: Vec<f64> = p.betas.iter().map(|&b| b as f64).collect();
    body.forward_f64(&betas, &rotmats)
        .map_err(|e| e.to_string())
}

/// MPJPE, PA-MPJPE and PVE of `pred` against `truth`, millimetres.
pub fn score(pred: &Posed<f64>, truth: &Posed<f64>) -> Scores {
    Scores {
        mpjpe: 1e3 * metrics::mpjpe(&pred.joints, &truth.joints),
        pa_mpjpe: 1e3 * metrics::pa_mpjpe(&pred.joints, &truth.joints),
        pve: 1e3
            * metrics::pve(
                &pred.vertices,
                &pred.joints[0],
                &truth.vertices,
                &truth.joints[0],
            ),
    }
}

/// Largest distance (mm) between the label's joints3d − translation and its θ, β
/// through `body`, with the joint where it is: labels made with another body model (or
/// another convention) are refused above 1 mm.
pub const LABEL_JOINT_TOLERANCE_MM: f64 = 1.0;

/// Does the label fit `body` (sizes, and its joints within 1 mm)? Returns the label's
/// body posed by `body`.
pub fn check_label(
    body: &BodyModel,
    body_path: &Path,
    label: &Label,
) -> Result<Posed<f64>, String> {
    let lb = &label.body_model;
    if (lb.vertices, lb.joints, lb.betas) != (body.vertices, body.joints, body.betas) {
        return Err(format!(
            "made with body model {:?} ({} vertices, {} joints, {} betas), but --body-model {} has {} vertices, {} joints, {} betas",
            lb.name,
            lb.vertices,
            lb.joints,
            lb.betas,
            body_path.display(),
            body.vertices,
            body.joints,
            body.betas
        ));
    }
    let posed = true_pose(body, label)?;
    let (mut worst, mut at) = (0.0f64, 0);
    for (k, (j, l)) in posed.joints.iter().zip(&label.joints3d).enumerate() {
        let d = (0..3)
            .map(|i| (j[i] + label.translation[i] - l[i]).powi(2))
            .sum::<f64>()
            .sqrt()
            * 1e3;
        if d > worst || d.is_nan() {
            (worst, at) = (d, k);
        }
    }
    if worst.is_nan() || worst > LABEL_JOINT_TOLERANCE_MM {
        return Err(format!(
            "theta and betas through --body-model {} miss joints3d − translation by {worst:.3} mm at joint {at} (limit {LABEL_JOINT_TOLERANCE_MM} mm): labels made with another body model or convention?",
            body_path.display()
        ));
    }
    Ok(posed)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Evaluate one labelled image; the error names the file that is wrong.
fn evaluate_one(
    dir: &Path,
    label_path: &Path,
    label: &Label,
    body: &BodyModel,
    body_path: &Path,
    predictor: &Predictor,
) -> Result<ImageResult, Skipped> {
    let skip_label = |error: String| Skipped {
        file: label_path.to_path_buf(),
        error,
    };
    let truth = check_label(body, body_path, label).map_err(skip_label)?;
    let image_path = dir.join(&label.image);
    let skip_image = |error: String| Skipped {
        file: image_path.clone(),
        error,
    };
    if !image_path.is_file() {
        return Err(skip_label(format!(
            "its image {:?} is not in {}",
            label.image,
            dir.display()
        )));
    }
    let rgb = crate::capture::load_image(&image_path).map_err(|e| {
        // The capture error already names the file.
        let msg = e.to_string();
        let prefix = format!("{}: ", image_path.display());
        skip_image(msg.strip_prefix(&prefix).unwrap_or(&msg).to_string())
    })?;
    let (w, h) = rgb.dimensions();
    if (w, h) != (label.width, label.height) {
        return Err(skip_image(format!(
            "is {w}x{h}, its label {} says {}x{}",
            file_name(label_path),
            label.width,
            label.height
        )));
    }
    let [x, y, bw, bh] = label.person_box;
    let bx = PersonBox { x, y, w: bw, h: bh };
    bx.check_inside(w, h)
        .map_err(|e| skip_label(format!("box: {e}")))?;
    let prediction = match predictor {
        Predictor::MeanPose(p) => p.clone(),
        Predictor::Network { engine, views } => {
            let inf = engine
                .infer_views(&rgb, &bx, views)
                .map_err(|e| skip_image(format!("inference failed: {e}")))?;
            // The network's answer read as a body (raw: nothing smoothed), with the
            // views' spread; the body forward is eval's own (`predicted_pose`).
            let crop_side = engine.bundle.manifest.input.size;
            let read = BodyStage::new(None, CameraSetting::SpinCrop, crop_side)
                .apply(&inf, &bx, (w, h))
                .map_err(|e| skip_image(e.to_string()))?;
            Prediction {
                ambiguity: read.views.as_ref().map(|v| v.ambiguity.pose_rad),
                rotmats: read.raw.rotmats,
                theta: read.raw.axis_angle,
                betas: read.raw.betas,
                cam: read.raw.cam,
            }
        }
    };
    let pred = predicted_pose(body, &prediction).map_err(skip_image)?;
    Ok(ImageResult {
        image: label.image.clone(),
        label: file_name(label_path),
        subsets: label.subsets.clone(),
        person_box: label.person_box,
        scores: score(&pred, &truth),
        prediction,
    })
}

fn skip(run: &mut EvalRun, s: Skipped, log: &mut dyn FnMut(&str)) {
    log(&format!("error: {}: {}", s.file.display(), s.error));
    run.skipped.push(s);
}

/// Evaluate `data` (the first `limit` labels in name order, if given). `log` receives
/// one line per skipped file (`error: FILE: what is wrong`) and a progress line every
/// 20 images.
pub fn evaluate(
    dir: &Path,
    data: &Dataset,
    body: &BodyModel,
    body_path: &Path,
    predictor: &Predictor,
    limit: Option<usize>,
    log: &mut dyn FnMut(&str),
) -> EvalRun {
    let started = Instant::now();
    let mut run = EvalRun::default();
    for p in &data.unlabelled {
        let s = Skipped {
            file: p.clone(),
            error: format!(
                "no label (expected {}.json beside it)",
                p.file_stem().unwrap_or_default().to_string_lossy()
            ),
        };
        skip(&mut run, s, log);
    }
    let entries = &data.entries[..limit.unwrap_or(usize::MAX).min(data.entries.len())];
    let total = entries.len();
    for (i, e) in entries.iter().enumerate() {
        let outcome = match &e.label {
            Err(msg) => Err(Skipped {
                file: e.label_path.clone(),
                error: msg.clone(),
            }),
            Ok(label) => evaluate_one(dir, &e.label_path, label, body, body_path, predictor),
        };
        match outcome {
            Ok(r) => run.results.push(r),
            Err(s) => skip(&mut run, s, log),
        }
        if (i + 1) % 20 == 0 && i + 1 < total {
            let secs = started.elapsed().as_secs_f64();
            log(&format!(
                "eval: {}/{total} labels, {} evaluated, {:.1} images/s",
                i + 1,
                run.results.len(),
                run.results.len() as f64 / secs.max(1e-9)
            ));
        }
    }
    run.seconds = started.elapsed().as_secs_f64();
    run
}
