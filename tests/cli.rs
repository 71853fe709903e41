//! The `imphmr` binary as a user runs it: good runs, and every kind of bad input giving a
//! one-line error that names the file and field, with the good results still printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> String {
    root()
        .join("models/samples")
        .join(name)
        .display()
        .to_string()
}

fn imphmr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imphmr"))
        .args(["--threads", "1"])
        .args(args)
        .output()
        .expect("runs imphmr")
}

fn stdout_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is JSON lines"))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error lines of a run: each must be exactly one line starting with "error:".
fn errors(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(String::from)
        .collect()
}

/// A private copy of the bundled model to break.
fn bundle_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(root().join("models/small")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    (tmp, dir)
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let p = dir.join("imphmr.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "manifest has no {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// Refresh a file's checksum in the manifest after editing the file.
fn rehash(dir: &Path, file: &str) {
    let p = dir.join("imphmr.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("\"{file}\"")))
        .unwrap()
        .to_string();
    let new = format!("\"{file}\" = \"{}\"", sha256_hex(&dir.join(file)));
    std::fs::write(&p, text.replace(&line, &new)).unwrap();
}

fn assert_model_error(dir: &Path, must_contain: &[&str]) {
    let o = imphmr(&[
        "infer",
        "--model",
        dir.to_str().unwrap(),
        &sample("astronaut.png"),
    ]);
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(&o));
    assert!(o.stdout.is_empty());
    let errs = errors(&o);
    assert_eq!(
        errs.len(),
        1,
        "one error line expected, got: {}",
        stderr(&o)
    );
    for s in must_contain {
        assert!(
            errs[0].contains(s),
            "error {:?} should mention {s:?}",
            errs[0]
        );
    }
}

#[test]
fn infer_prints_one_json_line_per_image() {
    let o = imphmr(&[
        "infer",
        "--model",
        "models/small",
        &sample("astronaut.png"),
        &sample("basketball1.png"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 2);
    let l = &lines[0];
    assert!(l["file"].as_str().unwrap().ends_with("astronaut.png"));
    assert_eq!(l["theta"].as_array().unwrap().len(), 24);
    assert_eq!(l["theta"][0].as_array().unwrap().len(), 3);
    assert_eq!(l["betas"].as_array().unwrap().len(), 10);
    assert_eq!(l["cam"].as_array().unwrap().len(), 3);
    assert_eq!(l["box"], serde_json::json!([0.0, 0.0, 512.0, 512.0]));
    for stage in ["preprocess", "encoder", "field", "render", "head", "total"] {
        assert!(l["ms"][stage].as_f64().unwrap() >= 0.0, "ms.{stage}");
    }
    // The bundled weights are random and the tool says so.
    assert!(stderr(&o).contains("not a human pose"));
}

#[test]
fn box_view_and_extras_change_the_output() {
    let base = imphmr(&[
        "infer",
        "--model",
        "models/small",
        &sample("basketball1.png"),
    ]);
    let boxed = imphmr(&[
        "infer",
        "--model",
        "models/small",
        "--box",
        "0,70,200,400",
        "--view-deg",
        "90",
        "--rotmat",
        "--opacity",
        &sample("basketball1.png"),
    ]);
    assert!(boxed.status.success(), "{}", stderr(&boxed));
    let (a, b) = (&stdout_lines(&base)[0], &stdout_lines(&boxed)[0]);
    assert_eq!(b["box"], serde_json::json!([0.0, 70.0, 200.0, 400.0]));
    assert_eq!(b["view_deg"], 90.0);
    assert_ne!(a["betas"], b["betas"]);
    assert_eq!(b["rotmat"].as_array().unwrap().len(), 24);
    assert_eq!(b["rotmat"][0].as_array().unwrap().len(), 9);
    assert_eq!(b["opacity"]["data"].as_array().unwrap().len(), 64);
    // Same numbers as the golden for this case (the CLI is the engine, nothing lost on the way).
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/small/goldens/basketball1_view90.json"))
            .unwrap(),
    )
    .unwrap();
    for (k, gk) in [("betas", "betas"), ("cam", "cam")] {
        for (x, y) in b[k]
            .as_array()
            .unwrap()
            .iter()
            .zip(golden[gk].as_array().unwrap())
        {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-4,
                "{k}"
            );
        }
    }
}

