//! The CUDA kernel, src/field/render_field.cu, run on the CPU: tests/cuda_emu/harness.cpp
//! compiles the same source with g++, a block's threads as real threads meeting at a
//! barrier for `__syncthreads()`. Against the CPU renderer on the small bundle, for the
//! goldens' latents and views: the kernel's arithmetic, weight layout and
//! synchronisation are checked here, without a GPU; tests/parity.rs runs the real
//! thing wherever one is present.

mod common;

use std::path::Path;
use std::process::Command;

use common::{goldens_in, max_err, root};
use imphmr::engine::FieldDevice;
use imphmr::field::{kernel, rays, weights::FieldWeights};
use imphmr::Engine;

fn bytes<T: Copy>(v: &[T]) -> Vec<u8> {
    // SAFETY: plain f32/f64/i32 values, read back by the harness as the same types.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
        .to_vec()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn compile_harness(defines: &[String], exe: &Path) -> bool {
    let status = Command::new("g++")
        .args(["-std=c++20", "-O2", "-pthread", "-Wall", "-Werror"])
        .args(defines)
        .arg(root().join("tests/cuda_emu/harness.cpp"))
        .arg("-o")
        .arg(exe)
        .status();
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => panic!("g++ failed to compile the kernel harness: {s}"),
        Err(e) => {
            eprintln!("no g++ ({e}): emulated kernel test not run");
            assert!(std::env::var_os("IMPHMR_REQUIRE_GXX").is_none(), "no g++");
            false
        }
    }
}

#[test]
fn kernel_emulated_on_the_cpu_matches_the_cpu_renderer() {
    // IMPHMR_PARITY_BUNDLE=DIR: another bundle with goldens (e.g. the full-size one).
    let dir =
        std::env::var_os("IMPHMR_PARITY_BUNDLE").map_or(root().join("models/small"), Into::into);
    let engine = Engine::load_on(&dir, FieldDevice::Cpu).unwrap();
    let (spec, zd) = (
        &engine.bundle.manifest.field,
        engine.bundle.manifest.encoder.latent_dim,
    );
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let exe = tmp.join("render_field_emulated");
    if !compile_harness(&kernel::defines(spec, zd), &exe) {
        return;
    }
    let weights = FieldWeights::from_onnx(&engine.bundle.field.path, spec, zd).unwrap();
    let depths = rays::depths(spec);
    let mut deltas: Vec<f32> = depths.windows(2).map(|w| (w[1] - w[0]) as f32).collect();
    deltas.push(spec.last_delta as f32);
    for g in goldens_in(&dir) {
        let z = g.f32s("z");
        let (origin, dirs) = rays::ray_directions(spec, g.view());
        let flat: Vec<f64> = dirs.iter().flatten().copied().collect();
        let mut input = bytes(&[spec.rays() as i32, weights.packed.len() as i32]);
        input.extend(bytes(&[origin[0], origin[1], origin[2], spec.bound]));
        input.extend(bytes(&flat));
        input.extend(bytes(&depths));
        input.extend(bytes(&deltas));
        input.extend(bytes(&z));
        input.extend(bytes(&weights.packed));
        let (inp, out) = (tmp.join("kernel_in.bin"), tmp.join("kernel_out.bin"));
        std::fs::write(&inp, input).unwrap();
        let status = Command::new(&exe).arg(&inp).arg(&out).status().unwrap();
        assert!(status.success(), "harness: {status}");
        let got = f32s(&std::fs::read(&out).unwrap());
        let (f, a) = got.split_at(spec.feature_dim * spec.rays());
        let (want, _) = engine.render(&z, g.view()).unwrap();
        let (ef, ea) = (max_err(f, &want.feature_map), max_err(a, &want.opacity));
        eprintln!(
            "{:<24} kernel vs CPU renderer: F {ef:.2e}, A {ea:.2e}",
            g.name
        );
        assert!(
            ef <= 1e-4 && ea <= 1e-4,
            "{}: F {ef:.2e}, A {ea:.2e}",
            g.name
        );
        assert!(
            want.opacity.iter().any(|&o| o > 0.1),
            "a non-empty rendering"
        );
    }
}
