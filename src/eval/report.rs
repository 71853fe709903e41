//! Per-subset summaries of an evaluation: the table on stdout, the JSON report and the
//! per-image prediction lines (docs/DATASET.md has their shapes).

use serde_json::{json, Value};

use super::{metrics, EvalRun, ImageResult};

/// One subset's means (millimetres) and, with views, its ambiguity statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetSummary {
    pub name: String,
    pub count: usize,
    pub mpjpe: f64,
    pub pa_mpjpe: f64,
    pub pve: f64,
    /// Mean ambiguity score (radians), with --views.
    pub ambiguity_mean: Option<f64>,
    /// Spearman's rank correlation of ambiguity with PA-MPJPE, with --views (None when
    /// undefined: under two images or a constant side).
    pub spearman: Option<f64>,
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Summaries for `all`, then every subset named in the labels (sorted by name).
pub fn summarise(results: &[ImageResult]) -> Vec<SubsetSummary> {
    let mut names: Vec<&str> = results
        .iter()
        .flat_map(|r| r.subsets.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    std::iter::once("all")
        .chain(names)
        .map(|name| {
            let rs: Vec<&ImageResult> = results
                .iter()
                .filter(|r| name == "all" || r.subsets.iter().any(|s| s == name))
                .collect();
            let col = |f: fn(&ImageResult) -> f64| rs.iter().map(|r| f(r)).collect::<Vec<f64>>();
            let pa = col(|r| r.scores.pa_mpjpe);
            let amb: Option<Vec<f64>> = rs
                .iter()
                .map(|r| r.prediction.ambiguity.map(f64::from))
                .collect();
            let amb = amb.filter(|a| !a.is_empty());
            SubsetSummary {
                name: name.to_string(),
                count: rs.len(),
                mpjpe: mean(&col(|r| r.scores.mpjpe)),
                pa_mpjpe: mean(&pa),
                pve: mean(&col(|r| r.scores.pve)),
                ambiguity_mean: amb.as_deref().map(mean),
                spearman: amb.as_deref().and_then(|a| metrics::spearman(a, &pa)),
            }
        })
        .collect()
}

fn num(x: Option<f64>, width: usize, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:>width$.digits$}"),
        _ => format!("{:>width$}", "-"),
    }
}

/// The readable table (millimetres).
pub fn table(summaries: &[SubsetSummary], with_views: bool) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>9} {:>9} {:>9}",
        "subset", "images", "MPJPE", "PA-MPJPE", "PVE"
    );
    if with_views {
        out += &format!(" {:>10} {:>9}", "ambiguity", "spearman");
    }
    out += "   (mm; ambiguity in rad, spearman: ambiguity vs PA-MPJPE)\n";
    for s in summaries {
        out += &format!(
            "{:<12} {:>6} {} {} {}",
            s.name,
            s.count,
            num(Some(s.mpjpe), 9, 1),
            num(Some(s.pa_mpjpe), 9, 1),
            num(Some(s.pve), 9, 1)
        );
        if with_views {
            out += &format!(
                " {} {}",
                num(s.ambiguity_mean, 10, 4),
                num(s.spearman, 9, 3)
            );
        }
        out += "\n";
    }
    out
}

/// JSON numbers; NaN (an empty mean) becomes null.
fn jnum(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// What the run was, for the JSON report's header.
pub struct RunInfo<'a> {
    pub model: &'a str,
    pub model_name: &'a str,
    pub random_weights: bool,
    pub body_model: &'a str,
    pub data: &'a str,
    /// "network" or "mean_pose".
    pub predictor: &'a str,
    pub views: Option<&'a [f64]>,
}

/// The whole report (`--json`).
pub fn json_report(info: &RunInfo, run: &EvalRun, summaries: &[SubsetSummary]) -> Value {
    json!({
        "format": "imphmr-eval/1",
        "model": info.model,
        "model_name": info.model_name,
        "random_weights": info.random_weights,
        "body_model": info.body_model,
        "data": info.data,
        "predictor": info.predictor,
        "views": info.views,
        "units": {"mpjpe": "mm", "pa_mpjpe": "mm", "pve": "mm", "ambiguity": "rad"},
        "evaluated": run.results.len(),
        "skipped": run.skipped.len(),
        "skipped_files": run.skipped.iter().map(|s| json!({
            "file": s.file.display().to_string(),
            "error": s.error,
        })).collect::<Vec<_>>(),
        "seconds": run.seconds,
        "images_per_second": run.images_per_second(),
        "subsets": summaries.iter().map(|s| json!({
            "name": s.name,
            "count": s.count,
            "mpjpe": jnum(s.mpjpe),
            "pa_mpjpe": jnum(s.pa_mpjpe),
            "pve": jnum(s.pve),
            "ambiguity_mean": s.ambiguity_mean.map(jnum),
            "spearman_ambiguity_pa_mpjpe": s.spearman.map(jnum),
        })).collect::<Vec<_>>(),
    })
}

/// One `--predictions` line: the predicted parameters exactly as the metrics used
/// them (`rotmat`: f32 row-major 3×3 per joint) and the image's errors.
pub fn prediction_line(r: &ImageResult) -> Value {
    let p = &r.prediction;
    let rotmat: Vec<Vec<f32>> = p
        .rotmats
        .iter()
        .map(|m| (0..9).map(|k| m[(k / 3, k % 3)]).collect())
        .collect();
    json!({
        "image": r.image,
        "label": r.label,
        "subsets": r.subsets,
        "box": r.person_box,
        "theta": p.theta,
        "rotmat": rotmat,
        "betas": p.betas,
        "cam": p.cam,
        // f64 (exactly the value the summaries used), not f32's shortest decimal.
        "ambiguity": p.ambiguity.map(f64::from),
        "mpjpe": r.scores.mpjpe,
        "pa_mpjpe": r.scores.pa_mpjpe,
        "pve": r.scores.pve,
    })
}
