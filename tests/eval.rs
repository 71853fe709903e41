//! `imphmr eval` end to end on small labelled sets made here: labels from the Rust body
//! forward on the committed synthetic body model, images from models/samples, the
//! bundled random model. The numbers it prints are recomputed from its own
//! `--predictions`, the mean-pose baseline from the bundle's mean parameters by hand, and
//! every kind of bad input must be named, skipped and counted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use imphmr::body::rotation::{rot6d_to_rotmat, rotmat_to_axis_angle};
use imphmr::body::smpl::BodyModel;
use imphmr::eval::{self, metrics, Prediction};
use nalgebra::Matrix3;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn imphmr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imphmr"))
        .args(["--threads", "1", "eval"])
        .args(args)
        .output()
        .expect("runs imphmr")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn errors(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(String::from)
        .collect()
}

struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn synthetic() -> BodyModel {
    BodyModel::load(&root().join("models/body/synthetic.body")).unwrap()
}

/// The synthetic model as the open model is shaped: no pose blend shapes, with faces.
fn open_like() -> BodyModel {
    let v = synthetic().vertices as u32;
    let faces = (0..v - 2).map(|i| [i, i + 1, i + 2]).collect();
    synthetic().without_pose_blend(faces).unwrap()
}

/// A set's folder with its body model written beside it (outside the data folder).
struct Set {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    body: PathBuf,
    model: BodyModel,
}

