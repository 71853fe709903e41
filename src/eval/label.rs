//! The label format (`imphmr-label/1`, docs/DATASET.md) and finding a data set's
//! images and labels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const FORMAT: &str = "imphmr-label/1";

/// Which body model the label was made with.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LabelBodyModel {
    pub name: String,
    pub vertices: usize,
    pub joints: usize,
    pub betas: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
pub struct LabelIntrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
}

/// One image's ground truth. Every field but `silhouette` and `views` is required.
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub format: String,
    /// The image's file name, in the same folder.
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub body_model: LabelBodyModel,
    /// Occlusion (unoccluded | occluded) and view (front | side | back), or others.
    pub subsets: Vec<String>,
    /// Person box x, y, w, h in pixels (square): what the engine crops.
    #[serde(rename = "box")]
    pub person_box: [f64; 4],
    /// Axis-angle per joint, `imphmr infer`'s convention (root: body → camera, OpenCV
    /// axes).
    pub theta: Vec<[f64; 3]>,
    pub betas: Vec<f64>,
    pub intrinsics: LabelIntrinsics,
    /// Metres: camera-frame point = body-model point + translation.
    pub translation: [f64; 3],
    /// Camera frame, metres.
    pub joints3d: Vec<[f64; 3]>,
    /// Pixels.
    pub joints2d: Vec<[f64; 2]>,
    pub occlusion: f64,
    pub yaw_deg: f64,
    #[serde(default)]
    pub silhouette: Option<String>,
    /// Training only (rotated views for the imagination loss); eval ignores it.
    #[serde(default)]
    pub views: Option<serde_json::Value>,
    /// Every string anywhere in the label (file names among them: the silhouette, the
    /// views' pictures): files of the folder so named are not images to evaluate.
    #[serde(skip)]
    pub strings: Vec<String>,
}

impl Label {
    /// Parse a label file's text; the error names the field.
    pub fn parse(text: &str) -> Result<Label, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(format!("format {other:?}, expected {FORMAT:?}")),
            None => return Err(format!("no \"format\": {FORMAT:?} (not a label file)")),
        }
        let mut strings = vec![];
        collect_strings(&value, &mut strings);
        let mut label: Label = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        })?;
        label.check()?;
        label.strings = strings;
        Ok(label)
    }

    /// The label's own consistency: counts agree with its body_model, numbers are sane.
    fn check(&self) -> Result<(), String> {
        let j = self.body_model.joints;
        for (what, n) in [
            ("theta", self.theta.len()),
            ("joints3d", self.joints3d.len()),
            ("joints2d", self.joints2d.len()),
        ] {
            if n != j {
                return Err(format!("{what} has {n} joints, its body_model says {j}"));
            }
        }
        if self.betas.len() != self.body_model.betas {
            return Err(format!(
                "betas has {} values, its body_model says {}",
                self.betas.len(),
                self.body_model.betas
            ));
        }
        let [x, y, w, h] = self.person_box;
        if !(w > 0.0 && h > 0.0) || (w - h).abs() > 1e-3 * w.max(h) {
            return Err(format!("box {x},{y},{w},{h} is not a square"));
        }
        if self.subsets.iter().any(|s| s.is_empty() || s == "all") {
            return Err("subsets: names must be non-empty and not \"all\"".into());
        }
        Ok(())
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// One label of the set, read or not.
#[derive(Debug)]
pub struct Entry {
    pub label_path: PathBuf,
    /// The label, or what is wrong with its file.
    pub label: Result<Label, String>,
}

/// A data folder's labels (in name order) and its images that have none.
#[derive(Debug)]
pub struct Dataset {
    pub entries: Vec<Entry>,
    pub unlabelled: Vec<PathBuf>,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_ascii_lowercase().as_str()))
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Find the labels (`*.json`, not starting with `_` or `.`) and the images (`.jpg`,
/// `.jpeg`, `.png`) of `dir`. An image is labelled when a label has its stem; images a
/// label names anywhere (its image, silhouette, views' pictures) or whose stem ends in
/// `_mask` are not unlabelled images.
/// Errors (the folder is missing, unreadable or holds no labels) are fatal.
pub fn discover(dir: &Path) -> Result<Dataset, String> {
    let shown = dir.display();
    let read = std::fs::read_dir(dir).map_err(|e| format!("--data {shown}: {e}"))?;
    let mut labels = vec![];
    let mut images = vec![];
    for entry in read {
        let p = entry.map_err(|e| format!("--data {shown}: {e}"))?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || !p.is_file() {
            continue;
        }
        let json = p.extension().is_some_and(|e| e == "json");
        if json && !name.starts_with('_') {
            labels.push(p);
        } else if is_image(&p) {
            images.push(p);
        }
    }
    if labels.is_empty() {
        return Err(format!(
            "--data {shown}: no labels (NAME.json beside each image; docs/DATASET.md)"
        ));
    }
    labels.sort();
    let entries: Vec<Entry> = labels
        .into_iter()
        .map(|label_path| {
            let label = std::fs::read_to_string(&label_path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|t| Label::parse(&t));
            Entry { label_path, label }
        })
        .collect();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let label_stems: BTreeSet<String> = entries.iter().map(|e| stem(&e.label_path)).collect();
    for e in &entries {
        if let Ok(l) = &e.label {
            covered.extend(l.strings.iter().cloned());
        }
    }
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for p in images {
        by_name.insert(
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            p,
        );
    }
    let unlabelled = by_name
        .into_iter()
        .filter(|(name, p)| {
            !covered.contains(name)
                && !label_stems.contains(&stem(p))
                && !stem(p).ends_with("_mask")
        })
        .map(|(_, p)| p)
        .collect();
    Ok(Dataset {
        entries,
        unlabelled,
    })
}
