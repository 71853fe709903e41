//! Engine vs the PyTorch reference's goldens (models/small/goldens), stage by stage and
//! end to end, for two images and two viewing directions. Tolerance: 1e-4 absolute (f32).
//!
//! Each stage is fed the reference's own input for that stage, so a failure points at
//! the stage that differs rather than at everything downstream of it.
//!
//! `IMPHMR_PARITY_BUNDLE=DIR cargo test --release --test parity` runs the same checks on
//! another bundle exported with `--goldens` (e.g. the full-size one, not in git);
//! `IMPHMR_PARITY_TOL` then sets the tolerance for measuring (CI uses the default 1e-4).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{goldens_in, image_of, max_err, root, Golden};
use imphmr::body::rotation::joint_rotations;
use imphmr::field::Rendered;
use imphmr::Engine;

fn tol() -> f32 {
    std::env::var("IMPHMR_PARITY_TOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1e-4)
}

fn bundle_dir() -> PathBuf {
    std::env::var_os("IMPHMR_PARITY_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/small"))
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(&bundle_dir()).expect("bundle loads"))
}

fn goldens() -> Vec<Golden> {
    goldens_in(&bundle_dir())
}

fn check(golden: &Golden, stage: &str, got: &[f32], key: &str, tol: f32) {
    let want = golden.f32s(key);
    let err = max_err(got, &want);
    eprintln!("{:<24} {:<12} max |err| = {err:.2e}", golden.name, stage);
    assert!(
        err <= tol,
        "{}: {stage} ({key}) differs by {err:.3e} > {tol:.0e}",
        golden.name
    );
}

#[test]
fn preprocessing_matches_reference() {
    let e = engine();
    for g in goldens() {
        let input = e.preprocess(&image_of(&g), &g.person_box());
        let stride = g.v["input_probe_stride"].as_u64().unwrap() as usize;
        let probe: Vec<f32> = input.iter().step_by(stride).copied().collect();
        check(&g, "preprocess", &probe, "input_probe", 1e-5);
    }
}

#[test]
fn encoder_matches_reference() {
    let e = engine();
    for g in goldens() {
        let input = e.preprocess(&image_of(&g), &g.person_box());
        check(&g, "encoder", &e.encode(&input).unwrap(), "z", tol());
    }
}

#[test]
fn field_rendering_matches_reference() {
    let e = engine();
    for g in goldens() {
        let (r, _) = e.render(&g.f32s("z"), g.view()).unwrap();
        check(&g, "feature map", &r.feature_map, "feature_map", tol());
        check(&g, "opacity", &r.opacity, "opacity", tol());
    }
}

#[test]
fn head_matches_reference() {
    let e = engine();
    for g in goldens() {
        let f = &e.bundle.manifest.field;
        let rendered = Rendered {
            height: f.height,
            width: f.width,
            feature_map: g.f32s("feature_map"),
            opacity: g.f32s("opacity"),
        };
        let out = e.regress(&rendered, &g.f32s("z")).unwrap();
        check(&g, "pose6d", &out.pose6d, "pose6d", tol());
        check(&g, "betas", &out.betas, "betas", tol());
        check(&g, "cam", &out.cam, "cam", tol());
    }
}

#[test]
fn rotations_match_reference() {
    for g in goldens() {
        let (rotmats, aa) = joint_rotations(&g.f32s("pose6d"));
        // The reference stores (24, 3, 3) row-major; nalgebra is column-major.
        let flat: Vec<f32> = rotmats
            .iter()
            .flat_map(|m| m.transpose().as_slice().to_vec())
            .collect();
        check(&g, "rotmat", &flat, "rotmat", tol());
        let flat_aa: Vec<f32> = aa.iter().flatten().copied().collect();
        check(&g, "axis-angle", &flat_aa, "axis_angle", tol());
    }
}

#[test]
fn end_to_end_matches_reference() {
    let e = engine();
    for g in goldens() {
        let inf = e.infer(&image_of(&g), &g.person_box(), g.view()).unwrap();
        check(&g, "e2e z", &inf.z, "z", tol());
        check(&g, "e2e F", &inf.rendered.feature_map, "feature_map", tol());
        check(&g, "e2e A", &inf.rendered.opacity, "opacity", tol());
        check(&g, "e2e betas", &inf.regressed.betas, "betas", tol());
        check(&g, "e2e cam", &inf.regressed.cam, "cam", tol());
        let (_, axis_angle) = joint_rotations(&inf.regressed.pose6d);
        let aa: Vec<f32> = axis_angle.iter().flatten().copied().collect();
        check(&g, "e2e theta", &aa, "axis_angle", tol());
    }
}