impl Set {
    fn new(model: BodyModel) -> Set {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        let body = tmp.path().join("model.body");
        std::fs::write(&body, model.to_bytes()).unwrap();
        Set {
            _tmp: tmp,
            dir,
            body,
            model,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.parent().unwrap().join(name)
    }

    /// A label for θ, β (axis-angle) on `image` (a copy of a sample, PNG or, for a
    /// `.jpg` name, re-encoded as JPEG).
    fn label(&self, image: &str, theta: &[[f64; 3]], betas: &[f64], subsets: &[&str]) -> Value {
        let samples = ["astronaut.png", "basketball1.png", "basketball2.png"];
        let k = image.bytes().map(|b| b as usize).sum::<usize>() % 3;
        let rgb = image::open(root().join("models/samples").join(samples[k]))
            .unwrap()
            .to_rgb8();
        rgb.save(self.dir.join(image)).unwrap();
        let (w, h) = rgb.dimensions();
        let side = (w.min(h) - 40) as f64;
        let rot: Vec<Matrix3<f64>> = theta.iter().map(eval::axis_angle_to_rotmat).collect();
        let posed = self.model.forward_f64(betas, &rot).unwrap();
        let t = [0.05, 0.1, 3.0];
        let (fx, cx, cy) = (600.0, w as f64 / 2.0, h as f64 / 2.0);
        let j3: Vec<[f64; 3]> = posed
            .joints
            .iter()
            .map(|j| [j[0] + t[0], j[1] + t[1], j[2] + t[2]])
            .collect();
        let j2: Vec<[f64; 2]> = j3
            .iter()
            .map(|j| [fx * j[0] / j[2] + cx, fx * j[1] / j[2] + cy])
            .collect();
        json!({
            "format": "imphmr-label/1", "image": image, "width": w, "height": h,
            "body_model": {"name": "synthetic", "vertices": self.model.vertices,
                           "joints": self.model.joints, "betas": self.model.betas},
            "subsets": subsets,
            "box": [20.0, 20.0, side, side],
            "theta": theta, "betas": betas,
            "intrinsics": {"fx": fx, "fy": fx, "cx": cx, "cy": cy},
            "translation": t, "joints3d": j3, "joints2d": j2,
            "occlusion": 0.0, "yaw_deg": 0.0,
        })
    }

    fn write(&self, stem: &str, label: &Value) {
        std::fs::write(self.dir.join(format!("{stem}.json")), label.to_string()).unwrap();
    }

    /// `n` good images with random poses, in rotating subsets.
    fn fill(&self, n: usize, seed: u64) {
        let mut g = Lcg(seed);
        let subsets = [
            ["unoccluded", "front"],
            ["occluded", "side"],
            ["unoccluded", "back"],
        ];
        for i in 0..n {
            let theta: Vec<[f64; 3]> = (0..24)
                .map(|j| {
                    let s = if j == 0 { 2.0 } else { 0.4 };
                    [s * g.uniform(), s * g.uniform(), s * g.uniform()]
                })
                .collect();
            let betas: Vec<f64> = (0..10).map(|_| g.uniform()).collect();
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            let label = self.label(&format!("img{i:02}.{ext}"), &theta, &betas, &subsets[i % 3]);
            self.write(&format!("img{i:02}"), &label);
        }
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--model".into(),
            root().join("models/small").display().to_string(),
            "--body-model".into(),
            self.body.display().to_string(),
            "--data".into(),
            self.dir.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn run(&self, extra: &[&str]) -> (Output, Value, Vec<Value>) {
        let (json_path, pred_path) = (self.out("report.json"), self.out("pred.jsonl"));
        let _ = std::fs::remove_file(&json_path);
        let _ = std::fs::remove_file(&pred_path);
        let mut args = self.args(extra);
        args.extend([
            "--json".into(),
            json_path.display().to_string(),
            "--predictions".into(),
            pred_path.display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = imphmr(&args);
        let report = std::fs::read_to_string(&json_path)
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(Value::Null);
        let preds = std::fs::read_to_string(&pred_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (o, report, preds)
    }

    fn label_of(&self, pred: &Value) -> eval::label::Label {
        let p = self.dir.join(pred["label"].as_str().unwrap());
        eval::label::Label::parse(&std::fs::read_to_string(p).unwrap()).unwrap()
    }
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn subset<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no subset {name} in {report}"))
}

/// Recompute one prediction line's errors from its own rotation matrices and β.
fn rescore(set: &Set, line: &Value) -> eval::Scores {
    let rotmats: Vec<Matrix3<f32>> = line["rotmat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Matrix3::from_row_slice(&f32s(m)))
        .collect();
    let p = Prediction {
        theta: vec![],
        rotmats,
        betas: f32s(&line["betas"]),
        cam: [0.0; 3],
        ambiguity: None,
    };
    let pred = eval::predicted_pose(&set.model, &p).unwrap();
    let truth = eval::true_pose(&set.model, &set.label_of(line)).unwrap();
    eval::score(&pred, &truth)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

#[test]
fn eval_reports_every_subset_and_its_predictions_recompute() {
    let set = Set::new(open_like());
    set.fill(6, 1);
    let (o, report, preds) = set.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    for name in [
        "all",
        "unoccluded",
        "occluded",
        "front",
        "side",
        "back",
        "PA-MPJPE",
    ] {
        assert!(table.contains(name), "{table}");
    }
    assert!(
        stderr(&o).contains("6 evaluated, 0 skipped"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        (report["evaluated"].as_u64(), report["skipped"].as_u64()),
        (Some(6), Some(0))
    );
    assert_eq!(report["predictor"], "network");
    let counts: Vec<(String, u64)> = report["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("all", 6),
        ("back", 2),
        ("front", 2),
        ("occluded", 2),
        ("side", 2),
        ("unoccluded", 4),
    ];
    assert_eq!(counts, want.map(|(n, c)| (n.to_string(), c)));
    assert_eq!(preds.len(), 6);
    let mut sums = std::collections::BTreeMap::<String, (f64, f64, f64, f64)>::new();
    for line in &preds {
        assert_eq!(line["theta"].as_array().unwrap().len(), 24);
        assert!(line["ambiguity"].is_null());
        let s = rescore(&set, line);
        // Same library code, but not bit-equal: the binary and this test may run
        // nalgebra's generic SVD compiled at different optimisation levels (1 ulp seen).
        assert!(
            close(s.mpjpe, line["mpjpe"].as_f64().unwrap()),
            "{s:?} {line}"
        );
        assert!(
            close(s.pa_mpjpe, line["pa_mpjpe"].as_f64().unwrap()),
            "{s:?} {line}"
        );
        assert!(close(s.pve, line["pve"].as_f64().unwrap()), "{s:?} {line}");
        // The random network is far from these poses.
        assert!(s.mpjpe > 1.0 && s.pa_mpjpe > 0.01, "{s:?}");
        let names = line["subsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string());
        for name in names.chain(["all".to_string()]) {
            let e = sums.entry(name).or_default();
            *e = (e.0 + 1.0, e.1 + s.mpjpe, e.2 + s.pa_mpjpe, e.3 + s.pve);
        }
    }
    for (name, (n, m, pa, pve)) in sums {
        let s = subset(&report, &name);
        assert!(close(s["mpjpe"].as_f64().unwrap(), m / n), "{name}");
        assert!(close(s["pa_mpjpe"].as_f64().unwrap(), pa / n), "{name}");
        assert!(close(s["pve"].as_f64().unwrap(), pve / n), "{name}");
        assert!(s["spearman_ambiguity_pa_mpjpe"].is_null());
    }
    // The engine's answer equals `imphmr infer`'s on the same box.
    let first = &preds[0];
    let b: Vec<String> = first["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    let o = Command::new(env!("CARGO_BIN_EXE_imphmr"))
        .args(["--threads", "1", "infer", "--model"])
        .arg(root().join("models/small"))
        .args(["--box", &b.join(",")])
        .arg(set.dir.join(first["image"].as_str().unwrap()))
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["theta"], first["theta"]);
    assert_eq!(line["betas"], first["betas"]);
}

/// The mean-pose baseline, by hand: the bundle's 6D mean pose → rotations, β = 0.
fn mean_by_hand() -> Prediction {
    let mean: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/small/mean_params.json")).unwrap(),
    )
    .unwrap();
    let pose = f32s(&mean["pose6d"]);
    let rotmats: Vec<Matrix3<f32>> = pose
        .chunks_exact(6)
        .map(|c| rot6d_to_rotmat(&[c[0], c[1], c[2], c[3], c[4], c[5]]))
        .collect();
    Prediction {
        theta: rotmats.iter().map(rotmat_to_axis_angle).collect(),
        rotmats,
        betas: vec![0.0; 10],
        cam: [0.0; 3],
        ambiguity: None,
    }
}

#[test]
fn mean_pose_gives_the_numbers_of_the_mean_parameters_fed_by_hand() {
    let set = Set::new(synthetic());
    set.fill(4, 2);
    let (o, report, preds) = set.run(&["--mean-pose"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(report["predictor"], "mean_pose");
    let hand = mean_by_hand();
    let pred = eval::predicted_pose(&set.model, &hand).unwrap();
    let mut sum = 0.0;
    for line in &preds {
        assert_eq!(f32s(&line["betas"]), vec![0.0; 10]);
        assert_eq!(line["theta"], json!(hand.theta));
        let truth = eval::true_pose(&set.model, &set.label_of(line)).unwrap();
        let s = eval::score(&pred, &truth);
        assert!(
            close(s.pa_mpjpe, line["pa_mpjpe"].as_f64().unwrap()),
            "{s:?} {line}"
        );
        assert!(
            close(s.mpjpe, line["mpjpe"].as_f64().unwrap()),
            "{s:?} {line}"
        );
        assert!(close(s.pve, line["pve"].as_f64().unwrap()), "{s:?} {line}");
        sum += s.mpjpe;
    }
    assert!(close(
        subset(&report, "all")["mpjpe"].as_f64().unwrap(),
        sum / 4.0
    ));
}

#[test]
fn a_label_equal_to_the_prediction_scores_zero_and_a_turned_body_only_after_procrustes() {
    let set = Set::new(open_like());
    let hand = mean_by_hand();
    // θ exactly the mean pose's (axis-angle of its f32 rotations), β = 0.
    let theta: Vec<[f64; 3]> = hand
        .rotmats
        .iter()
        .map(|r| rotmat_to_axis_angle(r).map(f64::from))
        .collect();
    let betas = vec![0.0; 10];
    set.write("same", &set.label("same.png", &theta, &betas, &["front"]));
    // The same body turned 90° about the vertical: the root rotation changes.
    let turn = eval::axis_angle_to_rotmat(&[0.0, std::f64::consts::FRAC_PI_2, 0.0]);
    let root = (turn * eval::axis_angle_to_rotmat(&theta[0])).cast::<f32>();
    let mut turned = theta.clone();
    turned[0] = rotmat_to_axis_angle(&root).map(f64::from);
    set.write(
        "turned",
        &set.label("turned.png", &turned, &betas, &["side"]),
    );
    let (o, report, preds) = set.run(&["--mean-pose"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let same = &preds[0];
    assert_eq!(same["label"], "same.json");
    for k in ["mpjpe", "pa_mpjpe", "pve"] {
        assert!(same[k].as_f64().unwrap() < 1e-3, "{k}: {same}");
    }
    let turned = &preds[1];
    assert!(turned["pa_mpjpe"].as_f64().unwrap() < 1e-3, "{turned}");
    assert!(turned["mpjpe"].as_f64().unwrap() > 10.0, "{turned}");
    assert!(turned["pve"].as_f64().unwrap() > 10.0, "{turned}");
    assert!(subset(&report, "front")["mpjpe"].as_f64().unwrap() < 1e-3);
}

#[test]
fn views_give_the_ambiguity_and_its_rank_correlation_and_limit_takes_the_first() {
    let set = Set::new(open_like());
    set.fill(5, 3);
    let (o, report, preds) = set.run(&["--views", "90,180", "--limit", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(report["evaluated"], 4);
    assert_eq!(report["views"], json!([0.0, 90.0, 180.0]));
    assert_eq!(preds.len(), 4);
    assert_eq!(preds[3]["label"], "img03.json");
    let amb: Vec<f64> = preds
        .iter()
        .map(|p| p["ambiguity"].as_f64().unwrap())
        .collect();
    let pa: Vec<f64> = preds
        .iter()
        .map(|p| p["pa_mpjpe"].as_f64().unwrap())
        .collect();
    assert!(amb.iter().all(|&a| a > 0.0 && a < 3.2), "{amb:?}");
    let all = subset(&report, "all");
    let rho = metrics::spearman(&amb, &pa).unwrap();
    assert!(close(
        all["spearman_ambiguity_pa_mpjpe"].as_f64().unwrap(),
        rho
    ));
    assert!(close(
        all["ambiguity_mean"].as_f64().unwrap(),
        amb.iter().sum::<f64>() / 4.0
    ));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("spearman") && table.contains("ambiguity"),
        "{table}"
    );
    // One image in a subset: the correlation is undefined, reported as null.
    assert!(subset(&report, "back")["spearman_ambiguity_pa_mpjpe"].is_null());
}

#[test]
fn bad_input_is_named_skipped_counted_and_the_rest_reported() {
    let set = Set::new(synthetic());
    set.fill(3, 4);
    let mut g = Lcg(9);
    let theta: Vec<[f64; 3]> = (0..24)
        .map(|_| [0.3 * g.uniform(), 0.3 * g.uniform(), 0.3 * g.uniform()])
        .collect();
    let betas = vec![0.5; 10];
    let good = |name: &str| set.label(&format!("{name}.png"), &theta, &betas, &["front"]);
    // An image without a label.
    std::fs::copy(
        root().join("models/samples/astronaut.png"),
        set.dir.join("nolabel.png"),
    )
    .unwrap();
    // A malformed label (its image is there).
    good("broken");
    std::fs::write(
        set.dir.join("broken.json"),
        "{\"format\": \"imphmr-label/1\", ",
    )
    .unwrap();
    // A field missing.
    let mut l = good("nobetas");
    l.as_object_mut().unwrap().remove("betas");
    set.write("nobetas", &l);
    // The wrong joint count.
    let mut l = good("joints23");
    l["theta"].as_array_mut().unwrap().pop();
    set.write("joints23", &l);
    // An unreadable image.
    set.write("garbage", &good("garbage"));
    std::fs::write(set.dir.join("garbage.png"), b"not a png at all").unwrap();
    // Made with another body model.
    let mut l = good("othermodel");
    l["body_model"]["vertices"] = json!(6890);
    set.write("othermodel", &l);
    // θ, β that do not give its joints (5 mm off).
    let mut l = good("offjoints");
    l["joints3d"][7][1] = json!(l["joints3d"][7][1].as_f64().unwrap() + 0.005);
    set.write("offjoints", &l);
    // Its image missing.
    let l = good("noimage");
    std::fs::remove_file(set.dir.join("noimage.png")).unwrap();
    set.write("noimage", &l);
    // Another format.
    let mut l = good("oldformat");
    l["format"] = json!("imphmr-label/0");
    set.write("oldformat", &l);

    let (o, report, preds) = set.run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let errs = errors(&o);
    let expect = [
        ("nolabel.png", "no label (expected nolabel.json beside it)"),
        ("broken.json", "not JSON"),
        ("nobetas.json", "missing field `betas`"),
        ("joints23.json", "theta has 23 joints, its body_model says 24"),
        ("garbage.png", ""),
        ("othermodel.json", "made with body model \"synthetic\" (6890 vertices, 24 joints, 10 betas), but --body-model"),
        ("offjoints.json", "miss joints3d − translation by 5.000 mm at joint 7"),
        ("noimage.json", "its image \"noimage.png\" is not in"),
        ("oldformat.json", "format \"imphmr-label/0\", expected \"imphmr-label/1\""),
    ];
    for (file, msg) in expect {
        let path = set.dir.join(file).display().to_string();
        let line = errs
            .iter()
            .find(|l| l.starts_with(&format!("error: {path}: ")))
            .unwrap_or_else(|| panic!("no error for {file} in {errs:#?}"));
        assert!(line.contains(msg), "{line}");
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    assert!(
        stderr(&o).contains("3 evaluated, 9 skipped"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        (report["evaluated"].as_u64(), report["skipped"].as_u64()),
        (Some(3), Some(9))
    );
    assert_eq!(report["skipped_files"].as_array().unwrap().len(), 9);
    assert_eq!(preds.len(), 3);
    assert_eq!(subset(&report, "all")["count"], 3);
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn an_unusable_model_body_model_or_data_folder_exits_2() {
    let set = Set::new(synthetic());
    set.fill(1, 5);
    let empty = set.out("empty");
    std::fs::create_dir(&empty).unwrap();
    let garbage = set.out("garbage.body");
    std::fs::write(&garbage, b"IMPHMRB1 nonsense").unwrap();
    let (model, body, data) = (
        root().join("models/small").display().to_string(),
        set.body.display().to_string(),
        set.dir.display().to_string(),
    );
    let cases: [([&str; 6], &str); 5] = [
        (
            [
                "--model",
                "/nonexistent/bundle",
                "--body-model",
                &body,
                "--data",
                &data,
            ],
            "cannot load the model bundle",
        ),
        (
            [
                "--model",
                &model,
                "--body-model",
                "/nonexistent.body",
                "--data",
                &data,
            ],
            "--body-model: /nonexistent.body",
        ),
        (
            [
                "--model",
                &model,
                "--body-model",
                garbage.to_str().unwrap(),
                "--data",
                &data,
            ],
            "not an imphmr body model",
        ),
        (
            [
                "--model",
                &model,
                "--body-model",
                &body,
                "--data",
                "/nonexistent/data",
            ],
            "--data /nonexistent/data",
        ),
        (
            [
                "--model",
                &model,
                "--body-model",
                &body,
                "--data",
                empty.to_str().unwrap(),
            ],
            "no labels",
        ),
    ];
    for (args, msg) in cases {
        let o = imphmr(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let errs = errors(&o);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains(msg), "{}", errs[0]);
        assert!(!stderr(&o).contains("panicked"));
    }
}

/// A Python interpreter with numpy: $IMPHMR_PYTHON, the repository's .venv, or python3.
fn python_with_numpy() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("IMPHMR_PYTHON").map(PathBuf::from),
        Some(root().join(".venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn python_check(set: &Set, python: &Path) {
    let o = Command::new(python)
        .arg(root().join("tools/eval_check.py"))
        .args(["--body-model", set.body.to_str().unwrap()])
        .args(["--data", set.dir.to_str().unwrap()])
        .args(["--predictions", set.out("pred.jsonl").to_str().unwrap()])
        .args(["--json", set.out("report.json").to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("agree"), "{out}");
}

#[test]
fn the_python_check_recomputes_the_same_numbers() {
    let Some(python) = python_with_numpy() else {
        println!("skipped: no Python with numpy (set IMPHMR_PYTHON, or make .venv)");
        eprintln!("skipped: no Python with numpy (set IMPHMR_PYTHON, or make .venv)");
        return;
    };
    for (model, extra) in [
        (open_like(), &["--views", "90,180,270"][..]),
        (synthetic(), &[][..]),
    ] {
        let set = Set::new(model);
        set.fill(7, 6);
        let (o, _, preds) = set.run(extra);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(preds.len(), 7);
        python_check(&set, &python);
    }
    // And it does notice a wrong number.
    let set = Set::new(synthetic());
    set.fill(2, 7);
    let (_, _, preds) = set.run(&[]);
    let mut bad = preds[1].clone();
    bad["pve"] = json!(bad["pve"].as_f64().unwrap() * (1.0 + 1e-5));
    let text = format!("{}\n{}\n", preds[0], bad);
    std::fs::write(set.out("pred.jsonl"), text).unwrap();
    let o = Command::new(&python)
        .arg(root().join("tools/eval_check.py"))
        .args(["--body-model", set.body.to_str().unwrap()])
        .args(["--data", set.dir.to_str().unwrap()])
        .args(["--predictions", set.out("pred.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("MISMATCH img01.json pve"), "{out}");
}

/// The committed held-out set (tools/synth.py) and the open body model: every label
/// reads, fits the body model within 1 mm and is evaluated (the format contract).
#[test]
fn the_committed_held_out_set_evaluates_without_a_skip() {
    let dir = root().join("models/heldout");
    let body = root().join("models/body/anny.body");
    if !dir.is_dir() || !body.is_file() {
        println!("skipped: no models/heldout or models/body/anny.body in this checkout");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let json_path = tmp.path().join("r.json");
    let o = imphmr(&[
        "--model",
        root().join("models/small").to_str().unwrap(),
        "--body-model",
        body.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--mean-pose",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(report["skipped"], 0, "{report}");
    assert!(report["evaluated"].as_u64().unwrap() >= 100, "{report}");
    for name in ["unoccluded", "occluded", "front", "side", "back"] {
        assert!(
            subset(&report, name)["count"].as_u64().unwrap() > 0,
            "{name}"
        );
    }
}
