//! Shared by the parity and precision tests: the reference's goldens and how to compare.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};

use imphmr::crop::PersonBox;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Golden {
    pub name: String,
    pub v: Value,
}

impl Golden {
    pub fn f32s(&self, key: &str) -> Vec<f32> {
        self.v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no {key}", self.name))
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect()
    }
    pub fn view(&self) -> f64 {
        self.v["view_deg"].as_f64().unwrap()
    }
    pub fn person_box(&self) -> PersonBox {
        let b = self.f32s("box");
        PersonBox {
            x: b[0] as f64,
            y: b[1] as f64,
            w: b[2] as f64,
            h: b[3] as f64,
        }
    }
}

/// The goldens of a bundle directory, sorted by name.
pub fn goldens_in(bundle: &Path) -> Vec<Golden> {
    let dir = bundle.join("goldens");
    let mut out: Vec<Golden> = std::fs::read_dir(&dir)
        .expect("goldens folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| Golden {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            v: serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    // Two images × two views at least (the minimum).
    assert!(
        out.len() >= 4,
        "expected at least 4 goldens in {}",
        dir.display()
    );
    let views: std::collections::BTreeSet<i64> = out.iter().map(|g| g.view() as i64).collect();
    assert!(
        views.len() >= 2 && views.contains(&0),
        "goldens cover φ = 0 and another view"
    );
    out
}

pub fn max_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The image a golden was computed on.
pub fn image_of(golden: &Golden) -> image::RgbImage {
    let path = root().join(golden.v["image"].as_str().unwrap());
    imphmr::capture::load_image(&path).unwrap()
}