#[test]
fn views_really_differ() {
    // The φ goldens would be meaningless if rendering ignored the view.
    let e = engine();
    let g = &goldens()[0];
    let (a, _) = e.render(&g.f32s("z"), 0.0).unwrap();
    let (b, _) = e.render(&g.f32s("z"), 90.0).unwrap();
    assert!(max_err(&a.feature_map, &b.feature_map) > 1e-2);
}

#[test]
fn split_field_equals_the_whole_graph() {
    // The per-view precompute and the skipped samples must change nothing: the frame
    // part on cached values equals the field graph run whole on the same samples.
    let e = engine();
    for g in goldens() {
        let z = g.f32s("z");
        let (split, _) = e.renderer().render(&z, g.view()).unwrap();
        let whole = e
            .renderer()
            .render_unsplit(&e.bundle.field, &z, g.view())
            .unwrap();
        check_close(&g, "split F", &split.feature_map, &whole.feature_map, 1e-6);
        check_close(&g, "split A", &split.opacity, &whole.opacity, 1e-6);
    }
}

#[test]
fn several_views_equal_one_view_at_a_time() {
    // `--views`: every view in order, as if rendered alone (the views share the
    // renderer's per-view cache), the golden's own view as the reference has it.
    let e = engine();
    for g in goldens() {
        let z = g.f32s("z");
        let views = [g.view(), 0.0, 90.0, 180.0, 270.0, 33.0];
        let (all, _) = e.render_views(&z, &views).unwrap();
        assert_eq!(all.len(), views.len());
        for (r, &v) in all.iter().zip(&views) {
            let (alone, _) = e.renderer().render(&z, v).unwrap();
            let what = format!("views F {v}");
            check_close(&g, &what, &r.feature_map, &alone.feature_map, 1e-6);
            check_close(&g, "views A", &r.opacity, &alone.opacity, 1e-6);
        }
        check(
            &g,
            "batch F vs ref",
            &all[0].feature_map,
            "feature_map",
            tol(),
        );
    }
}

fn check_close(golden: &Golden, what: &str, got: &[f32], want: &[f32], tol: f32) {
    let err = max_err(got, want);
    eprintln!("{:<24} {:<12} max |err| = {err:.2e}", golden.name, what);
    assert!(
        err <= tol,
        "{}: {what} differs by {err:.3e} > {tol:.0e}",
        golden.name
    );
}

/// The CUDA kernel against the CPU renderer and the reference, wherever a GPU is
/// present (`cargo test --features cuda`); elsewhere it says so and passes, unless
/// IMPHMR_REQUIRE_CUDA is set (as on the GPU machine, so a skip cannot pass for a run).
#[cfg(feature = "cuda")]
#[test]
fn cuda_field_matches_the_cpu_renderer() {
    use imphmr::engine::FieldDevice;
    let gpu = match Engine::load_on(&bundle_dir(), FieldDevice::Cuda) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("CUDA parity not run: {e}");
            assert!(std::env::var_os("IMPHMR_REQUIRE_CUDA").is_none(), "{e}");
            return;
        }
    };
    let cpu = Engine::load_on(&bundle_dir(), FieldDevice::Cpu).unwrap();
    eprintln!("field on {}", gpu.field_device());
    for g in goldens() {
        let z = g.f32s("z");
        let (a, _) = gpu.render(&z, g.view()).unwrap();
        let (b, _) = cpu.render(&z, g.view()).unwrap();
        check_close(&g, "cuda F", &a.feature_map, &b.feature_map, 1e-4);
        check_close(&g, "cuda A", &a.opacity, &b.opacity, 1e-4);
        check(&g, "cuda vs ref F", &a.feature_map, "feature_map", tol());
    }
}

#[test]
fn split_field_does_less_work_per_frame() {
    let e = engine();
    let f = &e.bundle.manifest.field;
    let view = e.renderer().view(0.0).unwrap();
    let rows = view.inputs.rows();
    assert!(rows > 0 && rows < f.num_samples(), "{rows} samples kept");
    // Fewer MACs per kept sample than the whole graph: the point and direction parts
    // are precomputed.
    let whole_per_sample = e.bundle.field.info.macs / f.num_samples() as u64;
    assert!(view.frame_macs < whole_per_sample * rows as u64);
    assert!(e.renderer().view_macs(&view) > 0);
}