#[test]
fn jpeg_input_works() {
    let tmp = tempfile::tempdir().unwrap();
    let jpg = tmp.path().join("astronaut.jpg");
    image::open(sample("astronaut.png"))
        .unwrap()
        .to_rgb8()
        .save(&jpg)
        .unwrap();
    let o = imphmr(&[
        "infer",
        "--model",
        "models/small",
        jpg.to_str().unwrap(),
        &sample("astronaut.png"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = stdout_lines(&o);
    // JPEG loses a little; the result must still be close to the PNG's.
    for (x, y) in lines[0]["cam"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lines[1]["cam"].as_array().unwrap())
    {
        assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 0.05);
    }
}

#[test]
fn inspect_reports_graphs_params_and_macs() {
    let o = imphmr(&["inspect", "models/small"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for s in [
        "encoder.onnx",
        "field.onnx",
        "head.onnx",
        "points_enc",
        "feature_map",
        "pose6d",
        "MMAC",
        "random",
    ] {
        assert!(out.contains(s), "inspect output lacks {s:?}:\n{out}");
    }
    // Parameter counts are real numbers, not zero.
    let enc = out
        .lines()
        .find(|l| l.starts_with("encoder ") && l.contains("encoder.onnx"))
        .unwrap();
    let params: usize = enc.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(params > 100_000, "{enc}");
}

#[test]
fn missing_file_is_named() {
    let (_t, dir) = bundle_copy();
    std::fs::remove_file(dir.join("field.onnx")).unwrap();
    assert_model_error(&dir, &["field.onnx", "missing", "field.file"]);
}

#[test]
fn wrong_checksum_is_named() {
    let (_t, dir) = bundle_copy();
    let p = dir.join("head.onnx");
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&p, bytes).unwrap();
    assert_model_error(&dir, &["head.onnx", "sha256"]);
}

#[test]
fn truncated_onnx_is_named() {
    let (_t, dir) = bundle_copy();
    let p = dir.join("encoder.onnx");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
    rehash(&dir, "encoder.onnx");
    assert_model_error(
        &dir,
        &["encoder.onnx", "encoder.file", "not a readable ONNX graph"],
    );
}

#[test]
fn manifest_missing_field_is_named() {
    let (_t, dir) = bundle_copy();
    edit_manifest(&dir, "near = 0.5\n", "");
    assert_model_error(&dir, &["imphmr.toml", "field", "near"]);
}

#[test]
fn manifest_wrong_type_is_named() {
    let (_t, dir) = bundle_copy();
    edit_manifest(&dir, "samples = 16", "samples = \"sixteen\"");
    assert_model_error(&dir, &["imphmr.toml", "field.samples"]);
}

#[test]
fn manifest_bad_value_is_named() {
    let (_t, dir) = bundle_copy();
    edit_manifest(&dir, "far = 6.0", "far = 0.1");
    assert_model_error(&dir, &["imphmr.toml", "field.far"]);
}

#[test]
fn graph_disagreeing_with_manifest_is_named() {
    let (_t, dir) = bundle_copy();
    edit_manifest(&dir, "size = 224", "size = 192");
    assert_model_error(&dir, &["encoder.onnx", "image", "input.size", "224", "192"]);
    let (_t2, dir2) = bundle_copy();
    edit_manifest(&dir2, "feature_dim = 32", "feature_dim = 48");
    assert_model_error(&dir2, &["field.onnx", "feature", "field.feature_dim"]);
}

#[test]
fn missing_bundle_is_named() {
    let o = imphmr(&[
        "infer",
        "--model",
        "no/such/bundle",
        &sample("astronaut.png"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(errors(&o).len(), 1);
    assert!(errors(&o)[0].contains("no/such/bundle"));
}

#[test]
fn bad_images_are_reported_and_good_ones_still_print() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let truncated = tmp.path().join("cut.png");
    let png = std::fs::read(sample("basketball1.png")).unwrap();
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    let missing = tmp.path().join("nope.jpg");
    let o = imphmr(&[
        "infer",
        "--model",
        "models/small",
        text.to_str().unwrap(),
        &sample("astronaut.png"),
        truncated.to_str().unwrap(),
        missing.to_str().unwrap(),
        &sample("basketball1.png"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 2, "both good images print");
    assert!(lines[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("astronaut.png"));
    assert!(lines[1]["file"]
        .as_str()
        .unwrap()
        .ends_with("basketball1.png"));
    let errs = errors(&o);
    assert_eq!(errs.len(), 3, "{}", stderr(&o));
    assert!(errs[0].contains("notes.png") && errs[0].contains("not a readable PNG or JPEG"));
    assert!(errs[1].contains("cut.png"));
    assert!(errs[2].contains("nope.jpg"));
}

#[test]
fn box_outside_the_image_is_refused_per_image() {
    // 600 wide fits basketball1 (640x480) but not astronaut (512x512).
    let o = imphmr(&[
        "infer",
        "--model",
        "models/small",
        "--box",
        "0,0,600,400",
        &sample("astronaut.png"),
        &sample("basketball1.png"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout_lines(&o).len(), 1);
    let errs = errors(&o);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains("astronaut.png")
            && errs[0].contains("outside")
            && errs[0].contains("512x512")
    );
    let bad = imphmr(&[
        "infer",
        "--model",
        "models/small",
        "--box",
        "1,2,3",
        &sample("astronaut.png"),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("x,y,w,h"));
}

#[test]
fn bench_prints_percentiles_per_stage_and_fps() {
    let o = imphmr(&[
        "bench",
        "--model",
        "models/small",
        "--iters",
        "3",
        "--warmup",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for s in [
        "encoder",
        "field",
        "render",
        "head",
        "inference",
        "p50",
        "p99",
        "frames per second",
    ] {
        assert!(out.contains(s), "bench output lacks {s:?}:\n{out}");
    }
    let enc = out.lines().find(|l| l.starts_with("encoder")).unwrap();
    assert_eq!(
        enc.split_whitespace().nth(1),
        Some("3"),
        "3 timed iterations: {enc}"
    );
    assert!(!out.contains("against one view"));
}

#[test]
fn bench_with_views_compares_against_one_view() {
    let body = root().join("models/body/synthetic.body");
    let o = imphmr(&[
        "bench",
        "--iters",
        "2",
        "--warmup",
        "1",
        "--views",
        "0,180",
        "--body-model",
        body.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("views [0.0, 180.0]") && out.contains("against one view"));
    // The per-stage comparison is printed (its value is a timing: not asserted).
    let head = out
        .lines()
        .find(|l| l.trim_start().starts_with("head") && l.contains(" vs "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(head.contains("(x"), "{head}");
    assert!(out.lines().any(|l| l.starts_with("body")), "{out}");
}

#[test]
fn body_model_adds_joints_and_a_foreign_file_is_refused() {
    let body = root().join("models/body/synthetic.body");
    let o = imphmr(&[
        "infer",
        "--body-model",
        body.to_str().unwrap(),
        &sample("astronaut.png"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = &stdout_lines(&o)[0];
    let joints = line["joints"].as_array().expect("joints");
    assert_eq!(joints.len(), 24);
    assert!(joints.iter().all(|j| j
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.as_f64().unwrap().is_finite())));
    let plain = imphmr(&["infer", &sample("astronaut.png")]);
    assert!(stdout_lines(&plain)[0].get("joints").is_none());

    let manifest = root().join("models/small/imphmr.toml");
    let o = imphmr(&[
        "infer",
        "--body-model",
        manifest.to_str().unwrap(),
        &sample("astronaut.png"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("imphmr.toml") && err.contains("smpl_convert.py"),
        "{err}"
    );
}

#[test]
fn camera_translation_follows_focal_and_intrinsics() {
    let img = sample("basketball1.png");
    let spin = &stdout_lines(&imphmr(&["infer", &img]))[0];
    assert_eq!(spin["camera"], "spin_crop");
    let full = &stdout_lines(&imphmr(&["infer", "--focal", "1000", &img]))[0];
    assert_eq!(full["camera"], "full_frame");
    let num = |v: &Value, i: usize| v.as_array().unwrap()[i].as_f64().unwrap();
    let (s, b) = (
        num(&full["cam"], 0),
        num(&full["box"], 2).max(num(&full["box"], 3)),
    );
    // CLIFF: z = 2 f / (b s); SPIN: z = 2 · 5000 / (S s), S the default bundle's crop side.
    let manifest = std::fs::read_to_string(root().join("models/trained/imphmr.toml")).unwrap();
    let crop: f64 = manifest
        .lines()
        .find_map(|l| l.strip_prefix("size = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("[input] size");
    assert!((num(&full["cam_t"], 2) - 2000.0 / (b * s)).abs() < 1e-3);
    assert!((num(&spin["cam_t"], 2) - 10000.0 / (crop * s)).abs() < 1e-3);

    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k.json");
    std::fs::write(&k, r#"{"fx": 1000, "fy": 1000, "cx": 10, "cy": 20}"#).unwrap();
    let shifted = &stdout_lines(&imphmr(&[
        "infer",
        "--intrinsics",
        k.to_str().unwrap(),
        &img,
    ]))[0];
    assert!((num(&shifted["cam_t"], 2) - num(&full["cam_t"], 2)).abs() < 1e-9);
    assert!(num(&shifted["cam_t"], 0) != num(&full["cam_t"], 0));
    std::fs::write(&k, r#"{"fx": 1000}"#).unwrap();
    let bad = imphmr(&["infer", "--intrinsics", k.to_str().unwrap(), &img]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("k.json"), "{}", stderr(&bad));
}

#[test]
fn views_print_every_view_brought_back_and_an_ambiguity_score() {
    use imphmr::body::consistency::angle_between;
    use nalgebra::{Rotation3, Vector3};
    let img = sample("basketball2.png");
    let o = imphmr(&["infer", "--views", "0,90,180,270", &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = &stdout_lines(&o)[0];
    let score = line["ambiguity"].as_f64().expect("ambiguity");
    assert!(score.is_finite() && score > 0.0, "{score}");
    let views = line["views"].as_array().expect("views");
    let degs: Vec<f64> = views
        .iter()
        .map(|v| v["view_deg"].as_f64().unwrap())
        .collect();
    assert_eq!(degs, [0.0, 90.0, 180.0, 270.0]);
    // The input view is the frame's answer.
    assert_eq!(views[0]["theta"], line["theta"]);
    assert_eq!(views[0]["betas"], line["betas"]);
    // Each root is brought back by R_y(φ)ᵀ: check it from the printed numbers.
    let rot = |v: &Value| {
        let a: Vec<f32> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        Rotation3::from_scaled_axis(Vector3::new(a[0], a[1], a[2]))
    };
    for v in views {
        let phi = v["view_deg"].as_f64().unwrap() as f32;
        let ry = Rotation3::from_axis_angle(&Vector3::y_axis(), phi.to_radians());
        let want = ry.inverse() * rot(&v["root_as_seen"]);
        let got = rot(&v["theta"][0]);
        // f32 axis-angle near π: a few 1e-4 rad of rounding. The engine's own geodesic
        // angle: acos of the trace gave NaN (1 + ε) for two equal rotations.
        let err = angle_between(got.matrix(), want.matrix());
        assert!(err < 2e-3, "φ = {phi}: {err}");
        assert!(v["deviation_rad"].as_f64().unwrap() >= 0.0);
    }
    // One view has no spread to measure; without --views no score at all.
    let plain = imphmr(&["infer", &img]);
    assert!(stdout_lines(&plain)[0].get("ambiguity").is_none());
    let lone = imphmr(&["infer", "--views", "0", &img]);
    assert_eq!(lone.status.code(), Some(2));
    assert!(stderr(&lone).contains("--views"), "{}", stderr(&lone));
}

#[test]
fn infer_overlay_dir_saves_one_picture_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pictures");
    let o = imphmr(&[
        "infer",
        "--overlay-dir",
        out.to_str().unwrap(),
        &sample("astronaut.png"),
        &sample("basketball1.png"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["astronaut", "basketball1"] {
        let picture = image::open(out.join(format!("{name}.png"))).unwrap();
        let input = image::open(sample(&format!("{name}.png"))).unwrap();
        assert_eq!(
            (picture.width(), picture.height()),
            (input.width(), input.height())
        );
        assert_ne!(
            picture.to_rgb8(),
            input.to_rgb8(),
            "nothing drawn on {name}"
        );
    }
}
