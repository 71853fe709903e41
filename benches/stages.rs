//! Criterion benches of each stage of one frame, and of tract's f32 GEMM (the ceiling
//! the network's matrix work is measured against in docs/PERFORMANCE.md).
//!
//!     cargo bench --bench stages                                   # models/small
//!     IMPHMR_BENCH_BUNDLE=models/generated/full cargo bench --bench stages
//!     IMPHMR_THREADS=1 cargo bench --bench stages -- encoder       # one stage, one thread
//!
//! Stages with matrix work report their throughput in elements/s = MAC/s.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use imphmr::body::rotation::joint_rotations;
use imphmr::body::BodyStage;
use imphmr::crop::PersonBox;
use imphmr::field::{rays, render};
use imphmr::model::{tensor, FieldSpec};
use imphmr::output::{framing, Outcome};
use imphmr::Engine;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn set_threads() -> usize {
    let threads = std::env::var("IMPHMR_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    imphmr::set_threads(threads);
    threads
}

fn stages(c: &mut Criterion) {
    let threads = set_threads();
    let dir =
        std::env::var("IMPHMR_BENCH_BUNDLE").map_or(root().join("models/small"), PathBuf::from);
    let engine = Engine::load(&dir).expect("bundle (IMPHMR_BENCH_BUNDLE)");
    let rgb = imphmr::capture::load_image(&root().join("models/samples/astronaut.png")).unwrap();
    let bx = PersonBox::centre_square(rgb.width(), rgb.height());
    let input = engine.preprocess(&rgb, &bx);
    let z = engine.encode(&input).unwrap();
    let (rendered, _) = engine.render(&z, 0.0).unwrap();
    let view = engine.renderer().view(0.0).unwrap();
    let b = &engine.bundle;
    let spec = &b.manifest.field;

    let mut g = c.benchmark_group(format!("{}/{threads}t", b.manifest.name));
    g.sample_size(20);
    g.bench_function("preprocess", |t| t.iter(|| engine.preprocess(&rgb, &bx)));
    g.throughput(Throughput::Elements(b.encoder.info.macs));
    g.bench_function("encoder", |t| t.iter(|| engine.encode(&input).unwrap()));
    // The field as the engine runs it (frame part only), and whole (every op per sample,
    // on the same kept samples): the per-view precompute's gain.
    g.throughput(Throughput::Elements(view.frame_macs));
    g.bench_function("field", |t| t.iter(|| engine.render(&z, 0.0).unwrap()));
    // --views: the field from four yaws.
    g.bench_function("field 4 views", |t| {
        t.iter(|| engine.render_views(&z, &[0.0, 90.0, 180.0, 270.0]).unwrap())
    });
    let per_sample = b.field.info.macs / spec.num_samples() as u64;
    g.throughput(Throughput::Elements(per_sample * view.inputs.rows() as u64));
    g.bench_function("field unsplit", |t| {
        t.iter(|| engine.renderer().render_unsplit(&b.field, &z, 0.0).unwrap())
    });
    // Before the split: the whole graph on every sample of every ray, inside the box
    // or not (what onnxruntime runs in tools/bench_ort.py).
    let (all_points, all_dirs) = every_sample(spec);
    let n = spec.num_samples();
    g.throughput(Throughput::Elements(b.field.info.macs));
    g.bench_function("field every sample", |t| {
        t.iter(|| {
            b.field
                .run(vec![
                    tensor(&[n, spec.point_enc_dim()], &all_points).unwrap(),
                    tensor(&[n, spec.dir_enc_dim()], &all_dirs).unwrap(),
                    tensor(&[1, b.manifest.encoder.latent_dim], &z).unwrap(),
                ])
                .unwrap()
        })
    });
    // Compositing alone, on plausible densities and features for the view's samples.
    let rows = view.inputs.rows();
    let sigma: Vec<f32> = (0..rows).map(|i| (i % 7) as f32 * 0.3).collect();
    let feature: Vec<f32> = (0..rows * spec.feature_dim)
        .map(|i| (i % 13) as f32 * 0.1)
        .collect();
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function("render", |t| {
        let inp = &view.inputs;
        t.iter(|| {
            render::composite(
                &sigma,
                &feature,
                &inp.ray_rows,
                &inp.row_depth,
                &inp.deltas,
                spec.feature_dim,
                (spec.height, spec.width),
            )
        })
    });
    g.throughput(Throughput::Elements(b.head.info.macs));
    g.bench_function("head", |t| {
        t.iter(|| joint_rotations(&engine.regress(&rendered, &z).unwrap().pose6d))
    });
    let network = engine.infer(&rgb, &bx, 0.0).unwrap();
    let (w, h) = rgb.dimensions();
    let body = BodyStage::new(None, Default::default(), b.manifest.input.size)
        .apply(&network, &bx, (w, h))
        .unwrap();
    let outcome = Outcome::still(
        "bench".into(),
        std::sync::Arc::new(rgb.clone()),
        bx,
        true,
        network,
        body,
        true,
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("output", |t| {
        t.iter(|| framing::frame(&outcome.packet().encode()))
    });
    g.bench_function("frame", |t| {
        t.iter(|| engine.infer(&rgb, &bx, 0.0).unwrap())
    });
    g.finish();
}

/// Encoded points and directions of every sample of view 0, kept or not.
fn every_sample(spec: &FieldSpec) -> (Vec<f32>, Vec<f32>) {
    let (origin, dirs) = rays::ray_directions(spec, 0.0);
    let (mut points, mut dirs_enc) = (vec![], vec![]);
    for d in &dirs {
        for t in rays::depths(spec) {
            let p: [f64; 3] = std::array::from_fn(|i| (origin[i] + d[i] * t) / spec.bound);
            rays::encode(p, spec.point_freqs, &mut points);
            rays::encode(*d, spec.dir_freqs, &mut dirs_enc);
        }
    }
    (points, dirs_enc)
}

/// tract's f32 matrix product of (m×k)·(k×n), the weights constant as in a network.
fn gemm_plan(m: usize, k: usize, n: usize) -> TractResult<Arc<TypedRunnableModel>> {
    let mut model = TypedModel::default();
    let a = model.add_source("a", f32::fact([m, k]))?;
    let w = model.add_const("w", Tensor::from_shape(&[k, n], &vec![0.5f32; k * n])?)?;
    let out = model.wire_node(
        "mm",
        EinSum::new("mk,kn->mn".parse()?, f32::datum_type()),
        &[a, w],
    )?;
    model.select_output_outlets(&out)?;
    model.into_optimized()?.into_runnable()
}

fn gemm(c: &mut Criterion) {
    let threads = set_threads();
    let mut g = c.benchmark_group(format!("gemm f32/{threads}t"));
    g.sample_size(20);
    // Square sizes, and the field's shape (kept samples × hidden × hidden).
    for (m, k, n) in [
        (256, 256, 256),
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        (4096, 128, 128),
    ] {
        let plan = gemm_plan(m, k, n).unwrap();
        let a = Tensor::from_shape(&[m, k], &vec![0.25f32; m * k])
            .unwrap()
            .into_tvalue();
        g.throughput(Throughput::Elements((m * k * n) as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{m}x{k}x{n}")),
            &a,
            |t, a| t.iter(|| plan.run(tvec![a.clone()]).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, gemm, stages);
criterion_main!(benches);
